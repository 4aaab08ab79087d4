//! Event builders: typed domain events, written as wire JSON by `wire::encode`;
//! simulated traffic; and folding events straight into a store, as ingest would.

use abstraction_tracker::domain::event::{
    AbstractionFields, Amendment, Envelope, Event, Role, Scope, ShiftFields,
};
use abstraction_tracker::domain::fold::Rules;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::project::projector::{Outcome, Projector};
use abstraction_tracker::store::Store;
use abstraction_tracker::wire::decode::Validator;
use abstraction_tracker::wire::encode::Encoder;

/// Validates `events` and folds them into `store` in one durable commit through the
/// projector, by `reference`'s limits, as ingest would (no broker). Each must apply.
pub fn fold_into(store: &Store, reference: &Reference, events: &[serde_json::Value]) {
    let validator = Validator::new(reference.clone());
    let mut commit = store.begin();
    let mut projector = Projector::with_rules(Rules::from(&reference.limits));
    for e in events {
        let raw = serde_json::to_vec(e).unwrap();
        let env = validator.decode(&raw).unwrap();
        assert_eq!(
            projector.ingest(&mut commit, &raw, &env).unwrap(),
            Outcome::Applied,
            "{e}"
        );
    }
    projector.write(&mut commit);
    commit.commit(true).unwrap();
}

/// Epoch milliseconds of an RFC 3339 time (panics on a malformed one: test input).
pub fn ms(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339
        .parse()
        .unwrap_or_else(|e| panic!("{rfc3339:?}: {e}"));
    t.as_millisecond()
}

/// A test envelope: source `test`, `occurred` in RFC 3339.
pub fn envelope(id: &str, lpa: &str, occurred: &str, event: Event) -> Envelope {
    Envelope {
        event_id: id.into(),
        occurred_ms: ms(occurred),
        source: "test".into(),
        lpa: lpa.into(),
        event,
    }
}

/// The wire JSON of a test event, written by `wire::encode` (times in UTC).
pub fn event(id: &str, lpa: &str, occurred: &str, event: Event) -> serde_json::Value {
    event_with(id, lpa, occurred, event, None)
}

/// As [`event`], with the type's free-text field (`note`, `cause` or `why`).
pub fn event_with(
    id: &str,
    lpa: &str,
    occurred: &str,
    event: Event,
    remark: Option<&str>,
) -> serde_json::Value {
    let env = envelope(id, lpa, occurred, event);
    Encoder::utc()
        .value(&env, remark)
        .expect("test times are representable")
}

/// `shift.rostered`.
pub fn rostered(
    shift_id: &str,
    officer_id: &str,
    role: Role,
    sector: &str,
    start: &str,
    end: &str,
) -> Event {
    Event::ShiftRostered {
        shift_id: shift_id.into(),
        fields: ShiftFields {
            officer_id: officer_id.into(),
            role,
            sector: sector.into(),
            start_ms: ms(start),
            end_ms: ms(end),
        },
    }
}

/// `shift.cancelled`.
pub fn shift_cancelled(shift_id: &str) -> Event {
    Event::ShiftCancelled {
        shift_id: shift_id.into(),
    }
}

/// What `recorded` and `started` carry; scope `lpa`, unplanned, no shift: change the
/// fields for other cases.
pub fn abstraction(
    officer_id: &str,
    role: Role,
    sector: &str,
    reason: &str,
    start: &str,
) -> AbstractionFields {
    AbstractionFields {
        officer_id: officer_id.into(),
        role,
        sector: sector.into(),
        reason: reason.into(),
        scope: Scope::Lpa,
        planned: false,
        start_ms: ms(start),
        shift_id: None,
    }
}

/// `abstraction.recorded`.
pub fn recorded(abstraction_id: &str, fields: AbstractionFields, end: &str) -> Event {
    Event::AbstractionRecorded {
        abstraction_id: abstraction_id.into(),
        fields,
        end_ms: ms(end),
    }
}

/// `abstraction.started`.
pub fn started(abstraction_id: &str, fields: AbstractionFields) -> Event {
    Event::AbstractionStarted {
        abstraction_id: abstraction_id.into(),
        fields,
    }
}

/// `abstraction.ended`.
pub fn ended(abstraction_id: &str, end: &str) -> Event {
    Event::AbstractionEnded {
        abstraction_id: abstraction_id.into(),
        end_ms: ms(end),
    }
}

/// `abstraction.amended`.
pub fn amended(abstraction_id: &str, amendment: Amendment) -> Event {
    Event::AbstractionAmended {
        abstraction_id: abstraction_id.into(),
        amendment,
    }
}

/// `abstraction.cancelled`.
pub fn abstraction_cancelled(abstraction_id: &str) -> Event {
    Event::AbstractionCancelled {
        abstraction_id: abstraction_id.into(),
    }
}

/// Simulated NDJSON lines for tests.
pub fn simulated(from: &str, to: &str, officers: u32, seed: u64) -> Vec<Vec<u8>> {
    let cfg = abstraction_tracker::tools::simulate::SimConfig {
        seed,
        from: from.parse().unwrap(),
        to: to.parse().unwrap(),
        officers,
        now: None,
    };
    let mut out = Vec::new();
    abstraction_tracker::tools::simulate::simulate(
        &cfg,
        &Reference::west_midlands(),
        &mut out,
        &mut |_, _| {},
    )
    .unwrap();
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect()
}
