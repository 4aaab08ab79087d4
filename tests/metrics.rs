//! `/metrics` through Prometheus's own linter, after real simulated traffic.

mod common;

use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::tools::simulate::{simulate, SimConfig};
use abstraction_tracker::wire::decode::Validator;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn promtool() -> &'static str {
    assert!(
        std::path::Path::new("/usr/bin/promtool").exists(),
        "promtool is not installed: run `apt-get install -y prometheus` (the README's test command does this)"
    );
    "/usr/bin/promtool"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_nothing_wrong_with_metrics_after_simulated_traffic() {
    let promtool = promtool();
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let reference = Reference::west_midlands();
    let cfg = SimConfig {
        seed: 7,
        from: "2024-03-25".parse().unwrap(),
        to: "2024-04-07".parse().unwrap(),
        officers: 150,
        now: None,
    };
    let mut ndjson = Vec::new();
    let summary = simulate(&cfg, &reference, &mut ndjson, &mut |_, _| {}).unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let validator = Validator::new(reference);
    let published =
        abstraction_tracker::tools::publish::publish(&js, Some(&validator), &ndjson, |_| {})
            .await
            .unwrap();
    assert_eq!(published.published, summary.events);

    let url = format!("{}/metrics", tracker.base);
    let want = summary.events as f64;
    wait_for(Duration::from_secs(30), "all events applied", || {
        let url = url.clone();
        async move {
            let (_, text) = get(&url).await;
            metric(
                &text,
                r#"abstraction_tracker_events_total{outcome="applied"}"#,
            ) == Some(want)
        }
    })
    .await;
    let (_, text) = get(&url).await;
    assert!(text.contains(r#"neighbourhood_abstraction_ratio{lpa="birmingham",month="2024-03"}"#));
    assert!(text.contains(r#"neighbourhood_abstraction_ratio{lpa="birmingham",month="2024-04"}"#));

    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}"
    );
    tracker.stop().await.unwrap();
}
