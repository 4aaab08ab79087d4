//! Rendering of the domain's [`MonthReport`] for people (md, html) and analysts
//! (csv, json). Renderers format only: every figure comes from `domain::report`.

mod csv;
mod html;
mod md;
mod svg;

use crate::domain::reference::Reference;
use crate::domain::report::MonthReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Html,
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "md" | "markdown" => Some(Format::Md),
            "html" => Some(Format::Html),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Md => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

pub fn render(report: &MonthReport, reference: &Reference, format: Format) -> String {
    match format {
        Format::Md => md::render(report, reference),
        Format::Html => html::render(report, reference),
        Format::Csv => csv::render(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).expect("report serialises");
            s.push('\n');
            s
        }
    }
}

/// `12.3%`, or an em dash when there is no figure.
pub(crate) fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// Percentage points with a sign, e.g. `+1.2 pp`.
pub(crate) fn pp(d: Option<f64>) -> String {
    d.map(|d| format!("{:+.1} pp", d * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// `officers_abstracted_at_least` in threshold order (1+, 3+, 5+, 10+), not key order.
pub(crate) fn at_least_sorted(
    l: &crate::domain::report::LpaReport,
) -> Vec<(&String, &Option<u64>)> {
    let mut v: Vec<_> = l.officers_abstracted_at_least.iter().collect();
    v.sort_by_key(|(k, _)| k.trim_end_matches('+').parse::<u64>().unwrap_or(u64::MAX));
    v
}

pub(crate) fn hrs(h: f64) -> String {
    format!("{h:.1}")
}

#[cfg(test)]
mod golden;
