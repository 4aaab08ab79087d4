//! The projector: applies validated events to the store, one batch at a time. Per event
//! it loads what the fold needs (the entity's stored events, then the current values of
//! the read models the change touches), takes the change from the pure fold
//! ([`EntityState::step`]) and writes it back through a [`Kv`] at the end of the batch.
//!
//! With the read models it keeps the evidence index: where the evidence lists each
//! entity the batch touched ([`listing`] of its state), written as the change from
//! where it was listed when the batch loaded it, in the same atomic batch as the event.
//!
//! The store owns the key layout ([`crate::store::keys`]); the projector names stored
//! things by domain values only.

use crate::domain::event::Envelope;
use crate::domain::fold::{entity_of, EntityId, EntityState, Rules};
use crate::domain::listing::{listing, Listing};
use crate::domain::readmodel::{Delta, ReadModels};
use crate::domain::reject::{Rejection, Unreadable};
use crate::store::{Kv, KvResult};
use crate::wire::decode::{decode_stored, same_content};
use std::collections::hash_map::{Entry, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// The same event was stored before: nothing changes.
    Duplicate,
    /// The `event_id` was stored before with different content.
    Conflict,
}

/// Checks the id index, appends to the log and folds one event, writing everything
/// back at once. Batches use a [`Projector`] instead, which decodes each read model once
/// per batch rather than once per event.
pub fn ingest(kv: &mut impl Kv, raw: &[u8], env: &Envelope) -> KvResult<Outcome> {
    let mut p = Projector::default();
    let outcome = p.ingest(kv, raw, env)?;
    p.write(kv);
    Ok(outcome)
}

/// The decoded events of one entity, as stored, and those that no longer decode.
///
/// An unreadable event does not stop ingestion for every LPA: the door accepts only what
/// [`decode_stored`] reads, so one can only come from a future bug or a damaged disk. It
/// is marked ([`Unreadable`]) where the data-quality section and a metric show it; live
/// ingestion holds its entity's figures as they were, and `rebuild` folds the entity
/// from its readable events, until the cause is fixed and the store rebuilt (or
/// `serve --recover` re-reads the stream).
pub fn stored_events(
    kv: &impl Kv,
    lpa: &str,
    id: &EntityId,
) -> KvResult<(Vec<Envelope>, Vec<Unreadable>)> {
    let mut events = Vec::new();
    let mut unreadable = Vec::new();
    for (event_id, raw) in kv.entity_events_with_ids(lpa, id)? {
        match decode_stored(&raw) {
            Ok(env) => events.push(env),
            Err(r) => unreadable.push(unreadable_of(lpa, id, event_id, &r)),
        }
    }
    Ok((events, unreadable))
}

/// The mark of a logged event of `id` that `decode_stored` refused with `why`.
pub fn unreadable_of(lpa: &str, id: &EntityId, event_id: String, why: &Rejection) -> Unreadable {
    let (kind, entity_id) = match id {
        EntityId::Shift(s) => ("shift", s),
        EntityId::Abstraction(a) => ("abstraction", a),
    };
    Unreadable {
        lpa: lpa.to_owned(),
        entity_kind: kind.to_owned(),
        entity_id: entity_id.clone(),
        event_id,
        // The code and the reader's words, which name a field or position, not a value.
        why: why.to_string(),
    }
}

/// Applies many events over a [`Kv`], holding the entity states and read models it
/// touches decoded in memory until [`Projector::write`]. Log and id-index writes go to
/// the `Kv` at once (later reads in the same batch must see them).
#[derive(Default)]
pub struct Projector {
    /// The states of the entities this batch touched, by LPA and entity.
    entities: HashMap<(String, EntityId), EntityState>,
    /// The values of the read models this batch touched, its changes applied.
    models: ReadModels,
    log_len: Option<u64>,
    rules: Rules,
    /// Logged events this batch found unreadable (written as marks with the batch).
    unreadable: Vec<Unreadable>,
    /// The entities those belong to: their figures are held (see [`Projector::ingest`]).
    damaged: std::collections::HashSet<(String, EntityId)>,
    /// Where the evidence listed each touched entity before this batch (what the
    /// store's index holds for it), to write only what the batch changed.
    listed: HashMap<(String, EntityId), Listing>,
}

impl Projector {
    /// A projector folding by `rules` (the reference data's limits); `default()` folds
    /// by the default limits.
    pub fn with_rules(rules: Rules) -> Projector {
        Projector {
            rules,
            ..Projector::default()
        }
    }

    /// As [`Projector::ingest_from`] with no stream sequence (tests, benches, fuzzing).
    pub fn ingest(&mut self, kv: &mut impl Kv, raw: &[u8], env: &Envelope) -> KvResult<Outcome> {
        self.ingest_from(kv, raw, env, None)
    }

    /// Checks the id index, folds and logs one event, keeping `stream_sequence` (the
    /// events-stream sequence of the message it came in) with it in the id index. A
    /// redelivery is not stored again, so an event keeps the sequence it was stored from.
    pub fn ingest_from(
        &mut self,
        kv: &mut impl Kv,
        raw: &[u8],
        env: &Envelope,
        stream_sequence: Option<u64>,
    ) -> KvResult<Outcome> {
        if kv.has_event_id(&env.event_id)? {
            // Same content means same entity, so a stored id missing from this event's
            // entity was stored with different content.
            return Ok(match kv.logged(env)? {
                Some(stored) if same_content(&stored, raw) => Outcome::Duplicate,
                _ => Outcome::Conflict,
            });
        }
        let len = match self.log_len {
            Some(n) => n,
            None => kv.log_len()?,
        };
        // Fold before logging: the entity's earlier events are read from the log.
        let rules = self.rules;
        let delta = self.entity(kv, env)?.step(env, &rules);
        // An entity with an unreadable logged event keeps the figures it last had: what
        // the read models hold for it came from that event, and the change cannot be
        // computed without it. The event is still logged, so a rebuild after the repair
        // counts it.
        if !self
            .damaged
            .contains(&(env.lpa.clone(), entity_of(&env.event)))
        {
            self.apply(kv, delta)?;
        }
        kv.append_event_from(env, raw, stream_sequence);
        self.log_len = Some(len + 1);
        Ok(Outcome::Applied)
    }

    /// The state of `env`'s entity, folded from its stored events on first use in this
    /// batch.
    fn entity(&mut self, kv: &impl Kv, env: &Envelope) -> KvResult<&mut EntityState> {
        Ok(
            match self
                .entities
                .entry((env.lpa.clone(), entity_of(&env.event)))
            {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let (lpa, id) = e.key();
                    let (prior, unreadable) = stored_events(kv, lpa, id)?;
                    if !unreadable.is_empty() {
                        self.damaged.insert(e.key().clone());
                        self.unreadable.extend(unreadable);
                    }
                    let state = EntityState::from_events(id, &prior);
                    self.listed.insert(e.key().clone(), listing(&state));
                    e.insert(state)
                }
            },
        )
    }

    /// Adds a change to the read models, loading the current value of each one it
    /// touches on first use in this batch.
    pub fn apply(&mut self, kv: &impl Kv, delta: Delta) -> KvResult<()> {
        let m = &mut self.models;
        for k in delta.lpa_months.keys() {
            if !m.lpa_months.contains_key(k) {
                m.lpa_months
                    .insert(k.clone(), kv.lpa_month(&k.lpa, k.month)?);
            }
        }
        for k in delta.sector_months.keys() {
            if !m.sector_months.contains_key(k) {
                let v = kv.sector_month(&k.lpa, k.month, &k.sector)?;
                m.sector_months.insert(k.clone(), v);
            }
        }
        for k in delta.officers.keys() {
            if !m.officers.contains_key(k) {
                let n = kv.officer_count(&k.lpa, k.month, &k.officer_id)?;
                m.officers.insert(k.clone(), n);
            }
        }
        for k in delta.lpa_days.keys() {
            if !m.lpa_days.contains_key(k) {
                m.lpa_days.insert(k.clone(), kv.lpa_day(&k.lpa, k.day)?);
            }
        }
        m.apply(delta);
        Ok(())
    }

    /// The LPA-months whose read models this batch changed.
    pub fn touched_lpa_months(&self) -> Vec<(String, crate::domain::calendar::Month)> {
        self.models
            .lpa_months
            .keys()
            .map(|k| (k.lpa.clone(), k.month))
            .collect()
    }

    /// The logged events this batch found unreadable and left out of their entities' folds.
    pub fn unreadable(&self) -> &[Unreadable] {
        &self.unreadable
    }

    /// Writes the event count, every touched read model (the store deletes empty
    /// ones, so the stored bytes are canonical), the marks of unreadable events and the
    /// evidence index entries of the entities whose listing changed.
    pub fn write(self, kv: &mut impl Kv) {
        let unlisted = Listing::default();
        for (k, state) in &self.entities {
            let after = listing(state);
            let before = self.listed.get(k).unwrap_or(&unlisted);
            if after != *before {
                kv.put_listing(&k.0, &k.1, before, &after);
            }
        }
        for u in &self.unreadable {
            kv.mark_unreadable(u);
        }
        if let Some(n) = self.log_len {
            kv.set_log_len(n);
        }
        for (k, v) in &self.models.lpa_months {
            kv.put_lpa_month(&k.lpa, k.month, v);
        }
        for (k, v) in &self.models.sector_months {
            kv.put_sector_month(&k.lpa, k.month, &k.sector, v);
        }
        for (k, n) in &self.models.officers {
            kv.put_officer_count(&k.lpa, k.month, &k.officer_id, *n);
        }
        for (k, v) in &self.models.lpa_days {
            kv.put_lpa_day(&k.lpa, k.day, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reference::Reference;
    use crate::store::Store;
    use crate::wire::decode::Validator;
    use std::collections::BTreeMap;

    /// A one-shot `abstraction.recorded` in Dudley.
    fn rec(id: &str, abs: &str, reason: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","type":"abstraction.recorded","schema_version":1,
            "occurred_at":"2024-03-14T08:05:00Z","source":"t","lpa":"dudley",
            "data":{{"abstraction_id":"{abs}","officer_id":"o-1","role":"pc","sector":"x",
            "reason":"{reason}","scope":"lpa","planned":false,
            "start":"2024-03-14T08:00:00Z","end":"2024-03-14T10:00:00Z"}}}}"#
        )
    }

    #[test]
    fn duplicates_change_nothing_and_conflicts_are_caught() {
        let v = Validator::new(Reference::west_midlands());
        let mut kv = BTreeMap::new();
        let a = rec("e1", "a1", "response_cover");
        let env = v.decode(a.as_bytes()).unwrap();
        assert_eq!(
            ingest(&mut kv, a.as_bytes(), &env).unwrap(),
            Outcome::Applied
        );
        let snapshot = kv.clone();
        assert_eq!(
            ingest(&mut kv, a.as_bytes(), &env).unwrap(),
            Outcome::Duplicate
        );
        assert_eq!(kv, snapshot);
        let b = rec("e1", "a1", "court");
        let env_b = v.decode(b.as_bytes()).unwrap();
        assert_eq!(
            ingest(&mut kv, b.as_bytes(), &env_b).unwrap(),
            Outcome::Conflict
        );
        assert_eq!(kv, snapshot);
    }

    /// Over sled with the Bloom filters loaded (as `serve` does), a reopened store still
    /// recognises every stored id: duplicates and reused ids, in the same entity or
    /// another.
    #[test]
    fn a_reopened_store_with_filters_catches_duplicates_and_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let v = Validator::new(Reference::west_midlands());
        let apply = |store: &Store, raw: &str| {
            let env = v.decode(raw.as_bytes()).unwrap();
            let mut c = store.begin();
            let out = ingest(&mut c, raw.as_bytes(), &env).unwrap();
            c.commit(true).unwrap();
            out
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store.load_filters().unwrap();
            for i in 0..200 {
                let e = rec(&format!("e{i}"), &format!("a{i}"), "response_cover");
                assert_eq!(apply(&store, &e), Outcome::Applied);
            }
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_filters().unwrap(), 200);
        assert_eq!(store.log_len().unwrap(), 200);
        let first = rec("e7", "a7", "response_cover");
        assert_eq!(apply(&store, &first), Outcome::Duplicate);
        assert_eq!(apply(&store, &rec("e7", "a7", "court")), Outcome::Conflict);
        assert_eq!(
            apply(&store, &rec("e7", "a8", "response_cover")),
            Outcome::Conflict
        );
        assert_eq!(
            apply(&store, &rec("e9000", "a7", "court")),
            Outcome::Applied
        );
        assert_eq!(store.log_len().unwrap(), 201);
    }
}
