//! Storage: every sled call lives here, so the engine could be swapped (redb, fjall).
//!
//! One sled tree holds every key family (see `projection` for the layout) because
//! `apply_batch` is atomic only within a tree: the log entry, id index, entity states,
//! read models and checkpoint of a batch become durable together or not at all.

use crate::domain::calendar::Month;
use crate::domain::readmodel::{LpaMonth, SectorMonth};
use crate::project::projector::{
    self, entity_prefix_of_log_key, read_u64, Kv, KvResult, DERIVED_PREFIXES, ID_PREFIX, LOG_PREFIX,
};
use fastbloom::BloomFilter;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {dir} is in use by another process (sled allows one process per directory); stop the other `abstraction-tracker` or use `--server URL` to read through its HTTP API")]
    Locked { dir: String },
    #[error("cannot open data directory {dir}: {source}")]
    Open { dir: String, source: sled::Error },
    #[error("no tracker data in {dir}: pass the --data-dir that `serve` uses, or read a running tracker with --server URL")]
    Missing { dir: String },
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("a rebuild was interrupted; run `abstraction-tracker rebuild --data-dir {0}` before serving")]
    RebuildInterrupted(String),
    #[error("data directory {dir} was written by an earlier version of abstraction-tracker (store format 1); `export` it with that version, then `publish` the file to rebuild a fresh data directory")]
    OldFormat { dir: String },
}

/// A raw key and value.
pub type KvPair = (Vec<u8>, Vec<u8>);

const META_REBUILDING: &[u8] = b"m/rebuilding";
/// Format 2: the log keyed by entity, no stored entity states (see `projection`).
const META_FORMAT: &[u8] = b"m/format";
const FORMAT: &[u8] = b"2";

/// sled's page cache. Its default (1 GiB) alone is four times the memory goal in
/// docs/BENCHMARKS.md; the read models a batch touches are few and small.
pub const CACHE_BYTES: u64 = 128 * 1024 * 1024;

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: String,
    filters: Arc<RwLock<FilterState>>,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let d = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            dir: d.clone(),
            source: sled::Error::Io(e),
        })?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Locked { dir: d.clone() }
                }
                sled::Error::Io(ref io) if io.to_string().contains("lock") => {
                    StoreError::Locked { dir: d.clone() }
                }
                other => StoreError::Open {
                    dir: d.clone(),
                    source: other,
                },
            })?;
        match db.get(META_FORMAT)? {
            Some(f) if f.as_ref() == FORMAT => {}
            Some(_) => return Err(StoreError::OldFormat { dir: d }),
            None if db.is_empty() => {
                db.insert(META_FORMAT, FORMAT)?;
            }
            None => return Err(StoreError::OldFormat { dir: d }),
        }
        Ok(Store {
            db,
            dir: d,
            filters: Arc::default(),
        })
    }

    /// Loads Bloom filters of the stored event ids and entities, so that the common case
    /// of ingest, a new id for a new entity, costs no sled read (a miss costs 40-90 µs
    /// once the store outgrows sled's cache; see docs/BENCHMARKS.md). Only the ingesting
    /// process needs them. Returns how many ids were loaded.
    ///
    /// Ingest may run meanwhile (`serve` loads them on a thread of their own: minutes for
    /// millions of events): until they are complete every lookup goes to sled, and
    /// commits add their keys to the filters being built as well. Registering them under
    /// the lock that commits hold until their batch is applied means every key is either
    /// on disk before the scan starts or added by its commit.
    pub fn load_filters(&self) -> Result<u64, StoreError> {
        self.filters.write().expect("filter lock").building = Some(Filters::new(self.log_len()?));
        let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
        let add = |chunk: &mut Vec<Vec<u8>>, ids: bool| {
            let mut state = self.filters.write().expect("filter lock");
            let f = state.building.as_mut().expect("filters being built");
            for k in chunk.drain(..) {
                if ids {
                    f.ids.insert(&k);
                } else {
                    f.entities.insert(&k);
                }
            }
        };
        const CHUNK: usize = 10_000;
        let mut n = 0;
        for k in self.db.scan_prefix(ID_PREFIX).keys() {
            chunk.push(k?.to_vec());
            n += 1;
            if chunk.len() == CHUNK {
                add(&mut chunk, true);
            }
        }
        add(&mut chunk, true);
        let mut last: Vec<u8> = Vec::new();
        for k in self.db.scan_prefix(LOG_PREFIX).keys() {
            let k = k?;
            let e = entity_prefix_of_log_key(&k);
            if e != last.as_slice() {
                last = e.to_vec();
                chunk.push(last.clone());
                if chunk.len() == CHUNK {
                    add(&mut chunk, false);
                }
            }
        }
        add(&mut chunk, false);
        let mut state = self.filters.write().expect("filter lock");
        state.active = state.building.take();
        Ok(n)
    }

    /// Opens a data directory that must already hold a store (for `report`, `rebuild`,
    /// `export`): a mistyped path is an error, not an empty report.
    pub fn open_existing(dir: &Path) -> Result<Store, StoreError> {
        if !dir.join("conf").exists() && !dir.join("db").exists() {
            return Err(StoreError::Missing {
                dir: dir.display().to_string(),
            });
        }
        Store::open(dir)
    }

    /// Refuses to serve over half-rebuilt read models.
    pub fn check_consistent(&self) -> Result<(), StoreError> {
        if self.db.get(META_REBUILDING)?.is_some() {
            return Err(StoreError::RebuildInterrupted(self.dir.clone()));
        }
        Ok(())
    }

    pub fn begin(&self) -> Commit {
        Commit {
            store: self.clone(),
            overlay: BTreeMap::new(),
        }
    }

    pub fn checkpoint(&self, consumer: &str) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get(checkpoint_key(consumer))?
            .map(|v| read_u64(&v))
            .unwrap_or(0))
    }

    pub fn lpa_month(&self, lpa: &str, month: Month) -> Result<LpaMonth, StoreError> {
        match self.db.get(projector::lpa_month_key(lpa, month))? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(LpaMonth::default()),
        }
    }

    /// Abstractions open now in an LPA (with a base event and no end), whatever month
    /// they started in.
    pub fn open_now(&self, lpa: &str) -> Result<i64, StoreError> {
        let mut n = 0;
        for kv in self.db.scan_prefix(projector::open_prefix(lpa)) {
            n += read_u64(&kv?.1) as i64;
        }
        Ok(n)
    }

    /// Months that hold data for any LPA.
    pub fn months(&self) -> Result<BTreeSet<Month>, StoreError> {
        let mut out = BTreeSet::new();
        for kv in self.db.scan_prefix(b"a/") {
            let (k, _) = kv?;
            let k = String::from_utf8_lossy(&k);
            if let Some(m) = k.rsplit('/').next().and_then(|m| m.parse().ok()) {
                out.insert(m);
            }
        }
        Ok(out)
    }

    pub fn sectors(
        &self,
        lpa: &str,
        month: Month,
    ) -> Result<Vec<(String, SectorMonth)>, StoreError> {
        let prefix = projector::sector_prefix(lpa, month);
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let sector = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let m = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push((sector, m));
        }
        Ok(out)
    }

    /// Per officer, abstractions started in the month: values only, never ids.
    pub fn officer_counts(&self, lpa: &str, month: Month) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(projector::officer_prefix(lpa, month)) {
            out.push(read_u64(&kv?.1));
        }
        Ok(out)
    }

    pub fn rejected_counts(&self, month: Month) -> Result<Vec<(String, u64)>, StoreError> {
        let prefix = format!("m/rejected/{month}/");
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv?;
            out.push((
                String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                read_u64(&v),
            ));
        }
        Ok(out)
    }

    pub fn log_len(&self) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get(projector::META_LOG_LEN)?
            .map(|v| read_u64(&v))
            .unwrap_or(0))
    }

    /// The stored events, grouped by LPA and entity (not in arrival order: the fold
    /// does not depend on order).
    pub fn log(&self) -> impl Iterator<Item = Result<sled::IVec, StoreError>> {
        self.db
            .scan_prefix(LOG_PREFIX)
            .map(|kv| kv.map(|(_, v)| v).map_err(StoreError::from))
    }

    /// The LPAs that have events in the log, found by skipping from one to the next.
    pub fn log_lpas(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut from = LOG_PREFIX.to_vec();
        while let Some(kv) = self.db.range(from.clone()..).next() {
            let (k, _) = kv?;
            let Some(lpa) = projector::lpa_of_log_key(&k) else {
                break;
            };
            out.push(lpa.to_string());
            // '0' follows '/', so this skips every key of the LPA.
            from = format!("l/{lpa}0").into_bytes();
        }
        Ok(out)
    }

    /// Log entries (key and raw event) under a prefix of the log, grouped by entity.
    pub fn log_under(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> {
        self.db
            .scan_prefix(prefix)
            .map(|kv| kv.map_err(StoreError::from))
    }

    /// Writes derived keys computed outside a [`Commit`] (by `rebuild`).
    pub fn put_all(&self, pairs: impl IntoIterator<Item = KvPair>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Every derived key and value, for comparing live ingestion with a rebuild.
    pub fn derived_snapshot(&self) -> Result<Vec<KvPair>, StoreError> {
        let mut out = Vec::new();
        for p in DERIVED_PREFIXES {
            for kv in self.db.scan_prefix(p) {
                let (k, v) = kv?;
                out.push((k.to_vec(), v.to_vec()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Removes every derived key, marking the store as mid-rebuild until
    /// [`Store::finish_rebuild`]. Durable before it returns.
    pub fn start_rebuild(&self) -> Result<(), StoreError> {
        self.db.insert(META_REBUILDING, b"1".to_vec())?;
        self.db.flush()?;
        for p in DERIVED_PREFIXES {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for k in self.db.scan_prefix(p).keys() {
                batch.remove(k?);
                n += 1;
                if n % 50_000 == 0 {
                    self.db.apply_batch(std::mem::take(&mut batch))?;
                }
            }
            self.db.apply_batch(batch)?;
        }
        self.db.flush()?;
        Ok(())
    }

    pub fn finish_rebuild(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.db.remove(META_REBUILDING)?;
        self.db.flush()?;
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn checkpoint_key(consumer: &str) -> Vec<u8> {
    format!("m/checkpoint/{consumer}").into_bytes()
}

/// Bloom filters that grow with the store (a scalable Bloom filter): when one is full a
/// twice larger one with half the false-positive rate is added, so the rate of all of
/// them together stays under 2% however long the store runs.
struct Scalable {
    parts: Vec<(BloomFilter, u64)>,
    capacity: u64,
    false_positive: f64,
}

impl Scalable {
    fn new(expected: u64) -> Scalable {
        let capacity = expected.max(1 << 16) * 2;
        let false_positive = 0.01;
        Scalable {
            parts: vec![(Self::filter(capacity, false_positive), 0)],
            capacity,
            false_positive,
        }
    }

    fn filter(capacity: u64, false_positive: f64) -> BloomFilter {
        BloomFilter::with_false_pos(false_positive).expected_items(capacity as usize)
    }

    fn insert(&mut self, key: &[u8]) {
        if self.contains(key) {
            return;
        }
        let full = self.parts.last().is_some_and(|(_, n)| *n >= self.capacity);
        if full {
            self.capacity *= 2;
            self.false_positive /= 2.0;
            self.parts
                .push((Self::filter(self.capacity, self.false_positive), 0));
        }
        let (f, n) = self.parts.last_mut().expect("one filter at least");
        f.insert(key);
        *n += 1;
    }

    fn contains(&self, key: &[u8]) -> bool {
        self.parts.iter().any(|(f, _)| f.contains(key))
    }
}

/// The filters in use (none until loaded) and those being loaded.
#[derive(Default)]
struct FilterState {
    active: Option<Filters>,
    building: Option<Filters>,
}

/// What ingest asks "is it new?" of: stored `i/` keys and log entity prefixes.
struct Filters {
    ids: Scalable,
    entities: Scalable,
}

impl Filters {
    fn new(events: u64) -> Filters {
        Filters {
            ids: Scalable::new(events),
            entities: Scalable::new(events),
        }
    }
}

/// A batch of changes read through an overlay and applied atomically.
pub struct Commit {
    store: Store,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Commit {
    /// False when the filters say `key` (an id key or an entity prefix) was never
    /// stored; true when it may have been, or when no filters are loaded.
    fn maybe_stored(&self, key: &[u8]) -> bool {
        let filters = self.store.filters.read().expect("filter lock");
        match filters.active.as_ref() {
            Some(f) if key.starts_with(ID_PREFIX) => f.ids.contains(key),
            Some(f) if key.starts_with(LOG_PREFIX) => f.entities.contains(key),
            _ => true,
        }
    }
}

impl Kv for Commit {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        if key.starts_with(ID_PREFIX) && !self.maybe_stored(key) {
            return Ok(None);
        }
        Ok(self.store.db.get(key)?.map(|v| v.to_vec()))
    }
    fn scan_prefix(&self, prefix: &[u8]) -> KvResult<Vec<Vec<u8>>> {
        let mut found: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        if !prefix.starts_with(LOG_PREFIX) || self.maybe_stored(prefix) {
            for kv in self.store.db.scan_prefix(prefix) {
                let (k, v) = kv?;
                found.insert(k.to_vec(), Some(v.to_vec()));
            }
        }
        for (k, v) in self
            .overlay
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            found.insert(k.clone(), v.clone());
        }
        Ok(found.into_values().flatten().collect())
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.insert(key, Some(value));
    }
    fn del(&mut self, key: Vec<u8>) {
        self.overlay.insert(key, None);
    }
}

impl Commit {
    pub fn set_checkpoint(&mut self, consumer: &str, seq: u64) {
        self.put(checkpoint_key(consumer), seq.to_be_bytes().to_vec());
    }

    /// Counts a rejection under the month it was received in (data-quality section).
    pub fn count_rejection(&mut self, month: Month, code: &str) -> KvResult<()> {
        let key = format!("m/rejected/{month}/{code}").into_bytes();
        let n = self.get(&key)?.map(|v| read_u64(&v)).unwrap_or(0) + 1;
        self.put(key, n.to_be_bytes().to_vec());
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.overlay.len()
    }

    pub fn is_empty(&self) -> bool {
        self.overlay.is_empty()
    }

    /// Applies the batch atomically; with `durable`, returns only once it is on disk.
    pub fn commit(self, durable: bool) -> Result<(), StoreError> {
        // Held until the batch is applied (see `Store::load_filters`). Keys go into the
        // filters before the write: a key in a filter that did not land is only a false
        // positive, a key on disk missing from a filter would be a lost duplicate.
        let mut state = self.store.filters.write().expect("filter lock");
        let FilterState { active, building } = &mut *state;
        for f in [active.as_mut(), building.as_mut()].into_iter().flatten() {
            for (k, v) in &self.overlay {
                if v.is_none() {
                    continue;
                }
                if k.starts_with(ID_PREFIX) {
                    f.ids.insert(k);
                } else if k.starts_with(LOG_PREFIX) {
                    f.entities.insert(entity_prefix_of_log_key(k));
                }
            }
        }
        let mut batch = sled::Batch::default();
        for (k, v) in self.overlay {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.store.db.apply_batch(batch)?;
        if durable {
            self.store.db.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reference::Reference;
    use crate::project::projector::{ingest, Outcome};
    use crate::wire::decode::Validator;

    use crate::project::projector::tests::rec as event;

    /// With the filters loaded (as `serve` does), a reopened store still recognises
    /// every stored id: duplicates and reused ids, in the same entity or another.
    #[test]
    fn filters_never_hide_a_stored_id_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let v = Validator::new(Reference::west_midlands());
        let apply = |store: &Store, raw: &str| {
            let env = v.decode(raw.as_bytes()).unwrap();
            let mut c = store.begin();
            let out = ingest(&mut c, raw.as_bytes(), &env).unwrap();
            c.commit(true).unwrap();
            out
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store.load_filters().unwrap();
            for i in 0..200 {
                let e = event(&format!("e{i}"), &format!("a{i}"), "response_cover");
                assert_eq!(apply(&store, &e), Outcome::Applied);
            }
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_filters().unwrap(), 200);
        assert_eq!(store.log_len().unwrap(), 200);
        let first = event("e7", "a7", "response_cover");
        assert_eq!(apply(&store, &first), Outcome::Duplicate);
        assert_eq!(
            apply(&store, &event("e7", "a7", "court")),
            Outcome::Conflict
        );
        assert_eq!(
            apply(&store, &event("e7", "a8", "response_cover")),
            Outcome::Conflict
        );
        assert_eq!(
            apply(&store, &event("e9000", "a7", "court")),
            Outcome::Applied
        );
        assert_eq!(store.log_len().unwrap(), 201);
    }

    /// `serve` loads the filters while ingest commits: no key committed meanwhile may be
    /// missing once they are active.
    #[test]
    fn filters_loaded_during_ingest_miss_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let v = Validator::new(Reference::west_midlands());
        let store = Store::open(dir.path()).unwrap();
        let commit_range = |range: std::ops::Range<u32>| {
            for chunk in range.collect::<Vec<_>>().chunks(50) {
                let mut c = store.begin();
                let mut p = crate::project::projector::Projector::default();
                for i in chunk {
                    let e = event(&format!("e{i}"), &format!("a{i}"), "response_cover");
                    let env = v.decode(e.as_bytes()).unwrap();
                    assert_eq!(
                        p.ingest(&mut c, e.as_bytes(), &env).unwrap(),
                        Outcome::Applied
                    );
                }
                p.write(&mut c);
                c.commit(false).unwrap();
            }
        };
        commit_range(0..20_000);
        std::thread::scope(|s| {
            let loader = s.spawn(|| store.load_filters().unwrap());
            commit_range(20_000..24_000);
            loader.join().unwrap();
        });
        assert!(store.filters.read().unwrap().active.is_some());
        for i in (0..24_000).step_by(7) {
            let e = event(&format!("e{i}"), &format!("a{i}"), "response_cover");
            let env = v.decode(e.as_bytes()).unwrap();
            let mut c = store.begin();
            assert_eq!(
                ingest(&mut c, e.as_bytes(), &env).unwrap(),
                Outcome::Duplicate,
                "e{i}"
            );
        }
    }

    #[test]
    fn growing_filters_keep_every_key_and_few_false_positives() {
        let mut f = Scalable::new(0);
        for i in 0..400_000u32 {
            f.insert(format!("i/{i}").as_bytes());
        }
        assert!(f.parts.len() >= 3, "it grew: {} parts", f.parts.len());
        assert!((0..400_000u32).all(|i| f.contains(format!("i/{i}").as_bytes())));
        let false_hits = (0..100_000u32)
            .filter(|i| f.contains(format!("x/{i}").as_bytes()))
            .count();
        assert!(false_hits < 2_500, "{false_hits} false positives in 100000");
    }

    #[test]
    fn a_store_of_the_earlier_format_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.insert(b"l/\0\0\0\0\0\0\0\0", b"{}".to_vec()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("earlier version") && err.contains("export"),
            "{err}"
        );
    }
}
