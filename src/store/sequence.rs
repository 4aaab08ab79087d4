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
