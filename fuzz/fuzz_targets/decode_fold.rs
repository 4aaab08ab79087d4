//! Arbitrary bytes through decode + validate + fold: never a panic; an accepted event
//! folds, a second delivery is a duplicate that changes nothing.
#![no_main]

use abstraction_tracker::wire::decode::Validator;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::project::projector::{self, Outcome};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new(Reference::west_midlands()))
}

fuzz_target!(|data: &[u8]| {
    // Several events per input, split on newlines, so the fold sees sequences.
    let mut kv: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(env) = validator().decode(line) {
            let first = projector::ingest(&mut kv, line, &env).unwrap();
            let snapshot = kv.clone();
            let second = projector::ingest(&mut kv, line, &env).unwrap();
            if first == Outcome::Applied {
                assert_eq!(second, Outcome::Duplicate);
            }
            assert_eq!(kv, snapshot, "a redelivery changed state");
        }
    }
});
