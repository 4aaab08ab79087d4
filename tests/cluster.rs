//! Projectors that own some LPAs, on a 3-node JetStream cluster, for real (CONTRACT
//! section 10): four `serve` processes (p1 birmingham+coventry, p2 dudley+sandwell, p3
//! and its standby p3b solihull+walsall+wolverhampton) with R3 streams and figures
//! bucket. Half the events are published, the events stream's leader node is SIGKILLed,
//! the rest are published with retries (none lost, none stored twice) and the node
//! restarts. Then p3 and the new leader node are SIGKILLed: every surviving projector
//! still gives the whole force's month, its own LPAs from its store and the others from
//! the bucket, each figure equal to a hand count, and exposes only its own LPAs in
//! `/metrics`. Then the node and p3 come back and p3 catches up to the same figures.

mod common;

use abstraction_tracker::domain::event::Role;
use abstraction_tracker::domain::reference::Reference;
use async_nats::jetstream::stream;
use common::cluster::{publish_retrying, stream_leader, wait_stream_messages, NatsCluster};
use common::*;
use std::time::{Duration, Instant};

const MONTH: &str = "2024-03";
const LPAS: [&str; 7] = [
    "birmingham",
    "coventry",
    "dudley",
    "sandwell",
    "solihull",
    "walsall",
    "wolverhampton",
];
const P1: [&str; 2] = ["birmingham", "coventry"];
const P2: [&str; 2] = ["dudley", "sandwell"];
const P3: [&str; 3] = ["solihull", "walsall", "wolverhampton"];

/// What the test publishes for the `i`th LPA, and so what its March must show.
struct Plan {
    /// 8-hour shifts rostered.
    shifts: usize,
    /// 2-hour `response_cover` abstractions (counted).
    counted: usize,
    /// 2-hour `training` abstractions (not counted; in `abstracted_hours_by_reason`).
    training: usize,
}

impl Plan {
    /// Different per LPA, so figures attributed to the wrong LPA show.
    fn of(i: usize) -> Plan {
        Plan {
            shifts: 40 + i,
            counted: 3 + 2 * i,
            training: 1,
        }
    }

    fn rostered_hours(&self) -> f64 {
        8.0 * self.shifts as f64
    }

    fn abstracted_hours(&self) -> f64 {
        2.0 * self.counted as f64
    }
}

fn day(k: usize) -> usize {
    1 + k % 28
}

/// One LPA's events: shifts on 1-28 March 08:00-16:00 UTC (GMT, so no month or DST
/// split), abstractions 09:00-11:00 (counted) and 12:00-14:00 (training) inside them.
fn lpa_events(i: usize, reference: &Reference) -> Vec<Vec<u8>> {
    let code = LPAS[i];
    let sector = &reference.lpa(code).expect("a reference LPA").sectors[0].code;
    let plan = Plan::of(i);
    let mut out = Vec::new();
    for j in 0..plan.shifts {
        let d = day(j);
        let e = rostered(
            &format!("s{j}"),
            &format!("off-{code}-{j}"),
            Role::Pc,
            sector,
            &format!("2024-03-{d:02}T08:00:00Z"),
            &format!("2024-03-{d:02}T16:00:00Z"),
        );
        out.push(event(
            &format!("{code}-shift-{j}"),
            code,
            "2024-02-20T09:00:00Z",
            e,
        ));
    }
    let abstractions = (0..plan.counted)
        .map(|k| ("response_cover", "09", "11", k))
        .chain((0..plan.training).map(|k| ("training", "12", "14", k)));
    for (reason, from, to, k) in abstractions {
        let d = day(k);
        let fields = abstraction(
            &format!("off-{code}-{k}"),
            Role::Pc,
            sector,
            reason,
            &format!("2024-03-{d:02}T{from}:00:00Z"),
        );
        let e = common::recorded(
            &format!("{reason}-{k}"),
            fields,
            &format!("2024-03-{d:02}T{to}:00:00Z"),
        );
        out.push(event(
            &format!("{code}-{reason}-{k}"),
            code,
            &format!("2024-03-{d:02}T18:00:00Z"),
            e,
        ));
    }
    out.into_iter()
        .map(|v| serde_json::to_vec(&v).unwrap())
        .collect()
}

/// Every LPA's events, interleaved so each half of the publishing carries every LPA.
fn all_events() -> Vec<Vec<u8>> {
    let reference = Reference::west_midlands();
    let mut per_lpa: Vec<std::vec::IntoIter<Vec<u8>>> = (0..LPAS.len())
        .map(|i| lpa_events(i, &reference).into_iter())
        .collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        out.extend(per_lpa.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            return out;
        }
    }
}

fn close(a: &serde_json::Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

/// `Ok` when `base`'s March shows every LPA with the planned figures, sourced "local"
/// for `owned` and "bucket" for the rest; otherwise what differs.
async fn month_matches(base: &str, owned: &[&str]) -> Result<(), String> {
    let url = format!("{base}/api/v1/months/{MONTH}");
    let (status, body) = get(&url).await;
    if status != 200 {
        return Err(format!("GET {url}: {status} {body}"));
    }
    let month: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body}"))?;
    if month["month"] != MONTH {
        return Err(format!("month is {}", month["month"]));
    }
    let entries = month["lpas"].as_array().map_or(0, Vec::len);
    if entries != LPAS.len() {
        return Err(format!(
            "{entries} LPA entries, not {}: {month}",
            LPAS.len()
        ));
    }
    for (i, code) in LPAS.iter().enumerate() {
        let Some(l) = month["lpas"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["lpa"] == *code))
        else {
            return Err(format!("no {code} in {month}"));
        };
        let plan = Plan::of(i);
        let source = if owned.contains(code) {
            "local"
        } else {
            "bucket"
        };
        let ratio = plan.abstracted_hours() / plan.rostered_hours();
        let ok = l["source"] == source
            && close(&l["rostered_hours"], plan.rostered_hours())
            && close(&l["abstracted_hours"], plan.abstracted_hours())
            && close(&l["abstraction_ratio"], ratio)
            && l["open_abstractions"] == 0
            && close(
                &l["abstracted_hours_by_reason"]["response_cover"],
                plan.abstracted_hours(),
            )
            && close(
                &l["abstracted_hours_by_reason"]["training"],
                2.0 * plan.training as f64,
            );
        if !ok {
            return Err(format!(
                "{code}: want source {source}, rostered {}, abstracted {}, ratio {ratio}, \
                 0 open, response_cover {}, training {}; got {l}",
                plan.rostered_hours(),
                plan.abstracted_hours(),
                plan.abstracted_hours(),
                2.0 * plan.training as f64
            ));
        }
    }
    Ok(())
}

/// Polls `month_matches` on `base` until it holds, panicking with the last difference
/// after `timeout`.
async fn wait_month(name: &str, base: &str, owned: &[&str], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        match month_matches(base, owned).await {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => {
                panic!("{name} ({base}) never showed the planned {MONTH} within {timeout:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn args<'a>(consumer: &'a str, lpas: &'a str) -> [&'a str; 6] {
    ["--replicas", "3", "--consumer", consumer, "--lpas", lpas]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owning_projectors_on_a_cluster_survive_a_node_and_a_projector_dying() {
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("{:>6.1} s  {what}", t0.elapsed().as_secs_f64());
    let mut cluster = NatsCluster::start(3).await;
    phase("cluster ready");
    let js = common::cluster::impatient(cluster.client().await);
    // The events stream as CONTRACT section 1 fixes it, R3, so publishing can start
    // whatever the projectors are doing (`serve` opens a stream that exists).
    js.get_or_create_stream(stream::Config {
        name: "NEIGHBOURHOOD_EVENTS".into(),
        subjects: vec!["neighbourhood.events.>".into()],
        storage: stream::StorageType::File,
        num_replicas: 3,
        ..Default::default()
    })
    .await
    .expect("an R3 events stream on the cluster");

    let events = all_events();
    let total = events.len();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let url = cluster.url();
    let (p1_lpas, p2_lpas, p3_lpas) = (P1.join(","), P2.join(","), P3.join(","));
    let p1 = TrackerProcess::spawn_with(&url, dirs[0].path(), &args("p1", &p1_lpas));
    let p2 = TrackerProcess::spawn_with(&url, dirs[1].path(), &args("p2", &p2_lpas));
    let mut p3 = TrackerProcess::spawn_with(&url, dirs[2].path(), &args("p3", &p3_lpas));
    let p3b = TrackerProcess::spawn_with(&url, dirs[3].path(), &args("p3b", &p3_lpas));

    // Half, then the events stream's leader dies, then the rest (retried until every
    // message is confirmed; Nats-Msg-Id keeps a retry from storing a copy).
    let (first, rest) = events.split_at(total / 2);
    let s1 = publish_retrying(&js, first, Duration::from_secs(20)).await;
    let leader = stream_leader(&js, "NEIGHBOURHOOD_EVENTS").await;
    let killed = cluster.index_of(&leader).expect("the leader is a node");
    cluster.kill9(killed);
    let s2 = publish_retrying(&js, rest, Duration::from_secs(30)).await;
    phase(&format!(
        "published; killed {leader}; before: {s1:?}, after: {s2:?}"
    ));
    assert_eq!(s1.confirmed + s2.confirmed, total);
    // Every event stored once on the two surviving nodes.
    let (stream_timeout, n) = (Duration::from_secs(15), total as u64);
    wait_stream_messages(&js, "NEIGHBOURHOOD_EVENTS", n, false, stream_timeout).await;
    // Back on its own ports and store; the cluster takes R3 streams again and the node
    // catches up.
    cluster.restart(killed).await;
    wait_stream_messages(&js, "NEIGHBOURHOOD_EVENTS", n, true, stream_timeout).await;
    phase(&format!("node{killed} restarted and current"));

    // The feature point: until `serve` has `--lpas`, the projectors exit at start-up.
    let help = std::process::Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .expect("abstraction-tracker serve --help");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--lpas"),
        "`serve` has no --lpas option (CONTRACT section 10): the projectors cannot start"
    );
    for p in [&p1, &p2, &p3, &p3b] {
        p.wait_ready().await;
    }
    phase("projectors ready");
    // The primary of the replicated pair dies, and so does a broker node (the events
    // stream's leader again): the standby and the others carry on with two nodes.
    p3.kill9();
    let leader = stream_leader(&js, "NEIGHBOURHOOD_EVENTS").await;
    let killed = cluster.index_of(&leader).expect("the leader is a node");
    cluster.kill9(killed);

    // Each JetStream API request that meets a dead leader waits out its 5 s timeout, and
    // a consumer notices a dead node after two missed 2 s heartbeats; on two cores busy
    // with other tests, several such rounds have taken over 30 s.
    let timeout = Duration::from_secs(90);
    wait_month("p1", &p1.base, &P1, timeout).await;
    wait_month("p2", &p2.base, &P2, timeout).await;
    wait_month("p3b", &p3b.base, &P3, timeout).await;
    phase(&format!(
        "p3 and {leader} dead: p1, p2, p3b show the whole force"
    ));

    // p1 exposes its own LPAs only.
    let (status, text) = get(&format!("{}/metrics", p1.base)).await;
    assert_eq!(status, 200);
    for (i, code) in LPAS.iter().enumerate() {
        let series = format!("neighbourhood_rostered_seconds{{lpa=\"{code}\",month=\"{MONTH}\"}}");
        if P1.contains(code) {
            let want = Plan::of(i).rostered_hours() * 3600.0;
            assert_eq!(metric(&text, &series), Some(want), "{series} on p1");
        } else {
            let label = format!("lpa=\"{code}\"");
            let line = text
                .lines()
                .find(|l| !l.starts_with('#') && l.contains(&label));
            assert_eq!(line, None, "p1 exposes {code}, which it does not own");
        }
    }

    // The node comes back, then p3, which catches up from its own checkpoint.
    cluster.restart(killed).await;
    p3.start();
    p3.wait_ready().await;
    wait_month("p3 after restart", &p3.base, &P3, timeout).await;
    phase("node and p3 restarted: p3 caught up");
    assert_eq!(month_matches(&p3b.base, &P3).await, Ok(()));
    assert_eq!(month_matches(&p1.base, &P1).await, Ok(()));
}
