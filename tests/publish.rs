//! `publish` as a user runs it, against a real broker: a file with a bad line publishes
//! nothing (the refused lines named with their numbers, a shift in 2099 among them,
//! judged against the publisher's clock); `--skip-invalid` publishes the rest and still
//! fails; standard input gets the same all-or-nothing guarantee; `--no-validate` sends
//! every line as it is.

mod common;

use common::*;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Four valid simulated lines, then: line 5 not JSON, line 6 blank, line 7 a valid
/// line moved to 2099 (implausible_time), line 8 valid.
fn mixed_file() -> (String, Vec<serde_json::Value>) {
    let lines = simulated("2024-03-04", "2024-03-05", 20, 3);
    assert!(lines.len() >= 6, "the simulation gives enough lines");
    let text = |i: usize| String::from_utf8(lines[i].clone()).unwrap();
    let far = text(4)
        .replace("\"2024-", "\"2099-")
        .replace("\"event_id\":\"", "\"event_id\":\"far-");
    assert_ne!(far, text(4));
    let good = [0, 1, 2, 3, 5]
        .map(|i| serde_json::from_slice(&lines[i]).unwrap())
        .to_vec();
    let file = format!(
        "{}\n{}\n{}\n{}\n{{not json\n\n{far}\n{}\n",
        text(0),
        text(1),
        text(2),
        text(3),
        text(5)
    );
    (file, good)
}

fn publish(url: &str, args: &[&str], stdin: Option<&str>) -> (Output, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["publish", "--nats-url", url]).args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

async fn stream_ids(js: &async_nats::jetstream::Context) -> Vec<(String, String)> {
    let mut stream = js.get_stream("NEIGHBOURHOOD_EVENTS").await.unwrap();
    let n = stream.info().await.unwrap().state.messages;
    let mut out = Vec::new();
    for seq in 1..=n {
        let m = stream.get_raw_message(seq).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert_eq!(
            v["event_id"].as_str().unwrap(),
            id,
            "Nats-Msg-Id is the event_id"
        );
        assert_eq!(m.subject.as_str(), subject(&v));
        out.push((m.subject.to_string(), id));
    }
    out
}

async fn broker() -> (NatsServer, async_nats::jetstream::Context) {
    let nats = NatsServer::start();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    abstraction_tracker::ingest::ensure_streams(&js, 1)
        .await
        .unwrap();
    (nats, js)
}

fn want(good: &[serde_json::Value]) -> Vec<(String, String)> {
    good.iter()
        .map(|v| (subject(v), v["event_id"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn a_bad_line_stops_the_file_unless_skip_invalid_which_still_fails() {
    let (nats, js) = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let (file, good) = mixed_file();
    std::fs::write(&path, &file).unwrap();
    let p = path.to_str().unwrap();

    let (out, err) = publish(&nats.url(), &[p], None);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("events.ndjson:5: invalid_json"), "{err}");
    assert!(err.contains("events.ndjson:7: implausible_time"), "{err}");
    assert!(err.contains("2 invalid line(s)"), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    assert!(
        stream_ids(&js).await.is_empty(),
        "nothing reached the broker"
    );

    let (out, err) = publish(&nats.url(), &["--skip-invalid", p], None);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("events.ndjson:5: invalid_json"), "{err}");
    assert!(err.contains("events.ndjson:7: implausible_time"), "{err}");
    assert!(err.contains("published 5 event(s) (0 already"), "{err}");
    assert!(err.contains("2 invalid line(s)"), "{err}");
    assert!(err.contains("were not published"), "{err}");
    assert_eq!(
        stream_ids(&js).await,
        want(&good),
        "the valid lines, in order"
    );

    // Once fixed (here: the bad lines dropped), the whole file again: the broker
    // keeps one copy of each event.
    let fixed: String = file
        .lines()
        .enumerate()
        .filter(|(i, _)| ![4, 6].contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&path, fixed).unwrap();
    let (out, err) = publish(&nats.url(), &[p], None);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("published 5 event(s) (5 already"), "{err}");
    assert_eq!(stream_ids(&js).await, want(&good));
}

#[tokio::test]
async fn standard_input_is_validated_in_full_before_anything_is_sent() {
    let (nats, js) = broker().await;
    let (file, good) = mixed_file();
    let (out, err) = publish(&nats.url(), &["-"], Some(&file));
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("-:5: invalid_json"), "{err}");
    assert!(err.contains("-:7: implausible_time"), "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    assert!(stream_ids(&js).await.is_empty());

    let clean: String = good.iter().map(|v| format!("{v}\n")).collect();
    let (out, err) = publish(&nats.url(), &["-"], Some(&clean));
    assert!(out.status.success(), "{err}");
    assert!(err.contains("published 5 event(s) (0 already"), "{err}");
    assert_eq!(stream_ids(&js).await, want(&good));
}

#[tokio::test]
async fn no_validate_sends_every_line_as_it_is() {
    let (nats, js) = broker().await;
    let (file, _) = mixed_file();
    let (out, err) = publish(&nats.url(), &["--no-validate", "-"], Some(&file));
    assert!(out.status.success(), "{err}");
    assert!(err.contains("published 7 event(s)"), "{err}");
    let info = js
        .get_stream("NEIGHBOURHOOD_EVENTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages;
    assert_eq!(info, 7, "every non-blank line, the bad ones too");
    let (out, err) = publish(&nats.url(), &["--no-validate", "--skip-invalid", "-"], None);
    assert_eq!(out.status.code(), Some(2), "the two conflict: {err}");
}

/// The publishing pass sends only what the validating pass saw: a line past the last
/// validated one (the file grew in between) stops it, and so does a line that no longer
/// parses where a valid one was.
#[tokio::test]
async fn the_publishing_pass_sends_nothing_that_was_not_validated() {
    use abstraction_tracker::tools::publish::{send, validate, Mode};
    let (_nats, js) = broker().await;
    let validator = abstraction_tracker::wire::decode::Validator::new(
        abstraction_tracker::domain::reference::Reference::west_midlands(),
    );
    let lines = simulated("2024-03-04", "2024-03-05", 20, 3);
    let first = [lines[0].clone(), b"\n".to_vec()].concat();
    let now = abstraction_tracker::clock::Clock::Wall
        .now()
        .as_millisecond();
    let checked = validate(&validator, now, &first[..], 10, |_| {}).unwrap();
    assert_eq!(checked.valid(), 1);

    let grown = [first.clone(), lines[1].clone()].concat();
    let err = send(&js, &grown[..], Mode::Validated(&checked), |_| {})
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    assert_eq!(stream_ids(&js).await.len(), 1, "the validated line only");

    let err = send(&js, &b"{not json\n"[..], Mode::Validated(&checked), |_| {})
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("file changed"), "{err:#}");
    assert_eq!(stream_ids(&js).await.len(), 1);
}

/// Refused lines are listed up to a cap, then counted; validation needs no broker.
#[test]
fn a_long_list_of_refused_lines_is_capped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ndjson");
    std::fs::write(&path, "{not json\n".repeat(60)).unwrap();
    let (out, err) = publish("nats://127.0.0.1:1", &[path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.ndjson:50: invalid_json"), "{err}");
    assert!(!err.contains("bad.ndjson:51:"), "{err}");
    assert!(err.contains("and 10 more"), "{err}");
    assert!(err.contains("60 invalid line(s)"), "{err}");
    assert!(!err.contains("connect"), "refused before connecting: {err}");
}
