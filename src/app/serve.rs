//! `serve`: wires store, NATS, ingest and HTTP together, and shuts down cleanly.
//!
//! The HTTP listener is bound by the caller and passed in, so tests can bind port 0
//! and read the port back.

use crate::app::http::{self, AppState, ReadyProbe};
use crate::app::metrics::Metrics;
use crate::clock::Clock;
use crate::domain::reference::Reference;
use crate::ingest::{ensure_streams, IngestConfig, Ingestor, EVENTS_STREAM};
use crate::store::Store;
use crate::wire::decode::Validator;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub nats_url: String,
    pub nats_auth: crate::nats::Auth,
    pub data_dir: PathBuf,
    pub reference: Reference,
    pub ingest: IngestConfig,
    pub api_token: Option<String>,
    /// What "now" is: the metric window ends at its month.
    pub clock: Clock,
}

/// Runs until `shutdown` resolves: finishes the batch in hand, flushes, returns.
pub async fn run(
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    info!(dir = %config.data_dir.display(), "opening the store (minutes for millions of events)");
    let opening = std::time::Instant::now();
    let store = Store::open(&config.data_dir)?;
    let rules = crate::domain::fold::Rules::from(&config.reference.limits);
    if store.needs_upgrade()? {
        info!("store format 2: deriving the per-day read models from the log (a rebuild)");
        let validator = crate::wire::decode::Validator::new(config.reference.clone());
        let n = crate::project::rebuild::rebuild(&store, &validator, |_| {})?;
        info!(events = n, "store upgraded to format 3");
    } else if !store.rules_match(&rules)? {
        info!(
            max_interval_hours = config.reference.limits.max_interval_hours,
            "the reference data's limits.max_interval_hours differs from the one the read models were folded with: rebuilding them from the log"
        );
        let validator = crate::wire::decode::Validator::new(config.reference.clone());
        let n = crate::project::rebuild::rebuild(&store, &validator, |_| {})?;
        info!(events = n, "read models rebuilt");
    }
    store.check_consistent()?;
    store.check_rules(&rules)?;
    info!(
        seconds = opening.elapsed().as_secs_f64(),
        events = store.log_len()?,
        "store open"
    );
    let reference = Arc::new(config.reference.clone());
    let metrics = Arc::new(Metrics::new(store.clone(), reference.clone(), config.clock));
    // Reading every stored id takes minutes for millions of events (docs/BENCHMARKS.md);
    // ingest does not wait for it, it reads sled until the filters are complete.
    let loading = store.clone();
    let progress = metrics.clone();
    std::thread::Builder::new()
        .name("load-filters".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let mut said = (started, 0u64);
            let report = |done: u64, total: u64| {
                let ratio = if total == 0 { 1.0 } else { (done as f64 / total as f64).min(1.0) };
                progress.filters_loaded(ratio);
                // At info every 10 % or 30 s, whichever comes first.
                let tenth = (total / 10).max(1);
                if done < total
                    && (done / tenth > said.1 / tenth || said.0.elapsed().as_secs() >= 30)
                {
                    said = (std::time::Instant::now(), done);
                    info!(
                        percent = (ratio * 100.0).round(),
                        keys = done,
                        of = total,
                        seconds = started.elapsed().as_secs_f64(),
                        "loading the id and entity filters; until they are complete every event reads sled"
                    );
                }
            };
            match loading.load_filters_with(report) {
                Ok(ids) => info!(
                    event_ids = ids,
                    seconds = started.elapsed().as_secs_f64(),
                    "loaded the id and entity filters; new events no longer read sled"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not load the id and entity filters; every event reads sled"
                ),
            }
        })?;
    let client = crate::nats::connect(&config.nats_url, &config.nats_auth, true).await?;
    let js = async_nats::jetstream::new(client.clone());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let state = AppState {
        store: store.clone(),
        reference: reference.clone(),
        metrics: metrics.clone(),
        probe: Some(ReadyProbe {
            client: client.clone(),
            js: js.clone(),
            stream: EVENTS_STREAM.into(),
            consumer: config.ingest.consumer.clone(),
        }),
        api_token: config.api_token.clone(),
    };
    info!(addr = %listener.local_addr()?, "HTTP listening");
    let http_task = tokio::spawn(http::serve(listener, state, stopped(stop_rx.clone())));

    let ingestor = Ingestor {
        js: js.clone(),
        store: store.clone(),
        validator: Arc::new(Validator::new(config.reference.clone())),
        observer: metrics,
        config: config.ingest.clone(),
    };
    let replicas = config.ingest.replicas;
    let ingest_stop = stopped(stop_rx.clone());
    let mut ingest_task = tokio::spawn(async move {
        tokio::pin!(ingest_stop);
        // The broker may not be up yet: keep trying to create the streams.
        loop {
            match ensure_streams(&ingestor.js, replicas).await {
                Ok(()) => break,
                Err(e) => {
                    warn!(error = %e, "cannot set up streams yet; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = &mut ingest_stop => return Ok(()),
                    }
                }
            }
        }
        ingestor.run(ingest_stop).await
    });

    tokio::pin!(shutdown);
    let result = tokio::select! {
        _ = &mut shutdown => {
            info!("shutting down: finishing the batch in hand");
            let _ = stop_tx.send(true);
            ingest_task.await.context("ingest task panicked")?.map_err(anyhow::Error::from)
        }
        r = &mut ingest_task => {
            // Only a storage failure ends ingestion by itself: stop serving too.
            r.context("ingest task panicked")?.context("ingestion stopped")
        }
    };
    let _ = stop_tx.send(true);
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), http_task).await {
        warn!(error = %e, "HTTP task ended abnormally");
    }
    store.flush()?;
    let _ = client.drain().await;
    result
}
