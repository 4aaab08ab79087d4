//! The shipped least-privilege NATS accounts (`deploy/nats/accounts.conf`) on a real
//! server: the tracker works with its narrow permissions, a publisher can publish
//! events and nothing else.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

const PUBLISHER_PW: &str = "pub-secret-for-tests";
const TRACKER_PW: &str = "tracker-secret-for-tests";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_may_only_publish_events_and_the_tracker_runs_with_its_own_user() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("server.conf");
    // nats-server resolves `include` relative to the including file: copy it beside.
    std::fs::copy(
        root.join("deploy/nats/accounts.conf"),
        conf_dir.path().join("accounts.conf"),
    )
    .unwrap();
    std::fs::write(&conf, "include ./accounts.conf\n").unwrap();
    let nats = NatsServer::start_with_config_env(
        Some(conf),
        &[
            ("NATS_PUBLISHER_PASSWORD", PUBLISHER_PW),
            ("NATS_TRACKER_PASSWORD", TRACKER_PW),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let tracker = TrackerProcess::spawn_with(
        &nats.url(),
        data.path(),
        &["--nats-user", "tracker", "--nats-password", TRACKER_PW],
    );
    tracker.wait_ready().await;

    let (errors_tx, mut errors) = tokio::sync::mpsc::unbounded_channel::<String>();
    let client =
        async_nats::ConnectOptions::with_user_and_password("publisher".into(), PUBLISHER_PW.into())
            .event_callback(move |e| {
                let tx = errors_tx.clone();
                async move {
                    if let async_nats::Event::ServerError(err) = e {
                        let _ = tx.send(err.to_string());
                    }
                }
            })
            .connect(nats.url())
            .await
            .expect("publisher connects");
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));

    // Allowed: an event on its own subject, neighbourhood.events.<lpa>.<type>.
    let shift = rostered(
        "sec-s1",
        "o",
        abstraction_tracker::domain::event::Role::Pc,
        "dudley-town",
        "2024-03-04T08:00:00Z",
        "2024-03-04T16:00:00Z",
    );
    let e = event("sec-1", "dudley", "2024-03-01T09:00:00Z", shift);
    publish(
        &js,
        &subject(&e),
        &serde_json::to_vec(&e).unwrap(),
        Some("sec-1"),
    )
    .await;

    // Forbidden: forging a rejection, deleting the stream, publishing elsewhere.
    for forbidden in [
        "neighbourhood.rejected.invalid_json",
        "$JS.API.STREAM.DELETE.NEIGHBOURHOOD_EVENTS",
        "some.other.subject",
    ] {
        client.publish(forbidden, "x".into()).await.unwrap();
        client.flush().await.unwrap();
        let err = tokio::time::timeout(Duration::from_secs(5), errors.recv())
            .await
            .unwrap_or_else(|_| panic!("no permissions error for {forbidden}"))
            .unwrap();
        assert!(
            err.to_lowercase().contains("permissions violation") && err.contains(forbidden),
            "{forbidden}: {err}"
        );
    }

    let url = format!("{}/api/v1/months/2024-03", tracker.base);
    wait_for(
        Duration::from_secs(20),
        "the publisher's event applied",
        || {
            let url = url.clone();
            async move { lpa(&get_json(&url).await, "dudley")["rostered_hours"] == 8.0 }
        },
    )
    .await;
    tracker.wait_ready().await;
    // Nothing reached the rejected stream: the forged rejection was refused.
    let (_, metrics) = get(&format!("{}/metrics", tracker.base)).await;
    assert_eq!(
        metric(
            &metrics,
            r#"abstraction_tracker_events_total{outcome="rejected"}"#
        ),
        Some(0.0)
    );
    let admin =
        async_nats::ConnectOptions::with_user_and_password("tracker".into(), TRACKER_PW.into())
            .connect(nats.url())
            .await
            .unwrap();
    let admin = async_nats::jetstream::new(admin);
    let mut rejected = admin.get_stream("NEIGHBOURHOOD_REJECTED").await.unwrap();
    assert_eq!(rejected.info().await.unwrap().state.messages, 0);

    // The issues bucket works with the tracker's permissions: issuing through the API,
    // and watching it (an issue another projector made reaches this one's store).
    let (status, body) = post(&format!(
        "{}/api/v1/reports/monthly/2024-03/issue",
        tracker.base
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let mut other: serde_json::Value = serde_json::from_str(&body).unwrap();
    other["issue"] = 2.into();
    let kv = admin.get_key_value("NEIGHBOURHOOD_ISSUES").await.unwrap();
    kv.create("2024-03.2", serde_json::to_vec(&other).unwrap().into())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tracker = tracker;
    assert!(tracker.term(Duration::from_secs(20)).success());
    let out = std::process::Command::new(bin())
        .args(["report", "--data-dir", data.path().to_str().unwrap()])
        .args([
            "--month", "2024-03", "--format", "json", "--as-of", TEST_AS_OF,
        ])
        .run_ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lpa(&report, "dudley")["revision"]["issue"], 2);
}
