//! Growing past one force (README "Growing past one force"): a force's
//! `NEIGHBOURHOOD_FIGURES` bucket reaches a national hub over a leaf node.
//!
//! Two real nats-servers (`NatsServer` from tests/common, each on its own free ports and
//! store directory): a hub with JetStream in domain `hub` and a leafnode listener, and a
//! force-side server with JetStream in domain `force` and a leafnode remote to the hub.
//! The force writes its figures to `NEIGHBOURHOOD_FIGURES` as the projectors do (contract
//! section 10: aggregates and `stream_sequence`, compare-and-set on the revision); the hub
//! holds `NATIONAL_FIGURES_WMP`, a KV mirror of that bucket reached through the force
//! domain's API prefix `$JS.force.API`. The first value, a later compare-and-set update and
//! one written after the force's server restarted all arrive on the hub, byte for byte.
//! Only the bucket crosses: the events stream (officer identifiers) is never mirrored.

mod common;

use async_nats::jetstream::{self, kv, stream};
use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A config file in the test's temporary config directory (removed on drop).
fn write_config(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write nats-server config");
    path
}

/// The hub and the force-side leaf. The hub is started first so that the leaf's remote
/// connects at once (it would retry every second otherwise).
struct HubAndLeaf {
    // Field order: the leaf stops before the hub.
    leaf: NatsServer,
    hub: NatsServer,
    _configs: tempfile::TempDir,
}

fn start_hub_and_leaf() -> HubAndLeaf {
    let configs = tempfile::tempdir().expect("tempdir for configs");
    let leafnode_port = free_port();
    let hub_conf = write_config(
        &configs,
        "hub.conf",
        &format!(
            "server_name: national-hub\n\
             jetstream {{ domain: hub }}\n\
             leafnodes {{ listen: \"127.0.0.1:{leafnode_port}\" }}\n"
        ),
    );
    let hub = NatsServer::start_with_config(Some(hub_conf));
    let leaf_conf = write_config(
        &configs,
        "force.conf",
        &format!(
            "server_name: force-west-midlands\n\
             jetstream {{ domain: force }}\n\
             leafnodes {{ remotes: [ {{ url: \"nats-leaf://127.0.0.1:{leafnode_port}\" }} ] }}\n"
        ),
    );
    let leaf = NatsServer::start_with_config(Some(leaf_conf));
    HubAndLeaf {
        leaf,
        hub,
        _configs: configs,
    }
}

/// Waits until the force's JetStream domain answers through the hub, i.e. the leaf
/// connection is up and `$JS.force.API` is routed over it. (A raw request: async-nats's
/// `query_account` cannot parse a 2.9 server's account info.)
async fn wait_for_force_domain(hub: &async_nats::Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(1),
            hub.request("$JS.force.API.INFO", "".into()),
        )
        .await;
        if let Ok(Ok(reply)) = &attempt {
            let info: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
            if info.get("error").is_none() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the force's JetStream domain never answered through the hub: {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A KV bucket's stream, as `create_key_value` would make it (one value per key). Made
/// by hand because async-nats's `create_key_value` first asks for the account info,
/// which it cannot parse from nats-server 2.9. A mirror takes no subjects of its own
/// and serves direct gets from the mirror.
async fn create_bucket(
    js: &jetstream::Context,
    bucket: &str,
    mirror: Option<stream::Source>,
) -> kv::Store {
    let subjects = if mirror.is_some() {
        Vec::new()
    } else {
        vec![format!("$KV.{bucket}.>")]
    };
    js.create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects,
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        mirror_direct: mirror.is_some(),
        discard: stream::DiscardPolicy::New,
        mirror,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("create the stream of bucket {bucket}: {e}"));
    js.get_key_value(bucket)
        .await
        .unwrap_or_else(|e| panic!("open bucket {bucket}: {e}"))
}

/// Polls the hub's mirror until `key` holds `want`.
async fn wait_for_value(national: &kv::Store, key: &str, want: &[u8], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = national.get(key).await;
        if let Ok(Some(v)) = &got {
            if v.as_ref() == want {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the hub's mirror never held {key} = {}; last read {got:?}",
            String::from_utf8_lossy(want)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One `lpas[]` entry of the month API plus `stream_sequence`, as a projector publishes it.
fn figures(rostered: f64, abstracted: f64, open: u64, stream_sequence: u64) -> Vec<u8> {
    let ratio = abstracted / rostered;
    serde_json::to_vec(&serde_json::json!({
        "lpa": "dudley",
        "rostered_hours": rostered,
        "abstracted_hours": abstracted,
        "abstraction_ratio": ratio,
        "open_abstractions": open,
        "abstracted_hours_by_reason": { "response_cover": abstracted },
        "stream_sequence": stream_sequence,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_figures_reach_the_national_hub_over_a_leaf_node() {
    let mut servers = start_hub_and_leaf();
    let force = async_nats::connect(servers.leaf.url())
        .await
        .expect("connect to the force's server");
    let hub = async_nats::connect(servers.hub.url())
        .await
        .expect("connect to the hub");

    // Force side: the bucket the projectors write.
    let force_js = jetstream::new(force);
    let figures_bucket = create_bucket(&force_js, "NEIGHBOURHOOD_FIGURES", None).await;
    let first = figures(8.0, 1.5, 1, 12);
    let revision = figures_bucket
        .create("dudley.2024-03", first.clone().into())
        .await
        .expect("first figures for dudley.2024-03");

    // Hub side: a read-only mirror of the force's bucket, reached across the leaf
    // through the force domain's API prefix.
    wait_for_force_domain(&hub).await;
    let hub_js = jetstream::new(hub);
    let national = create_bucket(
        &hub_js,
        "NATIONAL_FIGURES_WMP",
        Some(stream::Source {
            name: "KV_NEIGHBOURHOOD_FIGURES".into(),
            external: Some(stream::External {
                api_prefix: "$JS.force.API".into(),
                delivery_prefix: None,
            }),
            ..Default::default()
        }),
    )
    .await;

    wait_for_value(&national, "dudley.2024-03", &first, Duration::from_secs(30)).await;

    // A later fold: the projector replaces the value by compare-and-set on the revision,
    // and the mirror follows.
    let later = figures(16.0, 2.25, 0, 19);
    figures_bucket
        .update("dudley.2024-03", later.clone().into(), revision)
        .await
        .expect("compare-and-set update with the current revision");
    wait_for_value(&national, "dudley.2024-03", &later, Duration::from_secs(30)).await;

    // The force's server restarts (the link drops): figures written after it reach the
    // hub once the leaf is back, the mirror resuming where it stopped. (A current server
    // takes some 20 s to retry the mirror here, 2.9 about 2 s.)
    servers.leaf.restart();
    let after_restart = figures(24.0, 2.5, 0, 25);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entry = figures_bucket.entry("dudley.2024-03").await;
        let written = match entry {
            Ok(Some(e)) => figures_bucket
                .update("dudley.2024-03", after_restart.clone().into(), e.revision)
                .await
                .map_err(|err| err.to_string()),
            Ok(None) => Err("the force's value vanished".to_string()),
            Err(err) => Err(err.to_string()),
        };
        match written {
            Ok(_) => break,
            Err(err) => assert!(
                Instant::now() < deadline,
                "could not write to the force's bucket after its restart: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_value(
        &national,
        "dudley.2024-03",
        &after_restart,
        Duration::from_secs(90),
    )
    .await;

    // What crossed is the contract's aggregate entry and nothing else.
    let crossed: serde_json::Value =
        serde_json::from_slice(&national.get("dudley.2024-03").await.unwrap().unwrap()).unwrap();
    assert_eq!(crossed["stream_sequence"], 25);
    let mut fields: Vec<&str> = crossed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "abstracted_hours",
            "abstracted_hours_by_reason",
            "abstraction_ratio",
            "lpa",
            "open_abstractions",
            "rostered_hours",
            "stream_sequence"
        ]
    );

    // The hub sees the force's figures and nothing else of it: the force's streams are
    // its own, in its own domain.
    let hub_streams: Vec<String> = {
        use futures::TryStreamExt as _;
        hub_js.stream_names().try_collect().await.unwrap()
    };
    assert_eq!(hub_streams, vec!["KV_NATIONAL_FIGURES_WMP".to_string()]);
}
