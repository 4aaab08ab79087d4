//! Rendering of the domain's [`MonthReport`] for people (md, html) and analysts
//! (csv, json). Renderers format only: every figure, ratios included, comes from
//! `domain::report`.
//!
//! - `md`: the board paper in plain text.
//! - `html`: the board paper as one self-contained page; `svg` draws its charts,
//!   `html_in_progress` the parts the month in progress shows differently, and
//!   `report.css` is its stylesheet.
//! - `revision`: the md and html part comparing an issued month with its latest issue.
//! - `csv`: the JSON figures in long format, for analysts.
//! - `text`: escaping, number formats, month names and labels shared by all of them.
//!
//! Dependencies run one way: `html` uses `html_in_progress` and `svg`,
//! `html_in_progress` uses `svg`, and every renderer uses `text`; `text` and `svg` use
//! no other renderer.
//!
//! The month in progress (its report carries `in_progress`) is never shown through its
//! part-month ratio: statuses are the forecast's and say so, headlines give the ratio
//! to date and the forecast, trend charts draw that month apart.

mod csv;
mod html;
mod html_in_progress;
mod md;
mod revision;
mod svg;
mod text;

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

/// [`render`] as `serve` answers it: the html links each owned LPA to its evidence.
pub fn render_served(report: &MonthReport, reference: &Reference, format: Format) -> String {
    match format {
        Format::Html => html::render_with(report, reference, true),
        _ => render(report, reference, format),
    }
}

#[cfg(test)]
mod golden;
