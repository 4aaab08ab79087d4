//! The evidence behind a figure from the store (contract v3 section 12): one LPA's
//! logged shifts or abstractions, folded entity by entity into the entries of
//! `domain::evidence`, with each listed event's stream sequence from the id index.
//! Shared by the HTTP API and `explain --data-dir`.
//!
//! The evidence index (store format 6: `x/<lpa>/<YYYY-MM>/<s|a>/<entity>` and
//! `p/<lpa>/<abstraction>`, written at ingest in the event's batch) names the entities
//! an LPA-month or the open list can list; each is read with one prefix scan of its
//! log (`l/<lpa>/<s|a>/<entity>/`) and folded, and the fold, not the index, decides
//! whether and how it is listed. On a store upgraded from an earlier format, until the
//! rebuild that derives the index has run, every logged entity of the LPA is scanned
//! instead (docs/BENCHMARKS.md has both costs).

use crate::domain::calendar::Month;
use crate::domain::evidence::{
    shift_entry, sort_abstractions, sort_shifts, AbstractionEntry, AbstractionList, EventRef,
    FoldedAbstraction, ShiftList, Stored,
};
use crate::domain::fold::{EntityKind, Rules};
use crate::domain::reference::Reference;
use crate::store::keys::parse_log_key;
use crate::store::{Store, StoreError};
use crate::wire::decode::decode_stored;

/// Calls `f(entity id, its stored events)` for every logged entity of `kind` in `lpa`.
/// A logged event that no longer decodes is left out of its entity, as `rebuild` folds
/// it (it is marked and shown in the report's data-quality section).
fn each_entity(
    store: &Store,
    lpa: &str,
    kind: EntityKind,
    mut f: impl FnMut(&str, &[Stored]),
) -> Result<(), StoreError> {
    let mut current: Option<String> = None;
    let mut events: Vec<Stored> = Vec::new();
    for kv in store.log_of(lpa, kind) {
        let (key, raw) = kv?;
        let Some((_, id, _)) = parse_log_key(key.as_bytes()) else {
            return Err(StoreError::Corrupt(format!("bad log key {key}")));
        };
        if current.as_deref() != Some(id) {
            if let Some(done) = current.take() {
                f(&done, &events);
            }
            events.clear();
            current = Some(id.to_string());
        }
        if let Ok(env) = decode_stored(&raw) {
            events.push(Stored {
                env,
                // Looked up only for the entities listed (see `with_sequences`).
                stream_sequence: None,
            });
        }
    }
    if let Some(done) = current {
        f(&done, &events);
    }
    Ok(())
}

/// Calls `f(entity id, its stored events)` for each of `ids` (of `kind` in `lpa`), or,
/// with no `ids` (no complete index), for every logged entity of `kind` in `lpa`.
fn each_of(
    store: &Store,
    lpa: &str,
    kind: EntityKind,
    ids: Option<Vec<String>>,
    mut f: impl FnMut(&str, &[Stored]),
) -> Result<(), StoreError> {
    let Some(ids) = ids else {
        return each_entity(store, lpa, kind, f);
    };
    let mut events: Vec<Stored> = Vec::new();
    store.each_listed_log(lpa, kind, &ids, |id, raws| {
        events.clear();
        events.extend(raws.iter().filter_map(|raw| {
            decode_stored(raw).ok().map(|env| Stored {
                env,
                stream_sequence: None,
            })
        }));
        f(id, &events);
    })
}

/// The entities of `kind` the index lists in `lpa`'s `month`, when it is complete.
fn listed_in(
    store: &Store,
    lpa: &str,
    month: Month,
    kind: EntityKind,
) -> Result<Option<Vec<String>>, StoreError> {
    Ok(match store.listing_ready()? {
        true => Some(store.listed_in(lpa, month, kind)?),
        false => None,
    })
}

/// Fills in the stream sequence of each listed event from the id index.
fn with_sequences(store: &Store, events: &mut [EventRef]) -> Result<(), StoreError> {
    for e in events {
        e.stream_sequence = store.stream_sequence(&e.event_id)?;
    }
    Ok(())
}

fn rules(reference: &Reference) -> Rules {
    Rules::from(&reference.limits)
}

/// Every abstraction behind `lpa`'s `month`.
pub fn month_abstractions(
    store: &Store,
    reference: &Reference,
    lpa: &str,
    month: Month,
) -> Result<AbstractionList, StoreError> {
    let rules = rules(reference);
    let mut out: Vec<AbstractionEntry> = Vec::new();
    let kind = EntityKind::Abstraction;
    let ids = listed_in(store, lpa, month, kind)?;
    each_of(store, lpa, kind, ids, |id, events| {
        if let Some(e) =
            FoldedAbstraction::fold(id, events, reference, &rules).and_then(|f| f.for_month(month))
        {
            out.push(e);
        }
    })?;
    for e in &mut out {
        with_sequences(store, &mut e.events)?;
    }
    sort_abstractions(&mut out);
    Ok(AbstractionList {
        lpa: lpa.to_string(),
        month: Some(month),
        abstractions: out,
    })
}

/// Every shift behind `lpa`'s `month`.
pub fn month_shifts(
    store: &Store,
    reference: &Reference,
    lpa: &str,
    month: Month,
) -> Result<ShiftList, StoreError> {
    let rules = rules(reference);
    let mut out = Vec::new();
    let ids = listed_in(store, lpa, month, EntityKind::Shift)?;
    each_of(store, lpa, EntityKind::Shift, ids, |id, events| {
        if let Some(e) = shift_entry(id, events, &rules, month) {
            out.push(e);
        }
    })?;
    for e in &mut out {
        with_sequences(store, &mut e.events)?;
    }
    sort_shifts(&mut out);
    Ok(ShiftList {
        lpa: lpa.to_string(),
        month,
        shifts: out,
    })
}

/// Every abstraction of `lpa` open at `now_ms` (the clock's now), oldest start first.
pub fn open_abstractions(
    store: &Store,
    reference: &Reference,
    lpa: &str,
    now_ms: i64,
) -> Result<AbstractionList, StoreError> {
    let rules = rules(reference);
    let mut out: Vec<AbstractionEntry> = Vec::new();
    let ids = match store.listing_ready()? {
        true => Some(store.maybe_open(lpa)?),
        false => None,
    };
    each_of(store, lpa, EntityKind::Abstraction, ids, |id, events| {
        if let Some(e) =
            FoldedAbstraction::fold(id, events, reference, &rules).and_then(|f| f.open_at(now_ms))
        {
            out.push(e);
        }
    })?;
    for e in &mut out {
        with_sequences(store, &mut e.events)?;
    }
    sort_abstractions(&mut out);
    Ok(AbstractionList {
        lpa: lpa.to_string(),
        month: None,
        abstractions: out,
    })
}
