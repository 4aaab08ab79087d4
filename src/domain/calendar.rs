//! Calendar: reporting months, local days, and the split of an interval across them.
//!
//! Months run from midnight on the 1st in Europe/London local time (GMT in winter, BST
//! in summer). Durations are exact elapsed milliseconds, so a night shift over the
//! clocks going forward is an hour shorter than its wall-clock length.

use jiff::{civil::Date, tz::TimeZone, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// A reporting month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    pub year: i16,
    pub month: i8,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("month must be YYYY-MM with a year from 2000 to 2099, got {0:?}")]
pub struct BadMonth(pub String);

impl Month {
    pub fn new(year: i16, month: i8) -> Month {
        assert!((1..=12).contains(&month), "month {month} out of range");
        Month { year, month }
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month::new(self.year + 1, 1)
        } else {
            Month::new(self.year, self.month + 1)
        }
    }

    pub fn prev(self) -> Month {
        if self.month == 1 {
            Month::new(self.year - 1, 12)
        } else {
            Month::new(self.year, self.month - 1)
        }
    }

    pub fn year_earlier(self) -> Month {
        Month::new(self.year - 1, self.month)
    }

    /// The instant the month starts, in Europe/London.
    pub fn start(self) -> Timestamp {
        Date::new(self.year, self.month, 1)
            .expect("valid month")
            .to_zoned(london().clone())
            .expect("midnight on the 1st exists in Europe/London")
            .timestamp()
    }

    /// The month (Europe/London) that contains an instant.
    pub fn containing(ts: Timestamp) -> Month {
        let z = ts.to_zoned(london().clone());
        Month::new(z.year(), z.month())
    }

    pub fn containing_ms(ms: i64) -> Month {
        Month::containing(ts_from_ms(ms))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = BadMonth;
    fn from_str(s: &str) -> Result<Month, BadMonth> {
        let bad = || BadMonth(s.to_string());
        let b = s.as_bytes();
        if b.len() != 7
            || b[4] != b'-'
            || !s[..4]
                .bytes()
                .chain(s[5..].bytes())
                .all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i16 = s[..4].parse().map_err(|_| bad())?;
        let month: i8 = s[5..].parse().map_err(|_| bad())?;
        if !(2000..=2099).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

impl TryFrom<String> for Month {
    type Error = BadMonth;
    fn try_from(s: String) -> Result<Month, BadMonth> {
        s.parse()
    }
}

impl From<Month> for String {
    fn from(m: Month) -> String {
        m.to_string()
    }
}

/// A local day in Europe/London: the unit the read models are kept in, so that figures
/// "to date" split exactly at a local midnight.
pub type Day = Date;

/// The month a local day belongs to.
pub fn month_of(day: Day) -> Month {
    Month::new(day.year(), day.month())
}

/// The instant a local day starts (its local midnight).
pub fn day_start(day: Day) -> Timestamp {
    day.to_zoned(london().clone())
        .expect("local midnight exists in Europe/London")
        .timestamp()
}

/// The local day that contains an instant.
pub fn day_containing_ms(ms: i64) -> Day {
    ts_from_ms(ms).to_zoned(london().clone()).date()
}

/// The first day of a month.
pub fn first_day(month: Month) -> Day {
    Date::new(month.year, month.month, 1).expect("valid month")
}

/// Splits `[start_ms, end_ms)` into the local days it overlaps, with the milliseconds in
/// each. Empty when `end_ms <= start_ms`. The pieces sum to `end_ms - start_ms`, and the
/// pieces of one month sum to that month's piece of [`split_by_month`].
pub fn split_by_day(start_ms: i64, end_ms: i64) -> Vec<(Day, i64)> {
    let mut out = Vec::new();
    if end_ms <= start_ms {
        return out;
    }
    let mut day = day_containing_ms(start_ms);
    let mut cursor = start_ms;
    while cursor < end_ms {
        let next = day.tomorrow().expect("day in range");
        let piece_end = day_start(next).as_millisecond().min(end_ms);
        out.push((day, piece_end - cursor));
        cursor = piece_end;
        day = next;
    }
    out
}

pub fn london() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get("Europe/London").expect("bundled tzdb has Europe/London"))
}

pub fn ts_from_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).expect("validated timestamps are in range")
}

/// Splits `[start_ms, end_ms)` into the months it overlaps, with the milliseconds
/// in each. Empty when `end_ms <= start_ms`. The pieces sum to `end_ms - start_ms`.
pub fn split_by_month(start_ms: i64, end_ms: i64) -> Vec<(Month, i64)> {
    let mut out = Vec::new();
    if end_ms <= start_ms {
        return out;
    }
    let mut month = Month::containing_ms(start_ms);
    let mut cursor = start_ms;
    while cursor < end_ms {
        let boundary = month.next().start().as_millisecond();
        let piece_end = boundary.min(end_ms);
        out.push((month, piece_end - cursor));
        cursor = piece_end;
        month = month.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }
    const HOUR: i64 = 3_600_000;

    #[test]
    fn days_split_at_local_midnight_and_sum_to_the_months() {
        // Clocks go forward 31 March 2024 01:00 GMT: that local day is 23 hours long.
        let p = split_by_day(ms("2024-03-30T22:00:00Z"), ms("2024-04-01T02:00:00Z"));
        let days: Vec<String> = p.iter().map(|(d, _)| d.to_string()).collect();
        assert_eq!(days, ["2024-03-30", "2024-03-31", "2024-04-01"]);
        assert_eq!(
            p.iter().map(|x| x.1).collect::<Vec<_>>(),
            [2 * HOUR, 23 * HOUR, 3 * HOUR]
        );
        assert_eq!(
            day_containing_ms(ms("2024-06-30T23:30:00Z")).to_string(),
            "2024-07-01"
        );
        assert_eq!(
            day_start(first_day(Month::new(2024, 7))),
            Month::new(2024, 7).start()
        );
    }

    proptest! {
        #[test]
        fn day_pieces_sum_to_month_pieces(start in 1_700_000_000_000i64..1_800_000_000_000, len in 0i64..40 * 24 * HOUR) {
            let months = split_by_month(start, start + len);
            let mut by_month: Vec<(Month, i64)> = Vec::new();
            for (d, ms) in split_by_day(start, start + len) {
                match by_month.last_mut() {
                    Some((m, x)) if *m == month_of(d) => *x += ms,
                    _ => by_month.push((month_of(d), ms)),
                }
            }
            prop_assert_eq!(months, by_month);
        }
    }

    #[test]
    fn month_parses_and_prints() {
        let m: Month = "2024-03".parse().unwrap();
        assert_eq!(m, Month::new(2024, 3));
        assert_eq!(m.to_string(), "2024-03");
        assert_eq!(m.prev().to_string(), "2024-02");
        assert_eq!(Month::new(2024, 12).next().to_string(), "2025-01");
        for bad in [
            "2024-3",
            "2024-13",
            "24-03",
            "2024_03",
            "1999-12",
            "2024-00",
            "２０２４-03",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }

    #[test]
    fn summer_months_start_at_bst_midnight() {
        // 1 July 00:00 BST is 30 June 23:00 UTC.
        assert_eq!(
            Month::new(2024, 7).start(),
            "2024-06-30T23:00:00Z".parse().unwrap()
        );
        assert_eq!(
            Month::new(2024, 1).start(),
            "2024-01-01T00:00:00Z".parse().unwrap()
        );
        assert_eq!(
            Month::containing(ms_ts("2024-06-30T23:30:00Z")),
            Month::new(2024, 7)
        );
    }

    fn ms_ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn shift_across_month_end_in_bst_splits_at_local_midnight() {
        // 22:00 BST 31 Aug to 07:00 BST 1 Sep: 2 h in August, 7 h in September.
        let p = split_by_month(
            ms("2024-08-31T22:00:00+01:00"),
            ms("2024-09-01T07:00:00+01:00"),
        );
        assert_eq!(
            p,
            vec![
                (Month::new(2024, 8), 2 * HOUR),
                (Month::new(2024, 9), 7 * HOUR)
            ]
        );
    }

    #[test]
    fn night_shift_over_clocks_going_forward_is_an_hour_short() {
        // Last Sunday of March 2024 is the 31st: 01:00 GMT -> 02:00 BST.
        // 22:00 Sat 30 Mar GMT to 07:00 Sun 31 Mar BST is 8 h elapsed, all in March.
        let p = split_by_month(
            ms("2024-03-30T22:00:00+00:00"),
            ms("2024-03-31T07:00:00+01:00"),
        );
        assert_eq!(p, vec![(Month::new(2024, 3), 8 * HOUR)]);
        // 22:00 Sun 31 Mar BST to 07:00 Mon 1 Apr BST: 2 h March, 7 h April.
        let p = split_by_month(
            ms("2024-03-31T22:00:00+01:00"),
            ms("2024-04-01T07:00:00+01:00"),
        );
        assert_eq!(
            p,
            vec![
                (Month::new(2024, 3), 2 * HOUR),
                (Month::new(2024, 4), 7 * HOUR)
            ]
        );
    }

    #[test]
    fn night_shift_over_clocks_going_back_is_an_hour_long() {
        // Last Sunday of October 2024 is the 27th: 02:00 BST -> 01:00 GMT.
        let p = split_by_month(
            ms("2024-10-26T22:00:00+01:00"),
            ms("2024-10-27T07:00:00+00:00"),
        );
        assert_eq!(p, vec![(Month::new(2024, 10), 10 * HOUR)]);
        // 31 Oct 22:00 GMT to 1 Nov 07:00 GMT.
        let p = split_by_month(ms("2024-10-31T22:00:00Z"), ms("2024-11-01T07:00:00Z"));
        assert_eq!(
            p,
            vec![
                (Month::new(2024, 10), 2 * HOUR),
                (Month::new(2024, 11), 7 * HOUR)
            ]
        );
    }

    #[test]
    fn empty_or_reversed_interval_has_no_pieces() {
        assert!(split_by_month(10, 10).is_empty());
        assert!(split_by_month(10, 5).is_empty());
    }

    proptest! {
        #[test]
        fn pieces_sum_to_the_whole_and_are_consecutive(
            start in 946_684_800_000i64..4_000_000_000_000i64,
            len in 1i64..(400 * 24 * HOUR),
        ) {
            let pieces = split_by_month(start, start + len);
            prop_assert_eq!(pieces.iter().map(|p| p.1).sum::<i64>(), len);
            prop_assert!(pieces.iter().all(|p| p.1 > 0));
            for w in pieces.windows(2) {
                prop_assert_eq!(w[0].0.next(), w[1].0);
            }
            prop_assert_eq!(pieces[0].0, Month::containing_ms(start));
        }
    }
}
