//! The conformance suite of the engine seam: what the store relies on of an engine,
//! each test body run once per engine ([`each_engine!`]). The store's own tests (the
//! filters, the integrity checks, in `mod.rs` and `integrity.rs`) run per engine too,
//! and `tests/fold_properties.rs` folds through the store on both.

// The whole module is test code (declared under `#[cfg(test)]` in mod.rs); the
// attribute below says so to tests/layout.rs, which reads a file's tests from it on.
#[cfg(test)]
use super::engine::each_engine;
use super::{EngineKind, Kv, Store};
use crate::domain::event::Envelope;
use crate::domain::reference::Reference;
use crate::wire::decode::Validator;
use std::path::Path;
use std::time::Duration;

each_engine!(
    scans_are_in_key_order_and_end_at_the_prefix,
    a_batch_puts_and_deletes_together_and_is_there_after_a_reopen,
    a_kill_at_any_instant_leaves_every_acknowledged_batch_and_no_torn_one,
    an_open_store_is_refused_to_a_second_opener_as_in_use,
);

fn open(dir: &Path, engine: EngineKind) -> Store {
    Store::open_with(dir, Some(engine)).unwrap()
}

fn keys_of(store: &Store, prefix: &[u8], from: &[u8]) -> Vec<String> {
    store
        .engine
        .scan(prefix, from)
        .map(|kv| String::from_utf8(kv.unwrap().0.to_vec()).unwrap())
        .collect()
}

fn scans_are_in_key_order_and_end_at_the_prefix(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), engine);
    // Written out of order, across families (and so across fjall's keyspaces).
    let keys = [
        "l/dudley/s/b/2",
        "a/dudley/2024-03",
        "l/dudley/s/a/1",
        "i/e-1",
        "l/walsall/a/x/9",
        "l/dudley/s/a/0",
        "l/dudley0/s/q/1",
        "m/checkpoint/c",
        "l/dudley/a/z/1",
    ];
    let batch = keys
        .iter()
        .map(|k| (k.as_bytes().to_vec(), Some(k.as_bytes().to_vec())))
        .collect();
    store.engine.write(batch, true).unwrap();
    assert_eq!(
        keys_of(&store, b"l/dudley/", b"l/dudley/"),
        [
            "l/dudley/a/z/1",
            "l/dudley/s/a/0",
            "l/dudley/s/a/1",
            "l/dudley/s/b/2"
        ]
    );
    // From a key inside the prefix on; a start past it gives nothing.
    assert_eq!(
        keys_of(&store, b"l/dudley/", b"l/dudley/s/a/1"),
        ["l/dudley/s/a/1", "l/dudley/s/b/2"]
    );
    assert!(keys_of(&store, b"l/dudley/", b"l/dudley0").is_empty());
    assert_eq!(
        keys_of(&store, b"l/", b"l/dudley0"),
        ["l/dudley0/s/q/1", "l/walsall/a/x/9"]
    );
    assert_eq!(keys_of(&store, b"i/", b"i/"), ["i/e-1"]);
    assert_eq!(
        store.get(b"a/dudley/2024-03").unwrap().as_deref(),
        Some(&b"a/dudley/2024-03"[..])
    );
    assert_eq!(
        store.get(b"a/dudley/2024-04").unwrap().map(|v| v.to_vec()),
        None
    );
    assert_eq!(store.log_lpas().unwrap(), ["dudley", "dudley0", "walsall"]);
    // Every key once (and the store's format key), whatever the engine's trees.
    assert_eq!(store.all_entries().unwrap().len(), keys.len() + 1);
}

fn a_batch_puts_and_deletes_together_and_is_there_after_a_reopen(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), engine);
        let mut c = store.begin();
        c.put(b"a/dudley/2024-03".to_vec(), b"{}".to_vec());
        c.put(b"i/e-1".to_vec(), Vec::new());
        c.put(b"l/dudley/s/s-1/e-1".to_vec(), b"{}".to_vec());
        c.set_log_len(1);
        c.commit(true).unwrap();
        let mut c = store.begin();
        c.del(b"a/dudley/2024-03".to_vec());
        c.put(b"i/e-2".to_vec(), Vec::new());
        c.set_checkpoint("c", 7);
        c.commit(true).unwrap();
        assert!(!store.engine.is_empty().unwrap());
    }
    let store = open(dir.path(), engine);
    assert_eq!(
        store.get(b"a/dudley/2024-03").unwrap().map(|v| v.to_vec()),
        None
    );
    assert!(store.get(b"i/e-1").unwrap().is_some() && store.get(b"i/e-2").unwrap().is_some());
    assert_eq!(store.log_len().unwrap(), 1);
    assert_eq!(store.checkpoint("c").unwrap(), 7);
    assert!(store.size_on_disk() > 0);
}

/// One process per data directory: a second open (here in the same process, as a
/// second `report --data-dir` process would) is refused as in use, naming `--server`,
/// and succeeds once the first is dropped.
fn an_open_store_is_refused_to_a_second_opener_as_in_use(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), engine);
    let err = Store::open_existing(dir.path()).err().unwrap();
    assert!(
        matches!(err, super::StoreError::Locked { .. }) && err.to_string().contains("--server"),
        "{err}"
    );
    drop(first);
    assert_eq!(Store::open_existing(dir.path()).unwrap().engine(), engine);
}

/// Where the child process of the crash test writes (its presence makes the ignored
/// test below the child).
const CHILD_DIR: &str = "TRACKER_CONFORMANCE_CHILD_DIR";
const CHILD_ENGINE: &str = "TRACKER_CONFORMANCE_CHILD_ENGINE";
/// Events per batch in the crash test.
const PER_BATCH: u64 = 100;

/// A one-shot `abstraction.recorded` in Dudley.
fn event(id: &str) -> (Vec<u8>, Envelope) {
    let raw = format!(
        r#"{{"event_id":"{id}","type":"abstraction.recorded","schema_version":1,
        "occurred_at":"2024-03-14T08:05:00Z","source":"t","lpa":"dudley",
        "data":{{"abstraction_id":"a-{id}","officer_id":"o-1","role":"pc","sector":"x",
        "reason":"response_cover","scope":"lpa","planned":false,
        "start":"2024-03-14T08:00:00Z","end":"2024-03-14T10:00:00Z"}}}}"#
    );
    static V: std::sync::OnceLock<Validator> = std::sync::OnceLock::new();
    let env = V
        .get_or_init(|| Validator::new(Reference::west_midlands()))
        .decode(raw.as_bytes())
        .unwrap();
    (raw.into_bytes(), env)
}

/// The child of the crash test: commits durable batches of events, each with the
/// event count, for ever, writing how many batches were acknowledged (returned from
/// a durable commit) after each; killed by its parent.
#[test]
#[ignore = "the child process of a_kill_at_any_instant_leaves_every_acknowledged_batch_and_no_torn_one"]
fn crash_child() {
    let (Ok(dir), Ok(engine)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ENGINE)) else {
        return;
    };
    let store = open(Path::new(&dir), engine.parse().unwrap());
    let acked = Path::new(&dir).with_extension("acked");
    for b in 0u64.. {
        let mut c = store.begin();
        for i in 0..PER_BATCH {
            let (raw, env) = event(&format!("e-{b}-{i}"));
            c.append_event(&env, &raw);
        }
        c.set_log_len((b + 1) * PER_BATCH);
        c.commit(true).unwrap();
        // Renamed into place, so the parent never reads a half-written count.
        let tmp = acked.with_extension("tmp");
        std::fs::write(&tmp, (b + 1).to_string()).unwrap();
        std::fs::rename(&tmp, &acked).unwrap();
    }
}

/// SIGKILL at varied instants of a process committing durable batches: on the next
/// open every batch it acknowledged is there, and no batch is there in part (the
/// start-up check finds the log, the id index and the count in agreement).
fn a_kill_at_any_instant_leaves_every_acknowledged_batch_and_no_torn_one(engine: EngineKind) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let acked_file = dir.with_extension("acked");
    for (round, delay_ms) in [130u64, 370, 610].into_iter().enumerate() {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "store::conformance::crash_child", "--ignored"])
            .env(CHILD_DIR, &dir)
            .env(CHILD_ENGINE, engine.name())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Until it has committed at least once this round, then a little longer.
        let before: u64 = std::fs::read_to_string(&acked_file).map_or(0, |s| s.parse().unwrap());
        let started = std::time::Instant::now();
        while std::fs::read_to_string(&acked_file).map_or(0, |s| s.parse::<u64>().unwrap())
            <= before
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the child commits"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let acked: u64 = std::fs::read_to_string(&acked_file)
            .unwrap()
            .parse()
            .unwrap();
        let store = open(&dir, engine);
        store.check_intact().unwrap();
        let n = store.log_len().unwrap();
        assert_eq!(n % PER_BATCH, 0, "round {round}: {n} events, a torn batch");
        assert!(
            n >= acked * PER_BATCH,
            "round {round}: {n} events stored, {acked} batches acknowledged"
        );
        let last = n / PER_BATCH - 1;
        let c = store.begin();
        for i in [0, PER_BATCH - 1] {
            assert!(c.has_event_id(&format!("e-{last}-{i}")).unwrap());
        }
        // Each round starts from an empty store.
        std::fs::remove_file(&acked_file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
