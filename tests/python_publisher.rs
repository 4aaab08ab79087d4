//! The Python example publisher (`deploy/examples/publisher.py`, nats-py) against a real
//! nats-server and tracker: its events are contract-valid, the tracker applies exactly
//! the figures they imply (computed by hand below), and re-running it (same event ids)
//! changes nothing, both inside the broker's duplicate window and after it.
//!
//! Needs `python3` with nats-py: a missing one FAILS this test, with the command to run.

mod common;

use abstraction_tracker::wire::subject::subject_for;

use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::wire::decode::Validator;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const INSTALL: &str = "pip install -r deploy/examples/requirements.txt";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/publisher.py")
}

/// Fails (never skips) when python3 or nats-py is missing.
fn require_python_with_nats() {
    let out = Command::new("python3")
        .args(["-c", "import nats"])
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is not installed ({e}): install Python 3.11+, then run `{INSTALL}`")
        });
    assert!(
        out.status.success(),
        "nats-py is not importable by python3 ({}): run `{INSTALL}`",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .trim()
    );
}

/// One PubAck line of the script: `event_id subject stream=S seq=N duplicate=B`.
#[derive(Debug, PartialEq)]
struct Ack {
    event_id: String,
    subject: String,
    stream: String,
    seq: u64,
    duplicate: bool,
}

fn parse_acks(stdout: &str) -> Vec<Ack> {
    stdout
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 5, "PubAck line: {l:?}");
            let val = |i: usize, key: &str| {
                f[i].strip_prefix(key)
                    .unwrap_or_else(|| panic!("{key} in {l:?}"))
                    .to_string()
            };
            Ack {
                event_id: f[0].into(),
                subject: f[1].into(),
                stream: val(2, "stream="),
                seq: val(3, "seq=").parse().unwrap(),
                duplicate: match val(4, "duplicate=").as_str() {
                    "True" => true,
                    "False" => false,
                    other => panic!("duplicate={other} in {l:?}"),
                },
            }
        })
        .collect()
}

/// Runs the script and returns its PubAcks; panics with its stderr unless it exits 0.
async fn run_publisher(nats_url: &str) -> Vec<Ack> {
    let url = nats_url.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script())
            .env("NATS_URL", url)
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "publisher.py failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_acks(&stdout)
}

/// The script's events, as NDJSON (`--ndjson` publishes nothing).
fn script_events() -> Vec<Value> {
    let out = Command::new("python3")
        .arg(script())
        .arg("--ndjson")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = Validator::new(Reference::west_midlands());
    out.stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            // The tracker's own validator: the example must be contract-valid.
            let env = v.decode(l).unwrap_or_else(|r| {
                panic!("example event refused: {r}: {}", String::from_utf8_lossy(l))
            });
            let j: Value = serde_json::from_slice(l).unwrap();
            assert_eq!(j["event_id"], env.event_id.as_str());
            j
        })
        .collect()
}

fn outcome(text: &str, o: &str) -> f64 {
    metric(
        text,
        &format!(r#"abstraction_tracker_events_total{{outcome="{o}"}}"#),
    )
    .unwrap_or(0.0)
}

async fn outcomes(base: &str) -> (f64, f64, f64) {
    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    (
        outcome(&text, "applied"),
        outcome(&text, "duplicate"),
        outcome(&text, "rejected"),
    )
}

async fn wait_outcomes(base: &str, want: (f64, f64, f64)) {
    let base = base.to_string();
    wait_for(
        Duration::from_secs(20),
        &format!("outcomes {want:?}"),
        || {
            let base = base.clone();
            async move { outcomes(&base).await == want }
        },
    )
    .await;
}

/// What the script's six events imply for Dudley in May 2024, by hand:
/// - shift 1: 07:00-17:00 BST on 14 May = 10 h rostered (pc, dudley-town);
/// - shift 2: 8 h, but cancelled (sickness) = 0 h, and no shift counted;
/// - abstraction: started 09:00, ended 12:30 (hospital_watch, 3.5 h), then amended to
///   `prisoner_escort` ending 13:00 = 4 h, counted, unplanned, pc, scope lpa;
/// - ratio 4 / 10 = 0.4: red against the 0.2 target (amber up to 0.25).
fn assert_example_figures(may: &Value) {
    assert_eq!(may["month"], "2024-05");
    let d = lpa(may, "dudley");
    assert_eq!(d["rostered_hours"], 10.0, "{d}");
    assert_eq!(d["abstracted_hours"], 4.0, "{d}");
    assert_eq!(d["abstraction_ratio"], 0.4, "{d}");
    assert_eq!(d["open_abstractions"], 0);
    assert_eq!(d["shifts"], 1);
    assert_eq!(d["abstractions"], 1);
    assert_eq!(d["abstracted_hours_by_reason"]["prisoner_escort"], 4.0);
    assert_eq!(d["abstracted_hours_by_reason"]["hospital_watch"], 0.0);
    let by_reason_total: f64 = d["abstracted_hours_by_reason"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(by_reason_total, 4.0, "only the amended reason holds hours");
    assert_eq!(d["abstracted_hours_by_role"], json!({ "pc": 4.0 }));
    assert_eq!(d["abstracted_hours_by_scope"], json!({ "lpa": 4.0 }));
    assert_eq!(d["planned_hours"], 0.0);
    assert_eq!(d["unplanned_hours"], 4.0);
    assert_eq!(d["rag"], "red");
    let town = d["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sector"] == "dudley-town")
        .unwrap_or_else(|| panic!("dudley-town in {}", d["sectors"]));
    assert_eq!(town["rostered_hours"], 10.0);
    assert_eq!(town["abstracted_hours"], 4.0);
    for s in d["sectors"].as_array().unwrap() {
        if s["sector"] != "dudley-town" {
            assert_eq!(
                s["rostered_hours"], 0.0,
                "the cancelled shift counts nowhere: {s}"
            );
        }
    }
    for l in may["lpas"].as_array().unwrap() {
        if l["lpa"] != "dudley" {
            assert_eq!(l["rostered_hours"], 0.0, "{l}");
            assert_eq!(l["abstracted_hours"], 0.0, "{l}");
        }
    }
    assert_eq!(may["summary"]["rostered_hours"], 10.0);
    assert_eq!(may["summary"]["abstracted_hours"], 4.0);
    assert_eq!(may["summary"]["open_abstractions"], 0);
    assert!(
        may["data_quality"]["rejected_events"]
            .as_object()
            .unwrap()
            .is_empty(),
        "nothing rejected: {}",
        may["data_quality"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_publishes_what_the_tracker_applies_once() {
    require_python_with_nats();
    let events = script_events();
    assert_eq!(events.len(), 6);

    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;

    // First run: every event stored once, on its contract subject, in order.
    let acks = run_publisher(&nats.url()).await;
    assert_eq!(acks.len(), events.len(), "one PubAck per event: {acks:?}");
    for (i, (a, e)) in acks.iter().zip(&events).enumerate() {
        assert_eq!(a.event_id, e["event_id"].as_str().unwrap());
        assert_eq!(
            a.subject,
            subject_for(e["lpa"].as_str().unwrap(), e["type"].as_str().unwrap())
        );
        assert_eq!(a.stream, "NEIGHBOURHOOD_EVENTS");
        assert_eq!(a.seq, i as u64 + 1);
        assert!(!a.duplicate, "{a:?}");
    }
    wait_outcomes(&tracker.base, (6.0, 0.0, 0.0)).await;
    tracker.wait_ready().await;
    let url = format!("{}/api/v1/months/2024-05", tracker.base);
    let first = get_json(&url).await;
    assert_example_figures(&first);
    for m in ["2024-04", "2024-06"] {
        let other = get_json(&format!("{}/api/v1/months/{m}", tracker.base)).await;
        assert_eq!(lpa(&other, "dudley")["rostered_hours"], 0.0, "{m}");
        assert_eq!(lpa(&other, "dudley")["abstracted_hours"], 0.0, "{m}");
    }

    // Second run, inside the broker's 2-minute duplicate window: the broker answers
    // every publish as a duplicate of the stored copy; the tracker sees nothing new.
    let again = run_publisher(&nats.url()).await;
    assert_eq!(again.len(), 6);
    for (a, b) in again.iter().zip(&acks) {
        assert!(a.duplicate, "the broker recognises the Nats-Msg-Id: {a:?}");
        assert_eq!(a.seq, b.seq, "a duplicate PubAck names the stored copy");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    tracker.wait_ready().await;
    assert_eq!(outcomes(&tracker.base).await, (6.0, 0.0, 0.0));
    assert_eq!(get_json(&url).await, first, "figures unchanged");

    // Third run, after the broker's window has passed (shrunk here to 1 s instead of
    // waiting 2 minutes): the broker stores the events again and the tracker, which
    // de-duplicates by event_id for ever, counts them as duplicates and changes nothing.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut stream = js.get_stream("NEIGHBOURHOOD_EVENTS").await.unwrap();
    let mut config = stream.info().await.unwrap().config.clone();
    config.duplicate_window = Duration::from_secs(1);
    js.update_stream(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let third = run_publisher(&nats.url()).await;
    assert_eq!(third.len(), 6);
    for (i, a) in third.iter().enumerate() {
        assert!(!a.duplicate, "past the broker's window: {a:?}");
        assert_eq!(a.seq, 7 + i as u64, "stored again");
    }
    wait_outcomes(&tracker.base, (6.0, 6.0, 0.0)).await;
    tracker.wait_ready().await;
    assert_eq!(get_json(&url).await, first, "figures unchanged");
    assert_example_figures(&get_json(&url).await);

    tracker.stop().await.unwrap();
}

#[test]
fn the_publisher_fails_with_a_reason_when_nats_is_unreachable() {
    require_python_with_nats();
    let port = free_port(); // nothing listens there
    let out = Command::new("python3")
        .arg(script())
        .env("NATS_URL", format!("nats://127.0.0.1:{port}"))
        .output()
        .expect("run python3");
    assert!(!out.status.success(), "exit status is non-zero");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to NATS"), "stderr: {err}");
    assert!(out.stdout.is_empty(), "no PubAck printed");
}

/// A publish that gets no PubAck is retried with the same `Nats-Msg-Id` and the same
/// bytes. No stream here: a plain subscriber plays JetStream, answering PubAcks, except
/// that it ignores the first attempt of the fourth event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_without_puback_is_retried_with_the_same_id_and_bytes() {
    use futures::StreamExt;
    require_python_with_nats();
    let nats = NatsServer::start();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut sub = client.subscribe("neighbourhood.events.>").await.unwrap();
    client.flush().await.unwrap();
    let dropped_id = script_events()[3]["event_id"].as_str().unwrap().to_string();

    let responder = {
        let client = client.clone();
        let dropped_id = dropped_id.clone();
        tokio::spawn(async move {
            let mut seen: Vec<(String, bytes::Bytes)> = Vec::new();
            while let Some(m) = sub.next().await {
                let id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.to_string())
                    .expect("every publish carries Nats-Msg-Id");
                let first = !seen.iter().any(|(i, _)| *i == id);
                seen.push((id.clone(), m.payload.clone()));
                if id == dropped_id && first {
                    continue; // no PubAck: the publisher must retry
                }
                let ack = json!({"stream": "NEIGHBOURHOOD_EVENTS", "seq": seen.len(),
                                 "duplicate": !first});
                client
                    .publish(
                        m.reply.expect("a JetStream publish expects a reply"),
                        ack.to_string().into(),
                    )
                    .await
                    .unwrap();
                if seen.len() == 7 {
                    return seen;
                }
            }
            seen
        })
    };

    let url = nats.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script())
            .env("NATS_URL", url)
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "publisher.py failed: {stderr}");
    assert!(
        stderr.contains("retrying"),
        "the retry is reported: {stderr}"
    );
    let acks = parse_acks(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(acks.len(), 6, "one PubAck line per event: {acks:?}");

    let seen = tokio::time::timeout(Duration::from_secs(10), responder)
        .await
        .expect("responder done")
        .unwrap();
    let attempts: Vec<&bytes::Bytes> = seen
        .iter()
        .filter(|(i, _)| *i == dropped_id)
        .map(|(_, p)| p)
        .collect();
    assert_eq!(attempts.len(), 2, "sent twice: {seen:?}");
    assert_eq!(attempts[0], attempts[1], "the retry sends the same bytes");
    assert_eq!(seen.len(), 7, "every other event once");
}
