//! CSV for analysts: the same figures as the JSON report, in long format with the
//! stable header `month,lpa,lpa_name,measure,key,value` — one row per figure.
//!
//! `lpa` is empty on force-wide rows. `key` qualifies a measure: the reason, role,
//! scope, sector, threshold (`3+`) or rejection code; empty otherwise. `value` is empty
//! where the JSON has `null` (no ratio without rostered time; a suppressed count).
//! Hours are decimal hours; ratios are fractions; changes are ratio differences.

use super::text::at_least_sorted;
use crate::domain::progress::InProgress;
use crate::domain::report::{MonthReport, Source};
use std::fmt::Write;

pub const HEADER: &str = "month,lpa,lpa_name,measure,key,value";

pub fn render(rep: &MonthReport) -> String {
    let mut s = format!("{HEADER}\n");
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut row = |lpa: &str, name: &str, measure: &str, key: &str, value: String| {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{}",
            rep.month,
            field(lpa),
            field(name),
            measure,
            field(key),
            field(&value)
        );
    };
    let f = &rep.summary;
    row(
        "",
        "Force",
        "rostered_hours",
        "",
        f.rostered_hours.to_string(),
    );
    row(
        "",
        "Force",
        "abstracted_hours",
        "",
        f.abstracted_hours.to_string(),
    );
    row(
        "",
        "Force",
        "abstraction_ratio",
        "",
        opt(f.abstraction_ratio),
    );
    row(
        "",
        "Force",
        "open_abstractions",
        "",
        f.open_abstractions.to_string(),
    );
    // Statuses count forecasts in the month in progress, and their measure says so.
    let rag_measure = if f.in_progress.is_some() {
        "lpas_forecast_rag"
    } else {
        "lpas_rag"
    };
    for (rag, n) in [
        ("red", f.lpas_red),
        ("amber", f.lpas_amber),
        ("green", f.lpas_green),
    ] {
        row("", "Force", rag_measure, rag, n.to_string());
    }
    if let Some(p) = &f.in_progress {
        for (measure, value) in in_progress_rows(p) {
            row("", "Force", measure, "", value);
        }
    }
    for (r, h) in &f.abstracted_hours_by_reason {
        row("", "Force", "abstracted_hours_by_reason", r, h.to_string());
    }
    for (code, n) in &rep.data_quality.rejected_events {
        row("", "Force", "rejected_events", code, n.to_string());
    }
    for (sector, n) in &rep.data_quality.unknown_sectors {
        row("", "Force", "unknown_sector_entries", sector, n.to_string());
    }
    for (lpa, n) in &rep.data_quality.implausible_interval {
        row("", "Force", "implausible_interval", lpa, n.to_string());
    }
    for u in &rep.data_quality.unreadable_stored_events {
        let key = format!("{}/{}/{}", u.entity_kind, u.entity_id, u.event_id);
        row(&u.lpa, "", "unreadable_stored_event", &key, "1".into());
    }
    for l in rep.missing() {
        row(&l.lpa, &l.name, "source", "", "missing".into());
    }
    let in_progress = super::text::in_progress_until(rep).is_some();
    for l in rep.present() {
        let (code, name) = (l.lpa.as_str(), l.name.as_str());
        let mut r = |measure: &str, key: &str, value: String| row(code, name, measure, key, value);
        if l.source == Source::Bucket {
            r("source", "", "bucket".into());
        }
        r("rostered_hours", "", l.rostered_hours.to_string());
        r("abstracted_hours", "", l.abstracted_hours.to_string());
        r("abstraction_ratio", "", opt(l.abstraction_ratio));
        r("target_ratio", "", l.target_ratio.to_string());
        // In the month in progress the status is the forecast's: key `forecast`.
        r(
            "rag",
            if in_progress { "forecast" } else { "" },
            l.rag.map(|g| g.as_str().to_string()).unwrap_or_default(),
        );
        if let Some(p) = &l.in_progress {
            for (measure, value) in in_progress_rows(p) {
                r(measure, "", value);
            }
        }
        r("open_abstractions", "", l.open_abstractions.to_string());
        r("shifts", "", l.shifts.to_string());
        r("abstractions", "", l.abstractions.to_string());
        r("previous_month_ratio", "", opt(l.previous_month_ratio));
        r(
            "change_vs_previous_month",
            "",
            opt(l.change_vs_previous_month),
        );
        r("year_earlier_ratio", "", opt(l.year_earlier_ratio));
        r("change_vs_year_earlier", "", opt(l.change_vs_year_earlier));
        r("planned_hours", "", l.planned_hours.to_string());
        r("unplanned_hours", "", l.unplanned_hours.to_string());
        for (k, h) in &l.abstracted_hours_by_reason {
            r("abstracted_hours_by_reason", k, h.to_string());
        }
        for (k, h) in &l.abstracted_hours_by_role {
            r("abstracted_hours_by_role", k, h.to_string());
        }
        for (k, h) in &l.abstracted_hours_by_scope {
            r("abstracted_hours_by_scope", k, h.to_string());
        }
        for (k, n) in at_least_sorted(l) {
            r(
                "officers_abstracted_at_least",
                k,
                n.map(|n| n.to_string()).unwrap_or_default(),
            );
        }
        for x in &l.sectors {
            r(
                "sector_rostered_hours",
                &x.sector,
                x.rostered_hours.to_string(),
            );
            r(
                "sector_abstracted_hours",
                &x.sector,
                x.abstracted_hours.to_string(),
            );
            r(
                "sector_abstraction_ratio",
                &x.sector,
                opt(x.abstraction_ratio),
            );
            let n = x.abstractions.map(|n| n.to_string()).unwrap_or_default();
            r("sector_abstractions", &x.sector, n);
        }
    }
    s
}

/// The month in progress's figures as (measure, value), named as in the JSON.
fn in_progress_rows(p: &InProgress) -> Vec<(&'static str, String)> {
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    vec![
        ("to_date_until", p.to_date_until.to_string()),
        (
            "rostered_hours_to_date",
            p.rostered_hours_to_date.to_string(),
        ),
        (
            "abstracted_hours_to_date",
            p.abstracted_hours_to_date.to_string(),
        ),
        (
            "unplanned_hours_to_date",
            p.unplanned_hours_to_date.to_string(),
        ),
        (
            "abstraction_ratio_to_date",
            opt(p.abstraction_ratio_to_date),
        ),
        ("rostered_hours_rest", p.rostered_hours_rest.to_string()),
        ("planned_hours_rest", p.planned_hours_rest.to_string()),
        (
            "forecast_abstracted_hours",
            p.forecast_abstracted_hours.to_string(),
        ),
        ("forecast_ratio", opt(p.forecast_ratio)),
        ("budget_hours", p.budget_hours.to_string()),
        ("budget_spent_ratio", opt(p.budget_spent_ratio)),
    ]
}

fn field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::Month;
    use crate::domain::event::Role;
    use crate::domain::readmodel::LpaMonth;
    use crate::domain::reference::Reference;
    use crate::domain::report::{month_report, LpaInputs};

    #[test]
    fn carries_the_json_figures_with_a_fixed_header() {
        let mut m = LpaMonth::default();
        m.add_rostered(Role::Pc, 36_000_000, 1);
        let inputs = vec![LpaInputs {
            lpa: "dudley".into(),
            this: m,
            officer_counts: vec![1, 2],
            ..Default::default()
        }];
        let rep = month_report(
            &Reference::west_midlands(),
            Month::new(2024, 3),
            &inputs,
            &[],
        );
        let csv = render(&rep);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(HEADER));
        assert!(lines.all(|l| l.split(',').count() == 6), "{csv}");
        assert!(csv.contains("2024-03,dudley,Dudley,rostered_hours,,10\n"));
        assert!(csv.contains("2024-03,,Force,rostered_hours,,10\n"));
        assert!(csv.contains("2024-03,dudley,Dudley,abstraction_ratio,,0\n"));
        assert!(csv.contains("2024-03,walsall,Walsall,abstraction_ratio,,\n"));
        // Two officers: below the suppression threshold, so no number.
        assert!(csv.contains("2024-03,dudley,Dudley,officers_abstracted_at_least,1+,\n"));
        assert_eq!(field("a,b"), "\"a,b\"");
    }
}
