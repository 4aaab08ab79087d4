//! The force view heals (contract section 10, issue 22 item 6): a projector publishes
//! every owned LPA-month again every `--republish-every`, so a figures-bucket value
//! deleted or overwritten with older figures by hand comes back, while one claiming a
//! greater `stream_sequence` is still never replaced (compare-and-set). On a real
//! broker; `deploy/test.sh` runs it on 2.9 and on a current server.

mod common;

use abstraction_tracker::app::bucket;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::ingest::{IngestConfig, EVENTS_STREAM};
use common::*;
use std::time::Duration;

/// The anti-entropy period the test runs with (the default is minutes).
const PERIOD: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_key_and_an_older_value_are_restored_and_a_newer_one_is_kept() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut config = Tracker::config(
        &nats.url(),
        data.path(),
        Reference::west_midlands(),
        IngestConfig {
            consumer: "heal".into(),
            ..Default::default()
        },
    );
    config.lpas = Some(vec!["dudley".into()]);
    config.tuning.republish_every = PERIOD;
    let tracker = Tracker::start_config(config).await;

    let lines: Vec<Vec<u8>> = simulated("2024-01-01", "2024-03-31", 200, 11)
        .into_iter()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["lpa"] == "dudley"
        })
        .collect();
    assert!(lines.len() > 100);
    publish_events(&js, &lines).await;
    let last = js
        .get_stream(EVENTS_STREAM)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    assert_eq!(last, lines.len() as u64);

    // Everything folded and published with the last sequence.
    let keys = ["dudley.2024-01", "dudley.2024-02", "dudley.2024-03"];
    let kv = loop {
        if let Ok(kv) = js.get_key_value(bucket::FIGURES_BUCKET).await {
            break kv;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let held = |key: &'static str| {
        let kv = kv.clone();
        async move { kv.get(key).await.unwrap() }
    };
    wait_for(
        Duration::from_secs(30),
        "every month published at the last sequence",
        || async {
            let mut all = true;
            for k in keys {
                all &= held(k)
                    .await
                    .and_then(|v| bucket::decode(&v))
                    .is_some_and(|(_, seq)| seq == last);
            }
            all
        },
    )
    .await;
    let published: Vec<bytes::Bytes> = {
        let mut v = Vec::new();
        for k in keys {
            v.push(held(k).await.unwrap());
        }
        v
    };
    // The bucket holds what the month API says.
    let march = get_json(&format!("{}/api/v1/months/2024-03", tracker.base)).await;
    let (entry, _) = bucket::decode(&published[2]).unwrap();
    assert_eq!(
        Some(entry.rostered_hours),
        lpa(&march, "dudley")["rostered_hours"].as_f64()
    );
    assert!(entry.rostered_hours > 0.0);

    // By hand: January claims a later sequence than anything folded, February is
    // deleted, March goes back to older figures.
    let mut newer: serde_json::Value = serde_json::from_slice(&published[0]).unwrap();
    newer["stream_sequence"] = (last + 1000).into();
    newer["rostered_hours"] = 7.0.into();
    let newer = bytes::Bytes::from(serde_json::to_vec(&newer).unwrap());
    kv.put(keys[0], newer.clone()).await.unwrap();
    kv.delete(keys[1]).await.unwrap();
    let mut older: serde_json::Value = serde_json::from_slice(&published[2]).unwrap();
    older["stream_sequence"] = (last - 1).into();
    older["rostered_hours"] = 1.0.into();
    kv.put(keys[2], serde_json::to_vec(&older).unwrap().into())
        .await
        .unwrap();
    assert_eq!(held(keys[1]).await, None);

    // Within a few periods both are back, byte for byte.
    let started = std::time::Instant::now();
    wait_for(
        PERIOD * 10,
        "the deleted and the older value restored",
        || async {
            held(keys[1]).await.as_ref() == Some(&published[1])
                && held(keys[2]).await.as_ref() == Some(&published[2])
        },
    )
    .await;
    eprintln!("restored in {:?}", started.elapsed());
    // A value folded further than this projector's is left alone, period after period.
    tokio::time::sleep(PERIOD * 3).await;
    assert_eq!(held(keys[0]).await, Some(newer));
    tracker.stop().await.unwrap();
}
