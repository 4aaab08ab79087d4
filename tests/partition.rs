//! A projector that owns some LPAs, on one real broker (contract section 10): it
//! consumes, stores and exposes only its LPAs, by the consumer layout its server
//! supports (one filtered consumer per LPA on 2.9; one with `filter_subjects` on
//! 2.10+, never trusted to 2.9, which ignores it), shows the LPAs nobody publishes as
//! missing (never zero), and the figures bucket is only ever replaced by figures
//! folded at least as far. `deploy/test.sh` runs this on Debian's 2.9 and on a current
//! server.

mod common;

use abstraction_tracker::app::bucket::{self, Published};
use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::domain::report::month_report;
use abstraction_tracker::ingest::{server_version, EVENTS_STREAM};
use common::*;
use std::time::Duration;

const OWNED: [&str; 2] = ["dudley", "walsall"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_owning_two_lpas_consumes_stores_and_exposes_only_them_on_sled() {
    projector_owning_two_lpas("sled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_owning_two_lpas_consumes_stores_and_exposes_only_them_on_fjall() {
    projector_owning_two_lpas("fjall").await;
}

/// One body per storage engine (contract v3 section 11).
async fn projector_owning_two_lpas(engine: &str) {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let version = client.server_info().version;
    let js = async_nats::jetstream::new(client);
    let tracker = TrackerProcess::spawn_with(
        &nats.url(),
        data.path(),
        &[
            "--lpas",
            "dudley,walsall",
            "--consumer",
            "px",
            "--engine",
            engine,
        ],
    );
    tracker.wait_ready().await;
    let lines = simulated("2024-03-01", "2024-03-31", 300, 7);
    let owned_events = lines
        .iter()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            OWNED.contains(&v["lpa"].as_str().unwrap())
        })
        .count();
    assert!(owned_events > 0 && owned_events < lines.len());
    publish_events(&js, &lines).await;

    let metrics_url = format!("{}/metrics", tracker.base);
    wait_for(Duration::from_secs(30), "the owned events stored", || {
        let url = metrics_url.clone();
        async move {
            metric(&get(&url).await.1, "abstraction_tracker_stored_events")
                == Some(owned_events as f64)
        }
    })
    .await;
    tracker.wait_ready().await;

    // The consumer layout the server supports, checked on the broker itself.
    let stream = js.get_stream(EVENTS_STREAM).await.unwrap();
    let mut names = Vec::new();
    for name in ["px", "px-dudley", "px-walsall"] {
        if let Ok(info) = stream.consumer_info(name).await {
            names.push((
                name,
                info.config.filter_subject,
                info.config.filter_subjects,
            ));
        }
    }
    if server_version(&version).is_some_and(|v| v >= (2, 10)) {
        assert_eq!(names.len(), 1, "{version}: {names:?}");
        assert_eq!(names[0].0, "px");
        assert_eq!(
            names[0].2,
            vec![
                "neighbourhood.events.dudley.>".to_string(),
                "neighbourhood.events.walsall.>".to_string()
            ]
        );
    } else {
        assert_eq!(
            names,
            vec![
                (
                    "px-dudley",
                    "neighbourhood.events.dudley.>".to_string(),
                    vec![]
                ),
                (
                    "px-walsall",
                    "neighbourhood.events.walsall.>".to_string(),
                    vec![]
                ),
            ],
            "{version}"
        );
    }

    // Only the owned LPAs in /metrics.
    let text = get(&metrics_url).await.1;
    for code in Reference::west_midlands()
        .lpas
        .iter()
        .map(|l| l.code.as_str())
    {
        let series = format!("neighbourhood_rostered_seconds{{lpa=\"{code}\",month=\"2024-03\"}}");
        match OWNED.contains(&code) {
            true => assert!(metric(&text, &series).is_some_and(|v| v > 0.0), "{series}"),
            false => assert!(!text.contains(&format!("lpa=\"{code}\"")), "{code} exposed"),
        }
    }

    // The month: owned LPAs local, the others missing (nobody publishes them), with null
    // figures, never zero; the force totals name what they leave out.
    let month = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    for l in month["lpas"].as_array().unwrap() {
        let code = l["lpa"].as_str().unwrap();
        if OWNED.contains(&code) {
            assert_eq!(l["source"], "local", "{code}");
            assert!(l["rostered_hours"].as_f64().unwrap() > 0.0, "{code}");
        } else {
            assert_eq!(l["source"], "missing", "{code}");
            assert_eq!(l["rostered_hours"], serde_json::Value::Null, "{code}");
            assert_eq!(l["abstraction_ratio"], serde_json::Value::Null, "{code}");
        }
    }
    assert_eq!(
        month["summary"]["missing_lpas"].as_array().unwrap().len(),
        5
    );
    let owned_hours: f64 = OWNED
        .iter()
        .map(|c| lpa(&month, c)["rostered_hours"].as_f64().unwrap())
        .sum();
    assert!((month["summary"]["rostered_hours"].as_f64().unwrap() - owned_hours).abs() < 1e-6);

    // What it published is in the bucket, for the other projectors.
    let kv = js.get_key_value(bucket::FIGURES_BUCKET).await.unwrap();
    let dudley = lpa(&month, "dudley")["rostered_hours"].as_f64().unwrap();
    wait_for(
        Duration::from_secs(10),
        "dudley's March in the bucket",
        || {
            let kv = kv.clone();
            async move {
                let Ok(Some(v)) = kv.get("dudley.2024-03").await else {
                    return false;
                };
                bucket::decode(&v).is_some_and(|(e, seq)| e.rostered_hours == dudley && seq > 0)
            }
        },
    )
    .await;
    assert_eq!(kv.get("coventry.2024-03").await.unwrap(), None);
}

#[tokio::test]
async fn the_figures_bucket_keeps_the_figures_folded_furthest() {
    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = bucket::open(&js, 1).await.unwrap();
    let month = Month::new(2024, 3);
    let reference = Reference::west_midlands();
    let mut entry = month_report(&reference, month, &[], &[]).lpas[0].clone();
    let key = bucket::key(&entry.lpa, month);
    let value =
        |hours: f64, seq: u64, entry: &mut abstraction_tracker::domain::report::LpaReport| {
            entry.rostered_hours = hours;
            bucket::encode(entry, seq)
        };
    let held = |kv: async_nats::jetstream::kv::Store, key: String| async move {
        bucket::decode(&kv.get(key).await.unwrap().unwrap()).unwrap()
    };

    let v = value(100.0, 10, &mut entry);
    assert_eq!(
        bucket::publish(&kv, &key, v, 10).await.unwrap(),
        Published::Written
    );
    // A lagging replica (sequence 5) does not overwrite figures folded to 10.
    let v = value(40.0, 5, &mut entry);
    assert_eq!(
        bucket::publish(&kv, &key, v, 5).await.unwrap(),
        Published::Newer(10)
    );
    let (e, seq) = held(kv.clone(), key.clone()).await;
    assert_eq!((e.rostered_hours, seq), (100.0, 10));
    // Equal and later sequences replace it.
    let v = value(100.0, 10, &mut entry);
    assert_eq!(
        bucket::publish(&kv, &key, v, 10).await.unwrap(),
        Published::Written
    );
    let v = value(120.0, 12, &mut entry);
    assert_eq!(
        bucket::publish(&kv, &key, v, 12).await.unwrap(),
        Published::Written
    );
    let (e, seq) = held(kv.clone(), key.clone()).await;
    assert_eq!((e.rostered_hours, seq), (120.0, 12));
    // The value is the month API's entry without in_progress, plus stream_sequence.
    let raw: serde_json::Value =
        serde_json::from_slice(&kv.get(key.clone()).await.unwrap().unwrap()).unwrap();
    assert!(raw.get("in_progress").is_none() && raw.get("source").is_none());
    assert_eq!(raw["stream_sequence"], 12);
    assert_eq!(raw["lpa"], "birmingham");
    let read = bucket::read_month(&kv, &["birmingham".into(), "coventry".into()], month)
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read["birmingham"].rostered_hours, 120.0);
}
