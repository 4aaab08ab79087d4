//! Differential: for any bytes, what the door accepts (`Validator::decode`) the store reads
//! back (`decode_stored`, as ingest and `rebuild` do from the log) as the very same event.
//! The two once used different JSON readers and disagreed on a repeated member name.
#![no_main]

use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::wire::decode::{decode_stored, Validator};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new(Reference::west_midlands()))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = validator().decode(data) {
        match decode_stored(data) {
            Ok(stored) => assert_eq!(stored, env, "the store reads another event"),
            Err(r) => panic!("accepted at the door, unreadable from the store: {r}"),
        }
    }
});
