//! Where an entity is listed in the evidence (contract v3 section 12), as a value the
//! store keeps an index of: the months whose evidence lists it and whether it can be in
//! the open list. A pure function of the entity's folded state, so live ingestion and
//! `rebuild` derive the same index, and the evidence reader folds only the entities the
//! index names (it re-checks each by folding, so the index only has to hold every
//! entity that could be listed).

use super::calendar::{split_by_month, Month};
use super::fold::{AbstractionState, EntityState};

/// The months an entity is listed under and whether it may be open now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Ascending, no repeats.
    pub months: Vec<Month>,
    /// Has a base event and no `end`, and is not cancelled: the open list's candidates
    /// (an implausible one is left out there by the reader's fold).
    pub open: bool,
}

/// Where the evidence lists an entity in `state`: an abstraction by its folded interval
/// `[start, end)`, or the month of its `start` while it has no `end`, cancelled or not; a
/// shift by its rostered interval. Mirrors `domain::evidence`'s `listed_in`.
pub fn listing(state: &EntityState) -> Listing {
    match state {
        EntityState::Shift(s) => match &s.rostered {
            Some(r) => Listing {
                months: months_of(r.value.start_ms, Some(r.value.end_ms)),
                open: false,
            },
            None => Listing::default(),
        },
        EntityState::Abstraction(a) => {
            if a.base.is_none() {
                return Listing::default();
            }
            // Listed by its folded interval even when cancelled: fold it as if not.
            let e = if a.cancelled {
                AbstractionState {
                    cancelled: false,
                    ..a.clone()
                }
                .effective()
            } else {
                a.effective()
            };
            let Some(e) = e else {
                return Listing::default();
            };
            Listing {
                months: months_of(e.start_ms, e.end_ms),
                open: !a.cancelled && e.end_ms.is_none(),
            }
        }
    }
}

fn months_of(start_ms: i64, end_ms: Option<i64>) -> Vec<Month> {
    match end_ms {
        None => vec![Month::containing_ms(start_ms)],
        Some(end) => split_by_month(start_ms, end)
            .into_iter()
            .map(|(m, _)| m)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Envelope;
    use crate::domain::fold::EntityId;
    use crate::domain::reference::Reference;
    use crate::wire::decode::Validator;

    fn env(raw: &str) -> Envelope {
        Validator::new(Reference::west_midlands())
            .decode(raw.as_bytes())
            .unwrap()
    }

    fn started(id: &str, start: &str) -> Envelope {
        env(&format!(
            r#"{{"event_id":"{id}","type":"abstraction.started","schema_version":1,
            "occurred_at":"2024-03-01T08:05:00Z","source":"t","lpa":"dudley",
            "data":{{"abstraction_id":"a","officer_id":"o-1","role":"pc","sector":"x",
            "reason":"hospital_watch","scope":"lpa","planned":false,"start":"{start}"}}}}"#
        ))
    }

    fn ended(id: &str, end: &str) -> Envelope {
        env(&format!(
            r#"{{"event_id":"{id}","type":"abstraction.ended","schema_version":1,
            "occurred_at":"2024-05-01T08:05:00Z","source":"t","lpa":"dudley",
            "data":{{"abstraction_id":"a","end":"{end}"}}}}"#
        ))
    }

    fn cancelled(id: &str) -> Envelope {
        env(&format!(
            r#"{{"event_id":"{id}","type":"abstraction.cancelled","schema_version":1,
            "occurred_at":"2024-05-02T08:05:00Z","source":"t","lpa":"dudley",
            "data":{{"abstraction_id":"a"}}}}"#
        ))
    }

    fn listed(events: &[Envelope]) -> Listing {
        let id = EntityId::Abstraction("a".into());
        listing(&EntityState::from_events(&id, events.iter()))
    }

    fn m(s: &str) -> Month {
        s.parse().unwrap()
    }

    #[test]
    fn an_abstraction_is_listed_by_its_start_while_open_then_by_its_interval() {
        let s = started("e1", "2024-03-31T21:00:00Z");
        assert_eq!(
            listed(std::slice::from_ref(&s)),
            Listing {
                months: vec![m("2024-03")],
                open: true
            }
        );
        // Ends after the clocks went forward: April starts at 23:00 UTC on the 31st.
        let e = ended("e2", "2024-05-01T02:00:00Z");
        assert_eq!(
            listed(&[s.clone(), e.clone()]),
            Listing {
                months: vec![m("2024-03"), m("2024-04"), m("2024-05")],
                open: false
            }
        );
        // Cancelled: still listed by its interval, never open.
        assert_eq!(
            listed(&[s.clone(), cancelled("e3")]),
            Listing {
                months: vec![m("2024-03")],
                open: false
            }
        );
        assert_eq!(
            listed(&[e, cancelled("e3")]),
            Listing::default(),
            "no base event: listed nowhere"
        );
    }
}
