//! `rebuild`: clears every derived key and re-derives it from the event log.
//! The store is marked mid-rebuild until it finishes, so an interrupted rebuild is
//! noticed (serve refuses to start) rather than served.
//!
//! The log is keyed by LPA and entity, so each entity's events are consecutive: each
//! entity is folded once from them ([`EntityState::from_events`]) and its whole
//! contribution ([`EntityState::total`]) summed into one [`Delta`] per LPA, and its
//! evidence index entries ([`listing`]) written as it is folded. Each LPA's
//! shifts and abstractions are folded as separate parts, shared out between threads
//! (one per core), and the parts' deltas are summed. Each LPA's delta is then written
//! as live ingestion writes one: [`Projector::apply`] and [`Projector::write`] in a
//! store [`Commit`](crate::store::Commit).

use crate::domain::event::Envelope;
use crate::domain::fold::{entity_of, EntityId, EntityKind, EntityState, Rules};
use crate::domain::listing::{listing, Listing};
use crate::domain::readmodel::Delta;
use crate::domain::reject::Unreadable;
use crate::project::projector::unreadable_of;
use crate::project::projector::Projector;
use crate::store::keys;
use crate::store::{Kv, Store, StoreError};
use crate::wire::decode::{decode_stored, Validator};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Progress is reported in steps of this many events.
const STEP: u64 = 10_000;
/// Evidence index keys written per batch while a part is folded.
const INDEX_BATCH: usize = 20_000;

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
    let rules = Rules::from(&validator.reference().limits);
    store.start_rebuild()?;
    // Shifts outnumber abstractions, so their parts go first: the big parts start early
    // and the small ones even out the threads at the end.
    let units: VecDeque<(String, EntityKind)> = [EntityKind::Shift, EntityKind::Abstraction]
        .iter()
        .flat_map(|kind| lpas.iter().map(move |l| (l.clone(), *kind)))
        .collect();
    let queue = Mutex::new(units);
    let folded: Mutex<HashMap<String, Delta>> = Mutex::default();
    let marks: Mutex<Vec<Unreadable>> = Mutex::default();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let total = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0;
                    loop {
                        let Some((lpa, kind)) = queue.lock().expect("queue").pop_front() else {
                            break;
                        };
                        let (delta, k, bad) = fold_part(store, &lpa, kind, &rules, &progress)?;
                        n += k;
                        marks.lock().expect("marks").extend(bad);
                        match folded.lock().expect("results").entry(lpa) {
                            Entry::Occupied(mut e) => e.get_mut().apply(delta),
                            Entry::Vacant(e) => {
                                e.insert(delta);
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
    for (_, delta) in folded.into_inner().expect("results") {
        // The derived keys were cleared, so the projector loads empty values.
        let mut commit = store.begin();
        let mut projector = Projector::default();
        projector.apply(&commit, delta)?;
        projector.write(&mut commit);
        commit.commit(false)?;
    }
    let marks = marks.into_inner().expect("marks");
    if !marks.is_empty() {
        let mut commit = store.begin();
        for u in &marks {
            tracing::error!(lpa = %u.lpa, entity = %format!("{} {}", u.entity_kind, u.entity_id), event_id = %u.event_id, why = %u.why,
                "a stored event does not decode: its entity is rebuilt without it (see docs/runbook.md, AbstractionTrackerUnreadableStoredEvent)");
            commit.mark_unreadable(u);
        }
        commit.commit(false)?;
    }
    store.finish_rebuild(&rules)?;
    Ok(total)
}

/// Sums the contributions of every entity of one LPA's shifts or abstractions.
fn fold_part(
    store: &Store,
    lpa: &str,
    kind: EntityKind,
    rules: &Rules,
    progress: &impl Fn(u64),
) -> Result<(Delta, u64, Vec<Unreadable>), RebuildError> {
    let mut delta = Delta::default();
    let mut unreadable = Vec::new();
    // The events of the entity being read (an entity's keys are consecutive).
    let mut entity: Vec<Envelope> = Vec::new();
    // The evidence index entries of the entities folded so far, written in batches.
    let mut index = store.begin();
    let unlisted = Listing::default();
    let mut add = |delta: &mut Delta, events: &mut Vec<Envelope>| -> Result<(), StoreError> {
        if let Some(first) = events.first() {
            let id = entity_of(&first.event);
            let state = EntityState::from_events(&id, events.iter());
            delta.apply(state.total(lpa, rules));
            index.put_listing(lpa, &id, &unlisted, &listing(&state));
            events.clear();
            if index.len() >= INDEX_BATCH {
                std::mem::replace(&mut index, store.begin()).commit(false)?;
            }
        }
        Ok(())
    };
    let mut n = 0u64;
    for entry in store.log_of(lpa, kind) {
        let (key, raw) = entry?;
        let env = match decode_stored(&raw) {
            Ok(env) => env,
            Err(r) => {
                // Left out of its entity's fold and marked, as live ingestion does.
                let (kind, id, event_id) =
                    keys::parse_log_key(key.as_bytes()).ok_or_else(|| RebuildError::Invalid {
                        key: key.clone(),
                        reason: r.to_string(),
                    })?;
                let id = match kind {
                    EntityKind::Shift => EntityId::Shift(id.to_owned()),
                    EntityKind::Abstraction => EntityId::Abstraction(id.to_owned()),
                };
                unreadable.push(unreadable_of(lpa, &id, event_id.to_owned(), &r));
                n += 1;
                continue;
            }
        };
        if entity
            .first()
            .is_some_and(|first| entity_of(&first.event) != entity_of(&env.event))
        {
            add(&mut delta, &mut entity)?;
        }
        entity.push(env);
        n += 1;
        if n.is_multiple_of(STEP) {
            progress(STEP);
        }
    }
    add(&mut delta, &mut entity)?;
    index.commit(false)?;
    progress(n % STEP);
    Ok((delta, n, unreadable))
}
