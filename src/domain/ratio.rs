//! THE abstraction ratio: counted abstracted time over rostered time, with "counted"
//! taken from the reference data. `report` builds every figure of the board's report on
//! these, and re-exports [`counted`] and [`month_ratio`] for other readers (metrics).

use super::readmodel::LpaMonth;
use super::reference::Reference;

/// Abstracted over rostered time; none when nothing was rostered.
pub(crate) fn ratio(num_ms: i64, den_ms: i64) -> Option<f64> {
    (den_ms > 0).then(|| num_ms as f64 / den_ms as f64)
}

/// Counted milliseconds and counted occurrences of an LPA's month: abstractions whose
/// reason the reference data counts toward the ratio (`Reason::counted`).
pub fn counted(reference: &Reference, m: &LpaMonth) -> (i64, i64) {
    let mut is_counted = IsCounted::new(reference);
    m.cells()
        .filter(|(k, _)| is_counted.get(k.reason))
        .fold((0, 0), |(ms, n), (_, t)| (ms + t.ms, n + t.n))
}

/// `Reference::is_counted` remembered for the last reason asked: a model's cells are
/// sorted by key, which starts with the reason, so one reason's cells come together.
pub(crate) struct IsCounted<'r, 'a> {
    reference: &'r Reference,
    last: Option<(&'a str, bool)>,
}

impl<'r, 'a> IsCounted<'r, 'a> {
    pub(crate) fn new(reference: &'r Reference) -> Self {
        IsCounted {
            reference,
            last: None,
        }
    }

    pub(crate) fn get(&mut self, reason: &'a str) -> bool {
        match self.last {
            Some((r, counted)) if r == reason => counted,
            _ => {
                let counted = self.reference.is_counted(reason);
                self.last = Some((reason, counted));
                counted
            }
        }
    }
}

/// THE abstraction ratio of an LPA's month: counted abstracted milliseconds divided by
/// rostered milliseconds (shifts not cancelled); none when nothing was rostered.
/// Every LPA ratio in a `MonthReport` comes from here (sector and force-wide ratios
/// apply the same division to their own totals); anything else that shows an LPA's
/// ratio, such as a metric, should call this so the two cannot disagree.
pub fn month_ratio(reference: &Reference, m: &LpaMonth) -> Option<f64> {
    ratio(counted(reference, m).0, m.rostered_ms())
}
