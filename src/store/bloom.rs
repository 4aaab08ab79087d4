//! Bloom filters of the keys ingest asks "was it stored?" of: event-id index keys and
//! log entity prefixes. A "no" is certain, so the common case of a new id for a new
//! entity costs no sled read; a "maybe" goes to sled.

use super::keys::{self, Family};
use fastbloom::BloomFilter;

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
        BloomFilter::with_false_pos(false_positive).expected_items(capacity as usize)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
