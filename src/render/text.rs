//! The words and number formats every renderer shares: HTML escaping, hours,
//! percentages and percentage points, thousands separators, month names, the status
//! (RAG) wording, role and scope labels, and the order of rows that come from maps.
//! Each wording is written here once, so md, html, svg and csv cannot drift apart.
//! Nothing here computes a figure: the figures come from `domain::report`.

use crate::domain::calendar::{Day, Month};
use crate::domain::reference::{Rag, Reference};
use crate::domain::report::{LpaReport, MonthReport, Source};
use std::collections::BTreeMap;

#[rustfmt::skip]
const MONTHS: [&str; 12] = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
];

/// The warning a partitioned force's report carries while some LPA has no figures,
/// and which LPAs come from other projectors; none when every LPA is this projector's.
pub(crate) fn sources_note(rep: &MonthReport) -> Option<String> {
    let names = |src: Source| -> Vec<&str> {
        rep.lpas
            .iter()
            .filter(|l| l.source == src)
            .map(|l| l.name.as_str())
            .collect()
    };
    let (missing, bucket) = (names(Source::Missing), names(Source::Bucket));
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "Missing: no figures for {} (no running projector owns {} and none has published {} figures), so the force-wide totals leave {} out and are incomplete.",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
            if missing.len() == 1 { "its" } else { "their" },
            if missing.len() == 1 { "it" } else { "them" },
        ));
    }
    if !bucket.is_empty() {
        parts.push(format!(
            "Figures for {} come from the projectors that own them (the NEIGHBOURHOOD_FIGURES bucket).",
            bucket.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The as-of day when this report is of the month in progress (its figures to date stop
/// at the start of that day); none for a closed month.
pub(crate) fn in_progress_until(rep: &MonthReport) -> Option<Day> {
    rep.summary
        .in_progress
        .as_ref()
        .map(|p| p.to_date_until)
        .or_else(|| {
            rep.lpas
                .iter()
                .find_map(|l| l.in_progress.as_ref().map(|p| p.to_date_until))
        })
}

/// What the figures of the month in progress rest on, said once under its tables.
pub(crate) fn in_progress_basis(until: Day) -> String {
    format!(
        "This month is in progress. Ratios to date divide the counted hours abstracted before {until} by the hours rostered before it; the forecast adds the abstractions already planned for the rest of the month and unplanned ones at the rate to date over the rest of the published roster. Status compares the forecast with the target."
    )
}

/// For a month in progress: what its hours by reason, role, scope and type hold.
pub(crate) const IN_PROGRESS_HOURS: &str = "Month in progress: these hours are those recorded for the month so far, to date and already booked for the rest of it.";

/// For a month in progress: why no sector ratios are shown.
pub(crate) const IN_PROGRESS_SECTORS: &str = "Sector ratios are shown once the month closes: sector figures are kept per month, not per day, so they cannot be split at today.";

/// For an LPA of the month in progress whose figures come from another projector.
pub(crate) const NO_FORECAST_HERE: &str = "no forecast here: its figures come from another projector, which publishes no month in progress";

/// Escapes text for HTML (and SVG) element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Hours to one decimal place: `12.5`.
pub(crate) fn hrs(h: f64) -> String {
    format!("{h:.1}")
}

/// Hours to one decimal place with thousands separators: `12,345.6`.
pub(crate) fn hrs_grouped(h: f64) -> String {
    grouped(hrs(h))
}

/// `12.3%`, or an em dash when there is no figure.
pub(crate) fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// Percentage points with a sign, e.g. `+1.2 pp`, or an em dash when there is none.
pub(crate) fn pp(d: Option<f64>) -> String {
    d.map(|d| format!("{:+.1} pp", d * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// A percentage to two decimals, for revisions: a late event moves a month's ratio by
/// hundredths of a point, which one decimal would show as no change.
pub(crate) fn pct_fine(r: Option<f64>) -> String {
    r.map(|r| format!("{:.2}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// Percentage points with a sign to two decimals, e.g. `+0.04 pp` (see [`pct_fine`]).
pub(crate) fn pp_fine(d: Option<f64>) -> String {
    d.map(|d| format!("{:+.2} pp", d * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// `12345.6` → `12,345.6`: thousands separators on a formatted number.
pub(crate) fn grouped(s: String) -> String {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s.as_str()),
    };
    let (int, frac) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    let mut g = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            g.push(',');
        }
        g.push(c);
    }
    format!("{sign}{g}{frac}")
}

/// `March 2024`.
pub(crate) fn month_long(m: Month) -> String {
    format!("{} {}", MONTHS[m.month as usize - 1], m.year)
}

/// `Mar`.
pub(crate) fn month_abbr(m: Month) -> &'static str {
    &MONTHS[m.month as usize - 1][..3]
}

/// `Mar 2024`.
pub(crate) fn month_short(m: Month) -> String {
    format!("{} {}", month_abbr(m), m.year)
}

/// `west-midlands` → `West Midlands`.
pub(crate) fn force_name(code: &str) -> String {
    code.split(['-', '_'])
        .enumerate()
        .map(|(i, w)| match w {
            "and" | "of" | "the" if i > 0 => w.to_string(),
            _ => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// `1 LPA is`, `3 LPAs are`.
pub(crate) fn count<N: PartialEq + From<u8> + std::fmt::Display>(
    n: N,
    one: &str,
    many: &str,
) -> String {
    format!("{n} {}", if n == N::from(1) { one } else { many })
}

/// The status in words: `Within target`, `Above target`, `Well above target`, or
/// `No data` when nothing was rostered. In the month in progress the status is the
/// forecast's, and says so: `Forecast above target`, or `No forecast`.
pub(crate) fn rag_label(r: Option<Rag>, forecast: bool) -> &'static str {
    match (r, forecast) {
        (Some(Rag::Green), false) => "Within target",
        (Some(Rag::Amber), false) => "Above target",
        (Some(Rag::Red), false) => "Well above target",
        (None, false) => "No data",
        (Some(Rag::Green), true) => "Forecast within target",
        (Some(Rag::Amber), true) => "Forecast above target",
        (Some(Rag::Red), true) => "Forecast well above target",
        (None, true) => "No forecast",
    }
}

/// The status as the markdown paper prints it: `RED (well above target)`,
/// `RED (forecast well above target)`, `no data`.
pub(crate) fn rag_md(r: Option<Rag>, forecast: bool) -> String {
    let label = rag_label(r, forecast).to_lowercase();
    match r {
        Some(r) => format!("{} ({label})", r.as_str().to_uppercase()),
        None => label,
    }
}

/// The status as a badge: the colour is backed by a shape and the words. A forecast's
/// badge (the month in progress) says "Forecast" and has a dashed outline.
pub(crate) fn rag_badge(r: Option<Rag>, forecast: bool) -> String {
    let class = r.map(Rag::as_str).unwrap_or("none");
    let fc = if forecast { " rag-forecast" } else { "" };
    format!(
        r#"<span class="rag rag-{class}{fc}">{}</span>"#,
        rag_label(r, forecast)
    )
}

/// A role code as a reader would say it; none for a code this report does not know.
pub(crate) fn role_label(code: &str) -> Option<&'static str> {
    match code {
        "pc" => Some("Police constable"),
        "pcso" => Some("PCSO"),
        "special_constable" => Some("Special Constable"),
        "sergeant" => Some("Sergeant"),
        "inspector" => Some("Inspector"),
        _ => None,
    }
}

/// What a suppressed count shows instead of its number: `fewer than 5`.
pub(crate) fn fewer_than(reference: &Reference) -> String {
    format!("fewer than {}", reference.suppress_below)
}

/// The mark on a reason that does not count toward the ratio.
pub(crate) const NOT_COUNTED: &str = "(not counted)";

/// Scope codes in the order they are shown, with their labels.
pub(crate) const SCOPES: [(&str, &str); 3] = [
    ("lpa", "Own LPA"),
    ("force", "Force (another LPA or force-wide)"),
    ("external", "External (mutual aid, national duty)"),
];

/// `officers_abstracted_at_least` in threshold order (1+, 3+, 5+, 10+), not key order.
pub(crate) fn at_least_sorted(l: &LpaReport) -> Vec<(&String, &Option<u64>)> {
    let mut v: Vec<_> = l.officers_abstracted_at_least.iter().collect();
    v.sort_by_key(|(k, _)| k.trim_end_matches('+').parse::<u64>().unwrap_or(u64::MAX));
    v
}

/// Hours by reason as (label, counted, hours): non-zero only, largest first. A code
/// missing from the reference data is shown as it is.
pub(crate) fn reason_rows(
    by_reason: &BTreeMap<String, f64>,
    reference: &Reference,
) -> Vec<(String, bool, f64)> {
    let mut rows: Vec<(String, bool, f64)> = by_reason
        .iter()
        .filter(|(_, h)| **h > 0.0)
        .map(|(code, h)| match reference.reason(code) {
            Some(r) => (r.label.clone(), r.counted, *h),
            None => (code.clone(), reference.is_counted(code), *h),
        })
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_strings_are_escaped() {
        assert_eq!(
            esc(r#"x<y & "z" 'w'>"#),
            "x&lt;y &amp; &quot;z&quot; &#39;w&#39;&gt;"
        );
        assert_eq!(esc("Dudley North"), "Dudley North");
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(grouped("1234567.8".into()), "1,234,567.8");
        assert_eq!(grouped("-1234.0".into()), "-1,234.0");
        assert_eq!(grouped("999.9".into()), "999.9");
        assert_eq!(hrs_grouped(12_345.66), "12,345.7");
        assert_eq!(pct(Some(0.1234)), "12.3%");
        assert_eq!(pct(None), "—");
        assert_eq!(pp(Some(0.012)), "+1.2 pp");
    }

    #[test]
    fn months_and_forces_are_named() {
        assert_eq!(month_long(Month::new(2024, 3)), "March 2024");
        assert_eq!(month_short(Month::new(2024, 3)), "Mar 2024");
        assert_eq!(month_short(Month::new(2023, 9)), "Sep 2023");
        assert_eq!(force_name("west-midlands"), "West Midlands");
        assert_eq!(force_name("avon-and-somerset"), "Avon and Somerset");
    }

    #[test]
    fn status_words_come_from_one_wording() {
        assert_eq!(rag_label(Some(Rag::Red), false), "Well above target");
        assert_eq!(rag_md(Some(Rag::Red), false), "RED (well above target)");
        assert_eq!(rag_md(Some(Rag::Green), false), "GREEN (within target)");
        assert_eq!(rag_md(Some(Rag::Amber), false), "AMBER (above target)");
        assert_eq!(rag_md(None, false), "no data");
        assert_eq!(rag_label(Some(Rag::Amber), true), "Forecast above target");
        assert_eq!(
            rag_md(Some(Rag::Red), true),
            "RED (forecast well above target)"
        );
        assert_eq!(rag_md(None, true), "no forecast");
    }
}
