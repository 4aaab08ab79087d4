//! `rebuild`: clears every derived key and re-derives it from the event log.
//! The store is marked mid-rebuild until it finishes, so an interrupted rebuild is
//! noticed (serve refuses to start) rather than served.
//!
//! The log is keyed by LPA and entity, so each entity's events are consecutive: an
//! entity is folded once from them in memory, its contribution added to read models held
//! in memory, and only those read models are written. Each LPA's shifts and abstractions
//! are folded as separate parts, shared out between threads (one per core), and the
//! parts' read models are summed before they are written.

use crate::domain::fold::{entity_of, EntityState};
use crate::project::projector::{entity_prefix_of_log_key, Projector};
use crate::store::{Store, StoreError};
use crate::wire::decode::{decode_stored, Validator};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
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
    // Shifts outnumber abstractions, so their parts go first: the big parts start early
    // and the small ones even out the threads at the end.
    let units: VecDeque<(String, Vec<u8>)> = ["s", "a"]
        .iter()
        .flat_map(|kind| lpas.iter().map(move |l| (l.clone(), kind_prefix(l, kind))))
        .collect();
    let queue = Mutex::new(units);
    let folded: Mutex<HashMap<String, Projector>> = Mutex::default();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let total = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0;
                    loop {
                        let Some((lpa, prefix)) = queue.lock().expect("queue").pop_front() else {
                            break;
                        };
                        let (p, k) = fold_part(store, &lpa, &prefix, &progress)?;
                        n += k;
                        match folded.lock().expect("results").entry(lpa) {
                            Entry::Occupied(mut e) => e.get_mut().merge(p),
                            Entry::Vacant(e) => {
                                e.insert(p);
                            }
                        }
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
    for (_, projector) in folded.into_inner().expect("results") {
        let mut models = BTreeMap::new();
        projector.write(&mut models);
        store.put_all(models)?;
    }
    store.finish_rebuild()?;
    Ok(total)
}

fn kind_prefix(lpa: &str, kind: &str) -> Vec<u8> {
    format!("l/{lpa}/{kind}/").into_bytes()
}

/// Folds every entity under `prefix` (one LPA's shifts or abstractions) into read-model
/// changes held in a projector.
fn fold_part(
    store: &Store,
    lpa: &str,
    prefix: &[u8],
    progress: &impl Fn(u64),
) -> Result<(Projector, u64), RebuildError> {
    // Empty: every derived key was cleared, so the projector's reads all miss.
    let empty = BTreeMap::new();
    let mut projector = Projector::default();
    let mut entity: Option<EntityState> = None;
    let mut current: Vec<u8> = Vec::new();
    let mut n = 0u64;
    for kv in store.log_under(prefix) {
        let (key, raw) = kv?;
        let this = entity_prefix_of_log_key(&key);
        if this != current.as_slice() {
            if let Some(state) = entity.take() {
                projector.add_entity(&empty, lpa, &state)?;
            }
            current = this.to_vec();
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
        projector.add_entity(&empty, lpa, &state)?;
    }
    progress(n % STEP);
    Ok((projector, n))
}
