//! `rebuild`: clears every derived key and re-derives it from the event log.
//! The store is marked mid-rebuild until it finishes, so an interrupted rebuild is
//! noticed (serve refuses to start) rather than served.
//!
//! The log is keyed by LPA and entity, so each entity's events are consecutive: an
//! entity is folded once from them in memory, its contribution added to read models held
//! in memory for its LPA, and only those read models are written. LPAs are independent,
//! so they are shared out between threads (one per core).

use crate::domain::event::{decode_stored, Validator};
use crate::domain::fold::{entity_of, EntityState};
use crate::projection::{entity_prefix_of_log_key, Projector};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Progress is reported in steps of this many events.
const STEP: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored event {key} no longer decodes ({reason})")]
    Invalid { key: String, reason: String },
    #[error("the log holds events for LPA {0:?}, which the reference data no longer lists; restore it in --reference (reports show only listed LPAs)")]
    UnknownLpa(String),
}

/// Returns the number of events re-applied.
pub fn rebuild(
    store: &Store,
    validator: &Validator,
    progress: impl Fn(u64) + Sync,
) -> Result<u64, RebuildError> {
    let lpas = store.log_lpas()?;
    if let Some(lpa) = lpas.iter().find(|l| validator.reference().lpa(l).is_none()) {
        return Err(RebuildError::UnknownLpa(lpa.clone()));
    }
    store.start_rebuild()?;
    let queue = Mutex::new(lpas);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let total = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0;
                    while let Some(lpa) = queue.lock().expect("queue").pop() {
                        n += rebuild_lpa(store, &lpa, &progress)?;
                    }
                    Ok::<u64, RebuildError>(n)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("rebuild worker panicked"))
            .sum::<Result<u64, RebuildError>>()
    })?;
    store.finish_rebuild()?;
    Ok(total)
}

fn rebuild_lpa(store: &Store, lpa: &str, progress: &impl Fn(u64)) -> Result<u64, RebuildError> {
    // Empty: every derived key was cleared, so the projector's reads all miss.
    let mut models = BTreeMap::new();
    let mut projector = Projector::default();
    let mut entity: Option<EntityState> = None;
    let mut prefix: Vec<u8> = Vec::new();
    let mut n = 0u64;
    for kv in store.log_of(lpa) {
        let (key, raw) = kv?;
        let this = entity_prefix_of_log_key(&key);
        if this != prefix.as_slice() {
            if let Some(state) = entity.take() {
                projector.add_entity(&models, lpa, &state)?;
            }
            prefix = this.to_vec();
        }
        let env = decode_stored(&raw).map_err(|r| RebuildError::Invalid {
            key: String::from_utf8_lossy(&key).into_owned(),
            reason: r.to_string(),
        })?;
        entity
            .get_or_insert_with(|| EntityState::empty_for(&entity_of(&env.event)))
            .apply(&env);
        n += 1;
        if n % STEP == 0 {
            progress(STEP);
        }
    }
    if let Some(state) = entity.take() {
        projector.add_entity(&models, lpa, &state)?;
    }
    projector.write(&mut models);
    store.put_all(models)?;
    progress(n % STEP);
    Ok(n)
}
