//! sled's handle: opening it with the tracker's settings, the lock every store call
//! borrows it under, and closing and re-opening it so that sled writes its recovery
//! snapshot (sled 0.34 writes one only when it opens a store, and an open replays its
//! log since the last one).

use super::{integrity, keys, kv::decode_u64, Store, StoreError, CACHE_BYTES};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// sled, borrowed for one call (see [`Store::db`]).
pub(super) struct DbGuard<'a>(parking_lot::RwLockReadGuard<'a, Option<sled::Db>>);

impl std::ops::Deref for DbGuard<'_> {
    type Target = sled::Db;
    fn deref(&self) -> &sled::Db {
        self.0
            .as_ref()
            .expect("sled is open except inside Store::snapshot, which holds the lock")
    }
}

/// An iterator over sled that keeps sled borrowed while it lives.
pub(super) struct Guarded<'a, I> {
    pub(super) _db: DbGuard<'a>,
    pub(super) iter: I,
}

impl<I: Iterator> Iterator for Guarded<'_, I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.iter.next()
    }
}

/// How many events `serve` lets sled log before it has sled write a new recovery
/// snapshot ([`Store::snapshot`]): a restart then replays at most this much of sled's
/// log. Measured in docs/BENCHMARKS.md (restart of a 10M-event store).
pub const SNAPSHOT_EVERY: u64 = 1_000_000;

/// How long `open` waits for a lock that is being released.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(2);
/// How long a re-open ([`Store::snapshot`]) waits for the lock its own close releases.
const SNAPSHOT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Opens sled in `dir` with the tracker's settings. sled releases its file lock from a
/// background thread after the last handle is dropped (spacejam/sled#1234), so a
/// restart in the same process, or a new process right after the old one exited, can
/// find it held for a moment: it waits up to `wait` before calling the directory in use.
pub(super) fn open_sled(dir: &Path, wait: Duration) -> Result<sled::Db, StoreError> {
    let d = dir.display().to_string();
    let config = sled::Config::new().path(dir).cache_capacity(CACHE_BYTES);
    let give_up = Instant::now() + wait;
    loop {
        let opened =
            integrity::open_catching_panics(&config).map_err(|panic| StoreError::Damaged {
                dir: d.clone(),
                detail: format!("sled panicked opening it: {panic}"),
            })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_error(&e) && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if is_lock_error(&e) => return Err(StoreError::Locked { dir: d }),
            Err(e) if integrity::is_damage(&e) => {
                return Err(StoreError::Damaged {
                    dir: d,
                    detail: integrity::describe(&e),
                })
            }
            Err(other) => {
                return Err(StoreError::Open {
                    dir: d,
                    source: other,
                })
            }
        }
    }
}

/// The event count stored in an open sled (0 for a new store).
pub(super) fn stored_log_len(db: &sled::Db) -> Result<u64, StoreError> {
    match db.get(keys::META_LOG_LEN)? {
        Some(v) => decode_u64(keys::META_LOG_LEN, &v),
        None => Ok(0),
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io)
        if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock"))
}
impl Store {
    /// sled, for one call. The guard is recursive: a call may nest another while a
    /// re-open waits.
    pub(super) fn db(&self) -> DbGuard<'_> {
        DbGuard(self.db.read_recursive())
    }

    /// Has sled write its recovery snapshot by closing and re-opening it: sled 0.34
    /// writes one only when it opens a database, and at the next open replays its whole
    /// log since the last one (a 10M-event store written in one run took 52 s to open
    /// from a cold cache; docs/BENCHMARKS.md). Waits for every call using sled to end
    /// and holds the others back until sled is open again; call it between batches.
    /// Returns how long sled was closed.
    pub fn snapshot(&self) -> Result<Duration, StoreError> {
        let mut db = self.db.write();
        let started = Instant::now();
        // Read through the write guard: `self.log_len()` would wait for it.
        let events = match db.as_ref() {
            Some(open) => {
                open.flush()?;
                stored_log_len(open)?
            }
            None => 0,
        };
        *db = None;
        // sled lets go of its file lock on a thread of its own (spacejam/sled#1234);
        // nothing else holds it, since every sled handle lives under this lock.
        let reopened = open_sled(Path::new(&self.dir), SNAPSHOT_LOCK_WAIT)?;
        *db = Some(reopened);
        self.snapshot_at.store(events, Ordering::Relaxed);
        Ok(started.elapsed())
    }

    /// [`Store::snapshot`] once `every` events have been stored since sled last wrote
    /// one, and the filters are complete (their loading scans sled for minutes, and a
    /// re-open would wait for it). `None` when it was not due.
    pub fn snapshot_if_due(&self, every: u64) -> Result<Option<Duration>, StoreError> {
        if every == 0 || !self.filters_ready() {
            return Ok(None);
        }
        if self.events_since_snapshot()? < every {
            return Ok(None);
        }
        self.snapshot().map(Some)
    }

    /// Events stored since sled last wrote its recovery snapshot.
    pub fn events_since_snapshot(&self) -> Result<u64, StoreError> {
        Ok(self
            .log_len()?
            .saturating_sub(self.snapshot_at.load(Ordering::Relaxed)))
    }
}
