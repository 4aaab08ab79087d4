//! Gathers a month's report inputs from the store and hands them to the pure
//! `domain::report`; shared by the HTTP API, the `report` command and the figures
//! bucket publisher.

use crate::domain::calendar::{month_of, Day, Month};
use crate::domain::readmodel::LpaMonth;
use crate::domain::reference::Reference;
use crate::domain::report::{force_report, month_report, LpaInputs, LpaReport, MonthReport};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;

/// A month's report with every LPA of the reference data from this store; `as_of` is
/// the clock's local day, and the month holding it is in progress.
pub fn month(
    store: &Store,
    reference: &Reference,
    month: Month,
    as_of: Day,
) -> Result<MonthReport, StoreError> {
    let (inputs, rejected) = inputs(store, reference, month, as_of)?;
    Ok(month_report(reference, month, &inputs, &rejected))
}

/// The report of a projector that owns `owned`: those LPAs from this store, the others
/// from `remote` (the figures bucket) or missing.
pub fn force_month(
    store: &Store,
    reference: &Reference,
    owned: &[String],
    remote: &BTreeMap<String, LpaReport>,
    month: Month,
    as_of: Day,
) -> Result<MonthReport, StoreError> {
    let local = owned
        .iter()
        .map(|lpa| lpa_inputs(store, lpa, month, Some(as_of)))
        .collect::<Result<Vec<_>, _>>()?;
    let rejected = store.rejected_counts(month)?;
    Ok(force_report(
        reference, month, as_of, &local, remote, &rejected,
    ))
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
    let inputs = reference
        .lpas
        .iter()
        .map(|l| lpa_inputs(store, &l.code, month, Some(as_of)))
        .collect::<Result<Vec<_>, _>>()?;
    let rejected = store.rejected_counts(month)?;
    Ok((inputs, rejected))
}

/// One LPA's inputs for `month`. With `as_of` in that month, its days too (the month in
/// progress); without `as_of`, never (the figures bucket carries no month in progress).
pub fn lpa_inputs(
    store: &Store,
    lpa: &str,
    month: Month,
    as_of: Option<Day>,
) -> Result<LpaInputs, StoreError> {
    // The 13 months ending with this one hold this month, the one before and the one a
    // year earlier: each model is read once.
    let mut trend = Vec::with_capacity(13);
    let mut m = month;
    for _ in 0..13 {
        trend.push((m, store.lpa_month(lpa, m)?));
        m = m.prev();
    }
    trend.reverse();
    let of = |m: Month| -> Result<LpaMonth, StoreError> {
        match trend.iter().find(|(t, _)| *t == m) {
            Some((_, model)) => Ok(model.clone()),
            None => store.lpa_month(lpa, m),
        }
    };
    Ok(LpaInputs {
        lpa: lpa.to_string(),
        this: of(month)?,
        prev: of(month.prev())?,
        year_ago: of(month.year_earlier())?,
        sectors: store.sectors(lpa, month)?,
        officer_counts: store.officer_counts(lpa, month)?,
        trend,
        days: match as_of {
            Some(day) if month_of(day) == month => Some((day, store.lpa_days(lpa, month)?)),
            _ => None,
        },
    })
}
