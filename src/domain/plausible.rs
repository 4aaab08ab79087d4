//! Plausibility: the limits past which a well-formed time is a typo rather than a
//! roster or a record. A shift "from 2020 to 2030" or "in 2099" is valid RFC 3339,
//! and accepted it would fill or invent months of figures.
//!
//! Times are judged against when the message was published (its JetStream
//! timestamp, or `publish`'s own clock), never the tracker's clock, so a replay of
//! the stream decides exactly as the first delivery did.

use super::event::{Envelope, Event};
use super::reference::Limits;
use super::reject::{RejectCode, Rejection};

/// 2000-01-01T00:00:00Z: nothing earlier is a neighbourhood roster of this system.
pub const EARLIEST_MS: i64 = 946_684_800_000;
/// 2100-01-01T00:00:00Z: the calendar's months end here.
pub const LATEST_MS: i64 = 4_102_444_800_000;

/// The event's time fields, by wire name.
pub fn times(env: &Envelope) -> Vec<(&'static str, i64)> {
    let mut t = vec![("occurred_at", env.occurred_ms)];
    match &env.event {
        Event::ShiftRostered { fields, .. } => {
            t.push(("start", fields.start_ms));
            t.push(("end", fields.end_ms));
        }
        Event::AbstractionRecorded { fields, end_ms, .. } => {
            t.push(("start", fields.start_ms));
            t.push(("end", *end_ms));
        }
        Event::AbstractionStarted { fields, .. } => t.push(("start", fields.start_ms)),
        Event::AbstractionEnded { end_ms, .. } => t.push(("end", *end_ms)),
        Event::AbstractionAmended { amendment, .. } => {
            t.extend(amendment.start_ms.map(|s| ("start", s)));
            t.extend(amendment.end_ms.map(|e| ("end", e)));
        }
        Event::ShiftCancelled { .. } | Event::AbstractionCancelled { .. } => {}
    }
    t
}

/// The event's own `[start, end)`, when it carries both.
fn interval(env: &Envelope) -> Option<(i64, i64)> {
    match &env.event {
        Event::ShiftRostered { fields, .. } => Some((fields.start_ms, fields.end_ms)),
        Event::AbstractionRecorded { fields, end_ms, .. } => Some((fields.start_ms, *end_ms)),
        Event::AbstractionAmended { amendment, .. } => amendment.start_ms.zip(amendment.end_ms),
        _ => None,
    }
}

/// True when an interval is longer than the limits allow (also used for an entity's
/// folded interval, which no single event may show).
pub fn interval_too_long(start_ms: i64, end_ms: i64, limits: &Limits) -> bool {
    end_ms - start_ms > limits.max_interval_ms()
}

/// `implausible_interval` or `implausible_time`, or `Ok`. Without `published_ms` only
/// the fixed bounds (2000 to 2099) are judged.
pub fn check(env: &Envelope, limits: &Limits, published_ms: Option<i64>) -> Result<(), Rejection> {
    for (field, ms) in times(env) {
        let when = || {
            jiff::Timestamp::from_millisecond(ms)
                .map(|t| t.to_string())
                .unwrap_or_else(|_| ms.to_string())
        };
        if ms < EARLIEST_MS {
            return Err(Rejection::new(
                RejectCode::ImplausibleTime,
                format!("{field} {} is before 2000-01-01", when()),
            ));
        }
        if ms >= LATEST_MS {
            return Err(Rejection::new(
                RejectCode::ImplausibleTime,
                format!("{field} {} is after 2099", when()),
            ));
        }
        if let Some(p) = published_ms {
            if ms - p > limits.max_ahead_ms() {
                return Err(Rejection::new(
                    RejectCode::ImplausibleTime,
                    format!(
                        "{field} {} is more than {} days after the event was published ({}); check the year",
                        when(),
                        limits.max_days_ahead,
                        jiff::Timestamp::from_millisecond(p)
                            .map(|t| t.to_string())
                            .unwrap_or_default()
                    ),
                ));
            }
        }
    }
    if let Some((start, end)) = interval(env) {
        if interval_too_long(start, end, limits) {
            return Err(Rejection::new(
                RejectCode::ImplausibleInterval,
                format!(
                    "start to end is {:.1} hours; the limit is {} (limits.max_interval_hours in the reference file): check the dates",
                    (end - start) as f64 / 3_600_000.0,
                    limits.max_interval_hours
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{Role, ShiftFields};

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    /// 2024-03-14T08:00:00Z
    const T: i64 = 1_710_403_200_000;

    fn shift(start_ms: i64, end_ms: i64) -> Envelope {
        Envelope {
            event_id: "e".into(),
            occurred_ms: T,
            source: "t".into(),
            lpa: "dudley".into(),
            event: Event::ShiftRostered {
                shift_id: "s".into(),
                fields: ShiftFields {
                    officer_id: "o".into(),
                    role: Role::Pc,
                    sector: "x".into(),
                    start_ms,
                    end_ms,
                },
            },
        }
    }

    fn code(env: &Envelope, published: Option<i64>) -> Option<RejectCode> {
        check(env, &Limits::default(), published)
            .err()
            .map(|r| r.code)
    }

    #[test]
    fn a_day_long_shift_is_plausible_and_a_longer_one_is_not() {
        assert_eq!(code(&shift(T, T + 24 * HOUR), Some(T)), None);
        assert_eq!(
            code(&shift(T, T + 24 * HOUR + 1), Some(T)),
            Some(RejectCode::ImplausibleInterval)
        );
        let ten_years = shift(T, T + 3650 * DAY);
        assert_eq!(
            code(&ten_years, None),
            Some(RejectCode::ImplausibleInterval)
        );
    }

    #[test]
    fn times_far_ahead_of_publication_are_implausible() {
        let ahead = |days: i64| shift(T + days * DAY, T + days * DAY + 8 * HOUR);
        // A roster published months ahead is normal.
        assert_eq!(code(&ahead(120), Some(T)), None);
        assert_eq!(code(&ahead(399), Some(T)), None);
        assert_eq!(
            code(&ahead(401), Some(T)),
            Some(RejectCode::ImplausibleTime)
        );
        // Without a publication time only the fixed bounds apply.
        assert_eq!(code(&ahead(401), None), None);
    }

    #[test]
    fn the_fixed_bounds_hold_without_a_publication_time() {
        let y1999 = shift(EARLIEST_MS - DAY, EARLIEST_MS - DAY + HOUR);
        assert_eq!(code(&y1999, None), Some(RejectCode::ImplausibleTime));
        let y2100 = shift(LATEST_MS, LATEST_MS + HOUR);
        assert_eq!(code(&y2100, None), Some(RejectCode::ImplausibleTime));
        let mut early_occurred = shift(T, T + HOUR);
        early_occurred.occurred_ms = 0;
        let r = check(&early_occurred, &Limits::default(), None).unwrap_err();
        assert!(
            r.message.starts_with("occurred_at 1970-01-01"),
            "{}",
            r.message
        );
    }

    #[test]
    fn the_reference_limits_are_used() {
        let tight = Limits {
            max_interval_hours: 10,
            max_days_ahead: 30,
        };
        let s = shift(T + 31 * DAY, T + 31 * DAY + 11 * HOUR);
        let r = check(&s, &tight, Some(T)).unwrap_err();
        assert_eq!(r.code, RejectCode::ImplausibleTime);
        assert!(r.message.contains("30 days"), "{}", r.message);
        let s = shift(T, T + 11 * HOUR);
        let r = check(&s, &tight, Some(T)).unwrap_err();
        assert_eq!(r.code, RejectCode::ImplausibleInterval);
        assert!(r.message.contains("11.0 hours"), "{}", r.message);
    }
}
