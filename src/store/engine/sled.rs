//! The sled 0.34 adapter, with sled's workarounds (they are needed by sled alone):
//!
//! - **One tree.** `apply_batch` is atomic only within a tree, so every key family
//!   lives in sled's default tree and a batch's log entries, id index, read models and
//!   checkpoint become durable together or not at all.
//! - **The recovery-snapshot re-open.** sled writes its recovery snapshot only when it
//!   opens a store, and at the next open replays its whole log since then (a 10M-event
//!   store written in one run took 52 s to open from a cold cache; docs/BENCHMARKS.md),
//!   so `serve` has it close and re-open between batches ([`Engine::reopen`]).
//! - **The recursive lock.** sled sits behind a read lock that every call holds while
//!   it uses sled (a scan for the whole scan) and only the re-open takes for writing, so
//!   no sled handle outlives a re-open (sled's file lock would refuse it). The read is
//!   recursive: a call may nest another while a re-open waits.
//! - **Its lock released late.** sled lets go of its file lock on a thread of its own
//!   after the last handle is dropped (spacejam/sled#1234): an open waits a moment for it.
//! - **Its damage.** sled 0.34 panics opening some damaged files, and names damage in
//!   errors of its own kinds: both become `StoreError::Damaged`/an engine error marked
//!   as damage, for `serve --recover`.

use super::{catching_panics, Batch, Bytes, Engine, EngineKind, Entries, LOCK_WAIT};
use crate::store::{keys, kv::decode_u64, StoreError, CACHE_BYTES};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a re-open waits for the lock its own close releases.
const REOPEN_LOCK_WAIT: Duration = Duration::from_secs(30);

pub(crate) struct SledEngine {
    /// sled, behind a lock only [`Engine::reopen`] takes for writing.
    db: parking_lot::RwLock<Option<sled::Db>>,
    dir: PathBuf,
    /// The event count when sled last wrote its recovery snapshot (when it was opened).
    snapshot_at: AtomicU64,
}

/// sled, borrowed for one call.
struct DbGuard<'a>(parking_lot::RwLockReadGuard<'a, Option<sled::Db>>);

impl std::ops::Deref for DbGuard<'_> {
    type Target = sled::Db;
    fn deref(&self) -> &sled::Db {
        self.0
            .as_ref()
            .expect("sled is open except inside reopen, which holds the lock")
    }
}

/// An iterator over sled that keeps sled borrowed while it lives.
struct Guarded<'a, I> {
    _db: DbGuard<'a>,
    iter: I,
}

impl<I: Iterator> Iterator for Guarded<'_, I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.iter.next()
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        StoreError::Engine {
            damage: is_damage(&e),
            detail: describe(&e),
        }
    }
}

impl SledEngine {
    pub(crate) fn open(dir: &Path) -> Result<SledEngine, StoreError> {
        let db = open_sled(dir, LOCK_WAIT)?;
        let events = stored_log_len(&db)?;
        Ok(SledEngine {
            db: parking_lot::RwLock::new(Some(db)),
            dir: dir.to_path_buf(),
            snapshot_at: AtomicU64::new(events),
        })
    }

    fn db(&self) -> DbGuard<'_> {
        DbGuard(self.db.read_recursive())
    }
}

impl Engine for SledEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Sled
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        Ok(self.db().get(key)?.map(Bytes::Sled))
    }

    fn scan(&self, prefix: &[u8], from: &[u8]) -> Entries<'_> {
        let db = self.db();
        let prefix = prefix.to_vec();
        let start = from.max(prefix.as_slice()).to_vec();
        let iter = db
            .range(start..)
            .take_while(move |kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(|kv| {
                kv.map(|(k, v)| (Bytes::Sled(k), Bytes::Sled(v)))
                    .map_err(StoreError::from)
            });
        Box::new(Guarded { _db: db, iter })
    }

    fn scan_all(&self) -> Entries<'_> {
        let db = self.db();
        let iter = db.iter().map(|kv| {
            kv.map(|(k, v)| (Bytes::Sled(k), Bytes::Sled(v)))
                .map_err(StoreError::from)
        });
        Box::new(Guarded { _db: db, iter })
    }

    fn write(&self, batch: Batch, durable: bool) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        let db = self.db();
        db.apply_batch(b)?;
        if durable {
            db.flush()?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db().flush()?;
        Ok(())
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.db().is_empty())
    }

    fn size_on_disk(&self) -> u64 {
        self.db().size_on_disk().unwrap_or(0)
    }

    /// Closes and re-opens sled so that it writes its recovery snapshot. Waits for
    /// every call using sled to end and holds the others back until sled is open
    /// again; call it between batches. Returns how long sled was closed.
    fn reopen(&self) -> Result<Option<Duration>, StoreError> {
        let mut db = self.db.write();
        let started = Instant::now();
        // Read through the write guard: a read through `self.db()` would wait for it.
        let events = match db.as_ref() {
            Some(open) => {
                open.flush()?;
                stored_log_len(open)?
            }
            None => 0,
        };
        *db = None;
        // Nothing else holds sled's file lock, since every handle lives under this lock.
        *db = Some(open_sled(&self.dir, REOPEN_LOCK_WAIT)?);
        self.snapshot_at.store(events, Ordering::Relaxed);
        Ok(Some(started.elapsed()))
    }

    fn reopened_at(&self) -> Option<u64> {
        Some(self.snapshot_at.load(Ordering::Relaxed))
    }
}

/// Opens sled in `dir` with the tracker's settings, waiting up to `wait` for a file
/// lock being released before calling the directory in use.
fn open_sled(dir: &Path, wait: Duration) -> Result<sled::Db, StoreError> {
    let d = dir.display().to_string();
    let config = sled::Config::new().path(dir).cache_capacity(CACHE_BYTES);
    let give_up = Instant::now() + wait;
    loop {
        let opened = catching_panics(|| config.open()).map_err(|panic| StoreError::Damaged {
            dir: d.clone(),
            detail: format!("sled panicked opening it: {panic}"),
        })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_error(&e) && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if is_lock_error(&e) => return Err(StoreError::Locked { dir: d }),
            Err(e) if is_damage(&e) => {
                return Err(StoreError::Damaged {
                    dir: d,
                    detail: describe(&e),
                })
            }
            Err(other) => {
                return Err(StoreError::Open {
                    dir: d,
                    detail: describe(&other),
                })
            }
        }
    }
}

/// The event count stored in an open sled (0 for a new store).
fn stored_log_len(db: &sled::Db) -> Result<u64, StoreError> {
    match db.get(keys::META_LOG_LEN)? {
        Some(v) => decode_u64(keys::META_LOG_LEN, &v),
        None => Ok(0),
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io)
        if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock"))
}

/// What a damage error of sled's says, without its empty backtrace.
fn describe(e: &sled::Error) -> String {
    match e {
        sled::Error::Corruption { at: Some(at), .. } => {
            format!("sled found corrupt data at {at:?}")
        }
        sled::Error::Corruption { .. } => "sled found corrupt data".into(),
        other => format!("sled: {other}"),
    }
}

/// Whether a sled error on opening or reading is damage to its files rather than the
/// environment (the lock, permissions, a full disk).
fn is_damage(e: &sled::Error) -> bool {
    match e {
        sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => true,
        sled::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    }
}
