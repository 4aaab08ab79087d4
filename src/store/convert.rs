//! Copying a store key for key into a new data directory on another engine (or the
//! same one): the store half of `abstraction-tracker convert`. The keys and values are
//! engine-agnostic, so a copy is the same store; the command then checks the figures.

use super::{keys, Store, StoreError};

/// Keys written per batch: big enough to amortise a batch, small enough that neither
/// engine holds much of it in memory.
const COPY_BATCH: usize = 20_000;

impl Store {
    /// How many keys the store holds, near enough for a progress bar: two per stored
    /// event (log and id index) and every derived and meta key, counted.
    pub fn key_count_estimate(&self) -> Result<u64, StoreError> {
        let mut n = 2 * self.log_len()?;
        for p in keys::DERIVED_PREFIXES
            .into_iter()
            .chain([keys::META_FAMILY])
        {
            for kv in self.scan(p) {
                kv?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Copies every key of this store into `to` (a new, empty store), in batches,
    /// calling `progress(keys)` after each; durable before it returns, and on an
    /// engine that re-opens to bound its next open (sled), re-opened once, so the
    /// copy opens quickly. Returns the number of keys copied. This store is only read.
    pub fn copy_into(&self, to: &Store, mut progress: impl FnMut(u64)) -> Result<u64, StoreError> {
        let mut batch = Vec::with_capacity(COPY_BATCH);
        let mut n = 0u64;
        for kv in self.engine.scan_all() {
            let (k, v) = kv?;
            batch.push((k.to_vec(), Some(v.to_vec())));
            n += 1;
            if batch.len() == COPY_BATCH {
                to.engine.write(std::mem::take(&mut batch), false)?;
                progress(COPY_BATCH as u64);
            }
        }
        let last = batch.len() as u64;
        to.engine.write(batch, false)?;
        progress(last);
        to.flush()?;
        to.engine.reopen()?;
        Ok(n)
    }

    /// Every key and value of the store, for comparing two stores in tests.
    pub fn all_entries(&self) -> Result<Vec<super::KvPair>, StoreError> {
        let mut out = Vec::new();
        for kv in self.engine.scan_all() {
            let (k, v) = kv?;
            out.push((k.to_vec(), v.to_vec()));
        }
        out.sort();
        Ok(out)
    }
}
