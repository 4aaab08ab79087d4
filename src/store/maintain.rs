//! Engine upkeep `serve` asks for between batches: sled's recovery snapshot, written by
//! closing and re-opening it (the workaround lives in the sled adapter; see
//! `engine/sled.rs`). fjall needs none: there every call here is a no-op.

use super::{Store, StoreError};
use std::time::Duration;

/// How many events `serve` lets sled log before it has sled write a new recovery
/// snapshot ([`Store::snapshot`]): a restart then replays at most this much of sled's
/// log. Measured in docs/BENCHMARKS.md (restart of a 10M-event store).
pub const SNAPSHOT_EVERY: u64 = 1_000_000;

impl Store {
    /// Has an engine that needs it (sled) write its recovery snapshot by closing and
    /// re-opening it; call it between batches. Returns how long it was closed (zero on
    /// an engine that needs no re-open).
    pub fn snapshot(&self) -> Result<Duration, StoreError> {
        Ok(self.engine.reopen()?.unwrap_or_default())
    }

    /// [`Store::snapshot`] once `every` events have been stored since the engine last
    /// wrote one, and the filters are complete (their loading scans the store for
    /// minutes, and a re-open would wait for it). `None` when it was not due, and
    /// always on an engine that needs no re-open.
    pub fn snapshot_if_due(&self, every: u64) -> Result<Option<Duration>, StoreError> {
        if every == 0 || !self.filters_ready() || self.engine.reopened_at().is_none() {
            return Ok(None);
        }
        if self.events_since_snapshot()? < every {
            return Ok(None);
        }
        self.engine.reopen()
    }

    /// Events stored since the engine last wrote its recovery snapshot (0 on an engine
    /// that needs none).
    pub fn events_since_snapshot(&self) -> Result<u64, StoreError> {
        match self.engine.reopened_at() {
            Some(at) => Ok(self.log_len()?.saturating_sub(at)),
            None => Ok(0),
        }
    }
}
