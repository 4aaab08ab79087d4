//! A clean stop saves the id and entity filters with the store, and the next start
//! takes them in one read instead of reading every key (issue 14: restart to full
//! speed); a SIGKILLed process leaves none behind, so the next start reads every key.

mod common;

use common::*;
use std::time::Duration;

/// The bytes of the filters a clean stop saved in the store, on either engine (the
/// store's open waits for a lock still being released, as sled's is after a drop).
fn saved_filters(dir: &std::path::Path) -> Option<usize> {
    let store = abstraction_tracker::store::Store::open_existing(dir).unwrap();
    Some(store.saved_filters_len().unwrap()).filter(|n| *n > 0)
}

/// Waits until the tracker's metrics count `n` stored events.
async fn wait_stored(tracker: &TrackerProcess, n: usize, within: Duration) {
    let metrics = format!("{}/metrics", tracker.base);
    wait_for(within, "every event stored", || {
        let url = metrics.clone();
        async move {
            metric(&get(&url).await.1, "abstraction_tracker_stored_events") == Some(n as f64)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_saves_the_filters_and_the_next_start_takes_them_on_sled() {
    clean_stop_then_kill("sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_saves_the_filters_and_the_next_start_takes_them_on_fjall() {
    clean_stop_then_kill("fjall").await;
}

/// One body per storage engine: a clean stop, a start taking the saved filters, a
/// SIGKILL, a start reading every key; the same figures throughout.
async fn clean_stop_then_kill(engine: &str) {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut tracker = TrackerProcess::spawn_with(&nats.url(), data.path(), &["--engine", engine]);
    tracker.wait_ready().await;
    let lines = simulated("2024-03-01", "2024-03-07", 200, 3);
    publish_events(&js, &lines).await;
    wait_stored(&tracker, lines.len(), Duration::from_secs(30)).await;
    let metrics = format!("{}/metrics", tracker.base);
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
    // Nothing new arrived since: the gauge reads the stored checkpoint, not 0.
    assert_eq!(
        metric(&text, "abstraction_tracker_last_applied_sequence"),
        Some(lines.len() as f64)
    );
    let after = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    assert_eq!(before, after);
}

/// The LSN (sled's log offset) its newest recovery snapshot covers, from the file's
/// name (`snap.<16 hex digits>`); 0 when there is none.
fn snapshot_lsn(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
        .unwrap_or(0)
}

/// Publishes a week of events to a tracker started with `extra`, reading the month
/// API all the while, then SIGKILLs it: returns the LSN of sled's newest snapshot then,
/// and the LSN of the log's end (what a fresh open writes a snapshot at).
async fn snapshot_after_a_crash(extra: &[&str]) -> (u64, u64) {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let args = [&["--engine", "sled"][..], extra].concat();
    let mut tracker = TrackerProcess::spawn_with(&nats.url(), data.path(), &args);
    tracker.wait_ready().await;
    let lines = simulated("2024-03-01", "2024-03-07", 200, 3);
    let month = format!("{}/api/v1/months/2024-03", tracker.base);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (month, done) = (month.clone(), done.clone());
        tokio::spawn(async move {
            let mut answers = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, body) = get(&month).await;
                assert_eq!(status, 200, "the month API while sled re-opens: {body}");
                answers += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answers
        })
    };
    publish_events(&js, &lines).await;
    wait_stored(&tracker, lines.len(), Duration::from_secs(60)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = reader.await.expect("every read answered 200");
    assert!(answers > 0);
    let served = get_json(&month).await;
    tracker.kill9();
    let at_crash = snapshot_lsn(data.path());
    // The next start replays the log after that snapshot and serves the same figures.
    tracker.start();
    tracker.wait_ready().await;
    assert_eq!(get_json(&month).await, served);
    tracker.kill9();
    let end = snapshot_lsn(data.path());
    eprintln!("{extra:?}: at the crash sled's newest snapshot covered {at_crash} of {end}");
    (at_crash, end)
}

/// sled writes its recovery snapshot only when it opens a store, and an open replays
/// its log since then (52 s for a 10M-event store written in one run). With
/// `--snapshot-every`, serve has sled write one as it goes (closing and re-opening it
/// between batches, while HTTP keeps answering), so even after a crash little is left
/// to replay; with 0 it does not, which is what the first half shows. sled only: fjall
/// replays only its journal not yet flushed to tables, and is never re-opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_while_serving_leave_a_restart_little_to_replay() {
    let (never, end) = snapshot_after_a_crash(&["--snapshot-every", "0", "--batch", "50"]).await;
    assert!(end > 0);
    assert!(
        never < end / 2,
        "no snapshot while running: the newest covers {never} of {end}"
    );
    let (often, end) = snapshot_after_a_crash(&["--snapshot-every", "200", "--batch", "50"]).await;
    assert!(
        often > end / 2,
        "a snapshot every 200 events: the newest covers {often} of {end}"
    );
}
