//! The fold, as pure functions: an entity's events give its [`EntityState`], the state
//! gives its [`Contribution`] to the read models, and one more event gives a [`Delta`]
//! (see [`delta`] and [`EntityState::step`]). No I/O: the projector loads an entity's
//! events and writes the delta.
//!
//! Order independence holds by construction. Each shift or abstraction keeps an
//! [`EntityState`] that is a join of its events (max by (`occurred_at`, `event_id`), a
//! sorted set of amendments, a cancelled flag), so the same set of events gives the same
//! state in any order. Its contribution to the read models is a function of that state
//! alone; applying an event replaces the old contribution with the new one, in integer
//! milliseconds, so the sums are exact whatever the order.

use super::calendar::{month_of, split_by_day, Month};
use super::contribution::{
    AbstractedCell, AbstractionKey, Contribution, ImplausibleCell, OfficerCell, OpenCell,
    RosteredCell,
};
use super::event::{AbstractionFields, Amendment, Envelope, Event, Role, Scope, ShiftFields};
use super::readmodel::Delta;
use super::reference::Limits;
use serde::{Deserialize, Serialize};

/// What the fold takes from the reference data: the longest plausible interval. A shift
/// or abstraction whose folded interval is longer counts in no hours, only as
/// implausible (contract section 9). Read models depend on it, so the store records the
/// rules it was folded with and a change means a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub max_interval_ms: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::from(&Limits::default())
    }
}

impl From<&Limits> for Rules {
    fn from(l: &Limits) -> Self {
        Rules {
            max_interval_ms: l.max_interval_ms(),
        }
    }
}

/// The (`occurred_at`, `event_id`) order that decides which event is "latest".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    pub occurred_ms: i64,
    pub event_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub v: Version,
    pub value: T,
}

fn keep_latest<T>(slot: &mut Option<Versioned<T>>, v: &Version, value: T) {
    if slot.as_ref().is_none_or(|cur| *v > cur.v) {
        *slot = Some(Versioned {
            v: v.clone(),
            value,
        });
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShiftState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rostered: Option<Versioned<ShiftFields>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AbstractionState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Versioned<AbstractionFields>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Versioned<i64>>,
    /// Sorted by version; an event id appears once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amendments: Vec<Versioned<Amendment>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// Which entity an event belongs to, within its LPA.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityId {
    Shift(String),
    Abstraction(String),
}

/// Shifts or abstractions: the two kinds of entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Shift,
    Abstraction,
}

impl EntityId {
    pub fn kind(&self) -> EntityKind {
        match self {
            EntityId::Shift(_) => EntityKind::Shift,
            EntityId::Abstraction(_) => EntityKind::Abstraction,
        }
    }
}

/// Never stored: derived from the entity's logged events whenever it is needed.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityState {
    Shift(ShiftState),
    Abstraction(AbstractionState),
}

pub fn entity_of(event: &Event) -> EntityId {
    match event {
        Event::ShiftRostered { shift_id, .. } | Event::ShiftCancelled { shift_id } => {
            EntityId::Shift(shift_id.clone())
        }
        Event::AbstractionRecorded { abstraction_id, .. }
        | Event::AbstractionStarted { abstraction_id, .. }
        | Event::AbstractionEnded { abstraction_id, .. }
        | Event::AbstractionAmended { abstraction_id, .. }
        | Event::AbstractionCancelled { abstraction_id } => {
            EntityId::Abstraction(abstraction_id.clone())
        }
    }
}

impl EntityState {
    pub fn empty_for(id: &EntityId) -> EntityState {
        match id {
            EntityId::Shift(_) => EntityState::Shift(ShiftState::default()),
            EntityId::Abstraction(_) => EntityState::Abstraction(AbstractionState::default()),
        }
    }

    /// The state of entity `id` after `events` (all of it), in any order.
    pub fn from_events<'e>(
        id: &EntityId,
        events: impl IntoIterator<Item = &'e Envelope>,
    ) -> EntityState {
        let mut state = EntityState::empty_for(id);
        for env in events {
            state.apply(env);
        }
        state
    }

    /// Folds one more event in and returns what it changes in the read models: the new
    /// contribution less the old.
    pub fn step(&mut self, env: &Envelope, rules: &Rules) -> Delta {
        let before = self.contribution(rules);
        self.apply(env);
        Delta::between(&env.lpa, &before, &self.contribution(rules))
    }

    /// The entity's whole contribution as a change from nothing: the sum of the
    /// [`step`](EntityState::step)s of its events (what `rebuild` adds per entity).
    pub fn total(&self, lpa: &str, rules: &Rules) -> Delta {
        Delta::between(lpa, &Contribution::default(), &self.contribution(rules))
    }

    /// Folds one event into the state. The event must belong to this entity.
    pub fn apply(&mut self, env: &Envelope) {
        let v = Version {
            occurred_ms: env.occurred_ms,
            event_id: env.event_id.clone(),
        };
        match (self, &env.event) {
            (EntityState::Shift(s), Event::ShiftRostered { fields, .. }) => {
                keep_latest(&mut s.rostered, &v, fields.clone())
            }
            (EntityState::Shift(s), Event::ShiftCancelled { .. }) => s.cancelled = true,
            (EntityState::Abstraction(a), Event::AbstractionRecorded { fields, end_ms, .. }) => {
                keep_latest(&mut a.base, &v, fields.clone());
                keep_latest(&mut a.end, &v, *end_ms);
            }
            (EntityState::Abstraction(a), Event::AbstractionStarted { fields, .. }) => {
                keep_latest(&mut a.base, &v, fields.clone())
            }
            (EntityState::Abstraction(a), Event::AbstractionEnded { end_ms, .. }) => {
                keep_latest(&mut a.end, &v, *end_ms)
            }
            (EntityState::Abstraction(a), Event::AbstractionAmended { amendment, .. }) => {
                if let Err(at) = a.amendments.binary_search_by(|x| x.v.cmp(&v)) {
                    a.amendments.insert(
                        at,
                        Versioned {
                            v,
                            value: amendment.clone(),
                        },
                    );
                }
            }
            (EntityState::Abstraction(a), Event::AbstractionCancelled { .. }) => a.cancelled = true,
            (state, event) => panic!(
                "event {:?} applied to the wrong kind of entity {state:?}",
                event.event_type()
            ),
        }
    }

    pub fn contribution(&self, rules: &Rules) -> Contribution {
        match self {
            EntityState::Shift(s) => s.contribution(rules),
            EntityState::Abstraction(a) => a.contribution(rules),
        }
    }
}

/// The pure step: given an entity's earlier events and a new event of it, what the new
/// event changes in the read models.
pub fn delta(prior: &[Envelope], event: &Envelope, rules: &Rules) -> Delta {
    EntityState::from_events(&entity_of(&event.event), prior).step(event, rules)
}

/// An abstraction as the board sees it, after base, end and amendments.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub officer_id: String,
    pub role: Role,
    pub sector: String,
    pub reason: String,
    pub scope: Scope,
    pub planned: bool,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

impl AbstractionState {
    pub fn effective(&self) -> Option<Effective> {
        if self.cancelled {
            return None;
        }
        let b = &self.base.as_ref()?.value;
        let mut e = Effective {
            officer_id: b.officer_id.clone(),
            role: b.role,
            sector: b.sector.clone(),
            reason: b.reason.clone(),
            scope: b.scope,
            planned: b.planned,
            start_ms: b.start_ms,
            end_ms: self.end.as_ref().map(|e| e.value),
        };
        for Versioned { value: m, .. } in &self.amendments {
            if let Some(x) = &m.reason {
                e.reason = x.clone();
            }
            if let Some(x) = m.scope {
                e.scope = x;
            }
            if let Some(x) = m.planned {
                e.planned = x;
            }
            if let Some(x) = m.start_ms {
                e.start_ms = x;
            }
            if let Some(x) = m.end_ms {
                e.end_ms = Some(x);
            }
            if let Some(x) = &m.sector {
                e.sector = x.clone();
            }
            if let Some(x) = m.role {
                e.role = x;
            }
            if let Some(x) = &m.officer_id {
                e.officer_id = x.clone();
            }
        }
        Some(e)
    }

    fn contribution(&self, rules: &Rules) -> Contribution {
        let mut c = Contribution::default();
        let Some(e) = self.effective() else {
            return c;
        };
        let start_month = Month::containing_ms(e.start_ms);
        match e.end_ms {
            None => c.open.push(OpenCell {
                month: start_month,
                sector: e.sector,
            }),
            // Each event passed the limit; `ended` or `amended` can still stretch the
            // folded interval past it (a mistyped end): counted nowhere but in data quality.
            Some(end) if end - e.start_ms > rules.max_interval_ms => {
                c.implausible.push(ImplausibleCell { month: start_month })
            }
            Some(end) if end > e.start_ms => {
                let key = AbstractionKey {
                    reason: e.reason,
                    role: e.role,
                    scope: e.scope,
                    planned: e.planned,
                };
                for (i, (day, ms)) in split_by_day(e.start_ms, end).into_iter().enumerate() {
                    c.abstracted.push(AbstractedCell {
                        month: month_of(day),
                        day,
                        sector: e.sector.clone(),
                        key: key.clone(),
                        ms,
                        // An abstraction is one occurrence, in the month it starts.
                        count: i64::from(i == 0),
                    });
                }
                c.officer.push(OfficerCell {
                    month: start_month,
                    officer_id: e.officer_id,
                });
            }
            // Amended into an empty interval: counts nowhere until amended again.
            Some(_) => {}
        }
        c
    }
}

impl ShiftState {
    fn contribution(&self, rules: &Rules) -> Contribution {
        let mut c = Contribution::default();
        if self.cancelled {
            return c;
        }
        let Some(s) = &self.rostered else {
            return c;
        };
        let s = &s.value;
        // A rostered shift is one event, checked on the way in: this holds only when
        // the limit was lowered after it was stored.
        if s.end_ms - s.start_ms > rules.max_interval_ms {
            c.implausible.push(ImplausibleCell {
                month: Month::containing_ms(s.start_ms),
            });
            return c;
        }
        for (i, (day, ms)) in split_by_day(s.start_ms, s.end_ms).into_iter().enumerate() {
            c.rostered.push(RosteredCell {
                month: month_of(day),
                day,
                sector: s.sector.clone(),
                role: s.role,
                ms,
                count: i64::from(i == 0),
            });
        }
        c
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::event::{AbstractionFields, Role, Scope};

    pub fn env(id: &str, at: i64, event: Event) -> Envelope {
        Envelope {
            event_id: id.into(),
            occurred_ms: at,
            source: "t".into(),
            lpa: "dudley".into(),
            event,
        }
    }

    pub fn fields(start_ms: i64, reason: &str) -> AbstractionFields {
        AbstractionFields {
            officer_id: "o-1".into(),
            role: Role::Pc,
            sector: "dudley-central".into(),
            reason: reason.into(),
            scope: Scope::Lpa,
            planned: false,
            start_ms,
            shift_id: None,
        }
    }

    const H: i64 = 3_600_000;
    const T0: i64 = 1_710_403_200_000; // 2024-03-14T08:00:00Z

    fn fold(events: &[Envelope]) -> EntityState {
        let mut s = EntityState::empty_for(&entity_of(&events[0].event));
        for e in events {
            s.apply(e);
        }
        s
    }

    fn abs_ms(s: &EntityState) -> i64 {
        s.contribution(&Rules::default())
            .abstracted
            .iter()
            .map(|c| c.ms)
            .sum()
    }

    #[test]
    fn given_started_then_ended_when_folded_then_counts_the_interval() {
        let started = env(
            "e1",
            T0,
            Event::AbstractionStarted {
                abstraction_id: "a".into(),
                fields: fields(T0, "response_cover"),
            },
        );
        let ended = env(
            "e2",
            T0 + 3 * H,
            Event::AbstractionEnded {
                abstraction_id: "a".into(),
                end_ms: T0 + 3 * H,
            },
        );
        let only_started = fold(std::slice::from_ref(&started));
        assert_eq!(only_started.contribution(&Rules::default()).open.len(), 1);
        assert_eq!(abs_ms(&only_started), 0);
        // Either order gives the same state.
        let a = fold(&[started.clone(), ended.clone()]);
        let b = fold(&[ended, started]);
        assert_eq!(a, b);
        assert_eq!(abs_ms(&a), 3 * H);
        assert!(a.contribution(&Rules::default()).open.is_empty());
    }

    #[test]
    fn given_cancel_before_record_then_nothing_counts() {
        let rec = env(
            "e1",
            T0,
            Event::AbstractionRecorded {
                abstraction_id: "a".into(),
                fields: fields(T0, "response_cover"),
                end_ms: T0 + H,
            },
        );
        let cancel = env(
            "e0",
            T0 - H,
            Event::AbstractionCancelled {
                abstraction_id: "a".into(),
            },
        );
        assert_eq!(
            fold(&[cancel, rec]).contribution(&Rules::default()),
            Contribution::default()
        );
    }

    #[test]
    fn given_amendments_then_they_apply_in_version_order() {
        let rec = env(
            "e1",
            T0,
            Event::AbstractionRecorded {
                abstraction_id: "a".into(),
                fields: fields(T0, "response_cover"),
                end_ms: T0 + H,
            },
        );
        let am = |id: &str, at: i64, end: i64| {
            env(
                id,
                at,
                Event::AbstractionAmended {
                    abstraction_id: "a".into(),
                    amendment: Amendment {
                        end_ms: Some(end),
                        ..Default::default()
                    },
                },
            )
        };
        let a1 = am("e2", T0 + 2 * H, T0 + 2 * H);
        let a2 = am("e3", T0 + 3 * H, T0 + 4 * H);
        let s1 = fold(&[rec.clone(), a2.clone(), a1.clone()]);
        let s2 = fold(&[a1, rec, a2]);
        assert_eq!(s1, s2);
        assert_eq!(abs_ms(&s1), 4 * H);
    }

    #[test]
    fn given_two_recorded_then_the_latest_wins_and_ties_break_on_event_id() {
        let rec = |id: &str, at: i64, reason: &str| {
            env(
                id,
                at,
                Event::AbstractionRecorded {
                    abstraction_id: "a".into(),
                    fields: fields(T0, reason),
                    end_ms: T0 + H,
                },
            )
        };
        let s = fold(&[rec("b", T0, "court"), rec("a", T0, "training")]);
        let EntityState::Abstraction(a) = &s else {
            unreachable!()
        };
        assert_eq!(a.effective().unwrap().reason, "court");
    }

    #[test]
    fn given_an_end_past_the_limit_then_it_is_implausible_in_any_order() {
        let started = env(
            "e1",
            T0,
            Event::AbstractionStarted {
                abstraction_id: "a".into(),
                fields: fields(T0, "response_cover"),
            },
        );
        let ended = env(
            "e2",
            T0 + 30 * H,
            Event::AbstractionEnded {
                abstraction_id: "a".into(),
                end_ms: T0 + 30 * H,
            },
        );
        let rules = Rules::default();
        for events in [[started.clone(), ended.clone()], [ended, started]] {
            let c = fold(&events).contribution(&rules);
            assert_eq!(c.implausible.len(), 1);
            assert!(c.abstracted.is_empty() && c.open.is_empty() && c.officer.is_empty());
        }
    }

    #[test]
    fn given_a_cancelled_shift_then_it_leaves_the_denominator() {
        let rostered = env(
            "e1",
            T0,
            Event::ShiftRostered {
                shift_id: "s".into(),
                fields: ShiftFields {
                    officer_id: "o".into(),
                    role: Role::Pcso,
                    sector: "x".into(),
                    start_ms: T0,
                    end_ms: T0 + 8 * H,
                },
            },
        );
        let s = fold(std::slice::from_ref(&rostered));
        assert_eq!(s.contribution(&Rules::default()).rostered[0].ms, 8 * H);
        let cancelled = env(
            "e2",
            T0,
            Event::ShiftCancelled {
                shift_id: "s".into(),
            },
        );
        assert!(fold(&[cancelled, rostered])
            .contribution(&Rules::default())
            .rostered
            .is_empty());
    }
}
