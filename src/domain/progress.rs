//! The month in progress (contract section 8): figures to date, the rest of the month's
//! published roster and planned abstractions, the forecast and the abstraction budget,
//! from an LPA's per-day read models split at the as-of day's local midnight.

use super::calendar::Day;
use super::readmodel::LpaDay;
use super::reference::Reference;
use serde::Serialize;

const MS_PER_HOUR: f64 = 3_600_000.0;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InProgress {
    /// The as-of day, `YYYY-MM-DD`: figures to date stop at its start.
    #[serde(serialize_with = "as_string")]
    pub to_date_until: Day,
    pub rostered_hours_to_date: f64,
    pub abstracted_hours_to_date: f64,
    pub unplanned_hours_to_date: f64,
    pub abstraction_ratio_to_date: Option<f64>,
    pub rostered_hours_rest: f64,
    pub planned_hours_rest: f64,
    pub forecast_abstracted_hours: f64,
    pub forecast_ratio: Option<f64>,
    pub budget_hours: f64,
    pub budget_spent_ratio: Option<f64>,
}

impl InProgress {
    /// Abstracted to date plus planned for the rest, over the budget: the "planned" line
    /// of a burn-down (where the month ends if nothing unplanned happens from today);
    /// none when the budget is 0.
    pub fn budget_planned_ratio(&self) -> Option<f64> {
        (self.budget_hours > 0.0)
            .then(|| (self.abstracted_hours_to_date + self.planned_hours_rest) / self.budget_hours)
    }
}

/// The force-wide month in progress: the LPAs' figures summed, ratios taken over the
/// sums (so time-weighted, as the force-wide month ratio is); none without any part.
pub fn total<'a>(parts: impl IntoIterator<Item = &'a InProgress>) -> Option<InProgress> {
    let mut it = parts.into_iter();
    let mut t = it.next()?.clone();
    for p in it {
        t.rostered_hours_to_date += p.rostered_hours_to_date;
        t.abstracted_hours_to_date += p.abstracted_hours_to_date;
        t.unplanned_hours_to_date += p.unplanned_hours_to_date;
        t.rostered_hours_rest += p.rostered_hours_rest;
        t.planned_hours_rest += p.planned_hours_rest;
        t.forecast_abstracted_hours += p.forecast_abstracted_hours;
        t.budget_hours += p.budget_hours;
    }
    let whole = t.rostered_hours_to_date + t.rostered_hours_rest;
    t.abstraction_ratio_to_date = (t.rostered_hours_to_date > 0.0)
        .then(|| t.abstracted_hours_to_date / t.rostered_hours_to_date);
    t.forecast_ratio = (whole > 0.0).then(|| t.forecast_abstracted_hours / whole);
    t.budget_spent_ratio =
        (t.budget_hours > 0.0).then(|| t.abstracted_hours_to_date / t.budget_hours);
    Some(t)
}

fn as_string<S: serde::Serializer>(d: &Day, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

/// Counted abstracted milliseconds of a day's figures (as `report::counted` counts
/// them), split into planned and unplanned.
fn counted_split(reference: &Reference, m: &LpaDay) -> (i64, i64) {
    m.abstracted
        .iter()
        .filter(|(reason, _)| reference.is_counted(reason))
        .fold((0, 0), |(p, u), (_, [planned, unplanned])| {
            (p + planned, u + unplanned)
        })
}

/// An LPA's month in progress as of the start of `as_of`, from its days of the month
/// (any order; days outside the month must not be passed).
pub fn in_progress(
    reference: &Reference,
    target_ratio: f64,
    as_of: Day,
    days: &[(Day, LpaDay)],
) -> InProgress {
    let (mut rostered_td, mut abstracted_td, mut unplanned_td) = (0i64, 0i64, 0i64);
    let (mut rostered_rest, mut planned_rest) = (0i64, 0i64);
    for (day, m) in days {
        if *day < as_of {
            let (planned, unplanned) = counted_split(reference, m);
            rostered_td += m.rostered_ms;
            abstracted_td += planned + unplanned;
            unplanned_td += unplanned;
        } else {
            rostered_rest += m.rostered_ms;
            planned_rest += counted_split(reference, m).0;
        }
    }
    let h = |ms: i64| ms as f64 / MS_PER_HOUR;
    let unplanned_rate = if rostered_td > 0 {
        unplanned_td as f64 / rostered_td as f64
    } else {
        0.0
    };
    let forecast = h(abstracted_td) + h(planned_rest) + unplanned_rate * h(rostered_rest);
    let whole = h(rostered_td) + h(rostered_rest);
    let budget = target_ratio * whole;
    InProgress {
        to_date_until: as_of,
        rostered_hours_to_date: h(rostered_td),
        abstracted_hours_to_date: h(abstracted_td),
        unplanned_hours_to_date: h(unplanned_td),
        abstraction_ratio_to_date: (rostered_td > 0)
            .then(|| abstracted_td as f64 / rostered_td as f64),
        rostered_hours_rest: h(rostered_rest),
        planned_hours_rest: h(planned_rest),
        forecast_abstracted_hours: forecast,
        forecast_ratio: (whole > 0.0).then(|| forecast / whole),
        budget_hours: budget,
        budget_spent_ratio: (budget > 0.0).then(|| h(abstracted_td) / budget),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const H: i64 = 3_600_000;

    fn reference() -> Reference {
        Reference::west_midlands()
    }

    fn day(rostered_h: i64, abstractions: &[(&str, bool, i64)]) -> LpaDay {
        let mut m = LpaDay {
            rostered_ms: rostered_h * H,
            ..LpaDay::default()
        };
        for (reason, planned, hours) in abstractions {
            m.add_abstracted(reason, *planned, hours * H);
        }
        m
    }

    #[test]
    fn figures_worked_by_hand() {
        // Before the as-of day: 100 h rostered, 10 h unplanned and 4 h planned counted.
        // From it: 60 h rostered, 6 h planned; 3 h unplanned already entered ahead.
        let days = vec![
            (date(2024, 3, 1), day(40, &[("response_cover", false, 10)])),
            (date(2024, 3, 2), day(60, &[("public_order", true, 4)])),
            (
                date(2024, 3, 12),
                day(
                    60,
                    &[("public_order", true, 6), ("response_cover", false, 3)],
                ),
            ),
        ];
        let p = in_progress(&reference(), 0.15, date(2024, 3, 12), &days);
        assert_eq!(p.to_date_until, date(2024, 3, 12));
        assert_eq!(p.rostered_hours_to_date, 100.0);
        assert_eq!(p.abstracted_hours_to_date, 14.0);
        assert_eq!(p.unplanned_hours_to_date, 10.0);
        assert_eq!(p.abstraction_ratio_to_date, Some(0.14));
        assert_eq!(p.rostered_hours_rest, 60.0);
        assert_eq!(p.planned_hours_rest, 6.0);
        // 14 + 6 + (10 / 100) × 60 = 26
        assert!((p.forecast_abstracted_hours - 26.0).abs() < 1e-9);
        assert!((p.forecast_ratio.unwrap() - 26.0 / 160.0).abs() < 1e-12);
        assert!((p.budget_hours - 24.0).abs() < 1e-9);
        assert!((p.budget_spent_ratio.unwrap() - 14.0 / 24.0).abs() < 1e-12);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["to_date_until"], "2024-03-12");
    }

    #[test]
    fn nothing_rostered_to_date_gives_nulls_and_no_unplanned_projection() {
        let days = vec![(date(2024, 3, 20), day(50, &[("public_order", true, 5)]))];
        let p = in_progress(&reference(), 0.15, date(2024, 3, 1), &days);
        assert_eq!(p.abstraction_ratio_to_date, None);
        assert_eq!(p.forecast_abstracted_hours, 5.0);
        assert_eq!(p.forecast_ratio, Some(0.1));
        assert_eq!(p.budget_spent_ratio, Some(0.0));
        let none = in_progress(&reference(), 0.15, date(2024, 3, 1), &[]);
        assert_eq!((none.forecast_ratio, none.budget_spent_ratio), (None, None));
    }

    #[test]
    fn the_force_total_weights_by_time_not_by_lpa() {
        // A: 10 of 100 h to date, 100 h rest, 5 h planned: forecast 10 + 5 + 0.1 × 100.
        // B: 30 of 100 h to date (planned), 300 h rest: forecast 30.
        let a = in_progress(
            &reference(),
            0.2,
            date(2024, 3, 10),
            &[
                (date(2024, 3, 1), day(100, &[("response_cover", false, 10)])),
                (date(2024, 3, 20), day(100, &[("public_order", true, 5)])),
            ],
        );
        let b = in_progress(
            &reference(),
            0.1,
            date(2024, 3, 10),
            &[
                (date(2024, 3, 2), day(100, &[("public_order", true, 30)])),
                (date(2024, 3, 21), day(300, &[])),
            ],
        );
        let t = total([&a, &b]).unwrap();
        assert_eq!(t.to_date_until, date(2024, 3, 10));
        assert_eq!(t.abstraction_ratio_to_date, Some(40.0 / 200.0));
        assert!((t.forecast_abstracted_hours - 55.0).abs() < 1e-9);
        assert!((t.forecast_ratio.unwrap() - 55.0 / 600.0).abs() < 1e-12);
        // Budgets: 0.2 × 200 + 0.1 × 400 = 80 h; spent 40 h.
        assert!((t.budget_hours - 80.0).abs() < 1e-9);
        assert!((t.budget_spent_ratio.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(total(std::iter::empty()), None);
    }
}
