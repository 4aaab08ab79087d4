//! Reads of the evidence index (`x/` and `p/`, see [`keys`]): which entities an
//! LPA-month's evidence or the open list can name, so the evidence reader folds those
//! alone instead of every logged entity of the LPA.

use super::keys;
use super::{Bytes, Store, StoreError};
use crate::domain::calendar::Month;
use crate::domain::fold::{EntityId, EntityKind};

impl Store {
    /// Whether the evidence index covers the whole log: not while a rebuild runs, nor
    /// on a store upgraded from format 5 or earlier until its rebuild has derived it.
    pub fn listing_ready(&self) -> Result<bool, StoreError> {
        Ok(self.get(keys::META_REBUILDING)?.is_none() && !self.needs_upgrade()?)
    }

    /// The ids of `lpa`'s entities of `kind` listed in `month`'s evidence, in key order.
    pub fn listed_in(
        &self,
        lpa: &str,
        month: Month,
        kind: EntityKind,
    ) -> Result<Vec<String>, StoreError> {
        self.last_segments(&keys::listed_prefix(lpa, month, kind))
    }

    /// The ids of `lpa`'s abstractions that may be open (base event, no end, not
    /// cancelled).
    pub fn maybe_open(&self, lpa: &str) -> Result<Vec<String>, StoreError> {
        self.last_segments(&keys::maybe_open_prefix(lpa))
    }

    /// One entity's logged events: each entry's key and raw event.
    pub fn entity_log(&self, lpa: &str, id: &EntityId) -> Result<Vec<(String, Bytes)>, StoreError> {
        self.scan(&keys::entity_prefix(lpa, id))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v))
            })
            .collect()
    }

    fn last_segments(&self, prefix: &[u8]) -> Result<Vec<String>, StoreError> {
        self.scan(prefix)
            .map(|kv| Ok(keys::last_segment(&kv?.0)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::evidence::{month_abstractions, month_shifts, open_abstractions};
    use crate::domain::reference::Reference;
    use crate::project::projector::Projector;
    use crate::project::rebuild::rebuild;
    use crate::store::engine::each_engine;
    use crate::store::EngineKind;
    use crate::wire::decode::Validator;

    each_engine!(
        the_index_follows_an_amended_end_and_a_close_and_a_rebuild_derives_the_same,
        a_store_upgraded_from_format_5_gives_the_same_evidence,
    );

    fn validator() -> Validator {
        Validator::new(Reference::west_midlands())
    }

    fn envelope(id: &str, ty: &str, data: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","type":"{ty}","schema_version":1,"occurred_at":"2024-04-02T08:00:00Z","source":"t","lpa":"dudley","data":{data}}}"#
        )
    }

    fn abstraction(abs: &str, start: &str, end: Option<&str>) -> String {
        let end = end.map_or(String::new(), |e| format!(r#","end":"{e}""#));
        format!(
            r#"{{"abstraction_id":"{abs}","officer_id":"o-1","role":"pc","sector":"x","reason":"response_cover","scope":"lpa","planned":false,"start":"{start}"{end}}}"#
        )
    }

    /// Events that move entities between months and in and out of the open list.
    fn events() -> Vec<String> {
        let a = |abs: &str| format!(r#"{{"abstraction_id":"{abs}"}}"#);
        vec![
            // March and April (April starts at 23:00 UTC on 31 March), then amended
            // to end in March.
            envelope(
                "e1",
                "abstraction.recorded",
                &abstraction("a1", "2024-03-31T21:00:00Z", Some("2024-04-01T02:00:00Z")),
            ),
            envelope(
                "e2",
                "abstraction.amended",
                r#"{"abstraction_id":"a1","end":"2024-03-31T22:00:00Z"}"#,
            ),
            // Open in April.
            envelope(
                "e3",
                "abstraction.started",
                &abstraction("a2", "2024-04-10T08:00:00Z", None),
            ),
            // Started, then ended: not open.
            envelope(
                "e4",
                "abstraction.started",
                &abstraction("a3", "2024-04-11T08:00:00Z", None),
            ),
            envelope(
                "e5",
                "abstraction.ended",
                r#"{"abstraction_id":"a3","end":"2024-04-11T10:00:00Z"}"#,
            ),
            // Started, then cancelled: listed in April as cancelled, not open.
            envelope(
                "e6",
                "abstraction.started",
                &abstraction("a4", "2024-04-12T08:00:00Z", None),
            ),
            envelope("e7", "abstraction.cancelled", &a("a4")),
            // An end with no base event yet: listed nowhere.
            envelope(
                "e8",
                "abstraction.ended",
                r#"{"abstraction_id":"a5","end":"2024-04-11T10:00:00Z"}"#,
            ),
            envelope(
                "e9",
                "shift.rostered",
                r#"{"shift_id":"s1","officer_id":"o-1","role":"pc","sector":"x","start":"2024-04-30T20:00:00Z","end":"2024-05-01T04:00:00Z"}"#,
            ),
            envelope(
                "e10",
                "shift.rostered",
                r#"{"shift_id":"s2","officer_id":"o-1","role":"pc","sector":"x","start":"2024-04-03T07:00:00Z","end":"2024-04-03T17:00:00Z"}"#,
            ),
            envelope("e11", "shift.cancelled", r#"{"shift_id":"s2"}"#),
        ]
    }

    /// Each event in a batch of its own, as a slow stream delivers them.
    fn ingest(store: &Store, events: &[String]) {
        let v = validator();
        for raw in events {
            let env = v.decode(raw.as_bytes()).unwrap();
            let mut c = store.begin();
            let mut p = Projector::default();
            p.ingest(&mut c, raw.as_bytes(), &env).unwrap();
            p.write(&mut c);
            c.commit(false).unwrap();
        }
    }

    fn m(s: &str) -> Month {
        s.parse().unwrap()
    }

    /// Every evidence list of Dudley for March to May, and the open list, as JSON.
    fn evidence(store: &Store) -> Vec<String> {
        let r = Reference::west_midlands();
        let mut out = Vec::new();
        for month in ["2024-03", "2024-04", "2024-05"].map(m) {
            let a = month_abstractions(store, &r, "dudley", month).unwrap();
            out.push(serde_json::to_string(&a).unwrap());
            let s = month_shifts(store, &r, "dudley", month).unwrap();
            out.push(serde_json::to_string(&s).unwrap());
        }
        let open = open_abstractions(store, &r, "dudley", 1_714_000_000_000).unwrap();
        out.push(serde_json::to_string(&open).unwrap());
        out
    }

    fn the_index_follows_an_amended_end_and_a_close_and_a_rebuild_derives_the_same(
        engine: EngineKind,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        ingest(&store, &events());
        assert!(store.listing_ready().unwrap());
        let abs = EntityKind::Abstraction;
        assert_eq!(
            store.listed_in("dudley", m("2024-03"), abs).unwrap(),
            ["a1"]
        );
        // a1 left April when its end was amended; a5 has no base event.
        assert_eq!(
            store.listed_in("dudley", m("2024-04"), abs).unwrap(),
            ["a2", "a3", "a4"]
        );
        let shifts = EntityKind::Shift;
        assert_eq!(
            store.listed_in("dudley", m("2024-04"), shifts).unwrap(),
            ["s1", "s2"]
        );
        assert_eq!(
            store.listed_in("dudley", m("2024-05"), shifts).unwrap(),
            ["s1"]
        );
        assert_eq!(store.maybe_open("dudley").unwrap(), ["a2"]);
        let live = store.derived_snapshot().unwrap();
        let listed = evidence(&store);
        rebuild(&store, &validator(), |_| {}).unwrap();
        assert_eq!(store.derived_snapshot().unwrap(), live);
        assert_eq!(evidence(&store), listed);
    }

    /// A format-5 store (no evidence index) opens with every event, gives the same
    /// evidence by scanning until its rebuild, and the same through the index after.
    fn a_store_upgraded_from_format_5_gives_the_same_evidence(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let (live, expected) = {
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            ingest(&store, &events());
            let live = store.derived_snapshot().unwrap();
            let expected = evidence(&store);
            // What format 5 held: the same keys but the index's.
            let mut batch = Vec::new();
            for p in [&b"x/"[..], b"p/"] {
                for kv in store.scan(p) {
                    batch.push((kv.unwrap().0.to_vec(), None));
                }
            }
            assert!(batch.len() > 5);
            store.engine.write(batch, true).unwrap();
            store.put(keys::META_FORMAT, b"5").unwrap();
            store.flush().unwrap();
            (live, expected)
        };
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        assert_eq!(store.log().count(), events().len(), "every event kept");
        assert!(store.needs_upgrade().unwrap());
        assert!(!store.listing_ready().unwrap());
        assert!(store.check_consistent().is_err(), "serve rebuilds first");
        assert_eq!(evidence(&store), expected, "by scanning the log");
        rebuild(&store, &validator(), |_| {}).unwrap();
        assert!(store.listing_ready().unwrap());
        assert_eq!(store.derived_snapshot().unwrap(), live);
        assert_eq!(evidence(&store), expected, "through the index");
        drop(store);
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        assert!(store.listing_ready().unwrap(), "format 6 now");
    }
}
