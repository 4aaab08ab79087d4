//! Every kind of bad input, through a real broker: each lands on
//! `neighbourhood.rejected.<code>` with its reason and the original bytes, is counted,
//! and the consumer carries on. `publish` refuses the same input locally, with line
//! numbers, before sending anything.

mod common;

use abstraction_tracker::domain::event::Role;
use abstraction_tracker::domain::reject::RejectCode;
use common::*;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// (expected code, subject, bytes) for every invalid example file plus the cases that
/// need a transport or history: oversized, subject mismatch, id reuse.
fn bad_inputs() -> Vec<(String, String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples/invalid");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for p in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let code = name.split("--").next().unwrap().to_string();
        let bytes = std::fs::read(&p).unwrap();
        // Publish on the subject the event claims where it can be read, so the only
        // fault is the one the file is named for.
        let v: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        let token = |k: &str, d: &str| {
            v.as_ref()
                .and_then(|v| v.get(k))
                .and_then(|x| x.as_str())
                .filter(|s| !s.is_empty() && !s.contains([' ', '*', '>']))
                .unwrap_or(d)
                .to_string()
        };
        let subject = format!(
            "neighbourhood.events.{}.{}",
            token("lpa", "dudley"),
            token("type", "shift.rostered")
        );
        out.push((code, subject, bytes));
    }
    let shift = rostered(
        "rj-s1",
        "o",
        Role::Pc,
        "dudley-town",
        "2024-03-04T08:00:00Z",
        "2024-03-04T16:00:00Z",
    );
    let good = event("rj-good", "dudley", "2024-03-01T09:00:00Z", shift);
    let mut big = good.clone();
    big["event_id"] = "rj-big".into();
    big["source"] = "x".repeat(70 * 1024).into();
    out.push((
        "too_large".into(),
        subject(&big),
        serde_json::to_vec(&big).unwrap(),
    ));
    out.push((
        "subject_mismatch".into(),
        "neighbourhood.events.walsall.shift.rostered".into(),
        serde_json::to_vec(&good).unwrap(),
    ));
    let mut extra = good.clone();
    extra["event_id"] = "rj-extra-token".into();
    out.push((
        "subject_mismatch".into(),
        "neighbourhood.events.dudley.shift.rostered.extra".into(),
        serde_json::to_vec(&extra).unwrap(),
    ));
    out.push((
        "ok".into(),
        subject(&good),
        serde_json::to_vec(&good).unwrap(),
    ));
    // Well-formed, but 2099 is far more than max_days_ahead after the broker's
    // timestamp (a shift in 2099 accepted would add a month to every dashboard).
    let far_shift = rostered(
        "rj-s2",
        "o",
        Role::Pc,
        "dudley-town",
        "2099-03-04T08:00:00Z",
        "2099-03-04T16:00:00Z",
    );
    let far = event("rj-far", "dudley", "2024-03-01T09:00:00Z", far_shift);
    out.push((
        "implausible_time".into(),
        subject(&far),
        serde_json::to_vec(&far).unwrap(),
    ));
    let mut reused = good.clone();
    reused["data"]["end"] = "2024-03-04T18:00:00Z".into();
    out.push((
        "event_id_conflict".into(),
        subject(&reused),
        serde_json::to_vec(&reused).unwrap(),
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_rejected_with_its_code_and_the_consumer_carries_on() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());

    let inputs = bad_inputs();
    for (_, subject, bytes) in &inputs {
        publish(&js, subject, bytes, None).await;
    }
    let expected: Vec<&(String, String, Vec<u8>)> = inputs.iter().filter(|i| i.0 != "ok").collect();
    let codes: std::collections::BTreeSet<&str> = expected.iter().map(|i| i.0.as_str()).collect();
    for c in RejectCode::ALL {
        assert!(codes.contains(c.as_str()), "no test input for {c}");
    }

    let mut msgs = rejected_messages(&js).await;
    for (code, subject, bytes) in &expected {
        let m = tokio::time::timeout(Duration::from_secs(20), msgs.next())
            .await
            .unwrap_or_else(|_| panic!("no rejection for {code}"))
            .unwrap()
            .unwrap();
        assert_eq!(m.subject.as_str(), format!("neighbourhood.rejected.{code}"));
        let h = m.headers.as_ref().unwrap();
        assert_eq!(
            h.get("Original-Subject").unwrap().as_str(),
            subject.as_str()
        );
        let reason = h.get("Rejection-Reason").unwrap().as_str();
        assert!(reason.len() > 10, "{code}: reason text {reason:?}");
        assert_eq!(&m.payload[..], &bytes[..], "{code}: original bytes kept");
    }

    tracker.wait_ready().await;
    let (_, text) = get(&format!("{}/metrics", tracker.base)).await;
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_events_total{outcome="rejected"}"#
        ),
        Some(expected.len() as f64)
    );
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_events_total{outcome="applied"}"#
        ),
        Some(1.0)
    );
    let mut by_code: BTreeMap<&str, f64> = BTreeMap::new();
    for (code, _, _) in &expected {
        *by_code.entry(code.as_str()).or_default() += 1.0;
    }
    for (code, n) in by_code {
        assert_eq!(
            metric(
                &text,
                &format!(r#"abstraction_tracker_rejections_total{{reason="{code}"}}"#)
            ),
            Some(n),
            "{code}"
        );
    }
    let m = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    assert_eq!(lpa(&m, "dudley")["rostered_hours"], 8.0);
    // Rejections are tallied under the event's own month where `occurred_at` can be
    // read, else under the month they were received in.
    let dq = |m: String| {
        let url = format!("{}/api/v1/reports/monthly/{m}?format=json", tracker.base);
        async move { get_json(&url).await["data_quality"]["rejected_events"].clone() }
    };
    let march = dq("2024-03".into()).await;
    assert!(march["schema_violation"].as_u64().unwrap() >= 5, "{march}");
    assert_eq!(march["event_id_conflict"], 1, "{march}");
    let now = abstraction_tracker::domain::calendar::Month::containing(jiff::Timestamp::now());
    let this_month = dq(now.to_string()).await;
    // Nothing of a message that is not JSON can be read, so all of them count here.
    let not_json = expected.iter().filter(|i| i.0 == "invalid_json").count();
    assert!(not_json >= 5, "BOM, nesting, surrogate, NUL, truncation");
    assert_eq!(this_month["invalid_json"], not_json, "{this_month}");
    assert_eq!(this_month["not_utf8"], 1, "{this_month}");
    tracker.stop().await.unwrap();
}

#[test]
fn publish_refuses_a_file_with_bad_lines_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas/examples/valid/shift.rostered--birmingham-erdington-early-turn.json"),
    )
    .unwrap();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(
        &file,
        format!(
            "{good}\n{{not json\n\n{}\n",
            good.to_string()
                .replace("\"pc\"", "\"detective\"")
                .replace("\"pcso\"", "\"detective\"")
        ),
    )
    .unwrap();
    // No broker at this URL: local validation must fail before any connection.
    let out = Command::new(bin())
        .args(["publish", "--nats-url", "nats://127.0.0.1:1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("events.ndjson:2: invalid_json"), "{err}");
    assert!(err.contains("events.ndjson:4: schema_violation"), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
}

/// The message that once stopped the tracker for good: `data` naming `reason` twice. It is
/// refused at the door now; the next events for the same abstraction apply; and every
/// edge the standards allow (lower-case `t`/`z`, a leap second, `+23:59`, 128-character
/// ids, an escaped NUL in text) is stored, read back when its abstraction is amended, and
/// rebuilt to the same figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_member_never_stops_the_tracker_and_every_accepted_edge_reads_back() {
    use abstraction_tracker::domain::event::Amendment;
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/examples");
    let read = |p: &str| std::fs::read(examples.join(p)).unwrap();
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();

    let dup = read("invalid/duplicate_member--data-reason-twice.json");
    publish(
        &js,
        "neighbourhood.events.dudley.abstraction.recorded",
        &dup,
        None,
    )
    .await;
    let edges = [
        "valid/abstraction.recorded--dudley-lower-case-t-and-z.json",
        "valid/abstraction.recorded--dudley-leap-second.json",
        "valid/abstraction.recorded--dudley-offset-plus-23-59.json",
        "valid/abstraction.recorded--dudley-ids-of-128-characters.json",
        "valid/abstraction.recorded--dudley-escaped-nul-in-text.json",
    ];
    // The abstraction the refused message named, recorded properly, then every one amended:
    // amending reads the stored events of the abstraction back from the log.
    let mut fixed = json(&read(edges[0]));
    fixed["event_id"] = "dup-fixed-1".into();
    fixed["data"]["abstraction_id"] = json(&dup)["data"]["abstraction_id"].clone();
    let mut ids = vec![fixed["data"]["abstraction_id"].as_str().unwrap().to_owned()];
    publish(
        &js,
        &subject(&fixed),
        &serde_json::to_vec(&fixed).unwrap(),
        None,
    )
    .await;
    for p in edges {
        let bytes = read(p);
        publish(&js, &subject(&json(&bytes)), &bytes, None).await;
        ids.push(
            json(&bytes)["data"]["abstraction_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let change = Amendment {
            reason: Some("public_order".into()),
            ..Amendment::default()
        };
        let e = event(
            &format!("edge-amend-{i}"),
            "dudley",
            "2024-03-20T09:00:00Z",
            abstraction_tracker::domain::event::Event::AbstractionAmended {
                abstraction_id: id.clone(),
                amendment: change,
            },
        );
        publish(&js, &subject(&e), &serde_json::to_vec(&e).unwrap(), None).await;
    }
    let applied = 1 + edges.len() + ids.len();
    let metrics = format!("{}/metrics", tracker.base);
    wait_for(Duration::from_secs(30), "every good event applied", || {
        let url = metrics.clone();
        async move {
            let (_, text) = get(&url).await;
            metric(
                &text,
                r#"abstraction_tracker_events_total{outcome="applied"}"#,
            ) == Some(applied as f64)
        }
    })
    .await;
    let (_, text) = get(&metrics).await;
    assert_eq!(
        metric(
            &text,
            r#"abstraction_tracker_rejections_total{reason="duplicate_member"}"#
        ),
        Some(1.0)
    );
    assert_eq!(get(&format!("{}/readyz", tracker.base)).await.0, 200);
    let month = |base: String| async move {
        get_json(&format!("{base}/api/v1/months/2024-03")).await["lpas"].clone()
    };
    let live = month(tracker.base.clone()).await;
    let dudley = live
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lpa"] == "dudley")
        .unwrap();
    assert!(
        dudley["abstracted_hours_by_reason"]["public_order"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{dudley}"
    );
    tracker.stop().await.unwrap();

    Command::new(bin())
        .args(["rebuild", "--data-dir"])
        .arg(data.path())
        .run_ok();
    let again = Tracker::start(&nats.url(), data.path()).await;
    assert_eq!(
        month(again.base.clone()).await,
        live,
        "rebuilt figures differ"
    );
    again.stop().await.unwrap();
}
