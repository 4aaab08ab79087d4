//! A stored event that cannot be read is not fatal for everything else (issue 22, item 2).
//! The door accepts only what the store reads back, so this can only come from a future
//! bug or a damaged disk; the test damages one logged event by hand. The tracker then
//! keeps ingesting (the next event of the same abstraction is logged, but that
//! abstraction's figures are held as they were: the change cannot be computed without the
//! damaged event), names it in the month API's data-quality section and in
//! `abstraction_tracker_unreadable_stored_events`; `rebuild` (no repair yet) folds the
//! abstraction from its readable events and keeps the mark; `serve --recover` re-reads
//! the stream and gives the exact figures with no mark.

mod common;

use abstraction_tracker::domain::event::{Amendment, Role};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::store::{keys, Kv, Store};
use abstraction_tracker::wire::decode::Validator;
use common::*;
use std::process::Command;
use std::time::Duration;

fn recorded_event(id: &str, abs: &str, start: &str, end: &str) -> serde_json::Value {
    let fields = abstraction("o-1", Role::Pc, "dudley-town", "response_cover", start);
    event(
        id,
        "dudley",
        "2024-03-20T09:00:00Z",
        recorded(abs, fields, end),
    )
}

async fn applied(base: &str) -> Option<f64> {
    let (_, t) = get(&format!("{base}/metrics")).await;
    metric(&t, r#"abstraction_tracker_events_total{outcome="applied"}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stored_event_is_named_and_everything_else_carries_on() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let damaged = recorded_event(
        "ur-1",
        "ur-a",
        "2024-03-04T08:00:00Z",
        "2024-03-04T12:00:00Z",
    );
    let other = recorded_event(
        "ur-2",
        "ur-b",
        "2024-03-05T08:00:00Z",
        "2024-03-05T10:00:00Z",
    );

    let tracker = Tracker::start(&nats.url(), data.path()).await;
    for e in [&damaged, &other] {
        publish(&js, &subject(e), &serde_json::to_vec(e).unwrap(), None).await;
    }
    let base = tracker.base.clone();
    wait_for(Duration::from_secs(30), "two events applied", || {
        let base = base.clone();
        async move { applied(&base).await == Some(2.0) }
    })
    .await;
    tracker.stop().await.unwrap();

    // Damage the stored bytes of the first event, as a bad disk or a future bug could.
    {
        let store = Store::open(data.path()).unwrap();
        let raw = serde_json::to_vec(&damaged).unwrap();
        let env = Validator::new(Reference::west_midlands())
            .decode(&raw)
            .unwrap();
        let mut commit = store.begin();
        assert!(commit.logged(&env).unwrap().is_some());
        commit.put(keys::log_key(&env), raw[..raw.len() / 2].to_vec());
        commit.commit(true).unwrap();
    }

    let tracker = Tracker::start(&nats.url(), data.path()).await;
    // The damaged abstraction is touched again, and another LPA's shift arrives.
    let amend = event(
        "ur-3",
        "dudley",
        "2024-03-21T09:00:00Z",
        amended(
            "ur-a",
            Amendment {
                reason: Some("court".into()),
                ..Amendment::default()
            },
        ),
    );
    let shift = event(
        "ur-4",
        "walsall",
        "2024-03-01T09:00:00Z",
        rostered(
            "ur-s",
            "o-2",
            Role::Pc,
            "walsall-north",
            "2024-03-06T08:00:00Z",
            "2024-03-06T16:00:00Z",
        ),
    );
    for e in [&amend, &shift] {
        publish(&js, &subject(e), &serde_json::to_vec(e).unwrap(), None).await;
    }
    let base = tracker.base.clone();
    wait_for(Duration::from_secs(30), "both later events applied", || {
        let base = base.clone();
        async move { applied(&base).await == Some(2.0) }
    })
    .await;
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200, "still ready");
    let (_, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_unreadable_stored_events{lpa="dudley"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_unreadable_stored_events{lpa="walsall"}"#
        ),
        Some(0.0)
    );
    let month = get_json(&format!("{base}/api/v1/months/2024-03")).await;
    let marks = month["data_quality"]["unreadable_stored_events"].clone();
    assert_eq!(marks.as_array().unwrap().len(), 1, "{marks}");
    assert_eq!(marks[0]["lpa"], "dudley");
    assert_eq!(marks[0]["entity_kind"], "abstraction");
    assert_eq!(marks[0]["entity_id"], "ur-a");
    assert_eq!(marks[0]["event_id"], "ur-1");
    // The damaged abstraction keeps its 4 hours (the amendment to court is logged, not
    // applied); the other abstraction's 2 hours and Walsall's shift count as usual.
    let dudley = lpa(&month, "dudley");
    assert_eq!(dudley["abstracted_hours"], 6.0, "{dudley}");
    assert_eq!(dudley["abstracted_hours_by_reason"]["court"], 0.0);
    assert_eq!(lpa(&month, "walsall")["rostered_hours"], 8.0);
    tracker.stop().await.unwrap();

    Command::new(bin())
        .args(["rebuild", "--data-dir"])
        .arg(data.path())
        .run_ok();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let month = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    // Without its base event the damaged abstraction counts nothing; the mark stays.
    assert_eq!(lpa(&month, "dudley")["abstracted_hours"], 2.0);
    assert_eq!(month["data_quality"]["unreadable_stored_events"], marks);
    tracker.stop().await.unwrap();

    // The repair for a damaged disk: `serve --recover` moves the store aside and
    // re-reads the stream, which holds every event whole.
    let mut serve = TrackerProcess::spawn_with(&nats.url(), data.path(), &["--recover"]);
    serve.wait_ready().await;
    let base = serve.base.clone();
    wait_for(Duration::from_secs(30), "the stream re-read", || {
        let base = base.clone();
        async move { applied(&base).await == Some(4.0) }
    })
    .await;
    let month = get_json(&format!("{base}/api/v1/months/2024-03")).await;
    let dudley = lpa(&month, "dudley");
    // Amended to court (listed, not counted): only the other abstraction's 2 hours count.
    assert_eq!(
        dudley["abstracted_hours_by_reason"]["court"], 4.0,
        "{dudley}"
    );
    assert_eq!(dudley["abstracted_hours"], 2.0);
    assert_eq!(
        month["data_quality"]["unreadable_stored_events"],
        serde_json::json!([])
    );
    assert_eq!(serve.term(Duration::from_secs(30)).code(), Some(0));
    let prefix = format!(
        "{}.damaged-",
        data.path().file_name().unwrap().to_string_lossy()
    );
    let aside: Vec<_> = std::fs::read_dir(data.path().parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    for p in &aside {
        std::fs::remove_dir_all(p).unwrap();
    }
    let aside = aside.len();
    assert_eq!(aside, 1, "the damaged store is kept aside");
}
