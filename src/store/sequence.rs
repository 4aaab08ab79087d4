//! The events-stream sequence each stored event came from (store format 5), kept in its
//! id-index entry by the batch that stored it: what the evidence behind a figure shows
//! per event (contract v3 section 12).

use super::keys;
use super::kv::decode_sequence;
use super::{Store, StoreError};

impl Store {
    /// The sequence `event_id` was stored from: `None` when it is not stored, or was
    /// stored before the store kept sequences (format 4 and earlier).
    pub fn stream_sequence(&self, event_id: &str) -> Result<Option<u64>, StoreError> {
        let key = keys::id_key(event_id);
        match self.get(&key)? {
            Some(v) => decode_sequence(&key, &v),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EngineKind, Kv};
    use crate::wire::decode::decode_stored;

    /// A format-4 store (empty id-index values) opens as format 6 (to be rebuilt) with
    /// every event kept; its events show no sequence, events stored from then on show
    /// theirs.
    #[test]
    fn a_format_4_store_opens_with_its_events_and_no_sequences_for_them() {
        let raw = |id: &str| {
            format!(
                r#"{{"event_id":"{id}","type":"abstraction.cancelled","schema_version":1,"occurred_at":"2024-03-14T08:05:00Z","source":"t","lpa":"dudley","data":{{"abstraction_id":"a"}}}}"#
            )
        };
        for engine in EngineKind::ALL {
            let dir = tempfile::tempdir().unwrap();
            {
                let store = Store::open_with(dir.path(), Some(engine)).unwrap();
                let mut c = store.begin();
                let old = raw("old");
                c.append_event(&decode_stored(old.as_bytes()).unwrap(), old.as_bytes());
                c.commit(true).unwrap();
                store.put(keys::META_FORMAT, b"4").unwrap();
                store.flush().unwrap();
            }
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            assert_eq!(
                store.get(keys::META_FORMAT).unwrap().unwrap().as_ref(),
                b"6"
            );
            assert!(store.needs_upgrade().unwrap(), "{engine}");
            assert_eq!(store.log().count(), 1, "{engine}: the event is kept");
            assert_eq!(store.stream_sequence("old").unwrap(), None, "{engine}");
            let mut c = store.begin();
            assert!(c.has_event_id("old").unwrap());
            let new = raw("new");
            c.append_event_from(
                &decode_stored(new.as_bytes()).unwrap(),
                new.as_bytes(),
                Some(9),
            );
            c.commit(true).unwrap();
            assert_eq!(store.stream_sequence("new").unwrap(), Some(9), "{engine}");
        }
    }
}
