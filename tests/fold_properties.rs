//! Properties of the fold: the read models depend only on the set of events — not
//! their order, not how they are split into store batches, not redelivery — and a
//! rebuild from the log gives the same bytes as live ingestion. Checked on the pure fold
//! (per-event deltas against whole-entity totals), through the projector in memory, and
//! through the real store, on each engine.

use abstraction_tracker::domain::event::{
    AbstractionFields, Amendment, Envelope, Event, Role, Scope, ShiftFields,
};
use abstraction_tracker::domain::fold::{entity_of, EntityId, EntityState, Rules};
use abstraction_tracker::domain::readmodel::{LpaMonth, ReadModels};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::project::projector;
use abstraction_tracker::store::keys::DERIVED_PREFIXES;
use abstraction_tracker::store::{EngineKind, Kv, Store};
use abstraction_tracker::wire::decode::Validator;
use abstraction_tracker::wire::encode::Encoder;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| Validator::new(Reference::west_midlands()))
}

// 2024-03-28T00:00:00Z: generated times straddle the March clock change and month end.
const BASE_S: i64 = 1_711_584_000;

/// Epoch milliseconds, `offset_min` minutes after `BASE_S`.
fn ts(offset_min: i64) -> i64 {
    (BASE_S + offset_min * 60) * 1000
}

fn env(id: usize, occurred_min: i64, event: Event, remark: Option<&str>) -> Vec<u8> {
    let env = Envelope {
        event_id: format!("e{id}"),
        occurred_ms: ts(occurred_min),
        source: "prop".into(),
        lpa: "dudley".into(),
        event,
    };
    Encoder::utc().to_vec(&env, remark).unwrap()
}

const REASONS: [&str; 4] = ["response_cover", "training", "public_order", "court"];
const SECTORS: [&str; 3] = ["dudley-town", "dudley-sedgley", "not-a-real-sector"];

#[derive(Debug, Clone)]
enum Op {
    Rostered {
        shift: u8,
        start: i64,
        len: i64,
        sector: u8,
    },
    ShiftCancelled {
        shift: u8,
    },
    Recorded {
        abs: u8,
        start: i64,
        len: i64,
        reason: u8,
        officer: u8,
    },
    Started {
        abs: u8,
        start: i64,
        reason: u8,
        officer: u8,
    },
    Ended {
        abs: u8,
        end: i64,
    },
    Amended {
        abs: u8,
        reason: Option<u8>,
        end: Option<i64>,
        planned: Option<bool>,
    },
    Cancelled {
        abs: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0i64..(8 * 24 * 60);
    prop_oneof![
        (0u8..4, t.clone(), 30i64..720, 0u8..3).prop_map(|(shift, start, len, sector)| {
            Op::Rostered {
                shift,
                start,
                len,
                sector,
            }
        }),
        (0u8..4).prop_map(|shift| Op::ShiftCancelled { shift }),
        (0u8..5, t.clone(), 15i64..600, 0u8..4, 0u8..3).prop_map(
            |(abs, start, len, reason, officer)| Op::Recorded {
                abs,
                start,
                len,
                reason,
                officer
            }
        ),
        (0u8..5, t.clone(), 0u8..4, 0u8..3).prop_map(|(abs, start, reason, officer)| Op::Started {
            abs,
            start,
            reason,
            officer
        }),
        (0u8..5, t.clone()).prop_map(|(abs, end)| Op::Ended { abs, end }),
        (
            0u8..5,
            proptest::option::of(0u8..4),
            proptest::option::of(t),
            proptest::option::of(any::<bool>())
        )
            .prop_filter("an amendment changes something", |(_, r, e, p)| r.is_some()
                || e.is_some()
                || p.is_some())
            .prop_map(|(abs, reason, end, planned)| Op::Amended {
                abs,
                reason,
                end,
                planned
            }),
        (0u8..5).prop_map(|abs| Op::Cancelled { abs }),
    ]
}

/// Encodes generated operations as wire events (distinct ids and times).
fn events(ops: &[(Op, i64)]) -> Vec<Vec<u8>> {
    ops.iter()
        .enumerate()
        .map(|(i, (op, occurred))| {
            let abstraction_id = |abs: &u8| format!("a{abs}");
            let fields = |abs: &u8, start: i64, reason: &u8, officer: &u8| AbstractionFields {
                officer_id: format!("o{officer}"),
                role: Role::Pc,
                sector: SECTORS[(*abs % 3) as usize].into(),
                reason: REASONS[*reason as usize].into(),
                scope: Scope::Lpa,
                planned: false,
                start_ms: ts(start),
                shift_id: None,
            };
            let (event, remark) = match op {
                Op::Rostered {
                    shift,
                    start,
                    len,
                    sector,
                } => {
                    let fields = ShiftFields {
                        officer_id: "o1".into(),
                        role: Role::Pcso,
                        sector: SECTORS[*sector as usize].into(),
                        start_ms: ts(*start),
                        end_ms: ts(start + len),
                    };
                    (
                        Event::ShiftRostered {
                            shift_id: format!("s{shift}"),
                            fields,
                        },
                        None,
                    )
                }
                Op::ShiftCancelled { shift } => (
                    Event::ShiftCancelled {
                        shift_id: format!("s{shift}"),
                    },
                    Some("sickness"),
                ),
                Op::Recorded {
                    abs,
                    start,
                    len,
                    reason,
                    officer,
                } => {
                    let event = Event::AbstractionRecorded {
                        abstraction_id: abstraction_id(abs),
                        fields: fields(abs, *start, reason, officer),
                        end_ms: ts(start + len),
                    };
                    (event, None)
                }
                Op::Started {
                    abs,
                    start,
                    reason,
                    officer,
                } => {
                    let event = Event::AbstractionStarted {
                        abstraction_id: abstraction_id(abs),
                        fields: fields(abs, *start, reason, officer),
                    };
                    (event, None)
                }
                Op::Ended { abs, end } => {
                    let event = Event::AbstractionEnded {
                        abstraction_id: abstraction_id(abs),
                        end_ms: ts(*end),
                    };
                    (event, None)
                }
                Op::Amended {
                    abs,
                    reason,
                    end,
                    planned,
                } => {
                    let amendment = Amendment {
                        reason: reason.map(|r| REASONS[r as usize].into()),
                        end_ms: end.map(ts),
                        planned: *planned,
                        ..Amendment::default()
                    };
                    let event = Event::AbstractionAmended {
                        abstraction_id: abstraction_id(abs),
                        amendment,
                    };
                    (event, None)
                }
                Op::Cancelled { abs } => {
                    let event = Event::AbstractionCancelled {
                        abstraction_id: abstraction_id(abs),
                    };
                    (event, None)
                }
            };
            env(i, *occurred, event, remark)
        })
        .collect()
}

fn fold_in_memory(events: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut kv: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for raw in events {
        let env = validator().decode(raw).expect("generated events are valid");
        projector::ingest(&mut kv, raw, &env).unwrap();
    }
    kv.into_iter()
        .filter(|(k, _)| DERIVED_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect()
}

fn decoded(events: &[Vec<u8>]) -> Vec<Envelope> {
    events
        .iter()
        .map(|raw| validator().decode(raw).expect("generated events are valid"))
        .collect()
}

/// The pure fold, event by event as ingest meets them: each event's delta added up.
fn fold_pure(events: &[Envelope]) -> ReadModels {
    let mut states: HashMap<EntityId, EntityState> = HashMap::new();
    let mut models = ReadModels::default();
    for env in events {
        let id = entity_of(&env.event);
        let state = states
            .entry(id.clone())
            .or_insert_with(|| EntityState::empty_for(&id));
        models.apply(state.step(env, &Rules::default()));
    }
    models.prune();
    models
}

/// The pure fold as `rebuild` does it: each entity folded whole, its total added.
fn fold_pure_by_entity(events: &[Envelope]) -> ReadModels {
    let mut by_entity: BTreeMap<EntityId, Vec<&Envelope>> = BTreeMap::new();
    for env in events {
        by_entity
            .entry(entity_of(&env.event))
            .or_default()
            .push(env);
    }
    let mut models = ReadModels::default();
    for (id, evs) in by_entity {
        models.apply(EntityState::from_events(&id, evs).total("dudley", &Rules::default()));
    }
    models.prune();
    models
}

fn scenario() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<usize>)> {
    prop::collection::vec((op(), -2000i64..20000), 1..40).prop_flat_map(|ops| {
        let evs = events(&ops);
        let n = evs.len();
        (
            Just(evs.clone()),
            Just(evs).prop_shuffle(),
            prop::collection::vec(1usize..=n.max(1), 0..4),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_order_gives_the_same_read_models((original, shuffled, _) in scenario()) {
        prop_assert_eq!(fold_in_memory(&original), fold_in_memory(&shuffled));
    }

    /// Per-event deltas sum to the same read models in any order, with every event
    /// delivered twice, and equal the whole-entity totals that `rebuild` adds.
    #[test]
    fn pure_deltas_sum_to_the_entity_totals((original, shuffled, _) in scenario()) {
        let (original, shuffled) = (decoded(&original), decoded(&shuffled));
        let live = fold_pure(&original);
        let twice: Vec<Envelope> = shuffled.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
        prop_assert_eq!(&fold_pure(&twice), &live);
        prop_assert_eq!(&fold_pure_by_entity(&shuffled), &live);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Through the real store on each engine, in random batches (one `Projector`
    /// cache per batch), with every event delivered twice: the same bytes as the
    /// in-memory fold, and `rebuild` reproduces them.
    #[test]
    fn store_batches_redelivery_and_rebuild_agree_on_each_engine((original, shuffled, cuts) in scenario()) {
        let mut cuts = cuts;
        cuts.sort();
        for engine in EngineKind::ALL {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            let mut commit = store.begin();
            let mut projector = projector::Projector::default();
            for (i, raw) in shuffled.iter().chain(shuffled.iter()).enumerate() {
                if cuts.contains(&i) {
                    std::mem::take(&mut projector).write(&mut commit);
                    std::mem::replace(&mut commit, store.begin()).commit(false).unwrap();
                }
                let env = validator().decode(raw).unwrap();
                projector.ingest(&mut commit, raw, &env).unwrap();
            }
            projector.write(&mut commit);
            commit.commit(true).unwrap();
            let live = store.derived_snapshot().unwrap();
            prop_assert_eq!(&live, &fold_in_memory(&original), "{}", engine);
            prop_assert_eq!(store.log_len().unwrap(), original.len() as u64);
            abstraction_tracker::project::rebuild::rebuild(&store, validator(), |_| {}).unwrap();
            prop_assert_eq!(store.derived_snapshot().unwrap(), live, "{}", engine);
            store.check_consistent().unwrap();
        }
    }
}

#[test]
fn the_kv_trait_sees_its_own_writes_within_a_batch() {
    for engine in EngineKind::ALL {
        kv_sees_its_own_writes(engine);
    }
}

fn kv_sees_its_own_writes(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), Some(engine)).unwrap();
    let mut c = store.begin();
    let month = "2024-03".parse().unwrap();
    let m = LpaMonth {
        open: 1,
        ..LpaMonth::default()
    };
    c.put_lpa_month("dudley", month, &m);
    assert_eq!(c.lpa_month("dudley", month).unwrap(), m);
    c.put_lpa_month("dudley", month, &LpaMonth::default());
    assert_eq!(c.lpa_month("dudley", month).unwrap(), LpaMonth::default());
    assert!(!c.is_empty(), "the deletions are in the batch");
}
