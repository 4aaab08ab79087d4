//! The force-wide view through JetStream KV (contract section 10). Every projector
//! publishes its owned LPA-months to `NEIGHBOURHOOD_FIGURES` (key `<lpa>.<YYYY-MM>`,
//! the month API's entry without `in_progress`, plus `stream_sequence`) and reads the
//! LPAs it does not own from there.
//!
//! A value is replaced only by one with an equal or greater `stream_sequence`, by
//! compare-and-set on the key's revision, so a lagging standby never overwrites newer
//! figures; equal sequences carry equal figures (the fold is deterministic), so two
//! replicas writing in turn change nothing. Values hold aggregates only: the entry has
//! no officer identifier (`domain::report` keeps them in).

use crate::app::figures;
use crate::domain::calendar::Month;
use crate::domain::reference::Reference;
use crate::domain::report::{lpa_entry, LpaReport};
use crate::store::Store;
use async_nats::jetstream::{self, kv};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

pub const FIGURES_BUCKET: &str = "NEIGHBOURHOOD_FIGURES";

/// How often changed figures are published: batches arrive far faster than the board
/// looks, and each publish is a round trip per LPA-month.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);

pub fn key(lpa: &str, month: Month) -> String {
    format!("{lpa}.{month}")
}

/// Opens the figures bucket, creating it with `replicas` when missing.
pub async fn open(js: &jetstream::Context, replicas: usize) -> anyhow::Result<kv::Store> {
    open_bucket(
        js,
        FIGURES_BUCKET,
        "Neighbourhood abstraction figures per LPA and month, published by the projectors that own them",
        replicas,
    )
    .await
}

/// Opens the key-value bucket `name`, creating it with `replicas` when missing: one
/// value per key, never deleted.
///
/// The bucket's stream is created directly, as `create_key_value` would make it:
/// async-nats 0.51's `create_key_value` first reads the account info, whose 2.9
/// response it cannot parse ("did not match any variant of untagged enum Response").
pub async fn open_bucket(
    js: &jetstream::Context,
    name: &str,
    description: &str,
    replicas: usize,
) -> anyhow::Result<kv::Store> {
    if let Ok(kv) = js.get_key_value(name).await {
        return Ok(kv);
    }
    js.get_or_create_stream(jetstream::stream::Config {
        name: format!("KV_{name}"),
        description: Some(description.into()),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: replicas.max(1),
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await?;
    Ok(js.get_key_value(name).await?)
}

/// The bucket value of an entry folded up to `stream_sequence`.
pub fn encode(entry: &LpaReport, stream_sequence: u64) -> Vec<u8> {
    let mut v = serde_json::to_value(entry).expect("an LPA entry serialises");
    if let Some(o) = v.as_object_mut() {
        o.remove("in_progress");
        o.remove("revision");
        o.remove("source");
        o.insert("stream_sequence".into(), stream_sequence.into());
    }
    serde_json::to_vec(&v).expect("a JSON value serialises")
}

/// An entry and its `stream_sequence`; none when the value is not one.
pub fn decode(bytes: &[u8]) -> Option<(LpaReport, u64)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let seq = v.get("stream_sequence")?.as_u64()?;
    Some((serde_json::from_value(v).ok()?, seq))
}

/// The `stream_sequence` of a value, whatever else it holds: the compare-and-set rule
/// needs only that, so a value whose entry no longer decodes (a newer tracker's fields)
/// but claims a greater sequence is still never overwritten.
fn sequence_of(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        stream_sequence: u64,
    }
    serde_json::from_slice::<Seq>(bytes)
        .ok()
        .map(|s| s.stream_sequence)
}

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The bucket now holds our value: written, or already held byte for byte (then
    /// nothing is written, so a re-publish of unchanged figures costs one read).
    Written,
    /// The bucket holds figures folded further than ours (`stream_sequence` given).
    Newer(u64),
}

/// Writes `value` at `key` unless the bucket holds a greater `stream_sequence`.
pub async fn publish(
    kv: &kv::Store,
    key: &str,
    value: Vec<u8>,
    seq: u64,
) -> anyhow::Result<Published> {
    let value = bytes::Bytes::from(value);
    for _ in 0..10 {
        let current = kv.entry(key.to_string()).await?;
        let result = match current {
            Some(e) if e.operation == kv::Operation::Put => {
                if let Some(theirs) = sequence_of(&e.value) {
                    if theirs > seq {
                        return Ok(Published::Newer(theirs));
                    }
                }
                if e.value == value {
                    return Ok(Published::Written);
                }
                kv.update(key, value.clone(), e.revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| (e.kind() == kv::UpdateErrorKind::WrongLastRevision, e.into()))
            }
            Some(e) => kv
                .update(key, value.clone(), e.revision)
                .await
                .map(|_| ())
                .map_err(|e| (e.kind() == kv::UpdateErrorKind::WrongLastRevision, e.into())),
            None => kv
                .create(key, value.clone())
                .await
                .map(|_| ())
                .map_err(|e| (e.kind() == kv::CreateErrorKind::AlreadyExists, e.into())),
        };
        match result {
            Ok(()) => return Ok(Published::Written),
            // Another projector wrote in between: look again.
            Err((true, _)) => continue,
            Err((false, e)) => return Err(e),
        }
    }
    anyhow::bail!("{key}: the value kept changing under ten compare-and-set attempts")
}

/// The bucket's entries for `month` of `lpas` (those it has).
pub async fn read_month(
    kv: &kv::Store,
    lpas: &[String],
    month: Month,
) -> anyhow::Result<BTreeMap<String, LpaReport>> {
    Ok(read_month_with_sequences(kv, lpas, month)
        .await?
        .into_iter()
        .map(|(lpa, (entry, _))| (lpa, entry))
        .collect())
}

/// [`read_month`] with each value's `stream_sequence` (what an issue freezes).
pub async fn read_month_with_sequences(
    kv: &kv::Store,
    lpas: &[String],
    month: Month,
) -> anyhow::Result<BTreeMap<String, (LpaReport, u64)>> {
    let mut out = BTreeMap::new();
    for lpa in lpas {
        if let Some(bytes) = kv.get(key(lpa, month)).await? {
            match decode(&bytes) {
                Some(value) => {
                    out.insert(lpa.clone(), value);
                }
                None => {
                    warn!(key = %key(lpa, month), "figures bucket value is not an LPA entry; shown as missing")
                }
            }
        }
    }
    Ok(out)
}

/// Publishes what a projector owns: everything at start, then the LPA-months each
/// durable batch changed (and the 12 months after each, whose trend and
/// month-on-month figures include it), at most every [`PUBLISH_EVERY`].
///
/// The bucket heals. What could not be read or written is kept and tried again at the
/// next tick, and every owned LPA-month is published again every `republish_every`
/// (anti-entropy): a value deleted or overwritten by hand, lost with a broker's store,
/// or left behind by a failure no one saw comes back within that period. Republishing
/// keeps the compare-and-set rule (a greater `stream_sequence` in the bucket is left
/// alone) and writes nothing where the bucket already holds the same bytes.
pub struct Publisher {
    pub store: Store,
    pub reference: Arc<Reference>,
    /// Each owned LPA and the consumer whose checkpoint is its `stream_sequence`.
    pub consumer_of: HashMap<String, String>,
    /// The ingest lock: figures and checkpoints are read between batches, so a value
    /// never carries a sequence its figures have not reached.
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// The anti-entropy period (`serve --republish-every`).
    pub republish_every: Duration,
    /// The tracker's "now": the as-of month's `rag` follows its forecast (contract v3
    /// section 6), in the bucket as in the month API.
    pub clock: crate::clock::Clock,
}

impl Publisher {
    pub async fn run(
        self,
        kv: kv::Store,
        mut touched: tokio::sync::mpsc::UnboundedReceiver<Vec<(String, Month)>>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut dirty = self.everything();
        let mut tick = tokio::time::interval(PUBLISH_EVERY);
        let period = self.republish_every.max(PUBLISH_EVERY);
        let mut anti_entropy =
            tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        anti_entropy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                t = touched.recv() => match t {
                    Some(t) => { dirty.extend(t); continue; }
                    None => break,
                },
                _ = anti_entropy.tick() => {
                    debug!(bucket = FIGURES_BUCKET, "re-publishing every owned LPA-month (anti-entropy)");
                    dirty.extend(self.everything());
                    continue;
                }
                _ = tick.tick() => {}
            }
            if dirty.is_empty() {
                continue;
            }
            let batch = std::mem::take(&mut dirty);
            let n = batch.len();
            match self.publish_all(&kv, batch.clone()).await {
                Ok(left) => {
                    if first {
                        info!(
                            lpa_months = n,
                            bucket = FIGURES_BUCKET,
                            "published the owned figures"
                        );
                        first = false;
                    }
                    dirty.extend(left);
                }
                Err(e) => {
                    // Nothing of the batch was published: keep all of it.
                    warn!(error = %e, lpa_months = n, "cannot read figures to publish; retrying");
                    dirty.extend(batch);
                }
            }
        }
        // What the last batches changed, on the way out.
        while let Ok(t) = touched.try_recv() {
            dirty.extend(t);
        }
        if !dirty.is_empty() {
            if let Err(e) = self.publish_all(&kv, dirty).await {
                warn!(error = %e, "cannot publish the last figures on the way out; the next start publishes every owned LPA-month");
            }
        }
    }

    /// Every owned LPA with every stored month.
    fn everything(&self) -> BTreeSet<(String, Month)> {
        match self.store.months() {
            Ok(months) => self
                .consumer_of
                .keys()
                .flat_map(|l| months.iter().map(move |m| (l.clone(), *m)))
                .collect(),
            Err(e) => {
                warn!(error = %e, "cannot list the stored months to publish; trying again at the next re-publish");
                BTreeSet::new()
            }
        }
    }

    /// Publishes `batch` (expanded to the months that include it); returns what could not
    /// be written, to try again.
    async fn publish_all(
        &self,
        kv: &kv::Store,
        batch: BTreeSet<(String, Month)>,
    ) -> anyhow::Result<Vec<(String, Month)>> {
        let values = {
            let (store, reference) = (self.store.clone(), self.reference.clone());
            let (consumer_of, lock) = (self.consumer_of.clone(), self.lock.clone());
            let as_of = self.clock.day();
            tokio::task::spawn_blocking(move || {
                entries(&store, &reference, &consumer_of, &lock, batch, as_of)
            })
            .await??
        };
        let mut left = Vec::new();
        for (lpa, month, value, seq) in values {
            let k = key(&lpa, month);
            match publish(kv, &k, value, seq).await {
                Ok(Published::Written) => debug!(key = %k, seq, "published figures"),
                Ok(Published::Newer(theirs)) => {
                    debug!(key = %k, seq, theirs, "the bucket holds newer figures")
                }
                Err(e) => {
                    warn!(key = %k, error = %e, "cannot publish figures; retrying");
                    left.push((lpa, month));
                }
            }
        }
        Ok(left)
    }
}

type Value = (String, Month, Vec<u8>, u64);

/// The values to publish for `batch` and the 12 months after each of its months.
fn entries(
    store: &Store,
    reference: &Reference,
    consumer_of: &HashMap<String, String>,
    lock: &tokio::sync::Mutex<()>,
    batch: BTreeSet<(String, Month)>,
    as_of: crate::domain::calendar::Day,
) -> anyhow::Result<Vec<Value>> {
    let stored = store.months()?;
    let mut wanted: BTreeSet<(String, Month)> = BTreeSet::new();
    for (lpa, m) in batch {
        let mut later = m;
        for _ in 0..12 {
            later = later.next();
            if stored.contains(&later) {
                wanted.insert((lpa.clone(), later));
            }
        }
        wanted.insert((lpa, m));
    }
    let mut out = Vec::with_capacity(wanted.len());
    for (lpa, month) in wanted {
        let Some(consumer) = consumer_of.get(&lpa) else {
            continue;
        };
        // Each value's figures and sequence are read in one turn between batches; the
        // turn is taken per LPA-month, so a re-publish of everything (anti-entropy)
        // holds ingest back for one LPA-month's read at a time, not for all of them.
        let (seq, inputs) = {
            let _turn = lock.blocking_lock();
            let seq = store.checkpoint(consumer)?;
            (seq, figures::lpa_inputs(store, &lpa, month, Some(as_of))?)
        };
        if let Some(entry) = lpa_entry(reference, &inputs) {
            out.push((lpa, month, encode(&entry, seq), seq));
        }
    }
    Ok(out)
}
