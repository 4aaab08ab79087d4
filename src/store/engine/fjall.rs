//! The fjall 3 adapter: one `Database` (one journal) in the data directory, with three
//! keyspaces (LSM trees) by key family: `log` (the events, values of a few hundred
//! bytes read by entity prefix), `ids` (the event-id index: empty values, point reads
//! only) and `kv` (read models and meta: small values rewritten by every batch), so the
//! churn of the read models is compacted apart from the append-only log and the index.
//!
//! A `WriteBatch` is atomic across keyspaces because they share the journal (fjall's
//! docs, and its recovery drops a batch the journal holds only part of); with
//! `durable` it is committed with `PersistMode::SyncAll`, so it is fsynced before the
//! call returns, as the ack after durable needs. Reads see a consistent snapshot per
//! call (fjall's MVCC), so a scan never sees half a batch.
//!
//! None of sled's workarounds is needed: fjall replays only the journal not yet
//! flushed into tables when it opens (no recovery-snapshot re-open), it keeps no handle
//! that outlives a drop (no lock around it), and its file lock is released on drop.

use super::{catching_panics, Batch, Bytes, Engine, EngineKind, Entries, LOCK_WAIT};
use crate::store::keys::{self, Family};
use crate::store::{StoreError, CACHE_BYTES};
use ::fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) struct FjallEngine {
    db: Database,
    log: Keyspace,
    ids: Keyspace,
    kv: Keyspace,
}

impl From<::fjall::Error> for StoreError {
    fn from(e: ::fjall::Error) -> StoreError {
        StoreError::Engine {
            damage: is_damage(&e),
            detail: format!("fjall: {e:?}"),
        }
    }
}

/// Whether a fjall error is damage to its files rather than the environment.
fn is_damage(e: &::fjall::Error) -> bool {
    use ::fjall::Error as E;
    match e {
        E::Io(io) | E::Storage(::fjall::LsmError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
        ),
        E::Poisoned | E::Locked | E::KeyspaceDeleted => false,
        _ => true,
    }
}

impl FjallEngine {
    pub(crate) fn open(dir: &Path) -> Result<FjallEngine, StoreError> {
        let d = dir.display().to_string();
        let give_up = Instant::now() + LOCK_WAIT;
        let db = loop {
            let opened = catching_panics(|| Database::builder(dir).cache_size(CACHE_BYTES).open())
                .map_err(|panic| StoreError::Damaged {
                    dir: d.clone(),
                    detail: format!("fjall panicked opening it: {panic}"),
                })?;
            match opened {
                Ok(db) => break db,
                Err(::fjall::Error::Locked) if Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(::fjall::Error::Locked) => return Err(StoreError::Locked { dir: d }),
                Err(e) if is_damage(&e) => {
                    return Err(StoreError::Damaged {
                        dir: d,
                        detail: format!("fjall could not open it: {e:?}"),
                    })
                }
                Err(e) => {
                    return Err(StoreError::Open {
                        dir: d,
                        detail: format!("fjall: {e:?}"),
                    })
                }
            }
        };
        // Memtables hold every version written since their last flush: `kv`'s read
        // models are rewritten by every batch, so a small memtable there keeps memory
        // low and lets compaction drop the old versions (fjall's default is 64 MiB per
        // keyspace; docs/BENCHMARKS.md). Fixed when a keyspace is created.
        let keyspace = |name: &str, memtable_mib: u64| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(memtable_mib << 20)
            })
        };
        Ok(FjallEngine {
            log: keyspace("log", 32)?,
            ids: keyspace("ids", 16)?,
            kv: keyspace("kv", 8)?,
            db,
        })
    }

    /// The keyspace a key (or a prefix, which names its family) lives in.
    fn keyspace(&self, key: &[u8]) -> &Keyspace {
        match keys::family_of(key) {
            Family::Log => &self.log,
            Family::Id => &self.ids,
            Family::Other => &self.kv,
        }
    }
}

impl Engine for FjallEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Fjall
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        Ok(self.keyspace(key).get(key)?.map(Bytes::Fjall))
    }

    fn scan(&self, prefix: &[u8], from: &[u8]) -> Entries<'_> {
        let ks = self.keyspace(prefix);
        let iter = if from > prefix {
            let prefix = prefix.to_vec();
            Box::new(
                ks.range(from.to_vec()..)
                    .map(|g| g.into_inner())
                    .take_while(move |kv| {
                        kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix))
                    }),
            ) as Box<dyn Iterator<Item = ::fjall::Result<::fjall::KvPair>>>
        } else {
            Box::new(ks.prefix(prefix).map(|g| g.into_inner()))
        };
        Box::new(iter.map(|kv| {
            kv.map(|(k, v)| (Bytes::Fjall(k), Bytes::Fjall(v)))
                .map_err(StoreError::from)
        }))
    }

    fn scan_all(&self) -> Entries<'_> {
        let trees = [&self.log, &self.ids, &self.kv];
        Box::new(trees.into_iter().flat_map(|ks| ks.iter()).map(|g| {
            g.into_inner()
                .map(|(k, v)| (Bytes::Fjall(k), Bytes::Fjall(v)))
                .map_err(StoreError::from)
        }))
    }

    fn write(&self, batch: Batch, durable: bool) -> Result<(), StoreError> {
        if batch.is_empty() {
            // fjall skips an empty batch, durability included: earlier writes must
            // still be made durable when asked, as sled's flush does.
            return if durable { self.flush() } else { Ok(()) };
        }
        let mut b = self.db.batch();
        for (k, v) in batch {
            let ks = self.keyspace(&k);
            match v {
                Some(v) => b.insert(ks, k, v),
                None => b.remove(ks, k),
            }
        }
        if durable {
            b = b.durability(Some(PersistMode::SyncAll));
        }
        b.commit()?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.log.is_empty()? && self.ids.is_empty()? && self.kv.is_empty()?)
    }

    fn size_on_disk(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}
