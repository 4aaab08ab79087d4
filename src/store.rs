//! Storage: every sled call lives here, so the engine could be swapped (redb, fjall).
//!
//! One sled tree holds every key family (see `projection` for the layout) because
//! `apply_batch` is atomic only within a tree: the log entry, id index, entity states,
//! read models and checkpoint of a batch become durable together or not at all.

use crate::domain::calendar::Month;
use crate::domain::model::{LpaMonth, SectorMonth};
use crate::projection::{self, read_u64, Kv, KvResult, DERIVED_PREFIXES, LOG_PREFIX};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

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
}

/// A raw key and value.
pub type KvPair = (Vec<u8>, Vec<u8>);

const META_REBUILDING: &[u8] = b"m/rebuilding";

/// sled's page cache. Its default (1 GiB) alone is four times the memory goal in
/// docs/BENCHMARKS.md; the read models a batch touches are few and small.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: String,
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
        Ok(Store { db, dir: d })
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
            overlay: HashMap::new(),
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
        match self.db.get(projection::lpa_month_key(lpa, month))? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(LpaMonth::default()),
        }
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
        let prefix = projection::sector_prefix(lpa, month);
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
        for kv in self.db.scan_prefix(projection::officer_prefix(lpa, month)) {
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
            .get(projection::META_LOG_NEXT)?
            .map(|v| read_u64(&v))
            .unwrap_or(0))
    }

    /// The stored events, oldest first.
    pub fn log(&self) -> impl Iterator<Item = Result<sled::IVec, StoreError>> {
        self.db
            .scan_prefix(LOG_PREFIX)
            .map(|kv| kv.map(|(_, v)| v).map_err(StoreError::from))
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

/// A batch of changes read through an overlay and applied atomically.
pub struct Commit {
    store: Store,
    overlay: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Kv for Commit {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        Ok(self.store.db.get(key)?.map(|v| v.to_vec()))
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
