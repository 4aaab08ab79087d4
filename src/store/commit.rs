//! [`Commit`]: one batch of changes, read back through an overlay and applied to sled
//! atomically, so a batch's log entries, id index, read models and checkpoint become
//! durable together or not at all.
//!
//! A batch may be folded while the one before it is still being written ([`Applying`]):
//! it then reads through that one's changes too, so it sees the store as it will be.

use super::kv::{decode_u64, Kv, KvResult};
use super::{keys, Store, StoreError};
use crate::domain::calendar::Month;
use std::collections::BTreeMap;
use std::sync::Arc;

type Overlay = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A batch of changes read through an overlay and applied atomically.
pub struct Commit {
    store: Store,
    overlay: Overlay,
    /// The changes of the batch being written meanwhile, if any.
    behind: Option<Arc<Overlay>>,
}

/// A commit handed to a writer thread ([`Commit::applying`]): its changes stay readable
/// by the next commit ([`Store::begin_after`]) until [`Applying::apply`] has returned.
#[derive(Clone)]
pub struct Applying {
    store: Store,
    overlay: Arc<Overlay>,
}

impl Kv for Commit {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.behind.as_ref().and_then(|b| b.get(key)) {
            return Ok(v.clone());
        }
        if keys::family_of(key) == keys::Family::Id && !self.store.filters().id_maybe_stored(key) {
            return Ok(None);
        }
        Ok(self.store.db.get(key)?.map(|v| v.to_vec()))
    }
    fn scan_prefix(&self, prefix: &[u8]) -> KvResult<Vec<Vec<u8>>> {
        let mut found: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        let skip_sled = keys::family_of(prefix) == keys::Family::Log
            && !self.store.filters().entity_maybe_stored(prefix);
        if !skip_sled {
            for kv in self.store.db.scan_prefix(prefix) {
                let (k, v) = kv?;
                found.insert(k.to_vec(), Some(v.to_vec()));
            }
        }
        // The batch being written was added to the filters before it is applied, so
        // a skipped sled scan misses nothing that is not in `behind`.
        for overlay in self
            .behind
            .iter()
            .map(|b| b.as_ref())
            .chain([&self.overlay])
        {
            for (k, v) in overlay
                .range(prefix.to_vec()..)
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                found.insert(k.clone(), v.clone());
            }
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
    pub(super) fn new(store: Store, behind: Option<Arc<Overlay>>) -> Commit {
        Commit {
            store,
            overlay: BTreeMap::new(),
            behind,
        }
    }

    /// This commit, to be applied on another thread while the next one is folded.
    pub fn applying(self) -> Applying {
        Applying {
            store: self.store,
            overlay: Arc::new(self.overlay),
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
        write(&self.store, self.overlay.into_iter(), durable)
    }
}

impl Applying {
    pub(super) fn changes(&self) -> Arc<Overlay> {
        self.overlay.clone()
    }

    /// Applies the batch atomically; with `durable`, returns only once it is on disk.
    pub fn apply(&self, durable: bool) -> Result<(), StoreError> {
        let changes = self.overlay.iter().map(|(k, v)| (k.clone(), v.clone()));
        write(&self.store, changes, durable)
    }
}

fn write(
    store: &Store,
    changes: impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    durable: bool,
) -> Result<(), StoreError> {
    // Held until the batch is applied (see `Store::registering`). Keys go into the
    // filters before the write: a key in a filter that did not land is only a false
    // positive, a key on disk missing from a filter would be a lost duplicate.
    let registered = store.registering.lock().unwrap_or_else(|e| e.into_inner());
    let mut batch = sled::Batch::default();
    {
        let mut filters = store.filters.write().expect("filter lock");
        for (k, v) in changes {
            match v {
                Some(v) => {
                    filters.add_written(&k);
                    batch.insert(k, v)
                }
                None => batch.remove(k),
            }
        }
    }
    store.db.apply_batch(batch)?;
    drop(registered);
    if durable {
        store.db.flush()?;
    }
    Ok(())
}
