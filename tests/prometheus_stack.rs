//! A real Prometheus (Debian's `prometheus`) scrapes a real tracker fed by `simulate`,
//! loads the shipped recording and alerting rules, and every Grafana dashboard query is
//! evaluated through its HTTP API by `deploy/grafana/check_dashboards.py`.

mod common;

use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_bin() -> &'static str {
    assert!(
        Path::new("/usr/bin/prometheus").exists(),
        "prometheus is not installed: run `apt-get install -y prometheus` (the README's test command does this)"
    );
    "/usr/bin/prometheus"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_runs_against_a_real_prometheus_scraping_the_tracker() {
    let bin = prometheus_bin();
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    // Up to the as-of day (TEST_AS_OF, 2024-04-30), so the month-in-progress panels have data.
    let lines = simulated("2024-02-01", "2024-04-30", 120, 11);
    publish_events(&js, &lines).await;
    // A couple of rejections so the rejection panels have data.
    publish(
        &js,
        "neighbourhood.events.dudley.shift.rostered",
        b"{oops",
        None,
    )
    .await;
    tracker.wait_ready().await;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let target = tracker.base.trim_start_matches("http://").to_string();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {rules}/recording.yml\n  - {rules}/alerts.yml\n\
         scrape_configs:\n  - job_name: abstraction-tracker\n    static_configs:\n      - targets: [\"{target}\"]\n\
         \x20 - job_name: prometheus\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n",
        rules = root.join("deploy/prometheus/rules").display()
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let _prom = Prometheus(
        Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let base = format!("http://127.0.0.1:{port}");
    // Enough scrapes for rate() windows and the recording rules to have samples.
    let up = format!("{base}/api/v1/query?query=count_over_time(up%7Bjob%3D%22abstraction-tracker%22%7D%5B1m%5D)");
    wait_for(
        Duration::from_secs(60),
        "Prometheus to scrape the tracker 8 times",
        || {
            let u = up.clone();
            async move {
                let (status, body) = get(&u).await;
                status == 200
                    && serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| {
                            v["data"]["result"][0]["value"][1]
                                .as_str()
                                .map(str::to_owned)
                        })
                        .and_then(|s| s.parse::<f64>().ok())
                        .is_some_and(|n| n >= 8.0)
            }
        },
    )
    .await;
    let rules = get_json(&format!("{base}/api/v1/rules")).await;
    let groups = rules["data"]["groups"].as_array().unwrap();
    assert!(
        groups.len() >= 2,
        "recording and alerting rules loaded: {rules}"
    );
    for g in groups {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(
                r["health"], "ok",
                "rule {} is unhealthy: {}",
                r["name"], r["lastError"]
            );
        }
    }

    // The current-month rules give the month API's figures to date and forecast, not
    // the part-month ratio.
    let api = get_json(&format!("{}/api/v1/months/2024-04", tracker.base)).await;
    let instant = |q: &str| {
        let url = format!(
            "{base}/api/v1/query?query={}",
            q.replace(':', "%3A").replace(' ', "%20")
        );
        async move { get_json(&url).await["data"]["result"].clone() }
    };
    let to_date = instant("lpa:neighbourhood_abstraction_ratio:current_month").await;
    let forecast = instant("lpa:neighbourhood_abstraction_forecast_ratio:current_month").await;
    let value = |series: &serde_json::Value, lpa: &str| -> f64 {
        let s = series
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metric"]["lpa"] == lpa)
            .unwrap_or_else(|| panic!("no series for {lpa}: {series}"));
        assert_eq!(s["metric"]["month"], "2024-04");
        s["value"][1].as_str().unwrap().parse().unwrap()
    };
    for l in api["lpas"].as_array().unwrap() {
        let (lpa, p) = (l["lpa"].as_str().unwrap(), &l["in_progress"]);
        let want_td = p["abstraction_ratio_to_date"].as_f64().unwrap();
        let want_fc = p["forecast_ratio"].as_f64().unwrap();
        let part_month = l["abstraction_ratio"].as_f64().unwrap();
        assert!((value(&to_date, lpa) - want_td).abs() < 1e-9, "{lpa}");
        assert!((value(&forecast, lpa) - want_fc).abs() < 1e-9, "{lpa}");
        assert!(
            (want_td - part_month).abs() > 1e-6,
            "{lpa}: the case tells them apart"
        );
    }
    let force = instant("force:neighbourhood_abstraction_forecast_ratio:current_month").await;
    let got: f64 = force[0]["value"][1].as_str().unwrap().parse().unwrap();
    let want = api["summary"]["in_progress"]["forecast_ratio"]
        .as_f64()
        .unwrap();
    assert!(
        (got - want).abs() < 1e-9,
        "force-wide forecast {got} vs {want}"
    );
    let closed = instant("force:neighbourhood_abstraction_ratio:month").await;
    assert!(
        closed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["metric"]["month"] != "2024-04"),
        "the month in progress has no force-wide month ratio: {closed}"
    );

    // Twice: $month as Grafana picks it (the latest: the month in progress, to date and
    // forecast) and a closed month (2024-03), so both sides of every "closed month, or
    // to date and forecast while in progress" query run against real data.
    for month in [None, Some("2024-03")] {
        let out = tokio::task::spawn_blocking({
            let base = base.clone();
            let script = root.join("deploy/grafana/check_dashboards.py");
            move || {
                let mut cmd = Command::new("python3");
                cmd.arg(script).arg(&base).args([
                    "--min-with-data",
                    "0.85",
                    "--rate-interval",
                    "30s",
                    "--range",
                    "5m",
                ]);
                if let Some(m) = month {
                    cmd.args(["--var", &format!("month={m}")]);
                }
                cmd.output().expect("run python3")
            }
        })
        .await
        .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{said}");
        assert!(
            out.status.success(),
            "dashboard queries failed against Prometheus ($month {month:?}):\n{said}"
        );
        // The month picked by default is the one in progress, and its panels draw on
        // the to-date and forecast series.
        if month.is_none() {
            assert!(said.contains("$month = 2024-04"), "{said}");
        }
    }
    tracker.stop().await.unwrap();
}
