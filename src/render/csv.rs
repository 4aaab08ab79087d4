//! CSV: one row per LPA and reason, long format, stable column names:
//! `month,lpa,lpa_name,measure,reason,value`.

use crate::domain::report::MonthReport;
use std::fmt::Write;

pub fn render(rep: &MonthReport) -> String {
    let mut s = String::from("month,lpa,lpa_name,measure,reason,value\n");
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for l in &rep.lpas {
        let mut row = |measure: &str, reason: &str, value: String| {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{}",
                rep.month,
                l.lpa,
                field(&l.name),
                measure,
                reason,
                value
            );
        };
        row("rostered_hours", "", l.rostered_hours.to_string());
        row("abstracted_hours", "", l.abstracted_hours.to_string());
        row("abstraction_ratio", "", opt(l.abstraction_ratio));
        row("target_ratio", "", l.target_ratio.to_string());
        row("open_abstractions", "", l.open_abstractions.to_string());
        row("shifts", "", l.shifts.to_string());
        row("abstractions", "", l.abstractions.to_string());
        row("planned_hours", "", l.planned_hours.to_string());
        row("unplanned_hours", "", l.unplanned_hours.to_string());
        for (r, h) in &l.abstracted_hours_by_reason {
            row("abstracted_hours_by_reason", r, h.to_string());
        }
    }
    s
}

fn field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}
