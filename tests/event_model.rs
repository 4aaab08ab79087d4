//! The whole event model through a real nats-server: a shuffled stream with re-sent
//! shifts, cancellations, started/ended pairs, amendments, an event with no base yet,
//! duplicates and the March 2024 clock change, checked against figures worked out by
//! hand below; then `rebuild` from the log and `report` give the same figures.

mod common;

use abstraction_tracker::domain::event::{AbstractionFields, Amendment, Event, Role};
use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const LPA: &str = "sandwell";

fn ev(n: &mut u32, occurred: &str, event: Event) -> Value {
    ev_with(n, occurred, event, None)
}

/// With the type's free text (`cause`, `why`).
fn ev_with(n: &mut u32, occurred: &str, event: Event, remark: Option<&str>) -> Value {
    *n += 1;
    event_with(&format!("em-{n:03}"), LPA, occurred, event, remark)
}

fn shift(id: &str, start: &str, end: &str) -> Event {
    rostered(id, "p-1", Role::Pcso, "sandwell-tipton", start, end)
}

fn abs(reason: &str, start: &str) -> AbstractionFields {
    abstraction("p-2", Role::Pc, "sandwell-oldbury", reason, start)
}

/// Events and, in comments, what each contributes.
fn scenario() -> Vec<Value> {
    let n = &mut 0;
    vec![
        // S1: night over the clocks going forward, 22:00 GMT to 07:00 BST = 8 h, March.
        ev(
            n,
            "2024-03-01T10:00:00Z",
            shift("S1", "2024-03-30T22:00:00Z", "2024-03-31T07:00:00+01:00"),
        ),
        // S2: 22:00 BST 31 Mar to 07:00 BST 1 Apr: 2 h March, 7 h April.
        ev(
            n,
            "2024-03-01T10:00:00Z",
            shift(
                "S2",
                "2024-03-31T22:00:00+01:00",
                "2024-04-01T07:00:00+01:00",
            ),
        ),
        // S3: re-sent; the latest (10 h) wins, an older re-send (1 h) loses.
        ev(
            n,
            "2024-03-02T10:00:00Z",
            shift("S3", "2024-03-20T08:00:00Z", "2024-03-20T16:00:00Z"),
        ),
        ev(
            n,
            "2024-03-03T10:00:00Z",
            shift("S3", "2024-03-20T08:00:00Z", "2024-03-20T18:00:00Z"),
        ),
        ev(
            n,
            "2024-03-01T09:00:00Z",
            shift("S3", "2024-03-20T12:00:00Z", "2024-03-20T13:00:00Z"),
        ),
        // S4: rostered then cancelled for sickness: 0 h.
        ev(
            n,
            "2024-03-02T10:00:00Z",
            shift("S4", "2024-03-21T08:00:00Z", "2024-03-21T16:00:00Z"),
        ),
        ev_with(
            n,
            "2024-03-21T06:00:00Z",
            shift_cancelled("S4"),
            Some("sickness"),
        ),
        // A1: started/ended pair, response cover 3 h.
        ev(
            n,
            "2024-03-20T09:00:00Z",
            started("A1", abs("response_cover", "2024-03-20T09:00:00Z")),
        ),
        ev(
            n,
            "2024-03-20T12:00:00Z",
            ended("A1", "2024-03-20T12:00:00Z"),
        ),
        // A2: public order 2 h, amended to training, then its end moved: training 3 h (not counted).
        ev(
            n,
            "2024-03-20T15:00:00Z",
            recorded(
                "A2",
                abs("public_order", "2024-03-20T13:00:00Z"),
                "2024-03-20T15:00:00Z",
            ),
        ),
        ev(
            n,
            "2024-03-21T09:00:00Z",
            amended(
                "A2",
                Amendment {
                    reason: Some("training".into()),
                    ..Amendment::default()
                },
            ),
        ),
        ev(
            n,
            "2024-03-22T09:00:00Z",
            amended(
                "A2",
                Amendment {
                    end_ms: Some(ms("2024-03-20T16:00:00Z")),
                    ..Amendment::default()
                },
            ),
        ),
        // A3: scene guarding over the April month end: 22:00Z-23:00Z March (1 h), 2 h April.
        ev(
            n,
            "2024-04-01T02:00:00Z",
            recorded(
                "A3",
                abs("scene_guarding", "2024-03-31T23:00:00+01:00"),
                "2024-04-01T02:00:00+01:00",
            ),
        ),
        // A4: recorded then cancelled: nothing.
        ev(
            n,
            "2024-03-22T12:00:00Z",
            recorded(
                "A4",
                abs("response_cover", "2024-03-22T08:00:00Z"),
                "2024-03-22T12:00:00Z",
            ),
        ),
        ev_with(
            n,
            "2024-03-22T13:00:00Z",
            abstraction_cancelled("A4"),
            Some("entered twice"),
        ),
        // A5: started, never ended: open in March.
        ev(
            n,
            "2024-03-25T10:00:00Z",
            started("A5", abs("mutual_aid", "2024-03-25T10:00:00Z")),
        ),
        // A6: an end with no base event: waits, uncounted.
        ev(
            n,
            "2024-03-26T10:00:00Z",
            ended("A6", "2024-03-26T10:00:00Z"),
        ),
        // A7: two recorded (latest base: hospital watch), then a later `ended` moves the end: 2.5 h.
        ev(
            n,
            "2024-03-27T12:00:00Z",
            recorded(
                "A7",
                abs("custody_constant_watch", "2024-03-27T10:00:00Z"),
                "2024-03-27T11:00:00Z",
            ),
        ),
        ev(
            n,
            "2024-03-27T13:00:00Z",
            recorded(
                "A7",
                abs("hospital_watch", "2024-03-27T10:00:00Z"),
                "2024-03-27T12:00:00Z",
            ),
        ),
        ev(
            n,
            "2024-03-27T14:00:00Z",
            ended("A7", "2024-03-27T12:30:00Z"),
        ),
    ]
}

/// Deterministic Fisher–Yates with a small LCG: a fixed, arbitrary order.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

fn check_march(m: &Value) {
    let s = lpa(m, LPA);
    // Rostered: S1 8 + S2 2 + S3 10 = 20 h. Counted: A1 3 + A3 1 + A7 2.5 = 6.5 h.
    assert_eq!(s["rostered_hours"], 20.0, "{s}");
    assert_eq!(s["abstracted_hours"], 6.5, "{s}");
    assert_eq!(s["abstraction_ratio"], 6.5 / 20.0);
    assert_eq!(s["open_abstractions"], 1);
    let r = &s["abstracted_hours_by_reason"];
    assert_eq!(r["response_cover"], 3.0);
    assert_eq!(r["scene_guarding"], 1.0);
    assert_eq!(r["hospital_watch"], 2.5);
    assert_eq!(r["training"], 3.0);
    assert_eq!(r["public_order"], 0.0);
    assert_eq!(r["custody_constant_watch"], 0.0);
    assert_eq!(r["mutual_aid"], 0.0);
}

fn check_april(m: &Value) {
    let s = lpa(m, LPA);
    assert_eq!(s["rostered_hours"], 7.0);
    assert_eq!(s["abstracted_hours"], 2.0);
    assert_eq!(s["abstraction_ratio"], 2.0 / 7.0);
    assert_eq!(s["open_abstractions"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shuffled_mixed_stream_gives_the_hand_computed_figures_and_rebuild_agrees() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);

    let mut events = scenario();
    let unique = events.len();
    // Every event twice: once de-duplicated by the broker (same Nats-Msg-Id), once
    // without a message id so only the tracker's event-id index can catch it.
    let mut sends: Vec<(Value, bool)> = events
        .drain(..)
        .flat_map(|e| [(e.clone(), true), (e.clone(), true), (e, false)])
        .collect();
    shuffle(&mut sends, 20240331);
    for (e, with_id) in &sends {
        let id = with_id.then(|| e["event_id"].as_str().unwrap().to_string());
        publish(
            &js,
            &subject(e),
            &serde_json::to_vec(e).unwrap(),
            id.as_deref(),
        )
        .await;
    }

    let metrics_url = format!("{}/metrics", tracker.base);
    wait_for(Duration::from_secs(20), "all events handled", || {
        let url = metrics_url.clone();
        async move {
            let (_, t) = get(&url).await;
            metric(&t, r#"abstraction_tracker_events_total{outcome="applied"}"#)
                == Some(unique as f64)
                && metric(
                    &t,
                    r#"abstraction_tracker_events_total{outcome="duplicate"}"#,
                )
                .unwrap_or(0.0)
                    >= unique as f64
        }
    })
    .await;
    tracker.wait_ready().await;
    let march = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    check_march(&march);
    check_april(&get_json(&format!("{}/api/v1/months/2024-04", tracker.base)).await);
    let (_, t) = get(&metrics_url).await;
    assert_eq!(
        metric(&t, r#"neighbourhood_abstractions_open{lpa="sandwell"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &t,
            r#"abstraction_tracker_events_total{outcome="rejected"}"#
        ),
        Some(0.0)
    );
    tracker.stop().await.unwrap();

    // The CLI, on the stopped tracker's data: rebuild, then the report from disk.
    let out = Command::new(bin())
        .args(["rebuild", "--data-dir"])
        .arg(data.path())
        .run_ok();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("from {unique} stored event")));
    let out = Command::new(bin())
        .args([
            "report",
            "--month",
            "2024-03",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(data.path())
        .run_ok();
    let rebuilt: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_march(&rebuilt);
    assert_eq!(
        rebuilt, march,
        "report --format json equals /api/v1/months after a rebuild"
    );

    // Backup and restore: export the log, publish it into a fresh broker and tracker.
    let backup = data.path().join("backup.ndjson");
    Command::new(bin())
        .args(["export", "--data-dir"])
        .arg(data.path())
        .arg("-o")
        .arg(&backup)
        .run_ok();
    let exported = std::fs::read_to_string(&backup).unwrap();
    assert_eq!(
        exported.lines().count(),
        unique,
        "one line per stored event"
    );
    let nats2 = NatsServer::start();
    let data2 = tempfile::tempdir().unwrap();
    let restored = Tracker::start(&nats2.url(), data2.path()).await;
    Command::new(bin())
        .args(["publish", "--nats-url", &nats2.url()])
        .arg(&backup)
        .run_ok();
    let url = format!("{}/api/v1/months/2024-03", restored.base);
    wait_for(Duration::from_secs(20), "the restored figures", || {
        let url = url.clone();
        async move { lpa(&get_json(&url).await, LPA)["abstracted_hours"] == 6.5 }
    })
    .await;
    restored.wait_ready().await;
    assert_eq!(
        get_json(&url).await,
        march,
        "restored from the export: same figures"
    );
    restored.stop().await.unwrap();
}
