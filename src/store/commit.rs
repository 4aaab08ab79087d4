//! [`Commit`]: one batch of changes, read back through an overlay and applied to the
//! engine atomically, so a batch's log entries, id index, read models and checkpoint become
//! durable together or not at all.

use super::kv::{decode_u64, Kv, KvResult};
use super::{keys, Store, StoreError};
use crate::domain::calendar::Month;
use std::collections::BTreeMap;

/// A batch of changes read through an overlay and applied atomically.
pub struct Commit {
    store: Store,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Kv for Commit {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        if keys::family_of(key) == keys::Family::Id && !self.store.filters().id_maybe_stored(key) {
            return Ok(None);
        }
        Ok(self.store.get(key)?.map(|v| v.to_vec()))
    }
    fn scan_prefix_pairs(&self, prefix: &[u8]) -> KvResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut found: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        let skip_engine = keys::family_of(prefix) == keys::Family::Log
            && !self.store.filters().entity_maybe_stored(prefix);
        if !skip_engine {
            for kv in self.store.scan(prefix) {
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
        Ok(found
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.insert(key, Some(value));
    }
    fn del(&mut self, key: Vec<u8>) {
        self.overlay.insert(key, None);
    }
}

impl Commit {
    pub(super) fn new(store: Store) -> Commit {
        Commit {
            store,
            overlay: BTreeMap::new(),
        }
    }

    pub fn set_checkpoint(&mut self, consumer: &str, seq: u64) {
        self.put(keys::checkpoint_key(consumer), seq.to_be_bytes().to_vec());
    }

    /// Counts a rejection under the month it was received in (data-quality section).
    pub fn count_rejection(&mut self, month: Month, code: &str) -> KvResult<()> {
        let key = keys::rejected_key(month, code);
        let n = match self.get(&key)? {
            Some(v) => decode_u64(&key, &v)?,
            None => 0,
        } + 1;
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
        let mut filters = self.store.filters.write().expect("filter lock");
        for (k, v) in &self.overlay {
            if v.is_some() {
                filters.add_written(k);
            }
        }
        let batch = self.overlay.into_iter().collect();
        self.store.engine.write(batch, durable)
    }
}
