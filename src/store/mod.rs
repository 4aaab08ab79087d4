//! Storage: owns every key and value byte, over one of two engines (sled or fjall,
//! contract v3 section 11) behind the narrow seam of [`engine`]. [`keys`] lays out the
//! key families, [`Kv`] reads and writes them by domain values, [`Commit`] is one
//! atomic batch, and `bloom` keeps the filters that spare ingest most engine reads.
//! Nothing here knows which engine it runs on; each engine's quirks stay in its adapter.
//!
//! A batch's log entries, id index, read models and checkpoint go to the engine as one
//! atomic batch, so they become durable together or not at all. Entity states are not
//! stored: an entity's state is the fold of its logged events (store format 2).

mod bloom;
mod commit;
#[cfg(test)]
mod conformance;
mod convert;
pub mod engine;
mod integrity;
mod issues;
pub mod keys;
mod kv;
mod listed;
mod maintain;
mod sequence;

pub use commit::Commit;
pub use engine::{Bytes, EngineKind};
pub use kv::{Kv, KvResult};
pub use maintain::SNAPSHOT_EVERY;

use crate::domain::calendar::{Day, Month};
use crate::domain::fold::EntityKind;
use crate::domain::fold::Rules;
use crate::domain::readmodel::{LpaDay, LpaMonth, SectorMonth};
use crate::domain::reject::Unreadable;
use bloom::{FilterState, Filters};
use engine::{Engine, Entries};
use keys::{DERIVED_PREFIXES, LOG_PREFIX, META_FORMAT, META_REBUILDING};
use kv::{decode_json, decode_u64};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {dir} is in use by another process (the store allows one process per directory); stop the other `abstraction-tracker` or use `--server URL` to read through its HTTP API")]
    Locked { dir: String },
    #[error("cannot open data directory {dir}: {detail}")]
    Open { dir: String, detail: String },
    #[error("no tracker data in {dir}: pass the --data-dir that `serve` uses, or read a running tracker with --server URL")]
    Missing { dir: String },
    #[error("data directory {dir} was created with the {recorded} engine, not {asked}: drop --engine (and TRACKER_ENGINE) to open it with {recorded}, or copy it to a new directory with `abstraction-tracker convert --from {dir} --to NEW_DIR --engine {asked}`")]
    EngineMismatch {
        dir: String,
        recorded: EngineKind,
        asked: EngineKind,
    },
    /// An engine's error; `damage` when it is damage to the engine's files (a crash of
    /// the machine), rather than the environment (permissions, a full disk).
    #[error("storage error: {detail}")]
    Engine { detail: String, damage: bool },
    #[error("data directory {dir} is damaged ({detail}), as a crash of the machine can leave it: run `abstraction-tracker serve --recover` with the same options to move it aside to {dir}.damaged-<unix seconds> and re-read the NEIGHBOURHOOD_EVENTS stream into a fresh store, or restore a backup of the directory")]
    Damaged { dir: String, detail: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("a rebuild was interrupted; run `abstraction-tracker rebuild --data-dir {0}` before serving")]
    RebuildInterrupted(String),
    #[error("the read models in {dir} were folded with limits.max_interval_hours = {stored}, the reference data now says {now}; run `abstraction-tracker rebuild --data-dir {dir}` with this reference (`serve` does so itself)")]
    RulesChanged {
        dir: String,
        stored: String,
        now: i64,
    },
    #[error("data directory {dir} was written by an earlier version of abstraction-tracker (store format 1); `export` it with that version, then `publish` the file to rebuild a fresh data directory")]
    OldFormat { dir: String },
}

/// A raw key and value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// The value of [`META_FORMAT`]: 6 since the store keeps the evidence index (`x/`,
/// `p/`); 5 since the id index holds each event's stream sequence; 4 since the per-day
/// read models are [`LpaDay`]s.
const FORMAT: &[u8] = b"6";
/// Formats 2 to 5 have the same log and lack only derived keys (format 5 the evidence
/// index, 4 also the stream sequences, which stay empty, 2 and 3 the per-day models):
/// each is upgraded by a rebuild, which `serve` runs itself on start. Until then the
/// evidence is read by scanning the log, as format 5 did.
const UPGRADED_BY_REBUILD: [&[u8]; 4] = [b"2", b"3", b"4", b"5"];

/// The engine's block or page cache. sled's default (1 GiB) alone is four times the
/// memory goal in docs/BENCHMARKS.md; the read models a batch touches are few and
/// small. 32 MiB rather than 128: measured on sled on 2026-12-07, it halved the
/// tracker's memory at 300k and 1M events for the same ingest ratio and report times.
pub const CACHE_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
    dir: String,
    filters: Arc<RwLock<FilterState>>,
}

impl Store {
    /// Opens the store in `dir` with the engine recorded there, creating a sled store
    /// where there is none.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, None)
    }

    /// Opens the store in `dir`; a new one is created with `engine` (default sled), an
    /// existing one is opened with the engine that created it, and an `engine` that
    /// disagrees is refused ([`StoreError::EngineMismatch`]).
    pub fn open_with(dir: &Path, engine: Option<EngineKind>) -> Result<Store, StoreError> {
        let d = dir.display().to_string();
        let engine = engine::open(dir, engine)?;
        let store = Store {
            engine,
            dir: d.clone(),
            filters: Arc::default(),
        };
        match store.get(META_FORMAT)? {
            Some(f) if f.as_ref() == FORMAT => {}
            Some(f) if UPGRADED_BY_REBUILD.contains(&f.as_ref()) => {
                // Marked first, so a crash in between leaves a store that still says
                // it needs its read models derived again.
                store.put(keys::META_UPGRADE, &f)?;
                store.put(META_FORMAT, FORMAT)?;
                store.flush()?;
            }
            Some(_) => return Err(StoreError::OldFormat { dir: d }),
            None if store.engine.is_empty()? => {
                store.put(META_FORMAT, FORMAT)?;
            }
            None => return Err(StoreError::OldFormat { dir: d }),
        }
        Ok(store)
    }

    /// The engine the store runs on.
    pub fn engine(&self) -> EngineKind {
        self.engine.kind()
    }

    /// One key's value.
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        self.engine.get(key)
    }

    /// Every key starting with `prefix`, in key order.
    fn scan(&self, prefix: &[u8]) -> Entries<'_> {
        self.engine.scan(prefix, prefix)
    }

    /// One key written (not yet durable: see [`Store::flush`]).
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.engine
            .write(vec![(key.to_vec(), Some(value.to_vec()))], false)
    }

    fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.engine.write(vec![(key.to_vec(), None)], false)
    }

    /// Saves the active filters with the store's event count, for the next start to take
    /// in one read ([`Store::load_saved_filters`]); call it once nothing more will be
    /// committed. False when no filters are active (still loading): nothing is saved.
    pub fn save_filters(&self) -> Result<bool, StoreError> {
        let bytes = {
            let state = self.filters();
            let Some(f) = &state.active else {
                return Ok(false);
            };
            f.encode(self.log_len()?)
        };
        self.put(keys::META_FILTERS, &bytes)?;
        self.flush()?;
        Ok(true)
    }

    /// Bytes of the saved filters (0 when none are saved).
    pub fn saved_filters_len(&self) -> Result<usize, StoreError> {
        Ok(self.get(keys::META_FILTERS)?.map_or(0, |v| v.len()))
    }

    /// Takes filters saved by [`Store::save_filters`] when they cover exactly the events
    /// the store holds (every event adds keys, so an equal count means none was added
    /// since), making them active at once. The saved copy is removed first either way: from
    /// the next commit on it would be stale, and a crash must not leave it behind.
    pub fn load_saved_filters(&self) -> Result<bool, StoreError> {
        let Some(bytes) = self.get(keys::META_FILTERS)? else {
            return Ok(false);
        };
        self.remove(keys::META_FILTERS)?;
        self.flush()?;
        match Filters::decode(&bytes) {
            Some((f, events)) if events == self.log_len()? => {
                self.filters.write().expect("filter lock").active = Some(f);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Loads Bloom filters of the stored event ids and entities, so that the common case
    /// of ingest, a new id for a new entity, costs no engine read (a miss costs 40-90 µs
    /// once the store outgrows sled's cache; see docs/BENCHMARKS.md). Only the ingesting
    /// process needs them. Returns how many ids were loaded.
    ///
    /// Ingest may run meanwhile (`serve` loads them on a thread of their own: minutes for
    /// millions of events): until they are complete every lookup goes to the engine, and
    /// commits add their keys to the filters being built as well. Registering them under
    /// the lock that commits hold until their batch is applied means every key is either
    /// on disk before the scan starts or added by its commit.
    pub fn load_filters(&self) -> Result<u64, StoreError> {
        self.load_filters_with(|_, _| {})
    }

    /// As [`Store::load_filters`], calling `progress(keys read, keys to read)` as it
    /// goes (every 10,000 keys): on millions of events this takes minutes.
    pub fn load_filters_with(&self, progress: impl FnMut(u64, u64)) -> Result<u64, StoreError> {
        Ok(self.scan_into_filters(progress)?.ids)
    }

    /// Whether the id and entity filters are complete (taken from a clean stop, or
    /// built by a scan): ingest then reads the engine only for a "maybe".
    pub fn filters_ready(&self) -> bool {
        self.filters().active.is_some()
    }

    /// Opens a data directory that must already hold a store (for `report`, `rebuild`,
    /// `export`): a mistyped path is an error, not an empty report.
    pub fn open_existing(dir: &Path) -> Result<Store, StoreError> {
        Store::open_existing_with(dir, None)
    }

    /// As [`Store::open_existing`], refusing an `engine` other than the recorded one.
    pub fn open_existing_with(dir: &Path, engine: Option<EngineKind>) -> Result<Store, StoreError> {
        if engine::recorded(dir)?.is_none() {
            return Err(StoreError::Missing {
                dir: dir.display().to_string(),
            });
        }
        Store::open_with(dir, engine)
    }

    /// Refuses to serve over half-rebuilt read models, or over a store of an earlier
    /// format (2 to 5) whose derived keys are not yet all derived.
    pub fn check_consistent(&self) -> Result<(), StoreError> {
        if self.get(META_REBUILDING)?.is_some() || self.needs_upgrade()? {
            return Err(StoreError::RebuildInterrupted(self.dir.clone()));
        }
        Ok(())
    }

    /// A store written as format 2 to 5: its log is complete, some derived keys (per-day
    /// models, the evidence index) are missing until a rebuild derives them (`serve`
    /// does so on start).
    pub fn needs_upgrade(&self) -> Result<bool, StoreError> {
        Ok(self.get(keys::META_UPGRADE)?.is_some())
    }

    /// Whether the read models were folded by `rules`. A store whose log is empty
    /// takes them on (nothing was folded yet); one with events but no record of its
    /// rules was folded by an earlier version and is not known to match.
    pub fn rules_match(&self, rules: &Rules) -> Result<bool, StoreError> {
        match self.get(keys::META_RULES)? {
            Some(v) => Ok(v.as_ref() == rules.max_interval_ms.to_be_bytes()),
            None if self.log_len()? == 0 => {
                self.put(keys::META_RULES, &rules.max_interval_ms.to_be_bytes())?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Refuses read models folded by other rules than `rules` (see [`Store::rules_match`]).
    pub fn check_rules(&self, rules: &Rules) -> Result<(), StoreError> {
        if self.rules_match(rules)? {
            return Ok(());
        }
        let stored = match self.get(keys::META_RULES)? {
            Some(v) if v.len() == 8 => {
                let ms = i64::from_be_bytes(v.as_ref().try_into().expect("8 bytes"));
                format!("{}", ms / 3_600_000)
            }
            _ => "unrecorded".into(),
        };
        Err(StoreError::RulesChanged {
            dir: self.dir.clone(),
            stored,
            now: rules.max_interval_ms / 3_600_000,
        })
    }

    /// The LPAs the projector serving this store owns; none recorded means every LPA
    /// (a store written before partitioning, or by `rebuild` alone).
    pub fn owned(&self) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self.get(keys::META_OWNED)?.map(|v| {
            String::from_utf8_lossy(&v)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }))
    }

    pub fn set_owned(&self, lpas: &[String]) -> Result<(), StoreError> {
        self.put(keys::META_OWNED, lpas.join(",").as_bytes())
    }

    /// Removes every stored event of the LPAs not in `keep`, their id-index entries and
    /// the checkpoints of their per-LPA consumers (`<name>-<lpa>`), then the caller
    /// rebuilds the read models. The events stay in the JetStream stream, which is the
    /// truth: whoever owns those LPAs has them. Returns the number of events removed.
    pub fn drop_lpas(&self, keep: &[String]) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        for lpa in self.log_lpas()? {
            if keep.contains(&lpa) {
                continue;
            }
            let mut batch = Vec::new();
            let mut n = 0u64;
            for kv in self.scan(&keys::log_lpa_prefix(&lpa)) {
                let (k, _) = kv?;
                batch.push((keys::id_key(&keys::last_segment(&k)), None));
                batch.push((k.to_vec(), None));
                n += 1;
                if n.is_multiple_of(20_000) {
                    self.engine.write(std::mem::take(&mut batch), false)?;
                }
            }
            let suffix = format!("-{lpa}");
            for kv in self.scan(&keys::checkpoint_key("")) {
                let (k, _) = kv?;
                if k.ends_with(suffix.as_bytes()) {
                    batch.push((k.to_vec(), None));
                }
            }
            self.engine.write(batch, false)?;
            removed += n;
        }
        let left = self.log_len()?.saturating_sub(removed);
        self.put(keys::META_LOG_LEN, &left.to_be_bytes())?;
        self.flush()?;
        Ok(removed)
    }

    pub fn begin(&self) -> Commit {
        Commit::new(self.clone())
    }

    fn filters(&self) -> RwLockReadGuard<'_, FilterState> {
        self.filters.read().expect("filter lock")
    }

    /// A stored counter (0 when absent).
    fn counter(&self, key: &[u8]) -> Result<u64, StoreError> {
        match self.get(key)? {
            Some(v) => decode_u64(key, &v),
            None => Ok(0),
        }
    }

    pub fn checkpoint(&self, consumer: &str) -> Result<u64, StoreError> {
        self.counter(&keys::checkpoint_key(consumer))
    }

    pub fn lpa_month(&self, lpa: &str, month: Month) -> Result<LpaMonth, StoreError> {
        let key = keys::lpa_month_key(lpa, month);
        match self.get(&key)? {
            Some(v) => decode_json(&key, &v),
            None => Ok(LpaMonth::default()),
        }
    }

    /// Abstractions open now in an LPA (with a base event and no end), whatever month
    /// they started in.
    pub fn open_now(&self, lpa: &str) -> Result<i64, StoreError> {
        let mut n = 0;
        for kv in self.scan(&keys::open_prefix(lpa)) {
            let (k, v) = kv?;
            n += decode_u64(&k, &v)? as i64;
        }
        Ok(n)
    }

    /// One LPA's per-day figures of a month, by day.
    pub fn lpa_days(&self, lpa: &str, month: Month) -> Result<Vec<(Day, LpaDay)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.scan(&keys::lpa_days_prefix(lpa, month)) {
            let (k, v) = kv?;
            let day = keys::day_of_lpa_day_key(&k).ok_or_else(|| {
                StoreError::Corrupt(format!("bad day key {}", String::from_utf8_lossy(&k)))
            })?;
            out.push((day, decode_json(&k, &v)?));
        }
        Ok(out)
    }

    /// Months that hold data for any LPA.
    pub fn months(&self) -> Result<BTreeSet<Month>, StoreError> {
        let mut out = BTreeSet::new();
        for kv in self.scan(keys::lpa_months_prefix()) {
            if let Some(m) = keys::month_of_lpa_month_key(&kv?.0) {
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
        let mut out = Vec::new();
        for kv in self.scan(&keys::sector_prefix(lpa, month)) {
            let (k, v) = kv?;
            out.push((keys::last_segment(&k), decode_json(&k, &v)?));
        }
        Ok(out)
    }

    /// Per officer, abstractions started in the month: values only, never ids.
    pub fn officer_counts(&self, lpa: &str, month: Month) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for kv in self.scan(&keys::officer_prefix(lpa, month)) {
            let (k, v) = kv?;
            out.push(decode_u64(&k, &v)?);
        }
        Ok(out)
    }

    /// Rejections received in the month, by code.
    pub fn rejected_counts(&self, month: Month) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.scan(&keys::rejected_prefix(month)) {
            let (k, v) = kv?;
            out.push((keys::last_segment(&k), decode_u64(&k, &v)?));
        }
        Ok(out)
    }

    /// How many logged events of any LPA no longer decode.
    pub fn unreadable_marks(&self) -> Result<usize, StoreError> {
        self.scan(keys::UNREADABLE_PREFIX)
            .try_fold(0, |n, kv| kv.map(|_| n + 1))
    }

    /// The logged events of `lpa` that no longer decode (see [`Unreadable`]).
    pub fn unreadable(&self, lpa: &str) -> Result<Vec<Unreadable>, StoreError> {
        self.scan(&keys::unreadable_prefix(lpa))
            .map(|kv| kv.and_then(|(k, v)| decode_json(&k, &v)))
            .collect()
    }

    pub fn log_len(&self) -> Result<u64, StoreError> {
        self.counter(keys::META_LOG_LEN)
    }

    /// The stored events, grouped by LPA and entity (not in arrival order: the fold
    /// does not depend on order).
    pub fn log(&self) -> impl Iterator<Item = Result<Bytes, StoreError>> + '_ {
        self.scan(LOG_PREFIX).map(|kv| kv.map(|(_, v)| v))
    }

    /// The LPAs that have events in the log, found by skipping from one to the next.
    pub fn log_lpas(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut from = LOG_PREFIX.to_vec();
        while let Some(kv) = self.engine.scan(LOG_PREFIX, &from).next() {
            let (k, _) = kv?;
            let Some(lpa) = keys::lpa_of_log_key(&k) else {
                break;
            };
            out.push(lpa.to_string());
            from = keys::log_after_lpa(lpa);
        }
        Ok(out)
    }

    /// One LPA's logged shifts or abstractions: each entry's key (for messages) and raw
    /// event, an entity's events consecutive.
    pub fn log_of(
        &self,
        lpa: &str,
        kind: EntityKind,
    ) -> impl Iterator<Item = Result<(String, Bytes), StoreError>> + '_ {
        self.scan(&keys::log_kind_prefix(lpa, kind)).map(|kv| {
            let (k, v) = kv?;
            Ok((String::from_utf8_lossy(&k).into_owned(), v))
        })
    }

    /// Every derived key and value, for comparing live ingestion with a rebuild.
    pub fn derived_snapshot(&self) -> Result<Vec<KvPair>, StoreError> {
        let mut out = Vec::new();
        for p in DERIVED_PREFIXES {
            for kv in self.scan(p) {
                let (k, v) = kv?;
                out.push((k.to_vec(), v.to_vec()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.engine.size_on_disk()
    }

    /// Removes every derived key, marking the store as mid-rebuild until
    /// [`Store::finish_rebuild`]. Durable before it returns.
    pub fn start_rebuild(&self) -> Result<(), StoreError> {
        self.put(META_REBUILDING, b"1")?;
        self.flush()?;
        for p in DERIVED_PREFIXES {
            let mut batch = Vec::new();
            for kv in self.scan(p) {
                batch.push((kv?.0.to_vec(), None));
                if batch.len() == 50_000 {
                    self.engine.write(std::mem::take(&mut batch), false)?;
                }
            }
            self.engine.write(batch, false)?;
        }
        self.flush()?;
        Ok(())
    }

    /// Ends a rebuild whose read models were folded by `rules`.
    pub fn finish_rebuild(&self, rules: &Rules) -> Result<(), StoreError> {
        self.flush()?;
        self.put(keys::META_RULES, &rules.max_interval_ms.to_be_bytes())?;
        self.remove(keys::META_UPGRADE)?;
        self.remove(META_REBUILDING)?;
        self.flush()?;
        Ok(())
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.engine.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Envelope;
    use crate::domain::fold::entity_of;
    use crate::domain::reference::Reference;
    use crate::wire::decode::Validator;
    use engine::each_engine;
    use std::sync::atomic::Ordering;

    each_engine!(
        saved_filters_are_taken_once_and_only_for_the_log_they_cover,
        filters_never_hide_a_stored_id_across_a_restart,
        loading_the_filters_reports_progress_to_the_end,
        filters_loaded_during_ingest_miss_no_key,
        a_snapshot_reopens_sled_under_readers_and_writers_without_losing_a_key,
        a_snapshot_is_due_after_enough_events_once_the_filters_are_complete,
    );

    /// A one-shot `abstraction.recorded` in Dudley.
    fn event(id: &str, abs: &str, reason: &str) -> Envelope {
        let raw = format!(
            r#"{{"event_id":"{id}","type":"abstraction.recorded","schema_version":1,
            "occurred_at":"2024-03-14T08:05:00Z","source":"t","lpa":"dudley",
            "data":{{"abstraction_id":"{abs}","officer_id":"o-1","role":"pc","sector":"x",
            "reason":"{reason}","scope":"lpa","planned":false,
            "start":"2024-03-14T08:00:00Z","end":"2024-03-14T10:00:00Z"}}}}"#
        );
        static V: std::sync::OnceLock<Validator> = std::sync::OnceLock::new();
        V.get_or_init(|| Validator::new(Reference::west_midlands()))
            .decode(raw.as_bytes())
            .unwrap()
    }

    fn append(store: &Store, envs: &[Envelope]) {
        let mut c = store.begin();
        for env in envs {
            c.append_event(env, env.event_id.as_bytes());
        }
        c.commit(false).unwrap();
    }

    /// What the filters must never get wrong: a stored id or entity reported as absent.
    fn assert_found(store: &Store, env: &Envelope) {
        let c = store.begin();
        assert!(c.has_event_id(&env.event_id).unwrap(), "{}", env.event_id);
        let events = c.entity_events(&env.lpa, &entity_of(&env.event)).unwrap();
        assert!(!events.is_empty(), "{}", env.event_id);
    }

    /// Filters saved at a clean stop are taken by the next start in one read, answer
    /// for every stored id and entity, and are used once: a second start, or a log that
    /// grew since, reads every key again.
    fn saved_filters_are_taken_once_and_only_for_the_log_they_cover(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let envs: Vec<Envelope> = (0..200)
            .map(|i| event(&format!("e{i}"), &format!("a{i}"), "response_cover"))
            .collect();
        {
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            assert!(!store.save_filters().unwrap(), "nothing active to save yet");
            store.load_filters().unwrap();
            append(&store, &envs);
            assert!(store.save_filters().unwrap());
        }
        {
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            assert!(store.load_saved_filters().unwrap());
            assert!(store.filters().active.is_some());
            for env in &envs {
                assert_found(&store, env);
            }
            assert!(!store.filters().id_maybe_stored(&keys::id_key("never")));
            // Saved again, then the log grows before the next start: not taken.
            assert!(store.save_filters().unwrap());
            store.filters.write().unwrap().active = None;
            append(&store, &[event("e9000", "a9000", "court")]);
            let mut c = store.begin();
            c.set_log_len(store.log_len().unwrap() + 1);
            c.commit(false).unwrap();
        }
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        assert!(!store.load_saved_filters().unwrap(), "stale: the log grew");
        assert!(!store.load_saved_filters().unwrap(), "and removed");
        store.load_filters().unwrap();
        assert_found(&store, &event("e9000", "a9000", "court"));
    }

    /// With the filters loaded (as `serve` does), a reopened store still finds every
    /// stored id and entity, and a new one is absent.
    fn filters_never_hide_a_stored_id_across_a_restart(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let envs: Vec<Envelope> = (0..200)
            .map(|i| event(&format!("e{i}"), &format!("a{i}"), "response_cover"))
            .collect();
        {
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            store.load_filters().unwrap();
            append(&store, &envs);
        }
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        store.load_filters().unwrap();
        for env in &envs {
            assert_found(&store, env);
        }
        let new = event("e9000", "a9000", "court");
        let c = store.begin();
        assert!(!c.has_event_id(&new.event_id).unwrap());
        assert!(c
            .entity_events(&new.lpa, &entity_of(&new.event))
            .unwrap()
            .is_empty());
    }

    fn loading_the_filters_reports_progress_to_the_end(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        let envs: Vec<Envelope> = (0..25_000)
            .map(|i| event(&format!("e{i}"), &format!("a{i}"), "response_cover"))
            .collect();
        for chunk in envs.chunks(5_000) {
            append(&store, chunk);
        }
        // The projector keeps the event count; `append` alone does not.
        let mut c = store.begin();
        c.set_log_len(envs.len() as u64);
        c.commit(false).unwrap();
        let mut seen = Vec::new();
        store
            .load_filters_with(|done, total| seen.push((done, total)))
            .unwrap();
        // Two families of 25,000 keys, reported every 10,000 and at the end.
        assert_eq!(seen.last(), Some(&(50_000, 50_000)));
        assert!(seen.len() >= 5, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    }

    /// `serve` loads the filters while ingest commits: no key committed meanwhile may be
    /// missing once they are active.
    fn filters_loaded_during_ingest_miss_no_key(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        let envs: Vec<Envelope> = (0..24_000)
            .map(|i| event(&format!("e{i}"), &format!("a{i}"), "response_cover"))
            .collect();
        let commit_all = |envs: &[Envelope]| {
            for chunk in envs.chunks(50) {
                append(&store, chunk);
            }
        };
        commit_all(&envs[..20_000]);
        std::thread::scope(|s| {
            let loader = s.spawn(|| store.load_filters().unwrap());
            commit_all(&envs[20_000..]);
            loader.join().unwrap();
        });
        assert!(store.filters().active.is_some());
        assert!(!store.filters().id_maybe_stored(&keys::id_key("never")));
        for env in envs.iter().step_by(7) {
            assert_found(&store, env);
        }
    }

    fn set_len(store: &Store, n: u64) {
        let mut c = store.begin();
        c.set_log_len(n);
        c.commit(false).unwrap();
    }

    /// sled closed and re-opened under the store while other threads read and
    /// commit: every read answers, and every key is there after, and after a real
    /// re-open from disk.
    fn a_snapshot_reopens_sled_under_readers_and_writers_without_losing_a_key(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let envs: Vec<Envelope> = (0..3_000)
            .map(|i| event(&format!("e{i}"), &format!("a{i}"), "response_cover"))
            .collect();
        let (first, rest) = envs.split_at(1_000);
        {
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            store.load_filters().unwrap();
            append(&store, first);
            set_len(&store, first.len() as u64);
            let stop = std::sync::atomic::AtomicBool::new(false);
            let reads = std::thread::scope(|s| {
                let readers: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            let mut n = 0u64;
                            while !stop.load(Ordering::Relaxed) {
                                assert_found(&store, &first[n as usize % first.len()]);
                                assert!(store.log_len().unwrap() >= first.len() as u64);
                                assert_eq!(store.log().take(3).count(), 3);
                                n += 1;
                            }
                            n
                        })
                    })
                    .collect();
                for chunk in rest.chunks(500) {
                    append(&store, chunk);
                    store.snapshot().unwrap();
                }
                stop.store(true, Ordering::Relaxed);
                readers
                    .into_iter()
                    .map(|r| r.join().unwrap())
                    .collect::<Vec<_>>()
            });
            assert!(reads.iter().all(|n| *n > 0), "{reads:?}");
            for env in &envs {
                assert_found(&store, env);
            }
        }
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        store.load_filters().unwrap();
        for env in &envs {
            assert_found(&store, env);
        }
    }

    /// `serve` re-opens sled every so many events, only once the filters are complete
    /// (their loading scans sled for minutes), and counts again from there.
    fn a_snapshot_is_due_after_enough_events_once_the_filters_are_complete(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        let envs: Vec<Envelope> = (0..100)
            .map(|i| event(&format!("e{i}"), &format!("a{i}"), "response_cover"))
            .collect();
        append(&store, &envs);
        set_len(&store, 100);
        if engine == EngineKind::Fjall {
            // fjall needs no re-open to bound its next open: never due.
            store.load_filters().unwrap();
            assert_eq!(store.events_since_snapshot().unwrap(), 0);
            assert!(store.snapshot_if_due(1).unwrap().is_none());
            return;
        }
        assert_eq!(store.events_since_snapshot().unwrap(), 100);
        assert!(
            store.snapshot_if_due(50).unwrap().is_none(),
            "filters loading"
        );
        store.load_filters().unwrap();
        assert!(store.snapshot_if_due(0).unwrap().is_none(), "0: never");
        assert!(store.snapshot_if_due(101).unwrap().is_none());
        assert!(store.snapshot_if_due(100).unwrap().is_some());
        assert_eq!(store.events_since_snapshot().unwrap(), 0);
        set_len(&store, 130);
        assert_eq!(store.events_since_snapshot().unwrap(), 30);
        assert!(store.snapshot_if_due(50).unwrap().is_none());
        // A store opened with events counts from what it held then.
        drop(store);
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        assert_eq!(store.events_since_snapshot().unwrap(), 0);
    }

    /// Only sled stores were ever written in format 1.
    #[test]
    fn a_store_of_the_earlier_format_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            // Format 1 keyed the log by arrival: `l/` and a sequence number.
            let key = [keys::LOG_PREFIX, &[0; 8]].concat();
            db.insert(key, b"{}".to_vec()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("earlier version") && err.contains("export"),
            "{err}"
        );
    }
}
