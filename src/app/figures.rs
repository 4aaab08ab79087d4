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
    let mut r = month_report(reference, month, &inputs, &rejected);
    let lpas: Vec<&str> = reference.lpas.iter().map(|l| l.code.as_str()).collect();
    r.data_quality.unreadable_stored_events = unreadable(store, &lpas)?;
    Ok(r)
}

/// Every unreadable logged event of `lpas` (see [`crate::domain::reject::Unreadable`]).
fn unreadable(
    store: &Store,
    lpas: &[&str],
) -> Result<Vec<crate::domain::reject::Unreadable>, StoreError> {
    let mut out = Vec::new();
    for lpa in lpas {
        out.extend(store.unreadable(lpa)?);
    }
    Ok(out)
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
    let mut r = force_report(reference, month, as_of, &local, remote, &rejected);
    let lpas: Vec<&str> = owned.iter().map(String::as_str).collect();
    r.data_quality.unreadable_stored_events = unreadable(store, &lpas)?;
    Ok(r)
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
