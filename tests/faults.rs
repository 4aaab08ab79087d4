//! Faults, for real: SIGKILL while traffic flows, SIGTERM drain, a broker restart, a
//! locked data directory.

mod common;

use abstraction_tracker::store::EngineKind;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

async fn month(base: &str, m: &str) -> serde_json::Value {
    get_json(&format!("{base}/api/v1/months/{m}")).await
}

async fn stored_events(base: &str) -> Option<f64> {
    let (_, t) = get(&format!("{base}/metrics")).await;
    metric(&t, "abstraction_tracker_stored_events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_instant_neither_loses_nor_double_counts_on_sled() {
    sigkill_at_any_instant("sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_instant_neither_loses_nor_double_counts_on_fjall() {
    sigkill_at_any_instant("fjall").await;
}

/// One body per storage engine (contract v3 section 11: every guarantee on both).
async fn sigkill_at_any_instant(engine: &str) {
    let nats = NatsServer::start();
    let lines = simulated("2024-03-18", "2024-04-10", 250, 42);
    let total = lines.len();
    let data = tempfile::tempdir().unwrap();
    let mut tracker = TrackerProcess::spawn_with(&nats.url(), data.path(), &["--engine", engine]);
    tracker.wait_ready().await;

    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    // Publish in slices while the tracker is killed and restarted underneath.
    let publisher = {
        let js = js.clone();
        let lines = lines.clone();
        tokio::spawn(async move {
            for chunk in lines.chunks(400) {
                publish_events(&js, chunk).await;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    let mut kills = 0;
    let mut pause = 150u64;
    while !publisher.is_finished() || kills < 5 {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        tracker.kill9();
        kills += 1;
        tracker.start();
        // Vary where in its work the process dies: start-up, mid-batch, idle.
        pause = 60 + (pause * 7 + 113) % 400;
        if kills > 40 {
            break;
        }
    }
    publisher.await.unwrap();
    // One more kill with everything published, then let it finish.
    tracker.kill9();
    tracker.start();
    tracker.wait_ready().await;
    assert!(kills >= 5);

    // The same stream, consumed once without crashes by a second projector.
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = Tracker::start_with(
        &nats.url(),
        clean_dir.path(),
        abstraction_tracker::domain::reference::Reference::west_midlands(),
        abstraction_tracker::ingest::IngestConfig {
            consumer: "clean-projector".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        stored_events(&tracker.base).await,
        Some(total as f64),
        "every event stored exactly once"
    );
    assert_eq!(stored_events(&clean.base).await, Some(total as f64));
    for m in ["2024-03", "2024-04"] {
        let crashed = month(&tracker.base, m).await;
        let reference = month(&clean.base, m).await;
        assert!(
            lpa(&reference, "birmingham")["rostered_hours"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert_eq!(
            crashed, reference,
            "{m}: figures after {kills} SIGKILLs on {engine} equal a clean run"
        );
    }
    let recorded = abstraction_tracker::store::engine::recorded(data.path()).unwrap();
    assert_eq!(recorded.map(|e| e.name()), Some(engine));
    clean.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero_then_resumes() {
    let nats = NatsServer::start();
    let lines = simulated("2024-03-01", "2024-03-10", 200, 3);
    let data = tempfile::tempdir().unwrap();
    let mut tracker = TrackerProcess::spawn(&nats.url(), data.path());
    tracker.wait_ready().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    publish_events(&js, &lines).await;
    let status = tracker.term(Duration::from_secs(15));
    assert!(status.success(), "SIGTERM exit status {status:?}");
    tracker.start();
    tracker.wait_ready().await;
    assert_eq!(stored_events(&tracker.base).await, Some(lines.len() as f64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_is_survived_and_readyz_says_so() {
    let mut nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let lines = simulated("2024-03-01", "2024-03-06", 100, 5);
    let (first, second) = lines.split_at(lines.len() / 2);
    {
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        publish_events(&js, first).await;
    }
    tracker.wait_ready().await;
    assert_eq!(stored_events(&tracker.base).await, Some(first.len() as f64));

    nats.stop();
    let ready = format!("{}/readyz", tracker.base);
    wait_for(
        Duration::from_secs(15),
        "readyz to report the outage",
        || {
            let u = ready.clone();
            async move { get(&u).await.0 == 503 }
        },
    )
    .await;
    let (status, _) = get(&format!("{}/healthz", tracker.base)).await;
    assert_eq!(status, 200, "alive while the broker is away");

    nats.restart();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    publish_events(&js, second).await;
    let base = tracker.base.clone();
    let want = lines.len() as f64;
    let started = Instant::now();
    wait_for(
        Duration::from_secs(60),
        "events after the restart to be applied",
        || {
            let b = base.clone();
            async move { stored_events(&b).await == Some(want) }
        },
    )
    .await;
    tracker.wait_ready().await;
    eprintln!(
        "recovered {:?} after the broker came back",
        started.elapsed()
    );
    tracker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_data_dir_gives_a_clear_error_on_sled() {
    locked_data_dir(EngineKind::Sled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_data_dir_gives_a_clear_error_on_fjall() {
    locked_data_dir(EngineKind::Fjall).await;
}

/// One body per storage engine: the error is one line on either (fjall logs its own
/// opening at info, which must not precede it).
async fn locked_data_dir(engine: EngineKind) {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start_on(
        &nats.url(),
        data.path(),
        abstraction_tracker::domain::reference::Reference::west_midlands(),
        Default::default(),
        Some(engine),
    )
    .await;
    let out = Command::new(bin())
        .args(["report", "--month", "2024-03", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another process") && err.contains("--server"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line reason: {err}");
    tracker.stop().await.unwrap();

    let missing = data.path().join("no-such-dir");
    let out = Command::new(bin())
        .args(["report", "--month", "2024-03", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no tracker data"), "{err}");
    assert!(
        !missing.exists(),
        "a report must not create a data directory"
    );
}
