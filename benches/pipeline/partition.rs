//! Phase 1b: ingest by partitioned projectors. The same preloaded stream consumed by
//! the real `serve` binary, first one process owning every LPA, then three processes
//! owning the LPAs between them (Birmingham; Coventry, Dudley, Sandwell; Solihull,
//! Walsall, Wolverhampton) running at once, each with its own consumer(s), store and
//! figures publisher; on the engine given (`--engine`). Timed from spawn until every process's `/readyz` says it is caught
//! up and the stored events add up to the stream's.

use super::*;

/// The three partitions: Birmingham is about a third of the force's events on its own.
const PARTITIONS: [&str; 3] = [
    "birmingham",
    "coventry,dudley,sandwell",
    "solihull,walsall,wolverhampton",
];

fn serve(
    nats: &str,
    dir: &Path,
    engine: EngineKind,
    consumer: &str,
    lpas: Option<&str>,
) -> anyhow::Result<(std::process::Child, String)> {
    let port = common::free_port();
    let mut cmd = Command::new(common::bin());
    cmd.arg("serve")
        .args(["--nats-url", nats, "--consumer", consumer])
        .arg("--data-dir")
        .arg(dir)
        .args(["--engine", engine.name()])
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(l) = lpas {
        cmd.args(["--lpas", l]);
    }
    Ok((cmd.spawn()?, format!("http://127.0.0.1:{port}")))
}

/// Seconds until every projector is caught up and they hold `expected` events between them.
fn run_until_caught_up(
    rt: &tokio::runtime::Runtime,
    nats: &str,
    dir: &Path,
    engine: EngineKind,
    name: &str,
    lpas: &[Option<&str>],
    expected: u64,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    let mut procs = Vec::new();
    for (i, l) in lpas.iter().enumerate() {
        procs.push(serve(
            nats,
            &dir.join(format!("{name}-{i}")),
            engine,
            &format!("{name}-{engine}-{i}"),
            *l,
        )?);
    }
    let result = rt.block_on(async {
        loop {
            let mut stored = 0.0;
            let mut ready = true;
            for (_, base) in &procs {
                ready &= common::get(&format!("{base}/readyz")).await.0 == 200;
                let text = common::get(&format!("{base}/metrics")).await.1;
                stored += common::metric(&text, "abstraction_tracker_stored_events").unwrap_or(0.0);
            }
            if ready && stored as u64 >= expected {
                return Ok(t.elapsed().as_secs_f64());
            }
            if t.elapsed() > Duration::from_secs(1800) {
                bail!("{name}: not caught up in 30 minutes ({stored} of {expected} events stored)");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    for (mut p, _) in procs {
        let _ = p.kill();
        let _ = p.wait();
    }
    result
}

pub(crate) fn partition_phase(
    rt: &tokio::runtime::Runtime,
    nats: &str,
    dir: &Path,
    engine: EngineKind,
    n: usize,
    expected: u64,
    table: &mut Table,
) -> anyhow::Result<()> {
    println!(
        "\n== Phase 1b on {engine}: one projector owning every LPA, then three owning them between them =="
    );
    let one = run_until_caught_up(rt, nats, dir, engine, "one", &[None], expected)?;
    println!(
        "one `serve` owning all seven LPAs: {one:.2} s ({:.0} events/s)",
        n as f64 / one
    );
    let parts: Vec<Option<&str>> = PARTITIONS.iter().map(|p| Some(*p)).collect();
    let three = run_until_caught_up(rt, nats, dir, engine, "three", &parts, expected)?;
    println!(
        "three `serve`s owning {} at once: {three:.2} s ({:.0} events/s together)",
        PARTITIONS.join(" / "),
        n as f64 / three
    );
    table.row(
        "ingest, 3 partitioned projectors (serve)",
        rate(n, three),
        format!("1 projector owning all {}", rate(n, one)),
        format!("{:.2}x", one / three),
        "info",
        "",
    );
    Ok(())
}
