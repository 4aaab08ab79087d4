//! A clean stop saves the id and entity filters with the store, and the next start
//! takes them in one read instead of reading every key (issue 14: restart to full
//! speed); a SIGKILLed process leaves none behind, so the next start reads every key.

mod common;

use common::*;
use std::time::Duration;

/// sled releases its lock from a background thread after a drop (spacejam/sled#1234).
fn saved_filters(dir: &std::path::Path) -> Option<usize> {
    for _ in 0..100 {
        if let Ok(db) = sled::open(dir) {
            return db.get(b"m/filters").unwrap().map(|v| v.len());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("cannot open {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_saves_the_filters_and_the_next_start_takes_them() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut tracker = TrackerProcess::spawn(&nats.url(), data.path());
    tracker.wait_ready().await;
    let lines = simulated("2024-03-01", "2024-03-07", 200, 3);
    publish_events(&js, &lines).await;
    let metrics = format!("{}/metrics", tracker.base);
    wait_for(Duration::from_secs(30), "every event stored", || {
        let url = metrics.clone();
        let n = lines.len() as f64;
        async move { metric(&get(&url).await.1, "abstraction_tracker_stored_events") == Some(n) }
    })
    .await;
    assert!(tracker.term(Duration::from_secs(20)).success());
    let saved = saved_filters(data.path()).expect("a clean stop saves the filters");
    assert!(saved > 1024, "{saved} bytes");

    // Taken (and removed) by the next start; a SIGKILL then saves nothing.
    tracker.start();
    tracker.wait_ready().await;
    let before = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    tracker.kill9();
    assert_eq!(saved_filters(data.path()), None);

    // Without saved filters the start reads every key; the same store, the same answers.
    tracker.start();
    tracker.wait_ready().await;
    let text = get(&metrics).await.1;
    assert_eq!(
        metric(&text, "abstraction_tracker_stored_events"),
        Some(lines.len() as f64)
    );
    let after = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    assert_eq!(before, after);
}
