//! The evidence behind a figure (contract v3 section 12) through a real nats-server and
//! the tracker: simulated months published, then for every LPA and month the lists of
//! `/api/v1/lpas/{lpa}/…` add up exactly to the month API's figures, the open list is
//! the open count, every event carries the stream sequence it was stored from, and no
//! output (JSON or CSV, any of the three paths) carries an officer id or free text.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const MS_PER_HOUR: f64 = 3_600_000.0;

/// Hours as exact milliseconds: every figure is a whole number of milliseconds divided
/// by 3.6e6, so rounding back recovers it and sums compare exactly.
fn ms(hours: &Value) -> i64 {
    (hours.as_f64().unwrap_or_else(|| panic!("hours: {hours}")) * MS_PER_HOUR).round() as i64
}

fn handled(text: &str) -> f64 {
    ["applied", "duplicate", "rejected"]
        .iter()
        .map(|o| {
            metric(
                text,
                &format!(r#"abstraction_tracker_events_total{{outcome="{o}"}}"#),
            )
            .unwrap_or(0.0)
        })
        .sum()
}

/// Every key of a JSON value, at any depth.
fn keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.insert(k.clone());
                keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

/// Fails on a forbidden key or any published officer id in an evidence body.
fn assert_private(body: &str, officers: &BTreeSet<String>, what: &str) {
    let lower = body.to_lowercase();
    for word in [
        "officer_id",
        "\"note\"",
        "\"why\"",
        "\"cause\"",
        ",note",
        ",why",
        ",cause",
    ] {
        assert!(!lower.contains(word), "{what} carries {word}");
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let mut k = BTreeSet::new();
        keys(&v, &mut k);
        for bad in ["officer_id", "note", "why", "cause"] {
            assert!(!k.contains(bad), "{what} has the key {bad}");
        }
    } else {
        let header = body.lines().next().unwrap_or("");
        for bad in ["officer_id", "note", "why", "cause"] {
            assert!(
                !header.split(',').any(|c| c == bad),
                "{what}: CSV column {bad}"
            );
        }
    }
    for o in officers {
        assert!(!body.contains(o.as_str()), "{what} names officer {o}");
    }
    assert!(!body.contains("SECRET"), "{what} carries free text");
}

fn events_are_ordered_and_sequenced(entry: &Value, what: &str) {
    let events = entry["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{what}: {entry}");
    let order: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            assert!(
                e["stream_sequence"].as_u64().is_some_and(|s| s > 0),
                "{what}: every event stored by this tracker has its sequence: {e}"
            );
            // RFC 3339 in UTC, all of one width: text order is time order.
            (
                e["occurred_at"].as_str().unwrap().to_string(),
                e["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "{what}: events by (occurred_at, event_id)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_adds_up_to_every_figure_and_names_no_one() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());

    let mut lines = simulated("2024-02-01", "2024-03-31", 120, 11);
    // By hand, every status and every free-text field: open (with a note), cancelled
    // (with a why), implausible, and a shift cancelled for sickness (its cause).
    use abstraction_tracker::domain::event::Role;
    let hand = [
        event_with(
            "hand-1",
            "walsall",
            "2024-03-20T08:00:00Z",
            started(
                "hand-open-1",
                abstraction(
                    "o-hand-1",
                    Role::Pc,
                    "walsall-north",
                    "response_cover",
                    "2024-03-20T08:00:00Z",
                ),
            ),
            Some("SECRET-NOTE told by the sergeant"),
        ),
        event(
            "hand-2",
            "walsall",
            "2024-02-10T08:00:00Z",
            started(
                "hand-open-2",
                abstraction(
                    "o-hand-2",
                    Role::Pcso,
                    "walsall-north",
                    "training",
                    "2024-02-10T08:00:00Z",
                ),
            ),
        ),
        event(
            "hand-3",
            "walsall",
            "2024-03-05T18:00:00Z",
            recorded(
                "hand-cancelled",
                abstraction(
                    "o-hand-3",
                    Role::Pc,
                    "walsall-north",
                    "response_cover",
                    "2024-03-05T08:00:00Z",
                ),
                "2024-03-05T12:00:00Z",
            ),
        ),
        event_with(
            "hand-4",
            "walsall",
            "2024-03-06T09:00:00Z",
            abstraction_cancelled("hand-cancelled"),
            Some("SECRET-WHY entered twice"),
        ),
        event(
            "hand-5",
            "walsall",
            "2024-03-29T20:00:00Z",
            started(
                "hand-implausible",
                abstraction(
                    "o-hand-5",
                    Role::Pc,
                    "walsall-north",
                    "response_cover",
                    "2024-03-29T20:00:00Z",
                ),
            ),
        ),
        event(
            "hand-6",
            "walsall",
            "2024-04-01T08:00:00Z",
            ended("hand-implausible", "2024-04-01T08:00:00Z"),
        ),
        event(
            "hand-7",
            "walsall",
            "2024-03-01T08:00:00Z",
            rostered(
                "hand-shift",
                "o-hand-7",
                Role::Pc,
                "walsall-north",
                "2024-03-02T08:00:00Z",
                "2024-03-02T16:00:00Z",
            ),
        ),
        event_with(
            "hand-8",
            "walsall",
            "2024-03-02T07:00:00Z",
            shift_cancelled("hand-shift"),
            Some("SECRET-CAUSE sickness"),
        ),
    ];
    lines.extend(hand.iter().map(|e| serde_json::to_vec(e).unwrap()));
    let mut officers = BTreeSet::new();
    for l in &lines {
        let v: Value = serde_json::from_slice(l).unwrap();
        if let Some(o) = v["data"]["officer_id"].as_str() {
            officers.insert(o.to_string());
        }
    }
    assert!(officers.len() > 50, "the simulation names officers");
    publish_events(&js, &lines).await;
    let metrics_url = format!("{}/metrics", tracker.base);
    let n = lines.len() as f64;
    wait_for(Duration::from_secs(90), "every event handled", || {
        let url = metrics_url.clone();
        async move { handled(&get(&url).await.1) >= n }
    })
    .await;
    let base = tracker.base.clone();

    let mut listed = [0usize; 3];
    let mut statuses = BTreeSet::new();
    for month in ["2024-02", "2024-03"] {
        let figures = get_json(&format!("{base}/api/v1/months/{month}")).await;
        for l in figures["lpas"].as_array().unwrap() {
            let lpa = l["lpa"].as_str().unwrap();
            let what = format!("{lpa} {month}");
            let url = format!("{base}/api/v1/lpas/{lpa}/months/{month}/abstractions");
            let list = get_json(&url).await;
            assert_eq!(
                (list["lpa"].as_str(), list["month"].as_str()),
                (Some(lpa), Some(month))
            );
            let entries = list["abstractions"].as_array().unwrap();
            let (mut counted, mut open) = (0i64, 0i64);
            let mut by_reason: BTreeMap<String, i64> = BTreeMap::new();
            for e in entries {
                events_are_ordered_and_sequenced(e, &what);
                statuses.insert(e["status"].as_str().unwrap().to_string());
                assert_eq!(e["revised_since_issue"], false);
                let h = ms(&e["hours_in_month"]);
                match e["status"].as_str().unwrap() {
                    "counted" => counted += h,
                    "not_counted" => {}
                    "open" => {
                        assert_eq!(h, 0, "{e}");
                        assert!(e["end"].is_null(), "{e}");
                        // Listed under the month its start falls in.
                        open += 1;
                        continue;
                    }
                    _ => {
                        assert_eq!(h, 0, "{e}");
                        continue;
                    }
                }
                *by_reason
                    .entry(e["reason"].as_str().unwrap().into())
                    .or_default() += h;
            }
            assert_eq!(counted, ms(&l["abstracted_hours"]), "{what}: counted hours");
            assert_eq!(
                open,
                l["open_abstractions"].as_i64().unwrap(),
                "{what}: open"
            );
            for (reason, hours) in l["abstracted_hours_by_reason"].as_object().unwrap() {
                assert_eq!(
                    by_reason.remove(reason).unwrap_or(0),
                    ms(hours),
                    "{what}: {reason}"
                );
            }
            assert!(by_reason.values().all(|h| *h == 0), "{what}: {by_reason:?}");
            listed[0] += entries.len();

            let url = format!("{base}/api/v1/lpas/{lpa}/months/{month}/shifts");
            let shifts = get_json(&url).await;
            let mut rostered = 0i64;
            for s in shifts["shifts"].as_array().unwrap() {
                events_are_ordered_and_sequenced(s, &what);
                statuses.insert(s["status"].as_str().unwrap().to_string());
                if s["status"] == "rostered" {
                    rostered += ms(&s["hours_in_month"]);
                } else {
                    assert_eq!(ms(&s["hours_in_month"]), 0, "{s}");
                }
            }
            assert_eq!(rostered, ms(&l["rostered_hours"]), "{what}: rostered hours");
            listed[1] += shifts["shifts"].as_array().unwrap().len();

            // Both formats of both month paths name no one; CSV has a row per entry.
            for (path, n) in [
                ("abstractions", entries.len()),
                ("shifts", shifts["shifts"].as_array().unwrap().len()),
            ] {
                let url = format!("{base}/api/v1/lpas/{lpa}/months/{month}/{path}");
                let (status, json) = get(&url).await;
                assert_eq!(status, 200);
                assert_private(&json, &officers, &url);
                let (status, csv) = get(&format!("{url}?format=csv")).await;
                assert_eq!(status, 200, "{csv}");
                assert_private(&csv, &officers, &format!("{url}?format=csv"));
                assert_eq!(csv.lines().count(), n + 1, "{url}: a header and a row each");
            }
        }
    }
    assert!(listed[0] > 100 && listed[1] > 100, "{listed:?}");
    for s in [
        "counted",
        "not_counted",
        "open",
        "cancelled",
        "implausible",
        "rostered",
    ] {
        assert!(
            statuses.contains(s),
            "simulated data exercises {s}: {statuses:?}"
        );
    }

    // The open list: every abstraction open now, oldest first, hours to the clock's now.
    let now_ms = common::ms(TEST_AS_OF);
    let metrics = get(&metrics_url).await.1;
    for l in abstraction_tracker::domain::reference::Reference::west_midlands().lpas {
        let lpa = l.code;
        let url = format!("{base}/api/v1/lpas/{lpa}/abstractions/open");
        let list = get_json(&url).await;
        assert!(list.get("month").is_none(), "{list}");
        let entries = list["abstractions"].as_array().unwrap();
        let open_now = metric(
            &metrics,
            &format!(r#"neighbourhood_abstractions_open{{lpa="{lpa}"}}"#),
        )
        .unwrap_or(0.0);
        assert_eq!(
            entries.len() as f64,
            open_now,
            "{lpa}: open list = open now"
        );
        let starts: Vec<&str> = entries
            .iter()
            .map(|e| e["start"].as_str().unwrap())
            .collect();
        assert!(
            starts.windows(2).all(|w| w[0] <= w[1]),
            "{lpa}: oldest first"
        );
        for e in entries {
            assert_eq!(e["status"], "open");
            let start = common::ms(e["start"].as_str().unwrap());
            assert_eq!(ms(&e["open_hours"]), now_ms - start, "{e}");
            listed[2] += 1;
        }
        let (status, json) = get(&url).await;
        assert_eq!(status, 200);
        assert_private(&json, &officers, &url);
        let (status, csv) = get(&format!("{url}?format=csv")).await;
        assert_eq!(status, 200);
        assert!(
            csv.lines().next().unwrap().ends_with(",open_hours"),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), entries.len() + 1);
        assert_private(&csv, &officers, &url);
    }
    assert!(
        listed[2] > 0,
        "the simulation leaves some abstractions open"
    );

    // An LPA this projector does not hold, a bad month and a bad format are refused.
    for (url, want) in [
        (
            format!("{base}/api/v1/lpas/atlantis/abstractions/open"),
            404,
        ),
        (
            format!("{base}/api/v1/lpas/atlantis/months/2024-03/shifts"),
            404,
        ),
        (
            format!("{base}/api/v1/lpas/dudley/months/2024-13/shifts"),
            400,
        ),
        (
            format!("{base}/api/v1/lpas/dudley/abstractions/open?format=xml"),
            400,
        ),
    ] {
        let (status, body) = get(&url).await;
        assert_eq!(status, want, "{url}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(!v["error"].as_str().unwrap().is_empty(), "{url}");
    }
    let (_, body) = get(&format!("{base}/api/v1/lpas/atlantis/abstractions/open")).await;
    assert!(body.contains("not owned here"), "{body}");

    tracker.stop().await.unwrap();
}
