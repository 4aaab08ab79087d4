//! `serve`: wires store, NATS, ingest and HTTP together, and shuts down cleanly.
//!
//! The HTTP listener is bound by the caller and passed in, so tests can bind port 0
//! and read the port back.

use crate::app::bucket;
use crate::app::http::{self, AppState, ForceView, ReadyProbe};
use crate::app::metrics::Metrics;
use crate::clock::Clock;
use crate::domain::reference::Reference;
use crate::ingest::{
    consumers_for, ensure_streams, server_version, IngestConfig, Ingestor, EVENTS_STREAM,
    EVENTS_SUBJECTS,
};
use crate::store::{EngineKind, Store, StoreError};
use crate::wire::decode::Validator;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub nats_url: String,
    pub nats_auth: crate::nats::Auth,
    pub data_dir: PathBuf,
    /// `--engine`: the storage engine of a new data directory; an existing one is
    /// opened with the engine that created it, and a disagreeing one is refused.
    pub engine: Option<EngineKind>,
    /// `--recover`: a store found damaged at start is moved aside and a fresh one
    /// re-reads the events stream; a healthy one is served as it is.
    pub recover: bool,
    pub reference: Reference,
    pub ingest: IngestConfig,
    /// The LPAs this projector owns (`--lpas`, checked against the reference data); none:
    /// v1's single consumer on `ingest.filter`, owning the LPA it names or every LPA.
    pub lpas: Option<Vec<String>>,
    pub api_token: Option<String>,
    /// What "now" is: the metric window ends at its month.
    pub clock: Clock,
    /// Periods and limits with defaults that suit a deployment (tests shorten them).
    pub tuning: Tuning,
}

/// Periods and limits that rarely need changing: `Tuning::default()` is what `serve`
/// runs with unless told otherwise.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How often every owned LPA-month is published again to the figures bucket
    /// (anti-entropy, `bucket::Publisher`).
    pub republish_every: Duration,
    /// Timeouts and limits that keep slow or greedy HTTP clients from holding it.
    pub http: http::HttpLimits,
}

/// `--republish-every`'s default: a stale force-view value lives at most this long.
pub const REPUBLISH_EVERY: Duration = Duration::from_secs(300);

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            republish_every: REPUBLISH_EVERY,
            http: http::HttpLimits::default(),
        }
    }
}

/// Runs until `shutdown` resolves: finishes the batch in hand, flushes, returns.
pub async fn run(
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    info!(dir = %config.data_dir.display(), "opening the store (minutes for millions of events)");
    let opening = std::time::Instant::now();
    let store = open_checked(&config.data_dir, config.engine, config.recover)?;
    let rules = crate::domain::fold::Rules::from(&config.reference.limits);
    if store.needs_upgrade()? {
        info!("store of an earlier format (2 to 5): deriving its read models and evidence index from the log (a rebuild)");
        let validator = crate::wire::decode::Validator::new(config.reference.clone());
        let n = crate::project::rebuild::rebuild(&store, &validator, |_| {})?;
        info!(events = n, "store upgraded to format 6");
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
    let owned = match &config.lpas {
        Some(l) => l.clone(),
        None => owned_by_filter(&config.ingest.filter, &config.reference),
    };
    let stray: Vec<String> = store
        .log_lpas()?
        .into_iter()
        .filter(|l| !owned.contains(l))
        .collect();
    if !stray.is_empty() {
        anyhow::bail!(
            "data directory {} holds events of {}, which this projector does not own (it owns {}): start it with a fresh --data-dir, or drop them with `abstraction-tracker rebuild --data-dir {} --lpas {}`",
            config.data_dir.display(),
            stray.join(", "),
            owned.join(", "),
            config.data_dir.display(),
            owned.join(",")
        );
    }
    store.set_owned(&owned)?;
    info!(
        seconds = opening.elapsed().as_secs_f64(),
        events = store.log_len()?,
        engine = %store.engine(),
        "store open"
    );
    let reference = Arc::new(config.reference.clone());
    // /metrics speaks for the owned LPAs only (contract section 7).
    let mut owned_reference = config.reference.clone();
    owned_reference.lpas.retain(|l| owned.contains(&l.code));
    let metrics = Arc::new(Metrics::new(
        store.clone(),
        Arc::new(owned_reference),
        config.clock,
    ));
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
            // The start-up check has built them already after an unclean stop, or
            // taken the ones a clean stop saved.
            if loading.filters_ready() {
                progress.filters_loaded(1.0);
                return;
            }
            match loading.load_saved_filters() {
                Ok(true) => {
                    progress.filters_loaded(1.0);
                    info!(
                        seconds = started.elapsed().as_secs_f64(),
                        "took the id and entity filters saved when serve last stopped; new events read no sled"
                    );
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the saved filters; reading every key"),
            }
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

    let probe = ReadyProbe {
        client: client.clone(),
        js: js.clone(),
        stream: EVENTS_STREAM.into(),
        consumers: Arc::default(),
    };
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let desk = Arc::new(crate::app::issues::IssueDesk {
        lock: lock.clone(),
        ..Default::default()
    });
    let view = Arc::new(ForceView {
        owned: owned.clone(),
        bucket: Arc::default(),
    });
    let state = AppState {
        store: store.clone(),
        reference: reference.clone(),
        metrics: metrics.clone(),
        probe: Some(probe.clone()),
        api_token: config.api_token.clone(),
        view: (owned.len() < config.reference.lpas.len()).then(|| view.clone()),
        issues: Some(desk.clone()),
    };
    info!(addr = %listener.local_addr()?, "HTTP listening");
    let http_task = tokio::spawn(http::serve_with(
        listener,
        state,
        config.tuning.http.clone(),
        stopped(stop_rx.clone()),
    ));

    let validator = Arc::new(Validator::new(config.reference.clone()));
    let replicas = config.ingest.replicas;
    let issues_task = tokio::spawn(crate::app::issues::keep(
        js.clone(),
        replicas,
        desk.clone(),
        store.clone(),
        stopped(stop_rx.clone()),
    ));
    let ingest_stop = stopped(stop_rx.clone());
    let (ingest_js, ingest_store, ingest_client) = (js.clone(), store.clone(), client.clone());
    let (ingest_config, lpas_given) = (config.ingest.clone(), config.lpas.is_some());
    let republish_every = config.tuning.republish_every;
    let publisher_stop = stop_rx.clone();
    let health = metrics.clone();
    let resume_gauge = metrics.clone();
    let mut ingest_task = tokio::spawn(async move {
        tokio::pin!(ingest_stop);
        // The broker may not be up yet: keep trying to create the streams and bucket.
        loop {
            match ensure_streams(&ingest_js, replicas).await {
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
        // 2.9 accepts `filter_subjects` and ignores it, so only a server known to be
        // 2.10+ gets one consumer for several LPAs.
        let version = ingest_client.server_info().version;
        let plan: Vec<(IngestConfig, Vec<String>)> = if lpas_given {
            consumers_for(&ingest_config, &owned, server_version(&version))
                .into_iter()
                .map(|c| {
                    let lpas = match c.more_filters.is_empty() {
                        true => owned
                            .iter()
                            .filter(|l| c.filter == crate::ingest::lpa_subjects(l))
                            .cloned()
                            .collect(),
                        false => owned.clone(),
                    };
                    (c, lpas)
                })
                .collect()
        } else {
            vec![(ingest_config, owned.clone())]
        };
        info!(
            server = %version,
            owned = %owned.join(","),
            consumers = %plan.iter().map(|(c, _)| c.consumer.as_str()).collect::<Vec<_>>().join(","),
            "projector owns these LPAs"
        );
        *probe.consumers.write().expect("probe lock") =
            plan.iter().map(|(c, _)| c.consumer.clone()).collect();
        let resumed = plan
            .iter()
            .filter_map(|(c, _)| ingest_store.checkpoint(&c.consumer).ok())
            .max();
        resume_gauge.resumed_at(resumed.unwrap_or(0));
        let (touched_tx, touched_rx) = tokio::sync::mpsc::unbounded_channel();
        let consumer_of: std::collections::HashMap<String, String> = plan
            .iter()
            .flat_map(|(c, lpas)| lpas.iter().map(|l| (l.clone(), c.consumer.clone())))
            .collect();
        *desk.consumer_of.write().expect("consumer lock") = consumer_of.clone();
        let publisher = bucket::Publisher {
            store: ingest_store.clone(),
            reference: Arc::new(validator.reference().clone()),
            consumer_of,
            lock: lock.clone(),
            republish_every,
            clock: config.clock,
        };
        // Ingest does not wait for the bucket: figures are the store's first, and a
        // broker that refuses the bucket (permissions) must not stop the events.
        let bucket_js = ingest_js.clone();
        let publishing = tokio::spawn(async move {
            let mut stop = publisher_stop.clone();
            let figures = loop {
                match bucket::open(&bucket_js, replicas).await {
                    Ok(kv) => break kv,
                    Err(e) => {
                        warn!(error = %e, bucket = bucket::FIGURES_BUCKET, "cannot open the figures bucket; other projectors will not see this one's LPAs until it can. Retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                            _ = stop.wait_for(|s| *s) => return,
                        }
                    }
                }
            };
            let _ = view.bucket.set(figures.clone());
            publisher
                .run(figures, touched_rx, stopped(publisher_stop))
                .await
        });
        let runs = plan.into_iter().map(|(c, _)| {
            let ingestor = Ingestor {
                js: ingest_js.clone(),
                store: ingest_store.clone(),
                validator: validator.clone(),
                observer: metrics.clone(),
                config: c,
                lock: lock.clone(),
                touched: Some(touched_tx.clone()),
            };
            let stop = stopped(stop_rx.clone());
            async move { ingestor.run(stop).await }
        });
        let ended = tokio::select! {
            r = futures::future::try_join_all(runs) => r.map(|_| ()),
            _ = &mut ingest_stop => Ok(()),
        };
        drop(touched_tx);
        let _ = tokio::time::timeout(Duration::from_secs(5), publishing).await;
        ended
    });

    tokio::pin!(shutdown);
    let result = tokio::select! {
        _ = &mut shutdown => {
            info!("shutting down: finishing the batch in hand");
            let _ = stop_tx.send(true);
            ingest_task.await.context("ingest task panicked")?.map_err(anyhow::Error::from)
        }
        r = &mut ingest_task => match r.context("ingest task panicked")? {
            Err(e) if e.is_disk_full() => {
                wait_for_space(&config.data_dir, &health, &e, &mut shutdown).await
            }
            // Only a storage failure ends ingestion by itself: stop serving too.
            r => r.context("ingestion stopped"),
        }
    };
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), issues_task).await;
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), http_task).await {
        warn!(error = %e, "HTTP task ended abnormally");
    }
    // After a failure (a full disk, say) the store may refuse the flush too: the
    // failure is what to report.
    match store.flush() {
        Err(e) if result.is_err() => warn!(error = %e, "the store could not flush on the way out"),
        flushed => flushed?,
    }
    // Ingest has stopped: the filters cover every stored event, so the next start can
    // take them in one read instead of reading every key (minutes for millions).
    if result.is_ok() {
        let saving = std::time::Instant::now();
        match store.save_filters() {
            Ok(true) => info!(
                seconds = saving.elapsed().as_secs_f64(),
                "saved the id and entity filters for the next start"
            ),
            Ok(false) => info!(
                "the id and entity filters were still loading: the next start reads every key"
            ),
            Err(e) => {
                warn!(error = %e, "cannot save the id and entity filters; the next start reads every key")
            }
        }
        // sled replays its log since its last snapshot when it opens: leave it little.
        match store.events_since_snapshot() {
            Ok(0) | Err(_) => {}
            Ok(events) => match store.snapshot() {
                Ok(took) => info!(
                    events,
                    seconds = took.as_secs_f64(),
                    "sled wrote its recovery snapshot for the next start"
                ),
                Err(e) => {
                    warn!(error = %e, "sled could not write its recovery snapshot; the next start replays its log")
                }
            },
        }
    }
    let _ = client.drain().await;
    result
}

/// Free space on the store's file system at which `serve` takes it as back.
const SPACE_BACK: u64 = 32 << 20;

/// Ingestion stopped because the store's file system is full. Nothing was acknowledged
/// that is not durable, so the events wait in the stream. sled refuses every write
/// after its first I/O error, so it cannot carry on in this process: HTTP keeps
/// serving, `/readyz` answers 503 and `abstraction_tracker_store_disk_full` is 1 until
/// the file system has [`SPACE_BACK`] free again (or a stop is asked for); then `serve`
/// exits with status 1, and a restart (systemd's `Restart=on-failure`, a pod's restart)
/// re-opens the store and carries on from its checkpoint.
async fn wait_for_space(
    dir: &Path,
    metrics: &Metrics,
    e: &crate::ingest::IngestError,
    shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> anyhow::Result<()> {
    metrics.set_disk_full(true);
    tracing::error!(
        dir = %dir.display(),
        error = %e,
        "the store's file system is full: ingestion stopped and nothing more is acknowledged (no event is lost: they wait in NEIGHBOURHOOD_EVENTS). Free space on it: serve then exits to be restarted, and carries on"
    );
    let available = || fs2::available_space(dir).unwrap_or(0);
    loop {
        tokio::select! {
            _ = shutdown.as_mut() => anyhow::bail!(
                "ingestion stopped: the store's file system ({}) is full; free space on it and start serve again: it carries on from its checkpoint, nothing lost",
                dir.display()
            ),
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        if available() >= SPACE_BACK {
            break;
        }
    }
    warn!(dir = %dir.display(), free_bytes = available(), "space is back on the store's file system: exiting so that a restart re-opens the store");
    anyhow::bail!(
        "ingestion stopped because the store's file system ({}) was full; space is back: start serve again (a supervisor's restart does) and it carries on from its checkpoint, nothing lost",
        dir.display()
    )
}

/// Opens the store and checks that it is intact ([`Store::check_intact`]). A damaged
/// one is refused with what to run, or with `recover` moved aside (renamed, never
/// deleted) for a fresh store: its checkpoints are 0, so each consumer is re-created
/// to deliver the events stream from its first message and the figures come back
/// from the stream, the truth.
fn open_checked(dir: &Path, engine: Option<EngineKind>, recover: bool) -> anyhow::Result<Store> {
    let started = std::time::Instant::now();
    let mut said = (started, 0u64);
    let progress = |done: u64, total: u64| {
        // At info every 10 % or 30 s, whichever comes first.
        let tenth = (total / 10).max(1);
        if done < total && (done / tenth > said.1 / tenth || said.0.elapsed().as_secs() >= 30) {
            said = (std::time::Instant::now(), done);
            info!(
                percent = (done as f64 * 100.0 / total as f64).round(),
                keys = done,
                of = total,
                seconds = started.elapsed().as_secs_f64(),
                "the last stop was not clean: checking that the log and the id index hold every event before serving"
            );
        }
    };
    let opened = Store::open_with(dir, engine);
    let damage = match opened.and_then(|s| s.check_intact_with(progress).map(|()| s)) {
        // Unreadable logged events are damage too, for --recover: the stream has them whole.
        Ok(store) if recover && store.unreadable_marks()? > 0 => {
            let n = store.unreadable_marks()?;
            drop(store);
            format!("{n} logged event(s) no longer decode")
        }
        Ok(store) => {
            if recover {
                info!(dir = %dir.display(), "--recover: the store is intact, nothing to recover");
            }
            return Ok(store);
        }
        Err(StoreError::Damaged { detail, .. }) if recover => detail,
        Err(e) => return Err(e.into()),
    };
    warn!(dir = %dir.display(), damage = %damage, "--recover: the store is damaged");
    // The fresh store keeps the engine of the damaged one.
    let engine = engine.or(crate::store::engine::recorded(dir)?);
    let aside = move_aside(dir)?;
    let store = Store::open_with(dir, engine)?;
    warn!(
        dir = %dir.display(),
        kept = %aside.display(),
        "--recover: moved the damaged store aside and opened a fresh one; it re-reads NEIGHBOURHOOD_EVENTS from sequence 1"
    );
    Ok(store)
}

/// Renames a damaged data directory to `<dir>.damaged-<unix seconds>`. Where the
/// directory cannot be renamed (a volume's mount point, or a parent this user may not
/// write, as systemd's `StateDirectory=`), its entries move into
/// `<dir>/damaged-<unix seconds>/` instead, which both engines ignore.
fn move_aside(dir: &Path) -> anyhow::Result<PathBuf> {
    let secs = Clock::Wall.now().as_second();
    // As given (a symbolic link is renamed, not its target), unless it has no last
    // component to rename (`.`).
    let name = match dir.file_name() {
        Some(_) => dir.to_path_buf(),
        None => dir
            .canonicalize()
            .with_context(|| format!("resolving data directory {}", dir.display()))?,
    };
    let Some(file_name) = name.file_name() else {
        anyhow::bail!(
            "cannot move data directory {} aside: it has no name",
            dir.display()
        );
    };
    let mut sibling = file_name.to_owned();
    sibling.push(format!(".damaged-{secs}"));
    let sibling = name.with_file_name(sibling);
    let renamed = std::fs::rename(&name, &sibling);
    let Err(e) = renamed else {
        return Ok(sibling);
    };
    let inside = name.join(format!("damaged-{secs}"));
    warn!(
        error = %e,
        to = %sibling.display(),
        "cannot rename the data directory; moving its contents into {} instead",
        inside.display()
    );
    let entries = std::fs::read_dir(&name)
        .with_context(|| format!("reading data directory {}", dir.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir(&inside).with_context(|| format!("creating {}", inside.display()))?;
    for entry in entries {
        std::fs::rename(entry.path(), inside.join(entry.file_name()))
            .with_context(|| format!("moving {} aside", entry.path().display()))?;
    }
    Ok(inside)
}

/// What a v1 projector (no `--lpas`) owns: the LPA its `--filter` names, or every LPA.
fn owned_by_filter(filter: &str, reference: &Reference) -> Vec<String> {
    let all = || reference.lpas.iter().map(|l| l.code.clone()).collect();
    if filter == EVENTS_SUBJECTS {
        return all();
    }
    match reference
        .lpas
        .iter()
        .find(|l| filter == crate::ingest::lpa_subjects(&l.code))
    {
        Some(l) => vec![l.code.clone()],
        None => {
            warn!(
                filter,
                "--filter names no single LPA: taking every LPA as owned; use --lpas"
            );
            all()
        }
    }
}
