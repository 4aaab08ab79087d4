//! The evidence behind a figure adds up exactly (contract v3 section 12), over random
//! event sets in the style of `fold_properties.rs`: for every month, the `hours_in_month`
//! of `counted` entries sum to the read model's counted hours, per reason `counted` +
//! `not_counted` to its hours by reason, `rostered` shifts to its rostered hours, and
//! the `open` entries number its open abstractions; the open list holds every open one.
//! In exact milliseconds, the unit both are kept in.

use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::event::{
    AbstractionFields, Amendment, Envelope, Event, Role, Scope, ShiftFields,
};
use abstraction_tracker::domain::evidence::{
    shift_entry, AbstractionStatus, FoldedAbstraction, ShiftStatus, Stored,
};
use abstraction_tracker::domain::fold::{entity_of, EntityId, EntityState, Rules};
use abstraction_tracker::domain::readmodel::{ByLpaMonth, ReadModels};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::domain::report::counted;
use proptest::prelude::*;
use std::collections::BTreeMap;

// 2024-03-28T00:00:00Z: times straddle the March clock change and the month's end.
const BASE_S: i64 = 1_711_584_000;

fn ts(offset_min: i64) -> i64 {
    (BASE_S + offset_min * 60) * 1000
}

const REASONS: [&str; 4] = ["response_cover", "training", "public_order", "court"];

#[derive(Debug, Clone)]
enum Op {
    Rostered(u8, i64, i64),
    ShiftCancelled(u8),
    Recorded(u8, i64, i64, u8),
    Started(u8, i64, u8),
    Ended(u8, i64),
    Amended(u8, Option<u8>, Option<i64>, Option<i64>),
    Cancelled(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let t = -3000i64..(8 * 24 * 60);
    prop_oneof![
        (0u8..5, t.clone(), 30i64..720).prop_map(|(s, start, len)| Op::Rostered(s, start, len)),
        (0u8..5).prop_map(Op::ShiftCancelled),
        (0u8..6, t.clone(), 15i64..600, 0u8..4).prop_map(|(a, s, l, r)| Op::Recorded(a, s, l, r)),
        (0u8..6, t.clone(), 0u8..4).prop_map(|(a, s, r)| Op::Started(a, s, r)),
        (0u8..6, t.clone()).prop_map(|(a, e)| Op::Ended(a, e)),
        (
            0u8..6,
            proptest::option::of(0u8..4),
            proptest::option::of(t.clone()),
            proptest::option::of(t)
        )
            .prop_map(|(a, r, s, e)| Op::Amended(a, r, s, e)),
        (0u8..6).prop_map(Op::Cancelled),
    ]
}

fn fields(start: i64, reason: u8) -> AbstractionFields {
    AbstractionFields {
        officer_id: "o1".into(),
        role: Role::Pc,
        sector: "dudley-town".into(),
        reason: REASONS[reason as usize].into(),
        scope: Scope::Lpa,
        planned: false,
        start_ms: ts(start),
        shift_id: None,
    }
}

fn envelopes(ops: &[(Op, i64)]) -> Vec<Envelope> {
    ops.iter()
        .enumerate()
        .map(|(i, (op, occurred))| {
            let a = |n: &u8| format!("a{n}");
            let event = match op {
                Op::Rostered(s, start, len) => Event::ShiftRostered {
                    shift_id: format!("s{s}"),
                    fields: ShiftFields {
                        officer_id: "o1".into(),
                        role: Role::Pcso,
                        sector: "dudley-town".into(),
                        start_ms: ts(*start),
                        end_ms: ts(start + len),
                    },
                },
                Op::ShiftCancelled(s) => Event::ShiftCancelled {
                    shift_id: format!("s{s}"),
                },
                Op::Recorded(n, start, len, r) => Event::AbstractionRecorded {
                    abstraction_id: a(n),
                    fields: fields(*start, *r),
                    end_ms: ts(start + len),
                },
                Op::Started(n, start, r) => Event::AbstractionStarted {
                    abstraction_id: a(n),
                    fields: fields(*start, *r),
                },
                Op::Ended(n, end) => Event::AbstractionEnded {
                    abstraction_id: a(n),
                    end_ms: ts(*end),
                },
                Op::Amended(n, r, s, e) => Event::AbstractionAmended {
                    abstraction_id: a(n),
                    amendment: Amendment {
                        reason: r.map(|r| REASONS[r as usize].into()),
                        start_ms: s.map(ts),
                        end_ms: e.map(ts),
                        ..Amendment::default()
                    },
                },
                Op::Cancelled(n) => Event::AbstractionCancelled {
                    abstraction_id: a(n),
                },
            };
            Envelope {
                event_id: format!("e{i}"),
                occurred_ms: ts(*occurred),
                source: "prop".into(),
                lpa: "dudley".into(),
                event,
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_evidence_sums_to_the_read_models(ops in prop::collection::vec((op(), -3000i64..20000), 1..60)) {
        let reference = Reference::west_midlands();
        let rules = Rules::default();
        let mut by_entity: BTreeMap<EntityId, Vec<Stored>> = BTreeMap::new();
        for (seq, env) in envelopes(&ops).into_iter().enumerate() {
            by_entity.entry(entity_of(&env.event)).or_default().push(Stored {
                env,
                stream_sequence: Some(seq as u64 + 1),
            });
        }
        // The read models as `rebuild` derives them: each entity's whole contribution.
        let mut models = ReadModels::default();
        for (id, events) in &by_entity {
            models.apply(EntityState::from_events(id, events.iter().map(|s| &s.env)).total("dudley", &rules));
        }
        models.prune();
        let now = ts(20 * 24 * 60);
        let mut open_now = 0;
        let mut open_by_month = 0;
        for (id, events) in &by_entity {
            if let EntityId::Abstraction(a) = id {
                let f = FoldedAbstraction::fold(a, events, &reference, &rules);
                open_now += usize::from(f.as_ref().and_then(|f| f.open_at(now)).is_some());
            }
        }
        let first = Month::containing_ms(ts(-3000 - 24 * 60));
        let mut month = first;
        for _ in 0..4 {
            let lm = models
                .lpa_months
                .get(&ByLpaMonth { lpa: "dudley".into(), month })
                .cloned()
                .unwrap_or_default();
            let (mut counted_ms, mut rostered_ms, mut open) = (0i64, 0i64, 0i64);
            let mut by_reason: BTreeMap<String, i64> = BTreeMap::new();
            for (id, events) in &by_entity {
                match id {
                    EntityId::Abstraction(a) => {
                        let Some(e) = FoldedAbstraction::fold(a, events, &reference, &rules)
                            .and_then(|f| f.for_month(month)) else { continue };
                        match e.status {
                            AbstractionStatus::Counted => counted_ms += e.ms_in_month,
                            AbstractionStatus::Open => open += 1,
                            _ => {}
                        }
                        if matches!(e.status, AbstractionStatus::Counted | AbstractionStatus::NotCounted) {
                            *by_reason.entry(e.reason.clone()).or_default() += e.ms_in_month;
                        } else {
                            prop_assert_eq!(e.ms_in_month, 0);
                        }
                        prop_assert!(e.events.windows(2).all(|w| (&w[0].occurred_at, &w[0].event_id) <= (&w[1].occurred_at, &w[1].event_id)));
                    }
                    EntityId::Shift(s) => {
                        if let Some(e) = shift_entry(s, events, &rules, month) {
                            if e.status == ShiftStatus::Rostered {
                                rostered_ms += e.ms_in_month;
                            } else {
                                prop_assert_eq!(e.ms_in_month, 0);
                            }
                        }
                    }
                }
            }
            prop_assert_eq!(counted_ms, counted(&reference, &lm).0, "{}: counted", month);
            prop_assert_eq!(rostered_ms, lm.rostered_ms(), "{}: rostered", month);
            prop_assert_eq!(open, lm.open, "{}: open", month);
            let mut model_by_reason: BTreeMap<String, i64> = BTreeMap::new();
            for (k, t) in lm.cells() {
                *model_by_reason.entry(k.reason.to_string()).or_default() += t.ms;
            }
            model_by_reason.retain(|_, ms| *ms != 0);
            by_reason.retain(|_, ms| *ms != 0);
            prop_assert_eq!(by_reason, model_by_reason, "{}: by reason", month);
            open_by_month += open;
            month = month.next();
        }
        // Every open abstraction starts in one of the months walked.
        prop_assert_eq!(open_now as i64, open_by_month);
    }
}
