//! Gathers a month's report inputs from the store and hands them to the pure
//! `domain::report`; shared by the HTTP API and the `report` command.

use crate::domain::calendar::{month_of, Day, Month};
use crate::domain::reference::Reference;
use crate::domain::report::{month_report, LpaInputs, MonthReport};
use crate::store::{Store, StoreError};

/// A month's report; `as_of` is the clock's local day, and the month holding it is in
/// progress.
pub fn month(
    store: &Store,
    reference: &Reference,
    month: Month,
    as_of: Day,
) -> Result<MonthReport, StoreError> {
    let (inputs, rejected) = inputs(store, reference, month, as_of)?;
    Ok(month_report(reference, month, &inputs, &rejected))
}

/// The store reads behind a month's report: per-LPA inputs and rejection tallies.
pub type MonthInputs = (Vec<LpaInputs>, Vec<(String, u64)>);

/// Everything [`month`] reads from the store, without computing the report.
pub fn inputs(
    store: &Store,
    reference: &Reference,
    month: Month,
    as_of: Day,
) -> Result<MonthInputs, StoreError> {
    let in_progress = month_of(as_of) == month;
    let mut inputs = Vec::with_capacity(reference.lpas.len());
    for l in &reference.lpas {
        let lpa = l.code.as_str();
        let mut trend = Vec::with_capacity(13);
        let mut m = month;
        for _ in 0..13 {
            trend.push((m, store.lpa_month(lpa, m)?));
            m = m.prev();
        }
        trend.reverse();
        inputs.push(LpaInputs {
            lpa: lpa.to_string(),
            this: store.lpa_month(lpa, month)?,
            prev: store.lpa_month(lpa, month.prev())?,
            year_ago: store.lpa_month(lpa, month.year_earlier())?,
            sectors: store.sectors(lpa, month)?,
            officer_counts: store.officer_counts(lpa, month)?,
            trend,
            days: match in_progress {
                true => Some((as_of, store.lpa_days(lpa, month)?)),
                false => None,
            },
        });
    }
    let rejected = store.rejected_counts(month)?;
    Ok((inputs, rejected))
}
