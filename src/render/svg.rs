//! Hand-written inline SVG charts for the HTML report: an LPA's 13-month ratio trend
//! and the force-wide hours by reason. Plain strings, no crates, nothing fetched; every
//! chart has `role="img"`, a `<title>` and an `aria-label`, and every string that comes
//! from data is escaped. Uses only `text`, never `html`.

use super::text::{esc, hrs_grouped, month_abbr, month_short, pct, NOT_COUNTED};
use crate::domain::calendar::Month;
use crate::domain::report::{LpaReport, MonthReport, TrendPoint};
use std::fmt::Write;

const INK: &str = "#1f2937";
const GRID: &str = "#d6d9de";
const LINE: &str = "#1d4e89";
const MUTED: &str = "#5b6470";
/// The month in progress: its shaded column and its forecast's colour.
const SHADE: &str = "#eef2f7";
const FORECAST: &str = "#8a4b00";

/// A round step giving at most `max_ticks` intervals up to `max`.
fn nice_step(max: f64, max_ticks: f64) -> f64 {
    let raw = (max / max_ticks).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// The ratio over the trend months as a line with gaps where nothing was rostered,
/// with a dashed target line, percentage ticks and month labels.
pub(super) fn trend_chart(l: &LpaReport) -> String {
    let pts: &[TrendPoint] = &l.trend;
    let (w, h) = (640.0, 220.0);
    let (left, right, top, bottom) = (48.0, 86.0, 14.0, 46.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    // A closed month's ratio; the month in progress has none of its own (its
    // `abstraction_ratio` divides part of the month by all of it) and is drawn apart.
    let closed = |p: &TrendPoint| p.abstraction_ratio.filter(|_| p.in_progress.is_none());
    let top_value = pts
        .iter()
        .flat_map(|p| {
            let ip = p.in_progress.as_ref();
            [
                closed(p),
                ip.and_then(|q| q.abstraction_ratio_to_date),
                ip.and_then(|q| q.forecast_ratio),
            ]
        })
        .flatten()
        .fold(l.target_ratio * 1.3, f64::max)
        .max(0.05);
    let step = nice_step(top_value, 5.0);
    let ymax = (top_value / step).ceil() * step;
    let n = pts.len().max(1) as f64;
    let x = |i: usize| left + (i as f64 + 0.5) * pw / n;
    let y = |r: f64| top + ph - (r / ymax).clamp(0.0, 1.0) * ph;

    let first = pts
        .first()
        .map(|p| month_short(p.month))
        .unwrap_or_default();
    let last = pts.last().map(|p| month_short(p.month)).unwrap_or_default();
    let gaps: Vec<String> = pts
        .iter()
        .filter(|p| p.abstraction_ratio.is_none() && p.in_progress.is_none())
        .map(|p| month_short(p.month))
        .collect();
    let values: Vec<String> = pts
        .iter()
        .map(|p| match &p.in_progress {
            Some(q) => format!(
                "{} in progress: {} to date, forecast {}",
                month_short(p.month),
                pct(q.abstraction_ratio_to_date),
                pct(q.forecast_ratio)
            ),
            None => format!("{} {}", month_short(p.month), pct(p.abstraction_ratio)),
        })
        .collect();
    let label = format!(
        "Line chart of {}'s monthly abstraction ratio from {first} to {last}, against a target of {}. {}",
        l.name,
        pct(Some(l.target_ratio)),
        if gaps.is_empty() {
            "Every month has data.".to_string()
        } else {
            format!("No data for {}.", gaps.join(", "))
        }
    ) + if pts.iter().any(|p| p.in_progress.is_some()) {
        " The month in progress is drawn as its ratio to date and its forecast for the month."
    } else {
        ""
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart trend" role="img" viewBox="0 0 {w} {h}" aria-label="{a}" xmlns="http://www.w3.org/2000/svg"><title>{a}</title><desc>{d}</desc>"#,
        a = esc(&label),
        d = esc(&values.join("; "))
    );
    // The month in progress: a shaded column behind everything else, named at its foot
    // (where a month without data says so), clear of the labels of its marks.
    for (i, _) in pts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.in_progress.is_some())
    {
        let _ = write!(
            s,
            r#"<rect x="{rx:.1}" y="{top}" width="{cw:.1}" height="{ph}" fill="{SHADE}"/><text x="{xx:.1}" y="{ty}" text-anchor="middle" font-size="9" fill="{MUTED}">in progress</text>"#,
            rx = x(i) - pw / n / 2.0,
            cw = pw / n,
            xx = x(i),
            ty = top + ph - 5.0
        );
    }
    // Grid and percentage ticks.
    for k in 0..=(ymax / step).round() as usize {
        let t = k as f64 * step;
        let yy = y(t);
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{yy:.1}" x2="{x2}" y2="{yy:.1}" stroke="{GRID}" stroke-width="1"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11" fill="{INK}">{v:.0}%</text>"#,
            x2 = left + pw,
            tx = left - 6.0,
            ty = yy + 4.0,
            v = t * 100.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="12" y="{cy}" transform="rotate(-90 12 {cy})" text-anchor="middle" font-size="11" fill="{MUTED}">Abstraction ratio</text>"#,
        cy = top + ph / 2.0
    );
    // Month labels: the month under each point, the year under the first and each January.
    for (i, p) in pts.iter().enumerate() {
        let (mo, yr) = (month_abbr(p.month), p.month.year);
        let bold = if i + 1 == pts.len() {
            r#" font-weight="700""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<text x="{xx:.1}" y="{ty}" text-anchor="middle" font-size="11" fill="{INK}"{bold}>{m}</text>"#,
            xx = x(i),
            ty = top + ph + 16.0,
            m = esc(mo)
        );
        if i == 0 || mo == "Jan" {
            let _ = write!(
                s,
                r#"<text x="{xx:.1}" y="{ty}" text-anchor="middle" font-size="10" fill="{MUTED}">{yr}</text>"#,
                xx = x(i),
                ty = top + ph + 30.0,
            );
        }
        if p.abstraction_ratio.is_none() && p.in_progress.is_none() {
            let _ = write!(
                s,
                r#"<text x="{xx:.1}" y="{ty}" text-anchor="middle" font-size="9" fill="{MUTED}">no data</text>"#,
                xx = x(i),
                ty = top + ph - 5.0
            );
        }
    }
    // Target line.
    let ty = y(l.target_ratio);
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{ty:.1}" x2="{x2}" y2="{ty:.1}" stroke="{INK}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{lx}" y="{ly:.1}" font-size="11" fill="{INK}">Target {tp}</text>"#,
        x2 = left + pw,
        lx = left + pw + 6.0,
        ly = ty + 4.0,
        tp = pct(Some(l.target_ratio))
    );
    // The line, broken wherever a month has no ratio.
    let mut d = String::new();
    let mut pen_down = false;
    for (i, p) in pts.iter().enumerate() {
        match closed(p) {
            Some(r) => {
                let _ = write!(
                    d,
                    "{}{:.1} {:.1} ",
                    if pen_down { "L" } else { "M" },
                    x(i),
                    y(r)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !d.is_empty() {
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{LINE}" stroke-width="2.5" stroke-linejoin="round"/>"#,
            d.trim_end()
        );
    }
    let in_progress = pts.last().is_some_and(|p| p.in_progress.is_some());
    for (i, p) in pts.iter().enumerate() {
        if let Some(r) = closed(p) {
            let latest = i + 1 == pts.len() && !in_progress;
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{}" fill="{}" stroke="{LINE}" stroke-width="2"/>"#,
                x(i),
                y(r),
                if latest { 5.0 } else { 3.0 },
                if latest { LINE } else { "#ffffff" }
            );
            if latest {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="700" fill="{LINE}" stroke="white" stroke-width="4" paint-order="stroke">{}</text>"#,
                    x(i) + 8.0,
                    y(r) - 8.0,
                    pct(Some(r))
                );
            }
        }
    }
    for (i, p) in pts.iter().enumerate() {
        let Some(q) = &p.in_progress else { continue };
        let (xx, prev) = (x(i), i.checked_sub(1).and_then(|j| closed(&pts[j])));
        // The higher figure is labelled above its mark and the lower below, so the two
        // labels never sit on each other.
        let forecast_higher = match (q.forecast_ratio, q.abstraction_ratio_to_date) {
            (Some(f), Some(t)) => f >= t,
            _ => true,
        };
        let (above, below) = (-8.0, 17.0);
        if let Some(f) = q.forecast_ratio {
            if let Some(r) = prev {
                let _ = write!(
                    s,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{FORECAST}" stroke-width="2" stroke-dasharray="2 3"/>"#,
                    x(i - 1),
                    y(r),
                    y(f)
                );
            }
            let yf = y(f);
            let _ = write!(
                s,
                r#"<path d="M{xx:.1} {a:.1} L{b:.1} {yf:.1} L{xx:.1} {c:.1} L{d:.1} {yf:.1} Z" fill="{FORECAST}"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" font-weight="700" fill="{FORECAST}" stroke="white" stroke-width="4" paint-order="stroke">forecast {v}</text>"#,
                a = yf - 7.0,
                b = xx + 7.0,
                c = yf + 7.0,
                d = xx - 7.0,
                tx = xx + 10.0,
                ty = yf + if forecast_higher { above } else { below },
                v = pct(Some(f))
            );
        }
        if let Some(t) = q.abstraction_ratio_to_date {
            let yt = y(t);
            let _ = write!(
                s,
                r#"<rect x="{rx:.1}" y="{ry:.1}" width="9" height="9" fill="white" stroke="{LINE}" stroke-width="2"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" fill="{LINE}" stroke="white" stroke-width="4" paint-order="stroke">to date {v}</text>"#,
                rx = xx - 4.5,
                ry = yt - 4.5,
                tx = xx + 10.0,
                ty = yt + if forecast_higher { below } else { above },
                v = pct(Some(t))
            );
        }
    }
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{b}" x2="{x2}" y2="{b}" stroke="{INK}" stroke-width="1"/><line x1="{left}" y1="{top}" x2="{left}" y2="{b}" stroke="{INK}" stroke-width="1"/></svg>"#,
        b = top + ph,
        x2 = left + pw
    );
    s
}

/// Horizontal bars of force-wide hours by reason (non-zero only, largest first);
/// reasons that do not count toward the ratio are hatched and marked "(not counted)".
/// `rows` come from [`super::text::reason_rows`].
pub(super) fn reasons_chart(rows: &[(String, bool, f64)], month: Month) -> String {
    let (w, row_h, label_w, top, bottom) = (760.0, 22.0, 392.0, 8.0, 40.0);
    let bar_w = w - label_w - 86.0;
    let h = top + row_h * rows.len() as f64 + bottom;
    let max = rows.iter().map(|r| r.2).fold(0.0, f64::max).max(1.0);
    let step = nice_step(max, 5.0);
    let xmax = (max / step).ceil() * step;
    let x = |v: f64| label_w + v / xmax * bar_w;
    let described: Vec<String> = rows
        .iter()
        .map(|(label, counted, h)| {
            let nc = if *counted {
                String::new()
            } else {
                format!(" {NOT_COUNTED}")
            };
            format!("{label}{nc} {} h", hrs_grouped(*h))
        })
        .collect();
    let label = format!(
        "Bar chart of force-wide abstracted hours by reason in {}, largest first: {}.",
        month_short(month),
        described.join("; ")
    );
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart reasons" role="img" viewBox="0 0 {w} {h}" aria-label="{a}" xmlns="http://www.w3.org/2000/svg"><title>{a}</title><defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e8edf3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#5b6470" stroke-width="2.5"/></pattern></defs>"##,
        a = esc(&label)
    );
    let axis_y = top + row_h * rows.len() as f64;
    for k in 0..=(xmax / step).round() as usize {
        let t = k as f64 * step;
        let xx = x(t);
        let _ = write!(
            s,
            r#"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{axis_y}" stroke="{GRID}"/><text x="{xx:.1}" y="{ly}" text-anchor="middle" font-size="11" fill="{INK}">{v}</text>"#,
            ly = axis_y + 14.0,
            v = if step < 1.0 {
                format!("{t:.1}")
            } else {
                format!("{t:.0}")
            }
        );
    }
    for (i, (name, counted, hours)) in rows.iter().enumerate() {
        let yy = top + row_h * i as f64;
        let mut shown: String = name.chars().take(60).collect();
        if shown.len() < name.len() {
            shown.push('…');
        }
        let nc = if *counted {
            String::new()
        } else {
            format!(" {NOT_COUNTED}")
        };
        let fill = if *counted { LINE } else { "url(#hatch)" };
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ty:.1}" text-anchor="end" font-size="11.5" fill="{INK}"><title>{full}</title>{shown}{nc}</text><rect x="{label_w}" y="{ry:.1}" width="{bw:.1}" height="{bh}" fill="{fill}" stroke="{LINE}" stroke-width="{sw}"/><text x="{vx:.1}" y="{ty:.1}" font-size="11.5" fill="{INK}" stroke="white" stroke-width="4" paint-order="stroke" stroke-linejoin="round">{v} h</text>"#,
            lx = label_w - 8.0,
            ty = yy + row_h / 2.0 + 4.0,
            full = esc(name),
            shown = esc(&shown),
            ry = yy + 3.0,
            bw = (x(*hours) - label_w).max(1.0),
            bh = row_h - 6.0,
            sw = if *counted { 0.0 } else { 1.0 },
            vx = x(*hours) + 6.0,
            v = hrs_grouped(*hours)
        );
    }
    let _ = write!(
        s,
        r#"<line x1="{label_w}" y1="{top}" x2="{label_w}" y2="{axis_y}" stroke="{INK}"/><line x1="{label_w}" y1="{axis_y}" x2="{x2}" y2="{axis_y}" stroke="{INK}"/><text x="{cx}" y="{ty}" text-anchor="middle" font-size="11" fill="{MUTED}">Hours abstracted, force-wide</text></svg>"#,
        x2 = label_w + bar_w,
        cx = label_w + bar_w / 2.0,
        ty = axis_y + 32.0
    );
    s
}

/// The month in progress as a budget burn-down: per LPA, a bar of the month's abstraction
/// budget already spent, the planned abstractions still to come and the unplanned ones
/// the rate to date projects, against the budget line at 100 %. None when no LPA has a
/// budget (not the month in progress, or nothing rostered).
pub(super) fn budget_chart(rep: &MonthReport) -> Option<String> {
    let rows: Vec<(&str, f64, f64, f64)> = rep
        .lpas
        .iter()
        .filter_map(|l| {
            let p = l.in_progress.as_ref()?;
            (p.budget_hours > 0.0).then(|| {
                let b = p.budget_hours;
                let projected = (p.forecast_abstracted_hours
                    - p.abstracted_hours_to_date
                    - p.planned_hours_rest)
                    .max(0.0);
                (
                    l.name.as_str(),
                    p.abstracted_hours_to_date / b,
                    p.planned_hours_rest / b,
                    projected / b,
                )
            })
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let (w, row_h, label_w, top, bottom) = (760.0, 26.0, 150.0, 8.0, 58.0);
    let bar_w = w - label_w - 70.0;
    let h = top + row_h * rows.len() as f64 + bottom;
    let max = rows.iter().map(|r| r.1 + r.2 + r.3).fold(1.25, f64::max);
    let xmax = (max / 0.25).ceil() * 0.25;
    let x = |v: f64| label_w + v / xmax * bar_w;
    let described: Vec<String> = rows
        .iter()
        .map(|(n, a, b, c)| {
            format!(
                "{n}: {} of the budget spent, {} planned, forecast {}",
                pct(Some(*a)),
                pct(Some(*b)),
                pct(Some(a + b + c))
            )
        })
        .collect();
    let label = format!(
        "Abstraction budget burn-down for {}, figures to the start of the as-of day: {}.",
        month_short(rep.month),
        described.join("; ")
    );
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart budget" role="img" viewBox="0 0 {w} {h}" aria-label="{a}" xmlns="http://www.w3.org/2000/svg"><title>{a}</title><defs><pattern id="proj" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#e8edf3"/><line x1="0" y1="0" x2="0" y2="6" stroke="{LINE}" stroke-width="2"/></pattern></defs>"##,
        a = esc(&label)
    );
    let axis_y = top + row_h * rows.len() as f64;
    let ticks = (xmax / 0.25).round() as usize;
    for k in 0..=ticks {
        let t = k as f64 * 0.25;
        let xx = x(t);
        let _ = write!(
            s,
            r#"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{axis_y}" stroke="{GRID}"/><text x="{xx:.1}" y="{ly}" text-anchor="middle" font-size="11" fill="{INK}">{v:.0}%</text>"#,
            ly = axis_y + 14.0,
            v = t * 100.0
        );
    }
    for (i, (name, spent, planned, projected)) in rows.iter().enumerate() {
        let yy = top + row_h * i as f64 + 4.0;
        let bh = row_h - 8.0;
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty:.1}" text-anchor="end" font-size="11.5" fill="{INK}">{n}</text><rect x="{x0:.1}" y="{yy:.1}" width="{w1:.1}" height="{bh}" fill="{LINE}"/><rect x="{x1:.1}" y="{yy:.1}" width="{w2:.1}" height="{bh}" fill="#7fa7d6"/><rect x="{x2:.1}" y="{yy:.1}" width="{w3:.1}" height="{bh}" fill="url(#proj)" stroke="{LINE}" stroke-width="0.8"/><text x="{vx:.1}" y="{ty:.1}" font-size="11.5" fill="{INK}">{v}</text>"##,
            lx = label_w - 8.0,
            ty = yy + bh / 2.0 + 4.0,
            n = esc(name),
            x0 = x(0.0),
            w1 = x(*spent) - x(0.0),
            x1 = x(*spent),
            w2 = x(spent + planned) - x(*spent),
            x2 = x(spent + planned),
            w3 = x(spent + planned + projected) - x(spent + planned),
            vx = x(spent + planned + projected) + 6.0,
            v = pct(Some(spent + planned + projected))
        );
    }
    let bx = x(1.0);
    let _ = write!(
        s,
        r##"<line x1="{bx:.1}" y1="{top}" x2="{bx:.1}" y2="{axis_y}" stroke="#b42318" stroke-width="2" stroke-dasharray="5 3"/><line x1="{label_w}" y1="{axis_y}" x2="{x2}" y2="{axis_y}" stroke="{INK}"/><text x="{cx}" y="{ty}" text-anchor="middle" font-size="11" fill="{MUTED}">Share of the month's abstraction budget (target × rostered hours); dashed line: the budget.</text><text x="{cx}" y="{ty2}" text-anchor="middle" font-size="11" fill="{MUTED}">Solid: spent to date; light: planned for the rest of the month; hatched: unplanned at the rate to date.</text></svg>"##,
        x2 = label_w + bar_w,
        cx = label_w + bar_w / 2.0,
        ty = axis_y + 30.0,
        ty2 = axis_y + 45.0
    );
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(nice_step(0.26, 5.0), 0.1));
        assert!(close(nice_step(1234.0, 5.0), 250.0));
        assert!(close(nice_step(9.0, 5.0), 2.0));
    }
}
