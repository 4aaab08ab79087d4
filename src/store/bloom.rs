//! Bloom filters of the keys ingest asks "was it stored?" of: event-id index keys and
//! log entity prefixes. A "no" is certain, so the common case of a new id for a new
//! entity costs no engine read; a "maybe" goes to the engine.

use super::keys::{self, Family};
use fastbloom::BloomFilter;

/// The hasher seed of every filter (any fixed value; changing it voids saved filters).
const SEED: u128 = 0x6e65_6967_6862_6f75_7268_6f6f_6473_0001;
/// The first byte of a saved filter: its layout.
const SAVED_LAYOUT: u8 = 1;

/// Reads a saved filter's fields in order; none once the bytes run out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// Bloom filters that grow with the store (a scalable Bloom filter): when one is full a
/// twice larger one with half the false-positive rate is added, so the rate of all of
/// them together stays under 2% however long the store runs.
pub(super) struct Scalable {
    parts: Vec<(BloomFilter, u64)>,
    capacity: u64,
    false_positive: f64,
}

impl Scalable {
    pub(super) fn new(expected: u64) -> Scalable {
        let capacity = expected.max(1 << 16) * 2;
        let false_positive = 0.01;
        Scalable {
            parts: vec![(Self::filter(capacity, false_positive), 0)],
            capacity,
            false_positive,
        }
    }

    fn filter(capacity: u64, false_positive: f64) -> BloomFilter {
        // A fixed seed, so a filter saved by one process answers the same in the next.
        BloomFilter::with_false_pos(false_positive)
            .seed(&SEED)
            .expected_items(capacity as usize)
    }

    /// Appends the filter's parts to `out` (see [`Filters::encode`]).
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.capacity.to_be_bytes());
        out.extend_from_slice(&self.false_positive.to_be_bytes());
        out.extend_from_slice(&(self.parts.len() as u32).to_be_bytes());
        for (f, n) in &self.parts {
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&f.num_hashes().to_be_bytes());
            let words = f.as_slice();
            out.extend_from_slice(&(words.len() as u64).to_be_bytes());
            for w in words {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Option<Scalable> {
        let capacity = r.u64()?;
        let false_positive = f64::from_bits(r.u64()?);
        let parts = r.u32()?;
        let mut out = Vec::with_capacity(parts as usize);
        for _ in 0..parts {
            let n = r.u64()?;
            let hashes = r.u32()?;
            let len = usize::try_from(r.u64()?).ok()?;
            let bytes = r.take(len.checked_mul(8)?)?;
            let words: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            out.push((BloomFilter::from_vec(words).seed(&SEED).hashes(hashes), n));
        }
        (!out.is_empty()).then_some(Scalable {
            parts: out,
            capacity,
            false_positive,
        })
    }

    pub(super) fn insert(&mut self, key: &[u8]) {
        if self.contains(key) {
            return;
        }
        let full = self.parts.last().is_some_and(|(_, n)| *n >= self.capacity);
        if full {
            self.capacity *= 2;
            self.false_positive /= 2.0;
            self.parts
                .push((Self::filter(self.capacity, self.false_positive), 0));
        }
        let (f, n) = self.parts.last_mut().expect("one filter at least");
        f.insert(key);
        *n += 1;
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        self.parts.iter().any(|(f, _)| f.contains(key))
    }
}

/// The filters in use (none until loaded) and those being loaded.
#[derive(Default)]
pub(super) struct FilterState {
    pub(super) active: Option<Filters>,
    pub(super) building: Option<Filters>,
}

impl FilterState {
    /// False when the active filters say the id-index key was never stored; true when
    /// it may have been, or when no filters are loaded.
    pub(super) fn id_maybe_stored(&self, id_key: &[u8]) -> bool {
        self.active.as_ref().is_none_or(|f| f.ids.contains(id_key))
    }

    /// The same for an entity's log prefix ([`keys::entity_prefix`]).
    pub(super) fn entity_maybe_stored(&self, prefix: &[u8]) -> bool {
        self.active
            .as_ref()
            .is_none_or(|f| f.entities.contains(prefix))
    }

    /// Adds a key being written to every filter (active or being built): an id key
    /// itself, a log key by its entity prefix.
    pub(super) fn add_written(&mut self, key: &[u8]) {
        let FilterState { active, building } = self;
        for f in [active.as_mut(), building.as_mut()].into_iter().flatten() {
            match keys::family_of(key) {
                Family::Id => f.ids.insert(key),
                Family::Log => f.entities.insert(keys::entity_prefix_of_log_key(key)),
                Family::Other => {}
            }
        }
    }
}

/// What ingest asks "is it new?" of: stored `i/` keys and log entity prefixes.
pub(super) struct Filters {
    pub(super) ids: Scalable,
    pub(super) entities: Scalable,
}

impl Filters {
    pub(super) fn new(events: u64) -> Filters {
        Filters {
            ids: Scalable::new(events),
            entities: Scalable::new(events),
        }
    }

    /// The filters as saved with the store: valid for a log of exactly `events` events
    /// (every event adds its keys, so an equal count means no key was added since).
    pub(super) fn encode(&self, events: u64) -> Vec<u8> {
        let mut out = vec![SAVED_LAYOUT];
        out.extend_from_slice(&events.to_be_bytes());
        self.ids.encode(&mut out);
        self.entities.encode(&mut out);
        out
    }

    /// Saved filters and the event count they were saved at; none when the bytes are
    /// not a saved filter of this layout.
    pub(super) fn decode(bytes: &[u8]) -> Option<(Filters, u64)> {
        let (&layout, rest) = bytes.split_first()?;
        if layout != SAVED_LAYOUT {
            return None;
        }
        let mut r = Reader(rest);
        let events = r.u64()?;
        let ids = Scalable::decode(&mut r)?;
        let entities = Scalable::decode(&mut r)?;
        r.0.is_empty()
            .then_some((Filters { ids, entities }, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_filters_answer_as_the_ones_saved() {
        let mut f = Filters::new(0);
        for i in 0..150_000u32 {
            f.ids.insert(&keys::id_key(&i.to_string()));
            f.entities.insert(format!("l/dudley/s/{i}/").as_bytes());
        }
        let bytes = f.encode(150_000);
        let (g, events) = Filters::decode(&bytes).expect("decodes");
        assert_eq!(events, 150_000);
        assert_eq!(g.ids.parts.len(), f.ids.parts.len());
        for i in 0..150_000u32 {
            assert!(g.ids.contains(&keys::id_key(&i.to_string())));
            assert!(g.entities.contains(format!("l/dudley/s/{i}/").as_bytes()));
        }
        let agree = (0..20_000u32)
            .map(|i| keys::id_key(&format!("x{i}")))
            .all(|k| f.ids.contains(&k) == g.ids.contains(&k));
        assert!(agree, "same answers for absent keys too");
        assert!(Filters::decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(Filters::decode(&[9]).is_none());
    }

    #[test]
    fn growing_filters_keep_every_key_and_few_false_positives() {
        let mut f = Scalable::new(0);
        for i in 0..400_000u32 {
            f.insert(&keys::id_key(&i.to_string()));
        }
        assert!(f.parts.len() >= 3, "it grew: {} parts", f.parts.len());
        assert!((0..400_000u32).all(|i| f.contains(&keys::id_key(&i.to_string()))));
        let false_hits = (0..100_000u32)
            .filter(|i| f.contains(&keys::id_key(&format!("x{i}"))))
            .count();
        assert!(false_hits < 2_500, "{false_hits} false positives in 100000");
    }
}
