//! The key-value interface the projector reads and writes through, and the codecs of
//! stored values (read models as JSON, counters as u64 big-endian).
//!
//! A [`Commit`](super::Commit) implements it over the engine with an overlay; a `BTreeMap`
//! implements it in memory (benches, fuzzing). The provided methods name stored things
//! by domain values, so callers never handle key bytes.

use super::keys;
use super::StoreError;
use crate::domain::calendar::{Day, Month};
use crate::domain::event::Envelope;
use crate::domain::fold::{EntityId, EntityKind};
use crate::domain::listing::Listing;
use crate::domain::readmodel::{LpaDay, LpaMonth, SectorMonth};
use crate::domain::reject::Unreadable;
use std::collections::BTreeMap;

pub type KvResult<T> = Result<T, StoreError>;

pub trait Kv {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>>;
    /// Values of every key starting with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> KvResult<Vec<Vec<u8>>> {
        Ok(self
            .scan_prefix_pairs(prefix)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn del(&mut self, key: Vec<u8>);

    /// Whether an event with this id was stored (under any entity).
    fn has_event_id(&self, event_id: &str) -> KvResult<bool> {
        Ok(self.get(&keys::id_key(event_id))?.is_some())
    }

    /// The stored event with `env`'s id in `env`'s entity, if any.
    fn logged(&self, env: &Envelope) -> KvResult<Option<Vec<u8>>> {
        self.get(&keys::log_key(env))
    }

    /// The raw stored events of one entity, in key order.
    fn entity_events(&self, lpa: &str, id: &EntityId) -> KvResult<Vec<Vec<u8>>> {
        self.scan_prefix(&keys::entity_prefix(lpa, id))
    }

    /// The raw stored events of one entity with their event ids (from the log keys).
    fn entity_events_with_ids(&self, lpa: &str, id: &EntityId) -> KvResult<Vec<(String, Vec<u8>)>> {
        let prefix = keys::entity_prefix(lpa, id);
        Ok(self
            .scan_prefix_pairs(&prefix)?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), v))
            .collect())
    }

    /// Keys and values of every key starting with `prefix`, in key order.
    fn scan_prefix_pairs(&self, prefix: &[u8]) -> KvResult<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Marks a logged event that no longer decodes (its entity is folded without it).
    fn mark_unreadable(&mut self, u: &Unreadable) {
        let kind = if u.entity_kind == "shift" {
            EntityKind::Shift
        } else {
            EntityKind::Abstraction
        };
        let key = keys::unreadable_key(&u.lpa, kind, &u.entity_id, &u.event_id);
        self.put(key, serde_json::to_vec(u).expect("plain strings serialise"));
    }

    /// The unreadable logged events of `lpa`, in key order.
    fn unreadable(&self, lpa: &str) -> KvResult<Vec<Unreadable>> {
        let prefix = keys::unreadable_prefix(lpa);
        self.scan_prefix_pairs(&prefix)?
            .into_iter()
            .map(|(k, v)| decode_json(&k, &v))
            .collect()
    }

    /// Appends an event to the log and its id to the index, with no stream sequence.
    fn append_event(&mut self, env: &Envelope, raw: &[u8]) {
        self.append_event_from(env, raw, None);
    }

    /// Appends an event to the log and its id to the index; the index entry holds the
    /// events-stream sequence it was stored from, when known (store format 5), for the
    /// evidence behind a figure (contract v3 section 12).
    fn append_event_from(&mut self, env: &Envelope, raw: &[u8], stream_sequence: Option<u64>) {
        self.put(keys::log_key(env), raw.to_vec());
        self.put(
            keys::id_key(&env.event_id),
            encode_sequence(stream_sequence),
        );
    }

    /// The events-stream sequence a stored event was stored from: `None` when it is not
    /// stored, or was stored before the store kept sequences (format 4 and earlier).
    fn stream_sequence(&self, event_id: &str) -> KvResult<Option<u64>> {
        let key = keys::id_key(event_id);
        match self.get(&key)? {
            Some(v) => decode_sequence(&key, &v),
            None => Ok(None),
        }
    }

    /// How many events the log holds.
    fn log_len(&self) -> KvResult<u64> {
        read_counter(self, keys::META_LOG_LEN)
    }

    fn set_log_len(&mut self, n: u64) {
        self.put(keys::META_LOG_LEN.to_vec(), n.to_be_bytes().to_vec());
    }

    fn lpa_month(&self, lpa: &str, month: Month) -> KvResult<LpaMonth> {
        read_model(self, &keys::lpa_month_key(lpa, month))
    }

    fn lpa_day(&self, lpa: &str, day: Day) -> KvResult<LpaDay> {
        read_model(self, &keys::lpa_day_key(lpa, day))
    }

    fn put_lpa_day(&mut self, lpa: &str, day: Day, m: &LpaDay) {
        put_model(self, keys::lpa_day_key(lpa, day), m, m.is_empty());
    }

    fn sector_month(&self, lpa: &str, month: Month, sector: &str) -> KvResult<SectorMonth> {
        read_model(self, &keys::sector_key(lpa, month, sector))
    }

    fn officer_count(&self, lpa: &str, month: Month, officer_id: &str) -> KvResult<i64> {
        Ok(read_counter(self, &keys::officer_key(lpa, month, officer_id))? as i64)
    }

    /// Writes an LPA-month and its open count; empty values are deleted, so the stored
    /// bytes are a canonical function of the events.
    fn put_lpa_month(&mut self, lpa: &str, month: Month, m: &LpaMonth) {
        put_counter(self, keys::open_key(lpa, month), m.open);
        put_model(self, keys::lpa_month_key(lpa, month), m, m.is_empty());
    }

    fn put_sector_month(&mut self, lpa: &str, month: Month, sector: &str, m: &SectorMonth) {
        put_model(self, keys::sector_key(lpa, month, sector), m, m.is_empty());
    }

    fn put_officer_count(&mut self, lpa: &str, month: Month, officer_id: &str, n: i64) {
        put_counter(self, keys::officer_key(lpa, month, officer_id), n);
    }

    /// Moves `id`'s entries in the evidence index from `before` (what is stored) to
    /// `after`: the months it left and an open mark it lost are deleted, new ones put.
    fn put_listing(&mut self, lpa: &str, id: &EntityId, before: &Listing, after: &Listing) {
        let (kind, entity) = match id {
            EntityId::Shift(s) => (EntityKind::Shift, s),
            EntityId::Abstraction(a) => (EntityKind::Abstraction, a),
        };
        for m in before.months.iter().filter(|m| !after.months.contains(m)) {
            self.del(keys::listed_key(lpa, *m, kind, entity));
        }
        for m in after.months.iter().filter(|m| !before.months.contains(m)) {
            self.put(keys::listed_key(lpa, *m, kind, entity), Vec::new());
        }
        if before.open != after.open {
            let key = keys::maybe_open_key(lpa, entity);
            if after.open {
                self.put(key, Vec::new());
            } else {
                self.del(key);
            }
        }
    }
}

fn read_model<T: serde::de::DeserializeOwned + Default>(
    kv: &(impl Kv + ?Sized),
    key: &[u8],
) -> KvResult<T> {
    match kv.get(key)? {
        Some(v) => decode_json(key, &v),
        None => Ok(T::default()),
    }
}

fn read_counter(kv: &(impl Kv + ?Sized), key: &[u8]) -> KvResult<u64> {
    match kv.get(key)? {
        Some(v) => decode_u64(key, &v),
        None => Ok(0),
    }
}

fn put_model<T: serde::Serialize>(kv: &mut (impl Kv + ?Sized), key: Vec<u8>, m: &T, empty: bool) {
    if empty {
        kv.del(key);
    } else {
        kv.put(key, serde_json::to_vec(m).expect("read models serialise"));
    }
}

/// Counters are stored as u64; zero is stored as no key.
fn put_counter(kv: &mut (impl Kv + ?Sized), key: Vec<u8>, n: i64) {
    if n == 0 {
        kv.del(key);
    } else {
        kv.put(key, (n as u64).to_be_bytes().to_vec());
    }
}

/// A stored counter: exactly 8 bytes, big-endian.
pub(super) fn decode_u64(key: &[u8], v: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = v.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "{} holds {} bytes where a counter of 8 was expected",
            String::from_utf8_lossy(key),
            v.len()
        ))
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// An id-index value: the stream sequence as u64 BE, or empty when unknown.
fn encode_sequence(seq: Option<u64>) -> Vec<u8> {
    seq.map_or_else(Vec::new, |n| n.to_be_bytes().to_vec())
}

/// An id-index value: empty (stored before format 5, or with no sequence) or 8 bytes.
pub(super) fn decode_sequence(key: &[u8], v: &[u8]) -> Result<Option<u64>, StoreError> {
    if v.is_empty() {
        return Ok(None);
    }
    decode_u64(key, v).map(Some)
}

/// A stored read model (JSON).
pub(super) fn decode_json<T: serde::de::DeserializeOwned>(
    key: &[u8],
    v: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(v)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(key))))
}

impl Kv for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> KvResult<Option<Vec<u8>>> {
        Ok(BTreeMap::get(self, key).cloned())
    }
    fn scan_prefix_pairs(&self, prefix: &[u8]) -> KvResult<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, value);
    }
    fn del(&mut self, key: Vec<u8>) {
        self.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_or_long_counter_is_corrupt_not_a_panic() {
        for v in [&b""[..], b"\x01\x02", b"123456789"] {
            assert!(matches!(
                decode_u64(keys::META_LOG_LEN, v),
                Err(StoreError::Corrupt(_))
            ));
        }
        let mut kv = BTreeMap::new();
        kv.put(keys::META_LOG_LEN.to_vec(), vec![0, 1]);
        assert!(matches!(kv.log_len(), Err(StoreError::Corrupt(_))));
        kv.set_log_len(7);
        assert_eq!(kv.log_len().unwrap(), 7);
    }

    #[test]
    fn the_id_index_holds_the_stream_sequence_or_nothing_for_older_events() {
        let raw = br#"{"event_id":"e1","type":"abstraction.cancelled","schema_version":1,"occurred_at":"2024-03-14T08:05:00Z","source":"t","lpa":"dudley","data":{"abstraction_id":"a"}}"#;
        let env = crate::wire::decode::decode_stored(raw).unwrap();
        let mut kv = BTreeMap::new();
        kv.append_event_from(&env, raw, Some(42));
        assert!(kv.has_event_id("e1").unwrap());
        assert_eq!(kv.stream_sequence("e1").unwrap(), Some(42));
        // As format 4 stored it: an empty value, read as unknown.
        kv.append_event(&env, raw);
        assert!(kv.has_event_id("e1").unwrap());
        assert_eq!(kv.stream_sequence("e1").unwrap(), None);
        assert_eq!(kv.stream_sequence("never").unwrap(), None);
        kv.put(keys::id_key("e1"), vec![1, 2, 3]);
        assert!(matches!(
            kv.stream_sequence("e1"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn empty_read_models_and_zero_counters_are_not_stored() {
        let m: Month = "2024-03".parse().unwrap();
        let mut kv = BTreeMap::new();
        let mut lm = LpaMonth {
            open: 2,
            ..LpaMonth::default()
        };
        kv.put_lpa_month("dudley", m, &lm);
        kv.put_officer_count("dudley", m, "o-1", 3);
        assert_eq!(kv.lpa_month("dudley", m).unwrap(), lm);
        assert_eq!(kv.officer_count("dudley", m, "o-1").unwrap(), 3);
        assert_eq!(kv.len(), 3, "a/, n/ and o/");
        lm.open = 0;
        kv.put_lpa_month("dudley", m, &lm);
        kv.put_officer_count("dudley", m, "o-1", 0);
        assert!(kv.is_empty());
    }
}
