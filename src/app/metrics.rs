//! Prometheus metrics with the tikv `prometheus` crate: what `/metrics` exposes.
//!
//! The board's figures are gauges computed from the read models at scrape time by
//! [`ReadModelCollector`], never mirrored by hand; only process tallies (events by
//! outcome, rejections by reason, batch latency) are kept in memory. No label ever
//! carries an officer identifier: the collector only sees LPA, month and reason.
//!
//! Why the tikv crate: it is the one the product's dependency list names, its text
//! format 0.0.4 is what Debian's Prometheus 2.42 and `promtool check metrics` read
//! natively, and its `Collector` trait is all we need for scrape-time gauges.

use crate::clock::Clock;
use crate::domain::calendar::{month_of, Month};
use crate::domain::progress::in_progress;
use crate::domain::reference::Reference;
use crate::domain::report::month_ratio;
use crate::ingest::{BatchStats, IngestObserver};
use crate::store::Store;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The window of months exposed: the as-of month and this many before it. Months after
/// the as-of month are never exposed: rosters are published months ahead, and they are
/// a plan, not a measure (nor may one implausible month push the real ones out).
pub const MONTHS_BEFORE: usize = 12;

pub struct Metrics {
    registry: Registry,
    events: IntCounterVec,
    rejections: IntCounterVec,
    batch_seconds: Histogram,
    last_sequence: IntGauge,
    pending: IntGauge,
    filters_loaded: Gauge,
    disk_full: IntGauge,
    clock: Clock,
}

impl Metrics {
    /// The tracker's clock (the API's month in progress is the one holding its day).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub fn new(store: Store, reference: Arc<Reference>, clock: Clock) -> Metrics {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "abstraction_tracker_events_total",
                "Events handled by the tracker, by outcome (applied, duplicate, rejected).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        for o in ["applied", "duplicate", "rejected"] {
            events.with_label_values(&[o]);
        }
        let rejections = IntCounterVec::new(
            Opts::new(
                "abstraction_tracker_rejections_total",
                "Events re-published to the rejected stream, by reason code.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "abstraction_tracker_batch_apply_seconds",
                "Time to validate, fold, durably store and acknowledge one consumer batch.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("valid metric");
        let last_sequence = IntGauge::new(
            "abstraction_tracker_last_applied_sequence",
            "Stream sequence of the last message whose effect is durable.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(events.clone()))
            .expect("register");
        registry
            .register(Box::new(rejections.clone()))
            .expect("register");
        registry
            .register(Box::new(batch_seconds.clone()))
            .expect("register");
        let pending = IntGauge::new(
            "abstraction_tracker_consumer_pending_messages",
            "Messages in the stream not yet delivered to this projector, as of its last batch (lag).",
        )
        .expect("valid metric");
        registry
            .register(Box::new(last_sequence.clone()))
            .expect("register");
        registry
            .register(Box::new(pending.clone()))
            .expect("register");
        let filters_loaded = Gauge::new(
            "abstraction_tracker_filters_loaded_ratio",
            "Share of the id and entity filters loaded since start (1: complete; below 1, every event reads the store).",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "abstraction_tracker_build_info",
                "Always 1; the labels say which build of abstraction-tracker runs.",
            ),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry
            .register(Box::new(filters_loaded.clone()))
            .expect("register");
        let disk_full = IntGauge::new(
            "abstraction_tracker_store_disk_full",
            "1 while ingestion is stopped because the store's file system is full (nothing is acknowledged; serve exits to be restarted once space is back), else 0.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(disk_full.clone()))
            .expect("register");
        registry.register(Box::new(build_info)).expect("register");
        registry
            .register(Box::new(ReadModelCollector::new(store, reference, clock)))
            .expect("register");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("register");
        Metrics {
            registry,
            events,
            rejections,
            batch_seconds,
            last_sequence,
            pending,
            filters_loaded,
            disk_full,
            clock,
        }
    }

    /// How far `serve` has loaded the id and entity filters (0 to 1).
    pub fn filters_loaded(&self, ratio: f64) {
        self.filters_loaded.set(ratio);
    }

    /// Says whether ingestion is stopped because the store's file system is full;
    /// `/readyz` answers 503 while it is.
    /// The stored checkpoint a start resumes from, so the gauge does not read 0 until
    /// the first batch after a restart.
    pub fn resumed_at(&self, sequence: u64) {
        self.last_sequence.set(sequence as i64);
    }

    pub fn set_disk_full(&self, full: bool) {
        self.disk_full.set(full as i64);
    }

    pub fn disk_full(&self) -> bool {
        self.disk_full.get() != 0
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("exposition is UTF-8")
    }
}

impl IngestObserver for Metrics {
    fn rejected(&self, code: &str) {
        self.rejections.with_label_values(&[code]).inc();
    }

    fn batch_done(&self, s: &BatchStats, took: Duration) {
        self.events
            .with_label_values(&["applied"])
            .inc_by(s.applied);
        self.events
            .with_label_values(&["duplicate"])
            .inc_by(s.duplicate);
        self.events
            .with_label_values(&["rejected"])
            .inc_by(s.rejected);
        self.batch_seconds.observe(took.as_secs_f64());
        self.last_sequence.set(s.last_sequence as i64);
        self.pending.set(s.pending as i64);
    }
}

/// Gauges read from the read models on every scrape.
struct ReadModelCollector {
    store: Store,
    reference: Arc<Reference>,
    clock: Clock,
    templates: Families,
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

/// The scrape-time gauge families, by name. Built afresh for each scrape so that a
/// month or reason that has gone leaves no stale series behind.
struct Families {
    rostered: GaugeVec,
    abstracted: GaugeVec,
    ratio: GaugeVec,
    target: GaugeVec,
    open: GaugeVec,
    store_size: GaugeVec,
    stored_events: GaugeVec,
    unreadable: GaugeVec,
    to_date: GaugeVec,
    forecast: GaugeVec,
    budget_spent: GaugeVec,
    budget_planned: GaugeVec,
}

impl Families {
    fn new() -> Families {
        Families {
            rostered: gauge(
                "neighbourhood_rostered_seconds",
                "Rostered (not cancelled) neighbourhood shift time in the month, Europe/London months.",
                &["lpa", "month"],
            ),
            abstracted: gauge(
                "neighbourhood_abstracted_seconds",
                "Abstracted time in the month by reason, counted toward the ratio or not.",
                &["lpa", "month", "reason"],
            ),
            ratio: gauge(
                "neighbourhood_abstraction_ratio",
                "Counted abstracted time over rostered time in the month (absent when nothing is rostered).",
                &["lpa", "month"],
            ),
            target: gauge(
                "neighbourhood_abstraction_target_ratio",
                "The LPA's target abstraction ratio from the reference data.",
                &["lpa"],
            ),
            open: gauge(
                "neighbourhood_abstractions_open",
                "Abstractions started and not yet ended, all months.",
                &["lpa"],
            ),
            store_size: gauge(
                "abstraction_tracker_store_size_bytes",
                "Bytes the store (sled or fjall, as the data directory records) occupies on disk.",
                &[],
            ),
            stored_events: gauge(
                "abstraction_tracker_stored_events",
                "Events in the append-only event log.",
                &[],
            ),
            unreadable: gauge(
                "abstraction_tracker_unreadable_stored_events",
                "Logged events that no longer decode (a bug or a damaged disk): their entities are folded without them. Anything above 0 needs a fix and a rebuild; see docs/runbook.md.",
                &["lpa"],
            ),
            to_date: gauge(
                "neighbourhood_abstraction_ratio_to_date",
                "The as-of month only: counted abstracted over rostered time from the 1st to the start of the as-of day.",
                &["lpa", "month"],
            ),
            forecast: gauge(
                "neighbourhood_abstraction_forecast_ratio",
                "The as-of month only: forecast ratio (abstracted to date, planned for the rest, unplanned at the rate to date) over the month's roster.",
                &["lpa", "month"],
            ),
            budget_spent: gauge(
                "neighbourhood_abstraction_budget_spent_ratio",
                "The as-of month only: abstracted hours to date over the budget (target ratio x the month's rostered hours).",
                &["lpa", "month"],
            ),
            // Not in the contract's list: the "planned" line of the board's burn-down.
            budget_planned: gauge(
                "neighbourhood_abstraction_budget_planned_ratio",
                "The as-of month only: abstracted hours to date plus the planned abstractions for the rest of the month, over the budget.",
                &["lpa", "month"],
            ),
        }
    }

    /// In exposition order.
    fn all(&self) -> [&GaugeVec; 12] {
        [
            &self.rostered,
            &self.abstracted,
            &self.ratio,
            &self.to_date,
            &self.forecast,
            &self.budget_spent,
            &self.budget_planned,
            &self.target,
            &self.open,
            &self.store_size,
            &self.stored_events,
            &self.unreadable,
        ]
    }
}

impl ReadModelCollector {
    fn new(store: Store, reference: Arc<Reference>, clock: Clock) -> ReadModelCollector {
        ReadModelCollector {
            store,
            reference,
            clock,
            templates: Families::new(),
        }
    }

    fn fill(&self, f: &Families) -> Result<(), crate::store::StoreError> {
        let day = self.clock.day();
        let as_of = month_of(day);
        let first = (0..MONTHS_BEFORE).fold(as_of, |m, _| m.prev());
        let window: Vec<Month> = self.store.months()?.range(first..=as_of).copied().collect();
        for l in &self.reference.lpas {
            f.target.with_label_values(&[&l.code]).set(l.target_ratio);
            f.open
                .with_label_values(&[&l.code])
                .set(self.store.open_now(&l.code)? as f64);
            f.unreadable
                .with_label_values(&[&l.code])
                .set(self.store.unreadable(&l.code)?.len() as f64);
            for m in &window {
                let month = m.to_string();
                let lm = self.store.lpa_month(&l.code, *m)?;
                let rostered = lm.rostered_ms();
                f.rostered
                    .with_label_values(&[&l.code, &month])
                    .set(rostered as f64 / 1000.0);
                let mut by_reason: BTreeMap<&str, i64> = BTreeMap::new();
                for (k, t) in lm.cells() {
                    *by_reason.entry(k.reason).or_default() += t.ms;
                }
                for (reason, ms) in by_reason {
                    f.abstracted
                        .with_label_values(&[&l.code, &month, reason])
                        .set(ms as f64 / 1000.0);
                }
                if let Some(ratio) = month_ratio(&self.reference, &lm) {
                    f.ratio.with_label_values(&[&l.code, &month]).set(ratio);
                }
            }
            if !lm_is_empty_month(&window, as_of) {
                let days = self.store.lpa_days(&l.code, as_of)?;
                let p = in_progress(&self.reference, l.target_ratio, day, &days);
                let month = as_of.to_string();
                let labels = [l.code.as_str(), month.as_str()];
                for (g, v) in [
                    (&f.to_date, p.abstraction_ratio_to_date),
                    (&f.forecast, p.forecast_ratio),
                    (&f.budget_spent, p.budget_spent_ratio),
                    (&f.budget_planned, p.budget_planned_ratio()),
                ] {
                    if let Some(v) = v {
                        g.with_label_values(&labels).set(v);
                    }
                }
            }
        }
        f.store_size
            .with_label_values::<&str>(&[])
            .set(self.store.size_on_disk() as f64);
        f.stored_events
            .with_label_values::<&str>(&[])
            .set(self.store.log_len()? as f64);
        Ok(())
    }
}

/// No store month holds the as-of month: it has no figures to show in progress.
fn lm_is_empty_month(window: &[Month], as_of: Month) -> bool {
    window.last() != Some(&as_of)
}

impl Collector for ReadModelCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.templates
            .all()
            .into_iter()
            .flat_map(|g| g.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let f = Families::new();
        if let Err(e) = self.fill(&f) {
            tracing::error!(error = %e, "reading read models for /metrics");
        }
        f.all().into_iter().flat_map(|g| g.collect()).collect()
    }
}
