//! `convert` between the engines, and the engine recorded in a data directory
//! (contract v3 section 11), through the binary: a store written by the projector is
//! converted sled → fjall → sled; every key and every month's figures come through,
//! the source is never changed, an existing `--to` is refused, and a data directory
//! opened with the other engine is refused in one line naming `convert`.

mod common;

use abstraction_tracker::domain::fold::Rules;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::project::projector::Projector;
use abstraction_tracker::store::{EngineKind, KvPair, Store};
use abstraction_tracker::wire::decode::Validator;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// A store on `engine` holding a fortnight of simulated events, committed in batches
/// as `serve` commits them.
fn write_store(dir: &Path, engine: EngineKind) -> usize {
    let lines = simulated("2024-02-20", "2024-03-05", 120, 9);
    let validator = Validator::new(Reference::west_midlands());
    let store = Store::open_with(dir, Some(engine)).unwrap();
    // As `serve` does on a new store: the read models' rules are recorded.
    let rules = Rules::from(&validator.reference().limits);
    assert!(store.rules_match(&rules).unwrap());
    for chunk in lines.chunks(300) {
        let mut commit = store.begin();
        let mut projector = Projector::default();
        for raw in chunk {
            let env = validator.decode(raw).unwrap();
            projector.ingest(&mut commit, raw, &env).unwrap();
        }
        projector.write(&mut commit);
        commit.commit(true).unwrap();
    }
    lines.len()
}

fn entries(dir: &Path) -> Vec<KvPair> {
    Store::open_existing(dir).unwrap().all_entries().unwrap()
}

fn run(args: &[&str], dirs: &[&Path]) -> Output {
    let mut c = Command::new(bin());
    c.args(args).env_remove("TRACKER_ENGINE");
    for d in dirs {
        c.arg(d);
    }
    c.output().unwrap()
}

fn convert(from: &Path, to: &Path, engine: &str) -> Output {
    Command::new(bin())
        .arg("convert")
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to)
        .args(["--engine", engine])
        .output()
        .unwrap()
}

fn report_json(dir: &Path, month: &str) -> serde_json::Value {
    let out = run(
        &["report", "--format", "json", "--month", month, "--data-dir"],
        &[dir],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn convert_copies_every_key_both_ways_and_never_changes_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let (sled_dir, fjall_dir, back) = (
        tmp.path().join("sled"),
        tmp.path().join("fjall"),
        tmp.path().join("back"),
    );
    let events = write_store(&sled_dir, EngineKind::Sled);
    let before = entries(&sled_dir);
    assert!(before.len() > 2 * events, "{} keys", before.len());

    let out = convert(&sled_dir, &fjall_dir, "fjall");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("figures of all") && err.contains("are equal"),
        "{err}"
    );
    assert_eq!(entries(&sled_dir), before, "the source is unchanged");
    let fjall = Store::open_existing(&fjall_dir).unwrap();
    assert_eq!(fjall.engine(), EngineKind::Fjall);
    assert_eq!(fjall.all_entries().unwrap(), before, "every key and value");
    assert_eq!(fjall.log_len().unwrap(), events as u64);
    fjall.check_intact().unwrap();
    drop(fjall);

    // And back: the same store again on sled.
    let out = convert(&fjall_dir, &back, "sled");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Store::open_existing(&back).unwrap();
    assert_eq!(again.engine(), EngineKind::Sled);
    assert_eq!(again.all_entries().unwrap(), before);
    drop(again);

    // The month as the board reads it, from each directory.
    for m in ["2024-02", "2024-03"] {
        let want = report_json(&sled_dir, m);
        assert!(lpa(&want, "birmingham")["rostered_hours"].as_f64().unwrap() > 0.0);
        assert_eq!(report_json(&fjall_dir, m)["lpas"], want["lpas"], "{m}");
        assert_eq!(report_json(&back, m)["lpas"], want["lpas"], "{m}");
    }

    // An existing --to is refused and left alone.
    let out = convert(&sled_dir, &fjall_dir, "fjall");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exists") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert_eq!(entries(&fjall_dir), before);
}

#[test]
fn a_data_directory_opened_with_the_other_engine_is_refused_naming_convert() {
    let tmp = tempfile::tempdir().unwrap();
    for (engine, other) in [("sled", "fjall"), ("fjall", "sled")] {
        let dir = tmp.path().join(engine);
        write_store(&dir, engine.parse().unwrap());
        for cmd in [
            &["report", "--month", "2024-03", "--data-dir"][..],
            &["export", "--output", "/dev/null", "--data-dir"],
            &["rebuild", "--data-dir"],
        ] {
            let mut args = cmd.to_vec();
            args.splice(1..1, ["--engine", other]);
            let out = run(&args, &[&dir]);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            assert!(
                err.contains(&format!("created with the {engine} engine"))
                    && err.contains("abstraction-tracker convert"),
                "{args:?}: {err}"
            );
        }
        // The environment counts as the flag; without either, the recorded engine.
        let out = Command::new(bin())
            .args(["report", "--month", "2024-03", "--data-dir"])
            .arg(&dir)
            .env("TRACKER_ENGINE", other)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let out = run(&["report", "--month", "2024-03", "--data-dir"], &[&dir]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
