//! End to end through a real nats-server: publish, fold, read `/api` and `/metrics`,
//! rejections on the rejected stream, duplicates ignored.

mod common;

use abstraction_tracker::domain::event::Role;
use common::*;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

const H: f64 = 3600.0;

fn shift(id: &str, lpa: &str, sector: &str, start: &str, end: &str) -> serde_json::Value {
    let e = rostered(id, "off-1", Role::Pc, sector, start, end);
    event(&format!("ev-{id}"), lpa, "2024-03-01T09:00:00Z", e)
}

fn recorded(id: &str, lpa: &str, reason: &str, start: &str, end: &str) -> serde_json::Value {
    let fields = abstraction("off-1", Role::Pc, "dudley-town", reason, start);
    let e = common::recorded(id, fields, end);
    event(&format!("ev-{id}"), lpa, "2024-03-20T09:00:00Z", e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_shifts_and_one_shot_abstractions_match_a_hand_computation() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);

    let events = vec![
        // Dudley, March: 8 h + 8 h + 10 h, and a night shift over 31 Mar/1 Apr (BST):
        // 2 h in March, 7 h in April.
        shift(
            "s1",
            "dudley",
            "dudley-town",
            "2024-03-14T08:00:00Z",
            "2024-03-14T16:00:00Z",
        ),
        shift(
            "s2",
            "dudley",
            "dudley-town",
            "2024-03-15T08:00:00Z",
            "2024-03-15T16:00:00Z",
        ),
        shift(
            "s3",
            "dudley",
            "dudley-stourbridge",
            "2024-03-16T07:00:00Z",
            "2024-03-16T17:00:00Z",
        ),
        shift(
            "s4",
            "dudley",
            "dudley-town",
            "2024-03-31T22:00:00+01:00",
            "2024-04-01T07:00:00+01:00",
        ),
        // Counted 2.5 h; training (not counted) 1 h.
        recorded(
            "a1",
            "dudley",
            "response_cover",
            "2024-03-14T09:00:00Z",
            "2024-03-14T11:30:00Z",
        ),
        recorded(
            "a2",
            "dudley",
            "training",
            "2024-03-15T09:00:00Z",
            "2024-03-15T10:00:00Z",
        ),
        // Coventry: 8 h rostered, 4 h public order.
        shift(
            "s5",
            "coventry",
            "coventry-south",
            "2024-03-14T08:00:00Z",
            "2024-03-14T16:00:00Z",
        ),
        recorded(
            "a3",
            "coventry",
            "public_order",
            "2024-03-14T10:00:00Z",
            "2024-03-14T14:00:00Z",
        ),
    ];
    for e in &events {
        let bytes = serde_json::to_vec(e).unwrap();
        publish(&js, &subject(e), &bytes, e["event_id"].as_str()).await;
    }
    // The same first event again, outside the broker's de-duplication (no Nats-Msg-Id):
    // the tracker's own id index must make it harmless.
    let again = serde_json::to_vec(&events[0]).unwrap();
    publish(&js, &subject(&events[0]), &again, None).await;

    let url = format!("{}/api/v1/months/2024-03", tracker.base);
    wait_for(Duration::from_secs(20), "figures", || {
        let url = url.clone();
        async move {
            let m = get_json(&url).await;
            lpa(&m, "coventry")["abstracted_hours"] == 4.0
        }
    })
    .await;
    tracker.wait_ready().await;

    let march = get_json(&url).await;
    assert_eq!(march["month"], "2024-03");
    assert_eq!(
        march["lpas"].as_array().unwrap().len(),
        7,
        "every configured LPA appears"
    );
    let d = lpa(&march, "dudley");
    assert_eq!(d["rostered_hours"], 28.0);
    assert_eq!(d["abstracted_hours"], 2.5);
    assert!((d["abstraction_ratio"].as_f64().unwrap() - 2.5 / 28.0).abs() < 1e-12);
    assert_eq!(d["open_abstractions"], 0);
    assert_eq!(d["abstracted_hours_by_reason"]["response_cover"], 2.5);
    assert_eq!(d["abstracted_hours_by_reason"]["training"], 1.0);
    let c = lpa(&march, "coventry");
    assert_eq!(c["rostered_hours"], 8.0);
    assert_eq!(c["abstraction_ratio"], 0.5);
    assert!(lpa(&march, "walsall")["abstraction_ratio"].is_null());

    let april = get_json(&format!("{}/api/v1/months/2024-04", tracker.base)).await;
    assert_eq!(lpa(&april, "dudley")["rostered_hours"], 7.0);

    let (status, text) = get(&format!("{}/metrics", tracker.base)).await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(
            &text,
            r#"neighbourhood_rostered_seconds{lpa="dudley",month="2024-03"}"#
        ),
        Some(28.0 * H)
    );
    assert_eq!(
        metric(
            &text,
            r#"neighbourhood_abstracted_seconds{lpa="dudley",month="2024-03",reason="training"}"#
        ),
        Some(1.0 * H)
    );
    assert_eq!(
        metric(
            &text,
            r#"neighbourhood_abstraction_ratio{lpa="coventry",month="2024-03"}"#
        ),
        Some(0.5)
    );
    assert_eq!(
        metric(
            &text,
            r#"neighbourhood_abstraction_target_ratio{lpa="dudley"}"#
        ),
        Some(0.2)
    );
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_events_total{outcome="applied"}"#
        ),
        Some(8.0)
    );
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_events_total{outcome="duplicate"}"#
        ),
        Some(1.0)
    );
    assert!(
        !text.contains("off-1"),
        "officer ids never appear in metrics"
    );

    let (status, md) = get(&format!(
        "{}/api/v1/reports/monthly/2024-03?format=md",
        tracker.base
    ))
    .await;
    assert_eq!(status, 200);
    assert!(md.contains("Dudley"), "{md}");
    let (status, _) = get(&format!("{}/api/v1/months/2024-13", tracker.base)).await;
    assert_eq!(status, 400);

    tracker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_goes_to_the_rejected_stream_with_its_reason() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);

    let good = recorded(
        "a1",
        "dudley",
        "response_cover",
        "2024-03-14T09:00:00Z",
        "2024-03-14T11:30:00Z",
    );
    // Valid event on another LPA's subject.
    publish(
        &js,
        "neighbourhood.events.walsall.abstraction.recorded",
        &serde_json::to_vec(&good).unwrap(),
        None,
    )
    .await;
    publish(
        &js,
        "neighbourhood.events.dudley.shift.rostered",
        b"{not json",
        None,
    )
    .await;
    // The same event_id with different content.
    publish(
        &js,
        &subject(&good),
        &serde_json::to_vec(&good).unwrap(),
        None,
    )
    .await;
    let mut changed = good.clone();
    changed["data"]["reason"] = json!("court");
    publish(
        &js,
        &subject(&good),
        &serde_json::to_vec(&changed).unwrap(),
        None,
    )
    .await;

    let mut msgs = rejected_messages(&js).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = tokio::time::timeout(Duration::from_secs(20), msgs.next())
            .await
            .expect("a rejection arrives")
            .unwrap()
            .unwrap();
        let h = m.headers.clone().expect("rejection headers");
        assert!(!h.get("Rejection-Reason").unwrap().as_str().is_empty());
        assert!(h
            .get("Original-Sequence")
            .unwrap()
            .as_str()
            .parse::<u64>()
            .is_ok());
        seen.push((
            m.subject.to_string(),
            h.get("Original-Subject").unwrap().to_string(),
            m.payload.clone(),
        ));
    }
    assert_eq!(seen[0].0, "neighbourhood.rejected.subject_mismatch");
    assert_eq!(
        seen[0].1,
        "neighbourhood.events.walsall.abstraction.recorded"
    );
    assert_eq!(seen[1].0, "neighbourhood.rejected.invalid_json");
    assert_eq!(&seen[1].2[..], b"{not json", "original bytes are kept");
    assert_eq!(seen[2].0, "neighbourhood.rejected.event_id_conflict");

    tracker.wait_ready().await;
    let (_, text) = get(&format!("{}/metrics", tracker.base)).await;
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_events_total{outcome="rejected"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_events_total{outcome="applied"}"#
        ),
        Some(1.0)
    );
    let m = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    assert_eq!(
        lpa(&m, "dudley")["abstracted_hours_by_reason"]["response_cover"],
        2.5
    );
    tracker.stop().await.unwrap();
}
