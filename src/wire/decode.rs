//! The one place where raw bytes become a typed, validated [`Envelope`] or a
//! [`Rejection`] with a reason code.
//!
//! Validation runs in a fixed order so each bad input gets the most specific code:
//! size, UTF-8, JSON, object, type, version, JSON Schema (the files in `schemas/`,
//! embedded at build time), then the rules a schema cannot state (timestamps, known LPA
//! and reason, `end > start`), then plausibility (`domain::plausible`).

use crate::domain::event::{
    AbstractionFields, Amendment, Envelope, Event, EventType, Role, Scope, ShiftFields,
};
use crate::domain::plausible;
use crate::domain::reference::Reference;
use crate::domain::reject::{RejectCode, Rejection};
use crate::wire::json::{parse_strict, JsonError};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

/// Messages over this many bytes are rejected with `too_large`.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

fn schema_text(t: EventType) -> &'static str {
    match t {
        EventType::ShiftRostered => {
            include_str!("../../schemas/events/shift.rostered.schema.json")
        }
        EventType::ShiftCancelled => {
            include_str!("../../schemas/events/shift.cancelled.schema.json")
        }
        EventType::AbstractionRecorded => {
            include_str!("../../schemas/events/abstraction.recorded.schema.json")
        }
        EventType::AbstractionStarted => {
            include_str!("../../schemas/events/abstraction.started.schema.json")
        }
        EventType::AbstractionEnded => {
            include_str!("../../schemas/events/abstraction.ended.schema.json")
        }
        EventType::AbstractionAmended => {
            include_str!("../../schemas/events/abstraction.amended.schema.json")
        }
        EventType::AbstractionCancelled => {
            include_str!("../../schemas/events/abstraction.cancelled.schema.json")
        }
    }
}

const ENVELOPE_SCHEMA: &str = include_str!("../../schemas/envelope.schema.json");

/// The envelope as the one typed reading of an event's bytes, at the door and from the
/// store alike; `data` stays text and is decoded once, straight into its type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope<'a> {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    schema_version: u32,
    occurred_at: String,
    source: String,
    lpa: String,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireShift {
    shift_id: String,
    officer_id: String,
    role: Role,
    sector: String,
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WireShiftCancelled {
    shift_id: String,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WireAbstraction {
    abstraction_id: String,
    officer_id: String,
    role: Role,
    sector: String,
    reason: String,
    scope: Scope,
    planned: bool,
    start: String,
    end: Option<String>,
    shift_id: Option<String>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnded {
    abstraction_id: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAmended {
    abstraction_id: String,
    reason: Option<String>,
    scope: Option<Scope>,
    planned: Option<bool>,
    start: Option<String>,
    end: Option<String>,
    sector: Option<String>,
    role: Option<Role>,
    officer_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WireAbstractionCancelled {
    abstraction_id: String,
    why: Option<String>,
}

/// Compiled schemas plus the reference data: build once, share (it is `Sync`).
pub struct Validator {
    envelope: jsonschema::Validator,
    data: HashMap<&'static str, jsonschema::Validator>,
    reference: Reference,
}

impl Validator {
    pub fn new(reference: Reference) -> Validator {
        let compile = |text: &str| {
            let schema: Value = serde_json::from_str(text).expect("embedded schema is JSON");
            jsonschema::validator_for(&schema).expect("embedded schema compiles")
        };
        Validator {
            envelope: compile(ENVELOPE_SCHEMA),
            data: EventType::ALL
                .into_iter()
                .map(|t| (t.as_str(), compile(schema_text(t))))
                .collect(),
            reference,
        }
    }

    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Bytes in, a validated event or the reason it is refused. Times are judged
    /// against the fixed bounds only; [`Validator::decode_published`] also judges them
    /// against when the message was published.
    pub fn decode(&self, bytes: &[u8]) -> Result<Envelope, Rejection> {
        self.decode_judged(bytes, None)
    }

    /// As [`Validator::decode`], with times more than the reference file's
    /// `max_days_ahead` after `published_ms` (the message's JetStream timestamp, or
    /// the publisher's clock) refused as `implausible_time`.
    pub fn decode_published(&self, bytes: &[u8], published_ms: i64) -> Result<Envelope, Rejection> {
        self.decode_judged(bytes, Some(published_ms))
    }

    fn decode_judged(
        &self,
        bytes: &[u8],
        published_ms: Option<i64>,
    ) -> Result<Envelope, Rejection> {
        use RejectCode::*;
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(Rejection::new(
                TooLarge,
                format!(
                    "message is {} bytes; the limit is {MAX_EVENT_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Rejection::new(
                NotUtf8,
                format!(
                    "message is not UTF-8 (bad byte at offset {})",
                    e.valid_up_to()
                ),
            )
        })?;
        let value = parse_strict(text).map_err(|e| {
            let code = match e {
                JsonError::DuplicateMember { .. } => DuplicateMember,
                _ => InvalidJson,
            };
            Rejection::new(code, e.to_string())
        })?;
        let Some(obj) = value.as_object() else {
            return Err(Rejection::new(
                NotObject,
                "message must be one JSON object (the event envelope)",
            ));
        };
        if let Some(t) = obj.get("type").and_then(Value::as_str) {
            if EventType::parse(t).is_none() {
                return Err(Rejection::new(
                    UnknownType,
                    format!(
                        "unknown event type {t:?}; expected one of {}",
                        EventType::ALL.map(|t| t.as_str()).join(", ")
                    ),
                ));
            }
        }
        if let Some(v) = obj.get("schema_version").and_then(Value::as_i64) {
            if v != 1 {
                return Err(Rejection::new(
                    UnsupportedSchemaVersion,
                    format!("schema_version {v} is not supported; this tracker reads version 1"),
                ));
            }
        }
        schema_check(&self.envelope, &value, "")?;
        let kind = obj
            .get("type")
            .and_then(Value::as_str)
            .and_then(EventType::parse)
            .expect("envelope schema requires a known type");
        schema_check(&self.data[kind.as_str()], &obj["data"], "/data")?;
        // The same reading the store makes of these bytes when it reads them back.
        let env = decode_typed(text, Some(&self.reference))?;
        plausible::check(&env, &self.reference.limits, published_ms)?;
        Ok(env)
    }
}

/// Decodes an event read back from the store. It passed [`Validator::decode`] when it
/// was stored, whose last step is this same reading ([`decode_typed`]), so what the door
/// accepted reads back as the same event. The JSON Schema pass and the reference checks
/// are skipped: they cost more than the rest of the decode, and a reference file edited
/// since must not make stored history unreadable.
pub fn decode_stored(bytes: &[u8]) -> Result<Envelope, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            RejectCode::NotUtf8,
            format!("not UTF-8 (bad byte at offset {})", e.valid_up_to()),
        )
    })?;
    decode_typed(text, None)
}

/// Text to a typed event: the envelope, its `data` into the type's struct, times to
/// milliseconds, `end > start`. With `reference`, the LPA and reason codes must be known.
fn decode_typed(text: &str, reference: Option<&Reference>) -> Result<Envelope, Rejection> {
    let wire: WireEnvelope = serde_json::from_str(text)
        .map_err(|e| Rejection::new(RejectCode::SchemaViolation, e.to_string()))?;
    if wire.schema_version != 1 {
        return Err(Rejection::new(
            RejectCode::UnsupportedSchemaVersion,
            format!(
                "schema_version {} is not supported; this tracker reads version 1",
                wire.schema_version
            ),
        ));
    }
    let kind = EventType::parse(&wire.kind).ok_or_else(|| {
        Rejection::new(
            RejectCode::UnknownType,
            format!("unknown event type {:?}", wire.kind),
        )
    })?;
    let occurred_ms = time_ms("occurred_at", &wire.occurred_at)?;
    if let Some(reference) = reference {
        if reference.lpa(&wire.lpa).is_none() {
            return Err(Rejection::new(
                RejectCode::UnknownLpa,
                format!(
                    "lpa {:?} is not in the reference data for {}; known: {}",
                    wire.lpa,
                    reference.force,
                    reference
                        .lpas
                        .iter()
                        .map(|l| l.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(Envelope {
        occurred_ms,
        event: decode_data(kind, wire.data.get(), reference)?,
        event_id: wire.event_id,
        source: wire.source,
        lpa: wire.lpa,
    })
}

/// The typed `data` of an event; `reference`, when given, must know its reason codes.
fn decode_data(
    kind: EventType,
    data: &str,
    reference: Option<&Reference>,
) -> Result<Event, Rejection> {
    let check_reason = |r: &str| match reference {
        Some(reference) => check_reason(reference, r),
        None => Ok(()),
    };
    fn wire<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, Rejection> {
        serde_json::from_str(data)
            .map_err(|e| Rejection::new(RejectCode::SchemaViolation, format!("/data: {e}")))
    }
    Ok(match kind {
        EventType::ShiftRostered => {
            let w: WireShift = wire(data)?;
            let (start_ms, end_ms) = (time_ms("start", &w.start)?, time_ms("end", &w.end)?);
            check_interval(start_ms, end_ms)?;
            Event::ShiftRostered {
                shift_id: w.shift_id,
                fields: ShiftFields {
                    officer_id: w.officer_id,
                    role: w.role,
                    sector: w.sector,
                    start_ms,
                    end_ms,
                },
            }
        }
        EventType::ShiftCancelled => {
            let w: WireShiftCancelled = wire(data)?;
            Event::ShiftCancelled {
                shift_id: w.shift_id,
            }
        }
        EventType::AbstractionRecorded | EventType::AbstractionStarted => {
            let w: WireAbstraction = wire(data)?;
            check_reason(&w.reason)?;
            let start_ms = time_ms("start", &w.start)?;
            let fields = AbstractionFields {
                officer_id: w.officer_id,
                role: w.role,
                sector: w.sector,
                reason: w.reason,
                scope: w.scope,
                planned: w.planned,
                start_ms,
                shift_id: w.shift_id,
            };
            match (kind, w.end) {
                    (EventType::AbstractionRecorded, Some(end)) => {
                        let end_ms = time_ms("end", &end)?;
                        check_interval(start_ms, end_ms)?;
                        Event::AbstractionRecorded {
                            abstraction_id: w.abstraction_id,
                            fields,
                            end_ms,
                        }
                    }
                    (EventType::AbstractionStarted, None) => Event::AbstractionStarted {
                        abstraction_id: w.abstraction_id,
                        fields,
                    },
                    // The schemas make `end` required for recorded and absent for started.
                    _ => {
                        return Err(Rejection::new(
                            RejectCode::SchemaViolation,
                            "/data/end: required for abstraction.recorded, not allowed for abstraction.started",
                        ))
                    }
                }
        }
        EventType::AbstractionEnded => {
            let w: WireEnded = wire(data)?;
            Event::AbstractionEnded {
                abstraction_id: w.abstraction_id,
                end_ms: time_ms("end", &w.end)?,
            }
        }
        EventType::AbstractionAmended => {
            let w: WireAmended = wire(data)?;
            if let Some(r) = &w.reason {
                check_reason(r)?;
            }
            let start_ms = w
                .start
                .as_deref()
                .map(|s| time_ms("start", s))
                .transpose()?;
            let end_ms = w.end.as_deref().map(|s| time_ms("end", s)).transpose()?;
            if let (Some(s), Some(e)) = (start_ms, end_ms) {
                check_interval(s, e)?;
            }
            let amendment = Amendment {
                reason: w.reason,
                scope: w.scope,
                planned: w.planned,
                start_ms,
                end_ms,
                sector: w.sector,
                role: w.role,
                officer_id: w.officer_id,
            };
            if amendment == Amendment::default() {
                return Err(Rejection::new(
                    RejectCode::SchemaViolation,
                    "/data: abstraction.amended must change at least one field",
                ));
            }
            Event::AbstractionAmended {
                abstraction_id: w.abstraction_id,
                amendment,
            }
        }
        EventType::AbstractionCancelled => {
            let w: WireAbstractionCancelled = wire(data)?;
            Event::AbstractionCancelled {
                abstraction_id: w.abstraction_id,
            }
        }
    })
}

fn check_reason(reference: &Reference, reason: &str) -> Result<(), Rejection> {
    if reference.reason(reason).is_some() {
        return Ok(());
    }
    Err(Rejection::new(
        RejectCode::UnknownReason,
        format!(
            "reason {reason:?} is not in the reference data; known: {}",
            reference
                .reasons
                .iter()
                .map(|r| r.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

fn schema_check(
    v: &jsonschema::Validator,
    instance: &Value,
    prefix: &str,
) -> Result<(), Rejection> {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .take(3)
        .map(|e| {
            let path = e.instance_path().to_string();
            format!("{prefix}{path}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectCode::SchemaViolation,
            errors.join("; "),
        ))
    }
}

/// RFC 3339 with an explicit offset, to epoch milliseconds.
///
/// Exactly RFC 3339's `date-time` (section 5.6): seconds required, a fraction optional
/// (at most nanoseconds), `Z` or `+HH:MM`/`-HH:MM` with hours up to 23; `T` and `Z` may be
/// lower case, as section 5.6 allows. A leap second (`:60`) is read as `:59` of the same
/// minute (jiff, like most clocks, has no leap seconds): the event is kept, a second early.
fn time_ms(field: &str, s: &str) -> Result<i64, Rejection> {
    let bad = |why: &str| {
        Rejection::new(
            RejectCode::BadTimestamp,
            format!("{field} {s:?} is not an RFC 3339 time with an offset ({why}), e.g. 2024-03-14T08:05:00Z"),
        )
    };
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    let two = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return Err(bad("wrong shape"));
    }
    let mut i = 19;
    if b[i] == b'.' {
        let from = i + 1;
        i = from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
        if i == from || i - from > 9 {
            return Err(bad("a fraction of a second needs 1 to 9 digits"));
        }
    }
    let offset_ok = match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => {
            digits(i + 1..i + 3) && digits(i + 4..i + 6) && two(i + 1) <= 23 && two(i + 4) <= 59
        }
        _ => false,
    };
    if !offset_ok {
        return Err(bad("the offset must be Z or +HH:MM/-HH:MM up to 23:59"));
    }
    // Only `t` and `z` can be lower case in a string of that shape.
    let ts: Timestamp = s
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| bad("no such date or time"))?;
    // The range is judged with the other plausibility rules (`domain::plausible`).
    Ok(ts.as_millisecond())
}

fn check_interval(start_ms: i64, end_ms: i64) -> Result<(), Rejection> {
    if end_ms > start_ms {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectCode::InvalidInterval,
            "end must be after start",
        ))
    }
}

/// True when two encodings are the same event (key order and whitespace aside).
pub fn same_content(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The `event_id` of a message, if it can be read at all (for logs about rejections).
pub fn peek_event_id(bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    v.get("event_id")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn validator() -> Validator {
        Validator::new(Reference::west_midlands())
    }

    fn recorded() -> Value {
        json!({"event_id":"e-1","type":"abstraction.recorded","schema_version":1,
            "occurred_at":"2024-03-14T08:05:00Z","source":"t","lpa":"dudley",
            "data":{"abstraction_id":"a-1","officer_id":"o-1","role":"pc","sector":"x",
                "reason":"response_cover","scope":"lpa","planned":false,
                "start":"2024-03-14T08:00:00Z","end":"2024-03-14T10:00:00+00:00"}})
    }

    fn code(v: &Value) -> RejectCode {
        validator()
            .decode(v.to_string().as_bytes())
            .unwrap_err()
            .code
    }

    #[test]
    fn a_good_recorded_event_decodes() {
        let e = validator()
            .decode(recorded().to_string().as_bytes())
            .unwrap();
        assert_eq!(e.lpa, "dudley");
        match e.event {
            Event::AbstractionRecorded { fields, end_ms, .. } => {
                assert_eq!(end_ms - fields.start_ms, 2 * 3_600_000);
                assert_eq!(fields.role, Role::Pc);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_rule_has_its_code() {
        let v = validator();
        assert_eq!(
            v.decode(&[0xff, 0x00]).unwrap_err().code,
            RejectCode::NotUtf8
        );
        assert_eq!(
            v.decode(b"{\"a\":").unwrap_err().code,
            RejectCode::InvalidJson
        );
        assert_eq!(v.decode(b"[1]").unwrap_err().code, RejectCode::NotObject);
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert_eq!(v.decode(&big).unwrap_err().code, RejectCode::TooLarge);

        let mut e = recorded();
        e["type"] = json!("abstraction.paused");
        assert_eq!(code(&e), RejectCode::UnknownType);
        let mut e = recorded();
        e["schema_version"] = json!(2);
        assert_eq!(code(&e), RejectCode::UnsupportedSchemaVersion);
        let mut e = recorded();
        e["extra"] = json!(1);
        assert_eq!(code(&e), RejectCode::SchemaViolation);
        let mut e = recorded();
        e["data"]["colour"] = json!("blue");
        assert_eq!(code(&e), RejectCode::SchemaViolation);
        let mut e = recorded();
        e.as_object_mut().unwrap().remove("source");
        assert_eq!(code(&e), RejectCode::SchemaViolation);
        let mut e = recorded();
        e["data"]["role"] = json!("detective");
        assert_eq!(code(&e), RejectCode::SchemaViolation);
        let mut e = recorded();
        e["data"]["planned"] = json!("no");
        assert_eq!(code(&e), RejectCode::SchemaViolation);
        let mut e = recorded();
        e["occurred_at"] = json!("2024-03-14T08:05:00");
        assert_eq!(code(&e), RejectCode::BadTimestamp);
        let mut e = recorded();
        e["data"]["start"] = json!("14/03/2024 08:00");
        assert_eq!(code(&e), RejectCode::BadTimestamp);
        let mut e = recorded();
        e["lpa"] = json!("gotham");
        assert_eq!(code(&e), RejectCode::UnknownLpa);
        let mut e = recorded();
        e["data"]["reason"] = json!("coffee_break");
        assert_eq!(code(&e), RejectCode::UnknownReason);
        let mut e = recorded();
        e["data"]["end"] = json!("2024-03-14T08:00:00Z");
        assert_eq!(code(&e), RejectCode::InvalidInterval);
    }

    #[test]
    fn amended_needs_a_change() {
        let e = json!({"event_id":"e-2","type":"abstraction.amended","schema_version":1,
            "occurred_at":"2024-03-14T08:05:00Z","source":"t","lpa":"dudley",
            "data":{"abstraction_id":"a-1"}});
        assert_eq!(code(&e), RejectCode::SchemaViolation);
    }

    #[test]
    fn subject_must_name_the_events_lpa() {
        use crate::wire::subject::check_subject;
        let e = validator()
            .decode(recorded().to_string().as_bytes())
            .unwrap();
        assert!(check_subject("neighbourhood.events.dudley.abstraction.recorded", &e).is_ok());
        for wrong in [
            "neighbourhood.events.walsall.abstraction.recorded",
            "neighbourhood.events.dudley.abstraction.recorded.extra",
            "neighbourhood.events.dudley.shift.rostered",
            "neighbourhood.events.dudley",
        ] {
            let r = check_subject(wrong, &e).unwrap_err();
            assert_eq!(r.code, RejectCode::SubjectMismatch, "{wrong}");
            assert!(
                r.message
                    .ends_with("publish on neighbourhood.events.dudley.abstraction.recorded"),
                "{r}"
            );
        }
    }

    #[test]
    fn times_are_read_as_rfc_3339_section_5_6_allows() {
        let ms = |s: &str| time_ms("start", s);
        let z = ms("2024-03-14T08:00:00Z").unwrap();
        assert_eq!(ms("2024-03-14t08:00:00z"), Ok(z));
        assert_eq!(ms("2024-03-15T07:59:00+23:59"), Ok(z));
        assert_eq!(ms("2024-03-14T08:00:00-00:00"), Ok(z));
        assert_eq!(ms("2024-03-14T08:00:00.123456789Z"), Ok(z + 123));
        // A leap second is kept, read as the last second of its minute.
        assert_eq!(ms("2016-12-31T23:59:60Z"), ms("2016-12-31T23:59:59Z"));
        for bad in [
            "2024-03-14T08:00Z",
            "2024-03-14T08:00:00",
            "2024-03-14T08:00:00+24:00",
            "2024-03-14T08:00:00+01:60",
            "2024-03-14T08:00:00+0100",
            "2024-03-14T08:00:00.Z",
            "2024-03-14T08:00:00.1234567891Z",
            "2024-02-30T08:00:00Z",
            "2024-03-14 08:00:00Z",
            "2024-03-14T08:00:00Z[Europe/London]",
            "+002024-03-14T08:00:00Z",
        ] {
            assert_eq!(ms(bad).unwrap_err().code, RejectCode::BadTimestamp, "{bad}");
        }
    }

    #[test]
    fn a_repeated_member_is_refused_at_the_door_and_unreadable_in_the_store() {
        let text = recorded().to_string().replace(
            r#""reason":"response_cover""#,
            r#""reason":"response_cover","reason":"court""#,
        );
        assert!(text.contains("court"));
        let r = validator().decode(text.as_bytes()).unwrap_err();
        assert_eq!(r.code, RejectCode::DuplicateMember, "{r}");
        assert!(
            r.message.contains("/data") && r.message.contains("reason"),
            "{r}"
        );
        // The store's reader refuses it too: the two can no longer disagree.
        assert!(decode_stored(text.as_bytes()).is_err());
    }

    #[test]
    fn content_equality_ignores_key_order() {
        assert!(same_content(br#"{"a":1,"b":2}"#, br#"{ "b":2, "a":1 }"#));
        assert!(!same_content(br#"{"a":1}"#, br#"{"a":2}"#));
    }
}
