//! Ingest: the JetStream consumer that turns messages into durable store batches.
//!
//! Per batch: decode and validate each message, re-publish rejections (awaiting their
//! PubAcks), fold the accepted ones into one store batch together with the stream
//! checkpoint, flush it to disk, and only then acknowledge. The checkpoint is the truth
//! about progress: on start the consumer is re-created to deliver from checkpoint + 1,
//! and a redelivered message at or below the checkpoint is skipped, so a crash at any
//! instant neither loses nor double-counts an event.

use crate::domain::calendar::Month;
use crate::domain::reject::{RejectCode, Rejection};
use crate::project::projector::{self, Outcome};
use crate::store::{Store, StoreError};
use crate::wire::decode::{peek_event_id, Validator};
use crate::wire::subject::check_subject;
use async_nats::jetstream::{self, consumer, stream, Message};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

pub const EVENTS_STREAM: &str = "NEIGHBOURHOOD_EVENTS";
pub const EVENTS_SUBJECTS: &str = "neighbourhood.events.>";
pub const REJECTED_STREAM: &str = "NEIGHBOURHOOD_REJECTED";
pub const REJECTED_SUBJECTS: &str = "neighbourhood.rejected.>";

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Durable consumer name; also names the checkpoint in the store.
    pub consumer: String,
    /// Subject filter; one LPA's subjects (`neighbourhood.events.dudley.>`) for a
    /// projector that owns a partition.
    pub filter: String,
    /// More subjects for the same consumer (`filter_subjects`, NATS 2.10+ only: 2.9
    /// accepts and ignores it, so the caller checks the server version first).
    pub more_filters: Vec<String>,
    pub batch: usize,
    pub replicas: usize,
    /// Events between sled's recovery snapshots ([`crate::store::Store::snapshot`]); 0:
    /// none while running.
    pub snapshot_every: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            consumer: "abstraction-tracker".into(),
            filter: EVENTS_SUBJECTS.into(),
            more_filters: Vec::new(),
            batch: 500,
            replicas: 1,
            snapshot_every: crate::store::SNAPSHOT_EVERY,
        }
    }
}

/// The subjects of one LPA's events.
pub fn lpa_subjects(lpa: &str) -> String {
    format!("neighbourhood.events.{lpa}.>")
}

/// `(major, minor)` of a server version such as `2.9.10` or `v2.15.1`.
pub fn server_version(version: &str) -> Option<(u32, u32)> {
    let mut it = version.trim_start_matches('v').split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// How a projector owning `lpas` consumes: one filtered durable consumer per LPA
/// (`<consumer>-<lpa>`), or on a 2.10+ server one consumer named `<consumer>` with
/// `filter_subjects`. Each consumer has its own checkpoint.
pub fn consumers_for(
    base: &IngestConfig,
    lpas: &[String],
    server: Option<(u32, u32)>,
) -> Vec<IngestConfig> {
    let multi_filter = server.is_some_and(|v| v >= (2, 10));
    if multi_filter && lpas.len() > 1 {
        return vec![IngestConfig {
            filter: lpa_subjects(&lpas[0]),
            more_filters: lpas[1..].iter().map(|l| lpa_subjects(l)).collect(),
            ..base.clone()
        }];
    }
    lpas.iter()
        .map(|l| IngestConfig {
            consumer: format!("{}-{l}", base.consumer),
            filter: lpa_subjects(l),
            more_filters: Vec::new(),
            ..base.clone()
        })
        .collect()
}

/// Creates the events and rejected streams when missing.
pub async fn ensure_streams(js: &jetstream::Context, replicas: usize) -> Result<(), IngestError> {
    for (name, subjects, desc) in [
        (
            EVENTS_STREAM,
            EVENTS_SUBJECTS,
            "Neighbourhood rostering and abstraction events",
        ),
        (
            REJECTED_STREAM,
            REJECTED_SUBJECTS,
            "Events the abstraction tracker refused, with reasons",
        ),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            description: Some(desc.into()),
            ..Default::default()
        })
        .await
        .map_err(IngestError::broker(match name {
            EVENTS_STREAM => "creating or opening JetStream stream NEIGHBOURHOOD_EVENTS",
            _ => "creating or opening JetStream stream NEIGHBOURHOOD_REJECTED",
        }))?;
    }
    Ok(())
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchStats {
    pub applied: u64,
    pub duplicate: u64,
    pub rejected: u64,
    /// Redeliveries at or below the checkpoint: handled before, skipped.
    pub skipped: u64,
    pub last_sequence: u64,
    /// Messages the broker still had for this consumer after the batch's last one.
    pub pending: u64,
}

/// What can stop a batch, by what the consumer should do about it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The broker or the connection failed (restart, timeout, a publish unconfirmed):
    /// nothing was acknowledged that is not durable, so consuming resumes from the
    /// checkpoint after a pause.
    #[error("{what}: {cause}")]
    Broker { what: &'static str, cause: String },
    /// The store failed: nothing more can be made durable, so ingest stops.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store's writer thread panicked: as fatal as a store error.
    #[error("store task: {0}")]
    StoreTask(String),
}

/// Whether an [`IngestError`] is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Transient,
    Fatal,
}

impl IngestError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            IngestError::Broker { .. } => ErrorKind::Transient,
            IngestError::Store(_) | IngestError::StoreTask(_) => ErrorKind::Fatal,
        }
    }

    /// Whether the store failed because its file system is full (ENOSPC). Read from
    /// the causes' `io::Error`s where the storage engine keeps them, and from the text
    /// where it does not (sled 0.34's errors have no `source()` and copy the OS error
    /// into their message), so it holds for any engine behind the store.
    pub fn is_disk_full(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) {
                    return true;
                }
            }
            let text = e.to_string();
            if text.contains("StorageFull")
                || text.contains("No space left on device")
                || text.contains("os error 28")
                || text.contains("code: 28,")
            {
                return true;
            }
            cause = e.source();
        }
        false
    }

    /// A broker error, saying what was being done.
    fn broker<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> IngestError {
        move |e| IngestError::Broker {
            what,
            cause: e.to_string(),
        }
    }
}

/// What ingest reports as it goes. `app::metrics::Metrics` counts it for Prometheus;
/// ingest itself knows nothing of Prometheus.
pub trait IngestObserver: Send + Sync {
    /// One message refused with `code` (already on the rejected stream).
    fn rejected(&self, code: &str);
    /// One batch durable and acknowledged.
    fn batch_done(&self, stats: &BatchStats, took: Duration);
}

pub struct Ingestor {
    pub js: jetstream::Context,
    pub store: Store,
    pub validator: Arc<Validator>,
    pub observer: Arc<dyn IngestObserver>,
    pub config: IngestConfig,
    /// Held for each batch: the consumers of one process share the id index, the log
    /// count and the rejection tallies, so their batches go one at a time (an event id
    /// reused across two LPAs is then still caught as a conflict).
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// Told which LPA-months each durable batch changed (the figures bucket publisher).
    pub touched: Option<tokio::sync::mpsc::UnboundedSender<Vec<(String, Month)>>>,
}

impl Ingestor {
    /// (Re-)creates the durable pull consumer so that it delivers from the stored
    /// checkpoint + 1. A consumer left by an earlier run may be ahead of or behind what
    /// the store holds (e.g. a restored backup); the store decides.
    pub async fn consumer(&self) -> Result<consumer::PullConsumer, IngestError> {
        let stream = self
            .js
            .get_stream(EVENTS_STREAM)
            .await
            .map_err(IngestError::broker("opening the events stream"))?;
        let checkpoint = self.store.checkpoint(&self.config.consumer)?;
        let _ = stream.delete_consumer(&self.config.consumer).await;
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(self.config.consumer.clone()),
                description: Some("abstraction-tracker projector".into()),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: checkpoint + 1,
                },
                ack_policy: consumer::AckPolicy::All,
                ack_wait: Duration::from_secs(60),
                filter_subject: match self.config.more_filters.is_empty() {
                    true => self.config.filter.clone(),
                    false => String::new(),
                },
                filter_subjects: match self.config.more_filters.is_empty() {
                    true => Vec::new(),
                    false => std::iter::once(self.config.filter.clone())
                        .chain(self.config.more_filters.iter().cloned())
                        .collect(),
                },
                max_ack_pending: (self.config.batch * 4) as i64,
                ..Default::default()
            })
            .await
            .map_err(IngestError::broker("creating the durable consumer"))?;
        info!(
            consumer = %self.config.consumer,
            from_sequence = checkpoint + 1,
            "consuming {}",
            std::iter::once(self.config.filter.as_str())
                .chain(self.config.more_filters.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(consumer)
    }

    /// Consumes until `shutdown` resolves. Transient failures (broker restart, publish
    /// timeout) restart the consumer from the checkpoint after a pause; a fatal one
    /// (the store) is returned. Nothing is acknowledged that is not durable.
    pub async fn run(
        &self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), IngestError> {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(200);
        loop {
            let attempt = Instant::now();
            let result = tokio::select! {
                r = self.consume_until_error() => r,
                _ = &mut shutdown => return Ok(()),
            };
            // A consumer that ran a good while before failing starts the pauses afresh:
            // they are there to spare a broker that keeps refusing, not to slow the
            // recovery from every later, unrelated failover.
            if attempt.elapsed() > STEADY {
                backoff = Duration::from_millis(200);
            }
            if let Err(e) = result {
                if e.kind() == ErrorKind::Fatal {
                    return Err(e);
                }
                warn!(error = %e, "consumer interrupted; resuming from the checkpoint");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut shutdown => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }

    async fn consume_until_error(&self) -> Result<(), IngestError> {
        let consumer = self.consumer().await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch)
            // Two missed heartbeats end the subscription and re-create the consumer:
            // after a broker node dies, that is how soon ingestion moves on to the new
            // consumer leader.
            .heartbeat(HEARTBEAT)
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(IngestError::broker("starting the pull subscription"))?;
        let mut messages = std::pin::pin!(messages);
        let received = |m: Option<Result<Message, _>>| -> Result<Option<Message>, IngestError> {
            m.transpose()
                .map_err(IngestError::broker("receiving from JetStream"))
        };
        while let Some(first) = received(messages.next().await)? {
            // A batch fills until it is full, the consumer has nothing more pending
            // (caught up: apply at once) or LINGER has passed since its first message.
            // What has merely arrived so far is often one socket read (~130 events
            // here), and every batch pays a flush and a read-model write.
            let deadline = tokio::time::Instant::now() + LINGER;
            let mut batch = Vec::with_capacity(self.config.batch);
            let mut caught_up = pending_of(&first) == 0;
            batch.push(first);
            while batch.len() < self.config.batch && !caught_up {
                match tokio::time::timeout_at(deadline, messages.next()).await {
                    Ok(m) => match received(m)? {
                        Some(m) => {
                            caught_up = pending_of(&m) == 0;
                            batch.push(m);
                        }
                        None => break,
                    },
                    Err(_) => break,
                }
            }
            // Shutdown may drop this future at any await. Nothing is acknowledged
            // before the commit, so a dropped batch is redelivered; the commit runs on
            // a blocking thread (`spawn_blocking`) that completes even when its waiter
            // is dropped, and is one atomic sled batch with the checkpoint, so a batch
            // is stored whole or not at all, and one stored but not acknowledged is
            // skipped by the checkpoint on redelivery.
            self.process(batch).await?;
        }
        Err(IngestError::Broker {
            what: "receiving from JetStream",
            cause: "the message stream ended".into(),
        })
    }

    /// Handles one batch end to end. Public so tests can drive a single step.
    pub async fn process(&self, batch: Vec<Message>) -> Result<BatchStats, IngestError> {
        let _turn = self.lock.lock().await;
        let started = Instant::now();
        let mut stats = BatchStats::default();
        let checkpoint = self.store.checkpoint(&self.config.consumer)?;
        let mut commit = self.store.begin();
        let mut projector = projector::Projector::with_rules(crate::domain::fold::Rules::from(
            &self.validator.reference().limits,
        ));
        let mut pending_rejections = Vec::new();
        let mut last: Option<&Message> = None;
        for msg in &batch {
            let info = msg.info().map_err(IngestError::broker(
                "reading a message's JetStream metadata",
            ))?;
            let seq = info.stream_sequence;
            // The broker's timestamp: what plausibility and an unreadable rejection's
            // month are judged by, so a replay decides the same (never our clock).
            let published_ms = (info.published.unix_timestamp_nanos() / 1_000_000) as i64;
            let received = jiff::Timestamp::from_millisecond(published_ms)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            last = Some(msg);
            stats.last_sequence = seq;
            stats.pending = info.pending;
            if seq <= checkpoint {
                stats.skipped += 1;
                continue;
            }
            let raw: &[u8] = &msg.payload;
            let verdict = self
                .validator
                .decode_published(raw, published_ms)
                .and_then(|env| check_subject(msg.subject.as_str(), &env).map(|_| env));
            let rejection = match verdict {
                Ok(env) => match projector.ingest_from(&mut commit, raw, &env, Some(seq))? {
                    Outcome::Applied => {
                        stats.applied += 1;
                        None
                    }
                    Outcome::Duplicate => {
                        stats.duplicate += 1;
                        debug!(event_id = %env.event_id, "duplicate event ignored");
                        None
                    }
                    Outcome::Conflict => Some(Rejection::new(
                        RejectCode::EventIdConflict,
                        format!(
                            "event_id {} was stored before with different content; corrections are new events with new ids",
                            env.event_id
                        ),
                    )),
                },
                Err(r) => Some(r),
            };
            if let Some(r) = rejection {
                stats.rejected += 1;
                commit.count_rejection(rejection_month(&msg.payload, received), r.code.as_str())?;
                self.observer.rejected(r.code.as_str());
                warn!(
                    sequence = seq,
                    subject = %msg.subject,
                    event_id = peek_event_id(raw).as_deref().unwrap_or("-"),
                    code = %r.code,
                    reason = %r.message,
                    "event rejected"
                );
                pending_rejections.push(self.publish_rejection(msg, seq, &r).await?);
            }
        }
        for ack in pending_rejections {
            ack.await.map_err(IngestError::broker(
                "rejected stream did not confirm a rejection",
            ))?;
        }
        let Some(last) = last else {
            return Ok(stats);
        };
        if stats.last_sequence > checkpoint {
            let touched = projector.touched_lpa_months();
            for u in projector.unreadable() {
                tracing::error!(
                    lpa = %u.lpa,
                    entity = %format!("{} {}", u.entity_kind, u.entity_id),
                    event_id = %u.event_id,
                    why = %u.why,
                    "a stored event does not decode: its entity's figures are held as they were and ingestion carries on; fix the cause, then `rebuild` (or `serve --recover` to re-read the stream); see docs/runbook.md"
                );
            }
            projector.write(&mut commit);
            commit.set_checkpoint(&self.config.consumer, stats.last_sequence);
            tokio::task::spawn_blocking(move || commit.commit(true))
                .await
                .map_err(|e| IngestError::StoreTask(e.to_string()))??;
            if let Some(tx) = &self.touched {
                let _ = tx.send(touched);
            }
        }
        // AckPolicy::All: acknowledging the last message acknowledges the batch.
        last.ack()
            .await
            .map_err(IngestError::broker("acknowledging"))?;
        self.observer.batch_done(&stats, started.elapsed());
        self.snapshot_if_due().await?;
        Ok(stats)
    }

    /// Has sled write its recovery snapshot when enough events were stored since the
    /// last one, between batches: this consumer holds the turn, so no other batch is
    /// being written meanwhile.
    async fn snapshot_if_due(&self) -> Result<(), IngestError> {
        let every = self.config.snapshot_every;
        if every == 0 || self.store.events_since_snapshot()? < every {
            return Ok(());
        }
        let store = self.store.clone();
        let closed = tokio::task::spawn_blocking(move || store.snapshot_if_due(every))
            .await
            .map_err(|e| IngestError::StoreTask(e.to_string()))??;
        if let Some(closed) = closed {
            info!(
                seconds = closed.as_secs_f64(),
                "sled wrote its recovery snapshot (closed and re-opened between batches)"
            );
        }
        Ok(())
    }

    async fn publish_rejection(
        &self,
        msg: &Message,
        seq: u64,
        r: &Rejection,
    ) -> Result<jetstream::context::PublishAckFuture, IngestError> {
        let mut headers = async_nats::HeaderMap::new();
        // Header values cannot hold newlines; keep the text on one line.
        headers.insert("Rejection-Reason", one_line(&r.message).as_str());
        headers.insert("Original-Subject", msg.subject.as_str());
        headers.insert("Original-Sequence", seq.to_string().as_str());
        let publish = jetstream::message::PublishMessage::build()
            .payload(msg.payload.clone())
            .headers(headers)
            // A redelivery after a crash re-publishes with the same id: de-duplicated.
            .message_id(format!("rejected-{}-{seq}", self.config.consumer));
        self.js
            .send_publish(format!("neighbourhood.rejected.{}", r.code), publish)
            .await
            .map_err(IngestError::broker("publishing to the rejected stream"))
    }
}

/// How long a batch may wait for more messages while the consumer is behind.
const LINGER: Duration = Duration::from_millis(25);

/// The idle heartbeat asked of the broker while a pull waits.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long a consumer must have run before its failure resets the pause before retrying.
const STEADY: Duration = Duration::from_secs(30);

/// Messages still pending for the consumer after this one (0 when caught up).
fn pending_of(m: &Message) -> u64 {
    m.info().map(|i| i.pending).unwrap_or(0)
}

/// The month a rejection is reported under: the event's own `occurred_at` where it
/// can be read (so the board sees it with the month it concerns), else when it arrived.
fn rejection_month(raw: &[u8], received: jiff::Timestamp) -> Month {
    serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| {
            v.get("occurred_at")?
                .as_str()?
                .parse::<jiff::Timestamp>()
                .ok()
        })
        .filter(|t| (2000..2100).contains(&t.to_zoned(jiff::tz::TimeZone::UTC).year()))
        .map(Month::containing)
        .unwrap_or_else(|| Month::containing(received))
}

fn one_line(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.len() > 1000 {
        let mut end = 1000;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2_9_server_gets_a_consumer_per_lpa_and_a_2_10_one_gets_one_for_all() {
        let base = IngestConfig::default();
        let lpas = vec!["dudley".to_string(), "walsall".to_string()];
        let old = consumers_for(&base, &lpas, server_version("2.9.10"));
        assert_eq!(old.len(), 2);
        assert_eq!(old[0].consumer, "abstraction-tracker-dudley");
        assert_eq!(old[1].filter, "neighbourhood.events.walsall.>");
        assert!(old.iter().all(|c| c.more_filters.is_empty()));
        let new = consumers_for(&base, &lpas, server_version("v2.15.1"));
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].consumer, "abstraction-tracker");
        assert_eq!(new[0].filter, "neighbourhood.events.dudley.>");
        assert_eq!(new[0].more_filters, vec!["neighbourhood.events.walsall.>"]);
        // An unknown version is taken to be the oldest.
        assert_eq!(consumers_for(&base, &lpas, None).len(), 2);
        assert_eq!(server_version("2.10.0"), Some((2, 10)));
    }

    #[test]
    fn broker_failures_are_retried_and_store_failures_stop_ingest() {
        let broker = IngestError::broker("acknowledging")("connection reset");
        assert_eq!(broker.kind(), ErrorKind::Transient);
        assert_eq!(broker.to_string(), "acknowledging: connection reset");
        let store = IngestError::from(StoreError::Corrupt("m/log_len is 3 bytes".into()));
        assert_eq!(store.kind(), ErrorKind::Fatal);
        assert_eq!(
            IngestError::StoreTask("panicked".into()).kind(),
            ErrorKind::Fatal
        );
    }

    #[test]
    fn a_full_disk_is_told_from_other_store_failures() {
        // As sled 0.34 words it: the OS error copied into its own message.
        let sled_like = IngestError::from(StoreError::Corrupt(
            r#"IO error: Os { code: 28, kind: StorageFull, message: "No space left on device" }"#
                .into(),
        ));
        assert!(sled_like.is_disk_full());
        // An io::Error's own text, as an engine that stringifies it words it.
        let io = std::io::Error::from_raw_os_error(28);
        assert!(IngestError::StoreTask(io.to_string()).is_disk_full());
        let chained = IngestError::Broker {
            what: "x",
            cause: "y".into(),
        };
        assert!(!chained.is_disk_full());
        assert!(
            !IngestError::from(StoreError::Corrupt("m/log_len is 3 bytes".into())).is_disk_full()
        );
    }
}
