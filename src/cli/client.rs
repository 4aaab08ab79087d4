//! The HTTP client behind `report --server`: one GET of
//! `/api/v1/reports/monthly/{YYYY-MM}?format=...` on a running tracker, since sled
//! allows only one process (the `serve`) per data directory.

use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::render::Format;
use anyhow::Context as _;
use clap::ValueEnum as _;

/// The report body for `month` in `format`, with `Authorization: Bearer <token>` when
/// a token is given.
pub fn fetch_report(
    server: &str,
    month: Month,
    format: Format,
    token: Option<&str>,
) -> anyhow::Result<String> {
    // The name `--format` accepts (md, html, csv, json) is the one the API's `format`
    // query parameter accepts too.
    let format = format
        .to_possible_value()
        .expect("no Format variant is skipped");
    let url = format!(
        "{}/api/v1/reports/monthly/{month}?format={}",
        server.trim_end_matches('/'),
        format.get_name()
    );
    let mut req = ureq::get(&url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req
        .call()
        .with_context(|| format!("asking the tracker at {url}"))?;
    resp.body_mut()
        .read_to_string()
        .context("reading the tracker's answer")
}
