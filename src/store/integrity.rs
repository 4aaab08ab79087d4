//! The check `serve` makes at start that the store is intact: a crash of the machine
//! (not of the process, which both engines survive) can leave an engine's files
//! truncated or corrupt, and the engine then either refuses to open them or opens them
//! and reads errors or less than was written. Engine-agnostic: what each engine calls
//! damage is its adapter's to say (`engine/sled.rs`, `engine/fjall.rs`).
//!
//! What is checked at every start (cheap enough even on 10M events):
//!
//! - the engine's open itself: a panic (what sled gives for a lost tail of its `db`
//!   file, tried on a store written by the tracker and SIGKILLed: truncated at a
//!   segment boundary or not, or a segment zeroed), or an error its adapter calls damage;
//! - every counter and checkpoint (`m/…`) is 8 bytes;
//! - every derived key reads back from the engine, and every LPA-month model (what the API,
//!   metrics and report show first) decodes: they are few beside the log (per LPA and
//!   month, sector or day; officer counts, most of a big store's derived keys, are left
//!   to the reads, where a torn one is `Corrupt`);
//! - the event count (`m/log_len`) is 0 exactly when the log and the id index are
//!   empty: one seek each.
//!
//! Then, unless the last stop was clean (it saved the filters, covering exactly the
//! events the store holds; a clean stop leaves no write in flight for a crash to
//! tear), every id-index and log key is read, as the filters need anyway, and both
//! families must hold as many keys as the event count, for the same event ids (a sum
//! of a hash of each id). sled does not keep its batches whole when its files are
//! damaged: with the newest 512 KiB of its `db` file lost, it was seen to open a store
//! whose count said 3,474 events while the log held 3,528 and the id index 3,526, 48
//! of the logged ids missing from the index (tests/recover.rs). Served, that store
//! never caught up: its index called events stored that its count and read models
//! lacked. The scan costs ~5.6 s per million events (docs/BENCHMARKS.md) and only
//! after an unclean stop.
//!
//! Not checked: read models torn while the log and index came through whole (they
//! are derived: `abstraction-tracker rebuild` re-derives them from the log).

use super::bloom::Filters;
use super::keys::{self, DERIVED_PREFIXES, ID_PREFIX, LOG_PREFIX};
use super::kv::{decode_json, decode_u64};
use super::{Store, StoreError};
use crate::domain::readmodel::LpaMonth;

impl Store {
    /// The damage a crash of the machine leaves: `StoreError::Damaged` naming what
    /// was found (see the module's documentation for what is checked).
    pub fn check_intact(&self) -> Result<(), StoreError> {
        self.check_intact_with(|_, _| {})
    }

    /// As [`Store::check_intact`], calling `progress(keys read, keys to read)` during
    /// the scan after an unclean stop (minutes on millions of events).
    pub fn check_intact_with(&self, progress: impl FnMut(u64, u64)) -> Result<(), StoreError> {
        let damaged = |detail: String| StoreError::Damaged {
            dir: self.dir.clone(),
            detail,
        };
        let as_damage = |e: StoreError| match e {
            StoreError::Engine {
                damage: true,
                detail,
            } => damaged(detail),
            StoreError::Corrupt(what) => damaged(what),
            other => other,
        };
        let log_len = self.log_len().map_err(as_damage)?;
        for kv in self.scan(&keys::checkpoint_key("")) {
            let (k, v) = kv.map_err(as_damage)?;
            decode_u64(&k, &v).map_err(as_damage)?;
        }
        // Officer counts are most of a big store's derived keys (10,000 staff x every
        // month): scanning them would slow every start; a torn one is `Corrupt` when read.
        for p in DERIVED_PREFIXES
            .into_iter()
            .filter(|p| *p != keys::OFFICER_FAMILY)
        {
            for kv in self.scan(p) {
                let (k, v) = kv.map_err(as_damage)?;
                if p == keys::lpa_months_prefix() {
                    decode_json::<LpaMonth>(&k, &v).map_err(as_damage)?;
                }
            }
        }
        let first = |prefix: &[u8]| {
            let k = self.scan(prefix).next().transpose();
            k.map(|kv| kv.map(|(k, _)| k)).map_err(as_damage)
        };
        let (log, ids) = (first(LOG_PREFIX)?, first(ID_PREFIX)?);
        if (log_len > 0) != (log.is_some() && ids.is_some()) {
            return Err(damaged(format!(
                "the event count says {log_len} events; the log holds {}, the id index {}",
                if log.is_some() { "some" } else { "none" },
                if ids.is_some() { "some" } else { "none" },
            )));
        }
        if self.load_saved_filters().map_err(as_damage)? {
            return Ok(());
        }
        let t = self.scan_into_filters(progress).map_err(as_damage)?;
        if t.ids != log_len || t.log != log_len {
            return Err(damaged(format!(
                "the event count says {log_len} events; the log holds {}, the id index {}",
                t.log, t.ids
            )));
        }
        if t.id_digest != t.log_digest {
            return Err(damaged(format!(
                "the log and the id index hold {log_len} events each, but not the same event ids"
            )));
        }
        Ok(())
    }
}

/// What a scan of the id index and the log found: how many keys each holds, and a
/// sum of a hash of each key's event id, equal for the two families exactly when (but
/// for a 2^-64 chance) they hold the same ids.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) ids: u64,
    pub(super) log: u64,
    pub(super) id_digest: u64,
    pub(super) log_digest: u64,
}

/// FNV-1a of an event id, then mixed (splitmix64's finaliser) so that a sum of them
/// does not cancel out for ids that differ in a few bits.
fn id_hash(id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Store {
    /// Reads every id-index and log key into new filters (see [`Store::load_filters`]),
    /// tallying both families as it goes: what the start-up check after an unclean stop
    /// compares with the event count.
    pub(super) fn scan_into_filters(
        &self,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Tally, StoreError> {
        let events = self.log_len()?;
        // Every event has one id key and one log key; both families are read.
        let total = 2 * events;
        self.filters.write().expect("filter lock").building = Some(Filters::new(events));
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
        let mut tally = Tally::default();
        for kv in self.scan(ID_PREFIX) {
            let (k, _) = kv?;
            tally.ids += 1;
            tally.id_digest = tally.id_digest.wrapping_add(id_hash(&k[ID_PREFIX.len()..]));
            chunk.push(k.to_vec());
            if chunk.len() == CHUNK {
                add(&mut chunk, true);
                progress(tally.ids, total);
            }
        }
        add(&mut chunk, true);
        let mut last: Vec<u8> = Vec::new();
        for kv in self.scan(LOG_PREFIX) {
            let (k, _) = kv?;
            tally.log += 1;
            if (tally.ids + tally.log) % CHUNK as u64 == 0 {
                progress(tally.ids + tally.log, total);
            }
            let e = keys::entity_prefix_of_log_key(&k);
            tally.log_digest = tally.log_digest.wrapping_add(id_hash(&k[e.len()..]));
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
        progress(total, total);
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::engine::each_engine;
    use crate::store::EngineKind;

    each_engine!(
        a_fresh_store_is_intact_and_torn_meta_is_damage_naming_what_to_run,
        after_an_unclean_stop_the_log_and_index_must_hold_the_count_of_the_same_ids,
        a_clean_stop_is_trusted_without_the_scan_once,
    );

    fn damage_of(store: &Store) -> String {
        match store.check_intact() {
            Err(e @ StoreError::Damaged { .. }) => e.to_string(),
            other => panic!("expected damage, got {other:?}"),
        }
    }

    fn a_fresh_store_is_intact_and_torn_meta_is_damage_naming_what_to_run(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        store.check_intact().unwrap();

        store.put(keys::META_LOG_LEN, &5u64.to_be_bytes()).unwrap();
        let e = damage_of(&store);
        assert!(e.contains("says 5 events; the log holds none"), "{e}");
        assert!(e.contains("`abstraction-tracker serve --recover`"), "{e}");

        store.remove(keys::META_LOG_LEN).unwrap();
        store.put(&keys::checkpoint_key("c"), b"abc").unwrap();
        let e = damage_of(&store);
        assert!(e.contains("m/checkpoint/c holds 3 bytes"), "{e}");
    }

    /// Keys as a store holding one event each writes them (the values do not matter).
    fn put_events(store: &Store, log: &[&str], ids: &[&str], log_len: u64) {
        for id in log {
            let k = format!("l/dudley/s/S-{id}/{id}");
            store.put(k.as_bytes(), b"{}").unwrap();
        }
        for id in ids {
            store.put(&keys::id_key(id), b"").unwrap();
        }
        store
            .put(keys::META_LOG_LEN, &log_len.to_be_bytes())
            .unwrap();
    }

    fn after_an_unclean_stop_the_log_and_index_must_hold_the_count_of_the_same_ids(
        engine: EngineKind,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        put_events(&store, &["e1", "e2", "e3"], &["e1", "e2", "e3"], 3);
        store.check_intact().unwrap();
        assert!(
            store.filters_ready(),
            "the scan leaves the filters complete"
        );

        // What sled was seen to open from a damaged file: more logged than counted.
        put_events(&store, &["e4"], &["e4"], 3);
        let e = damage_of(&store);
        assert!(
            e.contains("says 3 events; the log holds 4, the id index 4"),
            "{e}"
        );

        // As many ids as events, but one logged event lost its index key to another's.
        store.remove(&keys::id_key("e4")).unwrap();
        put_events(&store, &[], &["e5"], 4);
        let e = damage_of(&store);
        assert!(
            e.contains("hold 4 events each, but not the same event ids"),
            "{e}"
        );
    }

    fn a_clean_stop_is_trusted_without_the_scan_once(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        put_events(&store, &["e1", "e2"], &["e1", "e2"], 2);
        store.check_intact().unwrap();
        assert!(store.save_filters().unwrap());
        // Torn after the clean stop (no write was in flight then, so not by a crash):
        // the saved filters stand for the store as it was stopped.
        store.remove(&keys::id_key("e2")).unwrap();
        store.check_intact().unwrap();
        // They are taken once: the next start scans, and finds it.
        let e = damage_of(&store);
        assert!(e.contains("the log holds 2, the id index 1"), "{e}");
    }
}
