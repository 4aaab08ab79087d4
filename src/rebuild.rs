//! `rebuild`: clears every derived key and re-derives it from the event log.
//! The store is marked mid-rebuild until it finishes, so an interrupted rebuild is
//! noticed (serve refuses to start) rather than served.

use crate::domain::event::Validator;
use crate::projection;
use crate::store::{Store, StoreError};

/// Events folded per store batch: bounds memory, keeps batches large.
const CHUNK: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored event {index} no longer validates ({reason}); was the reference data changed to drop an LPA or reason?")]
    Invalid { index: u64, reason: String },
}

/// Returns the number of events re-applied.
pub fn rebuild(
    store: &Store,
    validator: &Validator,
    mut progress: impl FnMut(u64),
) -> Result<u64, RebuildError> {
    store.start_rebuild()?;
    let mut commit = store.begin();
    let mut projector = projection::Projector::default();
    let mut n = 0u64;
    let mut in_chunk = 0;
    for raw in store.log() {
        let raw = raw?;
        let env = validator.decode(&raw).map_err(|r| RebuildError::Invalid {
            index: n,
            reason: r.to_string(),
        })?;
        projector.fold(&mut commit, &env)?;
        n += 1;
        in_chunk += 1;
        if in_chunk == CHUNK {
            std::mem::take(&mut projector).write(&mut commit);
            std::mem::replace(&mut commit, store.begin()).commit(false)?;
            progress(in_chunk as u64);
            in_chunk = 0;
        }
    }
    projector.write(&mut commit);
    commit.commit(false)?;
    progress(in_chunk as u64);
    store.finish_rebuild()?;
    Ok(n)
}
