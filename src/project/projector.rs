//! Projection: applies one validated event to keyed state (event log, id index, read
//! models) through the small [`Kv`] interface.
//!
//! It owns the key layout; `store` owns sled. Keeping the projection behind `Kv` lets the
//! same code run over sled in production and over a `BTreeMap` in property tests.
//!
//! Every key starts with a one-letter family; all but the id index and meta are scoped by
//! LPA first, so a projector can own a subset of LPAs:
//!
//! | key | value |
//! |---|---|
//! | `l/<lpa>/s/<shift_id>/<event_id>`, `l/<lpa>/a/<abstraction_id>/<event_id>` | raw event bytes, append-only |
//! | `i/<event_id>` | empty: the id is stored (found in the log under its entity) |
//! | `a/<lpa>/<YYYY-MM>` | [`LpaMonth`] (JSON) |
//! | `s/<lpa>/<YYYY-MM>/<sector>` | [`SectorMonth`] (JSON) |
//! | `n/<lpa>/<YYYY-MM>` | open abstractions that started that month (i64 BE): [`LpaMonth::open`] again, tiny, so a scrape can total "open now" over all history cheaply |
//! | `o/<lpa>/<YYYY-MM>/<officer_id>` | abstractions started that month (i64 BE) |
//! | `m/...` | format, event count, checkpoints, rejection tallies (not derived from the log) |
//!
//! The log is grouped by entity rather than by arrival: an entity's state is the fold
//! of its events, read back with one prefix scan, so no per-entity state is stored
//! (one write fewer per event) and `rebuild` folds each entity from consecutive keys
//! without writing anything but the read models. Codes and identifiers cannot contain
//! `/` (contract §2), so the separators are unambiguous.

use crate::domain::calendar::Month;
use crate::domain::event::Envelope;
use crate::domain::fold::{entity_of, Contribution, EntityId, EntityState};
use crate::domain::readmodel::{LpaMonth, SectorMonth};
use crate::wire::decode::{decode_stored, same_content};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

pub type KvResult<T> = Result<T, crate::store::StoreError>;

pub trait Kv {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>>;
    /// Values of every key starting with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> KvResult<Vec<Vec<u8>>>;
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn del(&mut self, key: Vec<u8>);
}

impl Kv for std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        Ok(std::collections::BTreeMap::get(self, key).cloned())
    }
    fn scan_prefix(&self, prefix: &[u8]) -> KvResult<Vec<Vec<u8>>> {
        Ok(self
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect())
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, value);
    }
    fn del(&mut self, key: Vec<u8>) {
        self.remove(&key);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// The same event was stored before: nothing changes.
    Duplicate,
    /// The `event_id` was stored before with different content.
    Conflict,
}

pub const LOG_PREFIX: &[u8] = b"l/";
pub const ID_PREFIX: &[u8] = b"i/";
/// How many events the log holds (the log itself is keyed by entity, not counted).
pub const META_LOG_LEN: &[u8] = b"m/log_len";
/// Families derived from the log, cleared and re-derived by `rebuild`.
pub const DERIVED_PREFIXES: [&[u8]; 4] = [b"a/", b"n/", b"s/", b"o/"];

/// `l/<lpa>/<s|a>/<id>/`: the log entries of one shift or abstraction.
pub fn entity_prefix(lpa: &str, id: &EntityId) -> Vec<u8> {
    match id {
        EntityId::Shift(s) => format!("l/{lpa}/s/{s}/"),
        EntityId::Abstraction(a) => format!("l/{lpa}/a/{a}/"),
    }
    .into_bytes()
}

/// The log key of an event: its entity's prefix and its `event_id`.
pub fn log_key(env: &Envelope) -> Vec<u8> {
    let mut k = entity_prefix(&env.lpa, &entity_of(&env.event));
    k.extend_from_slice(env.event_id.as_bytes());
    k
}

/// The entity part of a log key (up to and including the last `/`).
pub fn entity_prefix_of_log_key(key: &[u8]) -> &[u8] {
    match key.iter().rposition(|&b| b == b'/') {
        Some(i) => &key[..=i],
        None => key,
    }
}

/// The `<lpa>` of a log key.
pub fn lpa_of_log_key(key: &[u8]) -> Option<&str> {
    let rest = key.strip_prefix(LOG_PREFIX)?;
    let end = rest.iter().position(|&b| b == b'/')?;
    std::str::from_utf8(&rest[..end]).ok()
}

pub fn id_key(event_id: &str) -> Vec<u8> {
    format!("i/{event_id}").into_bytes()
}

pub fn lpa_month_key(lpa: &str, month: Month) -> Vec<u8> {
    format!("a/{lpa}/{month}").into_bytes()
}

pub fn open_prefix(lpa: &str) -> Vec<u8> {
    format!("n/{lpa}/").into_bytes()
}

pub fn sector_prefix(lpa: &str, month: Month) -> Vec<u8> {
    format!("s/{lpa}/{month}/").into_bytes()
}

pub fn officer_prefix(lpa: &str, month: Month) -> Vec<u8> {
    format!("o/{lpa}/{month}/").into_bytes()
}

pub fn read_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&v[..8]);
    u64::from_be_bytes(b)
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

/// An entity's state from its stored events (the values under its [`entity_prefix`]).
pub fn fold_entity(id: &EntityId, events: &[Vec<u8>]) -> KvResult<EntityState> {
    let mut state = EntityState::empty_for(id);
    for raw in events {
        let env = decode_stored(raw).map_err(|r| {
            crate::store::StoreError::Corrupt(format!("a stored event does not decode: {r}"))
        })?;
        state.apply(&env);
    }
    Ok(state)
}

/// Applies many events over a [`Kv`], holding the entity states and read models it
/// touches decoded in memory until [`Projector::write`]. Log and id-index writes go to
/// the `Kv` at once (later reads in the same batch must see them).
#[derive(Default)]
pub struct Projector {
    entities: HashMap<Vec<u8>, EntityState>,
    lpa_months: HashMap<Vec<u8>, LpaMonth>,
    sector_months: HashMap<Vec<u8>, SectorMonth>,
    officers: HashMap<Vec<u8>, i64>,
    log_len: Option<u64>,
}

impl Projector {
    pub fn ingest(&mut self, kv: &mut impl Kv, raw: &[u8], env: &Envelope) -> KvResult<Outcome> {
        let idk = id_key(&env.event_id);
        let lk = log_key(env);
        if kv.get(&idk)?.is_some() {
            // Same content means same entity, so a stored id missing from this event's
            // entity was stored with different content.
            return Ok(match kv.get(&lk)? {
                Some(stored) if same_content(&stored, raw) => Outcome::Duplicate,
                _ => Outcome::Conflict,
            });
        }
        let len = match self.log_len {
            Some(n) => n,
            None => kv.get(META_LOG_LEN)?.map(|v| read_u64(&v)).unwrap_or(0),
        };
        // Fold before logging: the entity's state is read from its logged events.
        self.fold(kv, env)?;
        kv.put(lk, raw.to_vec());
        kv.put(idk, Vec::new());
        self.log_len = Some(len + 1);
        Ok(Outcome::Applied)
    }

    /// Folds an event into its entity and replaces the entity's contribution. The
    /// entity's earlier events are read from the log on its first use in this batch.
    pub fn fold(&mut self, kv: &mut impl Kv, env: &Envelope) -> KvResult<()> {
        let id = entity_of(&env.event);
        let state = match self.entities.entry(entity_prefix(&env.lpa, &id)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let events = kv.scan_prefix(e.key())?;
                e.insert(fold_entity(&id, &events)?)
            }
        };
        let before = state.contribution(&env.lpa);
        state.apply(env);
        let after = state.contribution(&env.lpa);
        if before != after {
            self.apply_contribution(kv, &env.lpa, &before, -1)?;
            self.apply_contribution(kv, &env.lpa, &after, 1)?;
        }
        Ok(())
    }

    /// Adds a whole entity's contribution: what `rebuild` does per entity of the log.
    pub fn add_entity(&mut self, kv: &impl Kv, lpa: &str, state: &EntityState) -> KvResult<()> {
        self.apply_contribution(kv, lpa, &state.contribution(lpa), 1)
    }

    /// Adds another projector's read-model changes to this one's (`rebuild` folds parts
    /// of an LPA on different threads). Entity states are not merged.
    pub fn merge(&mut self, other: Projector) {
        for (k, v) in other.lpa_months {
            self.lpa_months.entry(k).or_default().merge(&v);
        }
        for (k, v) in other.sector_months {
            self.sector_months.entry(k).or_default().merge(&v);
        }
        for (k, n) in other.officers {
            *self.officers.entry(k).or_default() += n;
        }
    }

    /// Writes the event count and every touched read model; empty read models are
    /// deleted so the stored bytes are canonical.
    pub fn write(self, kv: &mut impl Kv) {
        if let Some(n) = self.log_len {
            kv.put(META_LOG_LEN.to_vec(), n.to_be_bytes().to_vec());
        }
        for (k, v) in self.lpa_months {
            let mut open_key = k.clone();
            open_key[0] = b'n';
            if v.open == 0 {
                kv.del(open_key);
            } else {
                kv.put(open_key, (v.open as u64).to_be_bytes().to_vec());
            }
            if v.is_empty() {
                kv.del(k);
            } else {
                kv.put(k, serde_json::to_vec(&v).expect("model serialises"));
            }
        }
        for (k, v) in self.sector_months {
            if v.is_empty() {
                kv.del(k);
            } else {
                kv.put(k, serde_json::to_vec(&v).expect("model serialises"));
            }
        }
        for (k, n) in self.officers {
            if n == 0 {
                kv.del(k);
            } else {
                kv.put(k, (n as u64).to_be_bytes().to_vec());
            }
        }
    }

    fn apply_contribution(
        &mut self,
        kv: &impl Kv,
        lpa: &str,
        c: &Contribution,
        sign: i64,
    ) -> KvResult<()> {
        for r in &c.rostered {
            cached(&mut self.lpa_months, kv, lpa_month_key(lpa, r.month))?.add_rostered(
                r.role,
                sign * r.ms,
                sign * r.count,
            );
            cached(
                &mut self.sector_months,
                kv,
                sector_key(lpa, r.month, &r.sector),
            )?
            .add_rostered(sign * r.ms, sign * r.count);
        }
        for a in &c.abstracted {
            cached(&mut self.lpa_months, kv, lpa_month_key(lpa, a.month))?.add_abstracted(a, sign);
            cached(
                &mut self.sector_months,
                kv,
                sector_key(lpa, a.month, &a.sector),
            )?
            .add_abstracted(&a.key.reason, sign * a.ms, sign * a.count);
        }
        for o in &c.open {
            cached(&mut self.lpa_months, kv, lpa_month_key(lpa, o.month))?.open += sign;
            cached(
                &mut self.sector_months,
                kv,
                sector_key(lpa, o.month, &o.sector),
            )?
            .open += sign;
        }
        for o in &c.officer {
            let mut key = officer_prefix(lpa, o.month);
            key.extend_from_slice(o.officer_id.as_bytes());
            let n = match self.officers.entry(key) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let n = kv.get(e.key())?.map(|v| read_u64(&v) as i64).unwrap_or(0);
                    e.insert(n)
                }
            };
            *n += sign;
        }
        Ok(())
    }
}

fn corrupt(e: serde_json::Error) -> crate::store::StoreError {
    crate::store::StoreError::Corrupt(e.to_string())
}

/// The decoded value under `key`, loaded from the `Kv` on first use in this batch.
fn cached<'m, T: serde::de::DeserializeOwned + Default>(
    map: &'m mut HashMap<Vec<u8>, T>,
    kv: &impl Kv,
    key: Vec<u8>,
) -> KvResult<&'m mut T> {
    Ok(match map.entry(key) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => {
            let v = match kv.get(e.key())? {
                Some(b) => serde_json::from_slice(&b).map_err(corrupt)?,
                None => T::default(),
            };
            e.insert(v)
        }
    })
}

fn sector_key(lpa: &str, month: Month, sector: &str) -> Vec<u8> {
    let mut k = sector_prefix(lpa, month);
    k.extend_from_slice(sector.as_bytes());
    k
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::reference::Reference;
    use crate::wire::decode::Validator;
    use std::collections::BTreeMap;

    /// A one-shot `abstraction.recorded` in Dudley (also used by `store`'s tests).
    pub(crate) fn rec(id: &str, abs: &str, reason: &str) -> String {
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
}
