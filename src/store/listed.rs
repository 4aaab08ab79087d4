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

    /// One entity's logged events: each entry's key and raw event (what
    /// [`Store::each_listed_log`] is checked against).
    #[cfg(test)]
    pub fn entity_log(&self, lpa: &str, id: &EntityId) -> Result<Vec<(String, Bytes)>, StoreError> {
        self.scan(&keys::entity_prefix(lpa, id))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v))
            })
            .collect()
    }

    /// Calls `f(id, its logged events)` for each of `ids` (entities of `kind` in `lpa`;
    /// an id with nothing logged gets no events), in log order.
    ///
    /// One range scan serves a run of listed entities that lie near each other in the
    /// log, as a month's shifts do (their ids carry their date), instead of one scan per
    /// entity: an LSM tree (fjall) pays a seek into every table for each scan it opens.
    /// A scan that passes more than [`GAP`] unlisted entities is dropped and the next
    /// listed entity gets its own, so a sparse list costs no more than a scan each.
    pub fn each_listed_log(
        &self,
        lpa: &str,
        kind: EntityKind,
        ids: &[String],
        mut f: impl FnMut(&str, &[Bytes]),
    ) -> Result<(), StoreError> {
        // Log order is the order of `<id>/`, which is not the ids' own order where an
        // id has a byte below `/` after another id's end ("s1-2/" < "s1/").
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ids.sort_by(|a, b| log_order(a, b));
        ids.dedup();
        let entity = |id: &str| match kind {
            EntityKind::Shift => EntityId::Shift(id.to_string()),
            EntityKind::Abstraction => EntityId::Abstraction(id.to_string()),
        };
        let prefix = keys::log_kind_prefix(lpa, kind);
        let mut events: Vec<Bytes> = Vec::new();
        let mut next = 0;
        while next < ids.len() {
            let from = keys::entity_prefix(lpa, &entity(ids[next]));
            let scan = self.engine.scan(&prefix, &from);
            let mut current: Option<usize> = None;
            let (mut passed, mut last_passed) = (0usize, String::new());
            let mut exhausted = true;
            for kv in scan {
                let (key, value) = kv?;
                let Some((_, id, _)) = keys::parse_log_key(&key) else {
                    return Err(StoreError::Corrupt(format!(
                        "bad log key {}",
                        String::from_utf8_lossy(&key)
                    )));
                };
                if current.is_some_and(|c| ids[c] == id) {
                    events.push(value);
                    continue;
                }
                if let Some(c) = current.take() {
                    f(ids[c], &events);
                    events.clear();
                    next = c + 1;
                }
                while next < ids.len() && log_order(ids[next], id).is_lt() {
                    f(ids[next], &[]);
                    next += 1;
                }
                if next == ids.len() {
                    exhausted = false;
                    break;
                }
                if ids[next] == id {
                    current = Some(next);
                    events.push(value);
                    passed = 0;
                } else if last_passed != id {
                    passed += 1;
                    if passed > GAP {
                        exhausted = false;
                        break;
                    }
                    last_passed = id.to_string();
                }
            }
            if let Some(c) = current.take() {
                f(ids[c], &events);
                events.clear();
                next = c + 1;
            }
            if exhausted {
                // The kind's log ended: the ids still to come have nothing logged.
                for id in &ids[next..] {
                    f(id, &[]);
                }
                next = ids.len();
            }
        }
        Ok(())
    }

    fn last_segments(&self, prefix: &[u8]) -> Result<Vec<String>, StoreError> {
        self.scan(prefix)
            .map(|kv| Ok(keys::last_segment(&kv?.0)))
            .collect()
    }
}

/// How many unlisted entities a shared scan may pass before the next listed one gets a
/// scan of its own.
const GAP: usize = 64;

/// The order of two entity ids in the log, where each is followed by `/`.
fn log_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes().chain([b'/']).cmp(b.bytes().chain([b'/']))
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
        one_scan_for_many_listed_entities_reads_what_a_scan_each_reads,
        the_index_follows_an_amended_end_and_a_close_and_a_rebuild_derives_the_same,
        a_store_upgraded_from_format_5_gives_the_same_evidence,
    );

    fn one_scan_for_many_listed_entities_reads_what_a_scan_each_reads(engine: EngineKind) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), Some(engine)).unwrap();
        // 300 shifts with 1-3 events each, and ids whose log order is not their own.
        let mut logged: Vec<String> = (0..300).map(|i| format!("s-{i:04}")).collect();
        logged.extend(["s1", "s1-2", "s1x"].map(String::from));
        let mut batch = Vec::new();
        for (i, id) in logged.iter().enumerate() {
            for e in 0..=(i % 3) {
                let mut key = keys::entity_prefix("dudley", &EntityId::Shift(id.clone()));
                key.extend_from_slice(format!("e-{id}-{e}").as_bytes());
                batch.push((key, Some(format!("{id}:{e}").into_bytes())));
            }
        }
        // Another LPA's and the other kind's entries must never be read.
        let other = keys::entity_prefix("walsall", &EntityId::Shift("s-0001".into()));
        batch.push(([other, b"e".to_vec()].concat(), Some(b"no".to_vec())));
        let abs = keys::entity_prefix("dudley", &EntityId::Abstraction("s-0299".into()));
        batch.push(([abs, b"e".to_vec()].concat(), Some(b"no".to_vec())));
        store.engine.write(batch, false).unwrap();

        let one_each = |ids: &[String]| -> Vec<(String, Vec<Vec<u8>>)> {
            let mut out: Vec<(String, Vec<Vec<u8>>)> = ids
                .iter()
                .map(|id| {
                    let log = store
                        .entity_log("dudley", &EntityId::Shift(id.clone()))
                        .unwrap();
                    (
                        id.clone(),
                        log.into_iter().map(|(_, v)| v.to_vec()).collect(),
                    )
                })
                .collect();
            out.sort_by(|a, b| log_order(&a.0, &b.0));
            out.dedup_by(|a, b| a.0 == b.0);
            out
        };
        let shared = |ids: &[String]| -> Vec<(String, Vec<Vec<u8>>)> {
            let mut out = Vec::new();
            store
                .each_listed_log("dudley", EntityKind::Shift, ids, |id, evs| {
                    out.push((id.to_string(), evs.iter().map(|e| e.to_vec()).collect()))
                })
                .unwrap();
            out
        };
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let sets: Vec<Vec<String>> = vec![
            logged.clone(),
            logged.iter().step_by(100).cloned().collect(),
            logged.iter().step_by(7).cloned().collect(),
            ids(&["s1", "s1-2", "s1x", "s-0000", "s-0299"]),
            ids(&["a-none", "s-0005", "s-0005", "s-0150x", "zz-none"]),
            ids(&["zz-none"]),
            Vec::new(),
        ];
        for set in sets {
            let want = one_each(&set);
            assert_eq!(shared(&set), want, "{set:?}");
            // Every listed id is answered, with its events or none.
            assert!(want.iter().filter(|(_, e)| !e.is_empty()).count() <= set.len());
        }
        assert_eq!(shared(&ids(&["s-0002"]))[0].1.len(), 3);
    }

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
