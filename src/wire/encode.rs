//! The one writer of wire JSON: an [`Envelope`] becomes the envelope object
//! (`event_id`, `type`, `schema_version` 1, `occurred_at`, `source`, `lpa`, `data`) that
//! [`Validator::decode`](crate::wire::decode::Validator::decode) reads back.
//!
//! Keys come out in alphabetical order (a `serde_json` map), times as RFC 3339 to the
//! second (fractions only when the milliseconds are not zero): `occurred_at` in UTC
//! (`Z`), the times inside `data` in UTC or with a chosen zone's offset at that instant.
//! The same envelope always gives the same bytes.

use crate::domain::event::{Amendment, Envelope, Event, EventType};
use jiff::{tz::TimeZone, Timestamp};
use serde_json::{json, Map, Value};
use std::io::{self, Write};

/// A time the wire cannot carry (outside the years -9999..=9999).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field} {ms} ms since the epoch cannot be written as an RFC 3339 time")]
pub struct EncodeError {
    pub field: &'static str,
    pub ms: i64,
}

impl From<EncodeError> for io::Error {
    fn from(e: EncodeError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// The free-text field an event type carries besides what the domain keeps: `note` on
/// `abstraction.recorded` and `.started`, `cause` on `shift.cancelled`, `why` on
/// `abstraction.cancelled`. The decoder checks and then drops these, so an
/// [`Envelope`] has no place for them; they are passed to the encoder beside it.
pub fn remark_field(kind: EventType) -> Option<&'static str> {
    match kind {
        EventType::AbstractionRecorded | EventType::AbstractionStarted => Some("note"),
        EventType::ShiftCancelled => Some("cause"),
        EventType::AbstractionCancelled => Some("why"),
        _ => None,
    }
}

/// How times inside `data` are written.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    /// `None`: UTC with `Z`. `Some(zone)`: with the zone's offset at each instant, as a
    /// rostering system in that zone sends them (`2024-06-03T07:00:00+01:00`).
    zone: Option<TimeZone>,
}

impl Encoder {
    /// Every time in UTC.
    pub fn utc() -> Encoder {
        Encoder { zone: None }
    }

    /// Times inside `data` with `zone`'s offset; `occurred_at` stays in UTC.
    pub fn with_zone(zone: TimeZone) -> Encoder {
        Encoder { zone: Some(zone) }
    }

    /// The envelope as a JSON value. `remark` fills the event type's free-text field
    /// ([`remark_field`]); it must be `None` for a type without one.
    pub fn value(&self, env: &Envelope, remark: Option<&str>) -> Result<Value, EncodeError> {
        let kind = env.event_type();
        debug_assert!(
            remark.is_none() || remark_field(kind).is_some(),
            "{} has no free-text field",
            kind.as_str()
        );
        let mut data = self.data(&env.event)?;
        if let (Some(text), Some(field)) = (remark, remark_field(kind)) {
            data.insert(field.into(), text.into());
        }
        Ok(
            json!({ "event_id": env.event_id, "type": kind.as_str(), "schema_version": 1,
            "occurred_at": utc("occurred_at", env.occurred_ms)?, "source": env.source,
            "lpa": env.lpa, "data": data }),
        )
    }

    /// The envelope as one line of JSON, without the newline.
    pub fn to_vec(&self, env: &Envelope, remark: Option<&str>) -> Result<Vec<u8>, EncodeError> {
        Ok(serde_json::to_vec(&self.value(env, remark)?).expect("a JSON value serialises"))
    }

    /// Writes the envelope as one line of JSON, without the newline.
    pub fn write(
        &self,
        out: &mut impl Write,
        env: &Envelope,
        remark: Option<&str>,
    ) -> io::Result<()> {
        serde_json::to_writer(out, &self.value(env, remark)?)?;
        Ok(())
    }

    fn time(&self, field: &'static str, ms: i64) -> Result<String, EncodeError> {
        match &self.zone {
            None => utc(field, ms),
            Some(zone) => {
                let t = timestamp(field, ms)?;
                Ok(t.display_with_offset(zone.to_offset(t)).to_string())
            }
        }
    }

    fn data(&self, event: &Event) -> Result<Map<String, Value>, EncodeError> {
        let mut d = Map::new();
        let mut put = |k: &str, v: Value| {
            d.insert(k.into(), v);
        };
        match event {
            Event::ShiftRostered { shift_id, fields } => {
                put("shift_id", shift_id.as_str().into());
                put("officer_id", fields.officer_id.as_str().into());
                put("role", fields.role.as_str().into());
                put("sector", fields.sector.as_str().into());
                put("start", self.time("start", fields.start_ms)?.into());
                put("end", self.time("end", fields.end_ms)?.into());
            }
            Event::ShiftCancelled { shift_id } => put("shift_id", shift_id.as_str().into()),
            Event::AbstractionRecorded {
                abstraction_id,
                fields,
                ..
            }
            | Event::AbstractionStarted {
                abstraction_id,
                fields,
            } => {
                put("abstraction_id", abstraction_id.as_str().into());
                put("officer_id", fields.officer_id.as_str().into());
                put("role", fields.role.as_str().into());
                put("sector", fields.sector.as_str().into());
                put("reason", fields.reason.as_str().into());
                put("scope", fields.scope.as_str().into());
                put("planned", fields.planned.into());
                put("start", self.time("start", fields.start_ms)?.into());
                if let Some(s) = &fields.shift_id {
                    put("shift_id", s.as_str().into());
                }
                if let Event::AbstractionRecorded { end_ms, .. } = event {
                    put("end", self.time("end", *end_ms)?.into());
                }
            }
            Event::AbstractionEnded {
                abstraction_id,
                end_ms,
            } => {
                put("abstraction_id", abstraction_id.as_str().into());
                put("end", self.time("end", *end_ms)?.into());
            }
            Event::AbstractionAmended {
                abstraction_id,
                amendment,
            } => {
                put("abstraction_id", abstraction_id.as_str().into());
                self.amendment(amendment, &mut put)?;
            }
            Event::AbstractionCancelled { abstraction_id } => {
                put("abstraction_id", abstraction_id.as_str().into())
            }
        }
        Ok(d)
    }

    fn amendment(
        &self,
        a: &Amendment,
        put: &mut impl FnMut(&str, Value),
    ) -> Result<(), EncodeError> {
        let Amendment {
            reason,
            scope,
            planned,
            start_ms,
            end_ms,
            sector,
            role,
            officer_id,
        } = a;
        let mut text = |k: &str, v: Option<&str>| v.map(|v| put(k, v.into()));
        text("reason", reason.as_deref());
        text("scope", scope.map(|s| s.as_str()));
        text("sector", sector.as_deref());
        text("role", role.map(|r| r.as_str()));
        text("officer_id", officer_id.as_deref());
        if let Some(p) = planned {
            put("planned", (*p).into());
        }
        if let Some(ms) = start_ms {
            put("start", self.time("start", *ms)?.into());
        }
        if let Some(ms) = end_ms {
            put("end", self.time("end", *ms)?.into());
        }
        Ok(())
    }
}

/// The envelope as one line of JSON, every time in UTC, no free text.
pub fn encode(env: &Envelope) -> Result<Vec<u8>, EncodeError> {
    Encoder::utc().to_vec(env, None)
}

fn timestamp(field: &'static str, ms: i64) -> Result<Timestamp, EncodeError> {
    Timestamp::from_millisecond(ms).map_err(|_| EncodeError { field, ms })
}

fn utc(field: &'static str, ms: i64) -> Result<String, EncodeError> {
    Ok(timestamp(field, ms)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{AbstractionFields, Role, Scope, ShiftFields};
    use crate::domain::reference::Reference;
    use crate::wire::decode::{decode_stored, Validator};

    const T: i64 = 1_710_403_200_000; // 2024-03-14T08:00:00Z

    fn abstraction_fields(shift_id: Option<&str>) -> AbstractionFields {
        AbstractionFields {
            officer_id: "o-1".into(),
            role: Role::SpecialConstable,
            sector: "dudley-town".into(),
            reason: "response_cover".into(),
            scope: Scope::Force,
            planned: true,
            start_ms: T,
            shift_id: shift_id.map(Into::into),
        }
    }

    /// One envelope of each type, every optional field used somewhere.
    fn samples() -> Vec<Envelope> {
        let events = vec![
            Event::ShiftRostered {
                shift_id: "s-1".into(),
                fields: ShiftFields {
                    officer_id: "o-1".into(),
                    role: Role::Pcso,
                    sector: "dudley-town".into(),
                    start_ms: T,
                    end_ms: T + 8 * 3_600_000,
                },
            },
            Event::ShiftCancelled {
                shift_id: "s-1".into(),
            },
            Event::AbstractionRecorded {
                abstraction_id: "a-1".into(),
                fields: abstraction_fields(Some("s-1")),
                end_ms: T + 1_500,
            },
            Event::AbstractionStarted {
                abstraction_id: "a-2".into(),
                fields: abstraction_fields(None),
            },
            Event::AbstractionEnded {
                abstraction_id: "a-2".into(),
                end_ms: T + 3_600_000,
            },
            Event::AbstractionAmended {
                abstraction_id: "a-1".into(),
                amendment: Amendment {
                    reason: Some("court".into()),
                    scope: Some(Scope::External),
                    planned: Some(false),
                    start_ms: Some(T - 60_000),
                    end_ms: Some(T + 7_200_000),
                    sector: Some("dudley-brierley-hill".into()),
                    role: Some(Role::Sergeant),
                    officer_id: Some("o-2".into()),
                },
            },
            Event::AbstractionAmended {
                abstraction_id: "a-1".into(),
                amendment: Amendment {
                    end_ms: Some(T + 60_000),
                    ..Amendment::default()
                },
            },
            Event::AbstractionCancelled {
                abstraction_id: "a-1".into(),
            },
        ];
        let envelope = |(i, event)| Envelope {
            event_id: format!("e-{i}"),
            occurred_ms: T + 86_400_000,
            source: "test".into(),
            lpa: "dudley".into(),
            event,
        };
        events.into_iter().enumerate().map(envelope).collect()
    }

    #[test]
    fn every_type_round_trips_through_the_validator() {
        let validator = Validator::new(Reference::west_midlands());
        let london = Encoder::with_zone(TimeZone::get("Europe/London").unwrap());
        let samples = samples();
        let kinds: std::collections::HashSet<_> = samples.iter().map(|e| e.event_type()).collect();
        assert_eq!(kinds.len(), EventType::ALL.len());
        for env in &samples {
            for encoder in [&Encoder::utc(), &london] {
                let remark = remark_field(env.event_type()).map(|_| "free text");
                let bytes = encoder.to_vec(env, remark).unwrap();
                assert_eq!(&validator.decode(&bytes).unwrap(), env, "{env:?}");
                assert_eq!(&decode_stored(&bytes).unwrap(), env);
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                if let Some(field) = remark_field(env.event_type()) {
                    assert_eq!(v["data"][field], "free text");
                }
            }
            assert_eq!(&validator.decode(&encode(env).unwrap()).unwrap(), env);
        }
    }

    #[test]
    fn times_keys_and_bytes_are_as_documented() {
        let env = &samples()[0];
        let text = String::from_utf8(encode(env).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"data":{"end":"2024-03-14T16:00:00Z","officer_id":"o-1","role":"pcso","sector":"dudley-town","shift_id":"s-1","start":"2024-03-14T08:00:00Z"},"event_id":"e-0","lpa":"dudley","occurred_at":"2024-03-15T08:00:00Z","schema_version":1,"source":"test","type":"shift.rostered"}"#
        );
        let mut summer = env.clone();
        if let Event::ShiftRostered { fields, .. } = &mut summer.event {
            fields.start_ms += 90 * 86_400_000;
        }
        let london = Encoder::with_zone(TimeZone::get("Europe/London").unwrap());
        let v = london.value(&summer, None).unwrap();
        assert_eq!(v["data"]["start"], "2024-06-12T09:00:00+01:00");
        assert_eq!(v["data"]["end"], "2024-03-14T16:00:00+00:00");
        assert_eq!(v["occurred_at"], "2024-03-15T08:00:00Z");
        let recorded = Encoder::utc().value(&samples()[2], None).unwrap();
        assert_eq!(recorded["data"]["end"], "2024-03-14T08:00:01.5Z");
    }

    #[test]
    fn a_time_beyond_rfc_3339_is_an_error() {
        let mut env = samples()[4].clone();
        env.occurred_ms = i64::MAX;
        assert_eq!(
            encode(&env).unwrap_err(),
            EncodeError {
                field: "occurred_at",
                ms: i64::MAX
            }
        );
    }
}
