//! HTML: the board paper as one self-contained HTML5 page (inline CSS and SVG, nothing
//! fetched) that reads on screen and prints on A4. Same content as the markdown paper,
//! plus charts (see [`super::svg`]). Every string that comes from data goes through
//! [`esc`]; no officer identifier exists in a [`MonthReport`], so none can appear.

use super::svg;
use super::text::{
    at_least_sorted, count, esc, fewer_than, force_name, hrs_grouped as h, in_progress_basis,
    in_progress_until, month_long, pct, pp, rag_badge, reason_rows, role_label, IN_PROGRESS_HOURS,
    IN_PROGRESS_SECTORS, NOT_COUNTED, NO_FORECAST_HERE, SCOPES,
};
use crate::domain::reference::{Rag, Reference};
use crate::domain::report::{LpaReport, MonthReport};
use std::fmt::Write;

const CSS: &str = include_str!("report.css");

pub fn render(rep: &MonthReport, reference: &Reference) -> String {
    render_with(rep, reference, false)
}

/// With `evidence_links` (the page `serve` answers), each LPA this projector owns links
/// to the evidence behind its figures (contract v3 section 12).
pub fn render_with(rep: &MonthReport, reference: &Reference, evidence_links: bool) -> String {
    let month = esc(&month_long(rep.month));
    let force = esc(&force_name(&rep.force));
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Neighbourhood abstraction — {force} — {month}</title><style>\n{CSS}</style></head>\n<body>\n\
         <header><p class=\"kicker\">Strategic Policing and Crime Board · monthly review</p>\
         <h1>Neighbourhood abstraction: {month}</h1>\
         <p>{force} · {n} Local Policing Areas (LPAs) · how much rostered neighbourhood time \
         was spent on other duties</p></header>\n",
        n = rep.lpas.len()
    );
    super::html_in_progress::section(&mut s, rep);
    summary(&mut s, rep, reference);
    lpa_table(&mut s, rep);
    super::revision::html(&mut s, rep);
    let forecast = in_progress_until(rep).is_some();
    let rows = reason_rows(&rep.summary.abstracted_hours_by_reason, reference);
    let _ = write!(s, "<section><h2>Where the abstracted hours went</h2>");
    if rows.is_empty() {
        let _ = write!(s, "<p>No abstracted hours were recorded this month.</p>");
    } else {
        let _ = write!(
            s,
            "<figure>{}<figcaption>Force-wide hours by reason, all LPAs. Hatched bars are \
             reasons that do not count toward the abstraction ratio.</figcaption></figure>",
            svg::reasons_chart(&rows, rep.month)
        );
    }
    let zero: Vec<String> = reference
        .reasons
        .iter()
        .filter(
            |r| !matches!(rep.summary.abstracted_hours_by_reason.get(&r.code), Some(h) if *h > 0.0),
        )
        .map(|r| esc(&r.label))
        .collect();
    if !zero.is_empty() {
        let _ = write!(
            s,
            "<p class=\"note\">No hours recorded for: {}.</p>",
            zero.join(", ")
        );
    }
    if forecast {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(IN_PROGRESS_HOURS));
    }
    s.push_str("</section>\n");
    for l in rep.present() {
        let links = evidence_links && l.source == crate::domain::report::Source::Local;
        lpa_section(&mut s, l, reference, forecast, links.then_some(rep.month));
    }
    data_quality(&mut s, rep);
    footer(&mut s, rep, reference);
    s.push_str("</body></html>\n");
    s
}

fn summary(s: &mut String, rep: &MonthReport, reference: &Reference) {
    let f = &rep.summary;
    let none = rep.present().count() - f.lpas_red - f.lpas_amber - f.lpas_green;
    let open = format!(
        "{} that started this month {} still open.",
        count(f.open_abstractions, "abstraction", "abstractions"),
        if f.open_abstractions == 1 {
            "is"
        } else {
            "are"
        }
    );
    let forecast = in_progress_until(rep).is_some();
    let _ = write!(
        s,
        "<section aria-labelledby=\"summary\"><h2 id=\"summary\">Force-wide summary</h2>"
    );
    match &f.in_progress {
        Some(p) => {
            let _ = write!(
                s,
                "<p>From the 1st to the start of {until}, neighbourhood staff were rostered for \
                 <strong>{} hours</strong> and abstracted for <strong>{} hours</strong> for \
                 reasons that count: an abstraction ratio <strong>to date of {}</strong>. The \
                 <strong>forecast for the whole month is {}</strong>, and {} of the month's \
                 abstraction budget ({} hours) is spent. By forecast, {} well above target, {} \
                 above target and {} within target. {open}</p>\
                 <dl class=\"cards\">\
                 <div><dt>Ratio to date</dt><dd>{}</dd></div>\
                 <div><dt>Forecast ratio, whole month</dt><dd>{}</dd></div>\
                 <div><dt>Budget spent to date</dt><dd>{}</dd></div>\
                 <div><dt>Open abstractions</dt><dd>{}</dd></div></dl>\
                 <p class=\"status-line\"><strong>LPAs by forecast status:</strong>",
                h(p.rostered_hours_to_date),
                h(p.abstracted_hours_to_date),
                pct(p.abstraction_ratio_to_date),
                pct(p.forecast_ratio),
                pct(p.budget_spent_ratio),
                h(p.budget_hours),
                count(f.lpas_red, "LPA is forecast", "LPAs are forecast"),
                f.lpas_amber,
                f.lpas_green,
                pct(p.abstraction_ratio_to_date),
                pct(p.forecast_ratio),
                pct(p.budget_spent_ratio),
                f.open_abstractions,
                until = p.to_date_until,
            );
        }
        None => {
            let _ = write!(
                s,
                "<p>Neighbourhood staff were rostered for <strong>{} hours</strong> and abstracted for \
                 <strong>{} hours</strong> for reasons that count: an abstraction ratio of \
                 <strong>{}</strong>. {} well above target, {} above target and {} within target. \
                 {open}</p>\
                 <dl class=\"cards\">\
                 <div><dt>Rostered hours</dt><dd>{}</dd></div>\
                 <div><dt>Abstracted hours (counted)</dt><dd>{}</dd></div>\
                 <div><dt>Abstraction ratio</dt><dd>{}</dd></div>\
                 <div><dt>Open abstractions</dt><dd>{}</dd></div></dl>\
                 <p class=\"status-line\"><strong>LPAs by status:</strong>",
                h(f.rostered_hours),
                h(f.abstracted_hours),
                pct(f.abstraction_ratio),
                count(f.lpas_red, "LPA is", "LPAs are"),
                f.lpas_amber,
                f.lpas_green,
                h(f.rostered_hours),
                h(f.abstracted_hours),
                pct(f.abstraction_ratio),
                f.open_abstractions,
            );
        }
    }
    let _ = write!(
        s,
        " {} <strong>{}</strong> · {} <strong>{}</strong> · {} <strong>{}</strong>",
        rag_badge(Some(Rag::Red), forecast),
        f.lpas_red,
        rag_badge(Some(Rag::Amber), forecast),
        f.lpas_amber,
        rag_badge(Some(Rag::Green), forecast),
        f.lpas_green,
    );
    if none > 0 {
        let _ = write!(
            s,
            " · {} <strong>{none}</strong>",
            rag_badge(None, forecast)
        );
    }
    if let Some(note) = super::text::sources_note(rep) {
        let _ = write!(
            s,
            "</p><p class=\"note sources\"><strong>{}</strong>",
            esc(&note)
        );
    }
    let _ = writeln!(
        s,
        "</p><p class=\"note\">Status compares each LPA's {} with its target: within \
         target up to {}× the target, above target up to {}×, well above target beyond.</p>\
         </section>",
        if forecast {
            "forecast ratio for the whole month"
        } else {
            "ratio"
        },
        reference.rag.green_max,
        reference.rag.amber_max
    );
}

fn lpa_table(s: &mut String, rep: &MonthReport) {
    if let Some(until) = in_progress_until(rep) {
        return super::html_in_progress::lpa_table(s, rep, &in_progress_basis(until));
    }
    s.push_str(
        "<section aria-labelledby=\"by-lpa\"><h2 id=\"by-lpa\">LPAs at a glance</h2><table>\
         <thead><tr><th scope=\"col\">LPA</th><th scope=\"col\" class=\"n\">Rostered h</th>\
         <th scope=\"col\" class=\"n\">Abstracted h</th><th scope=\"col\" class=\"n\">Ratio</th>\
         <th scope=\"col\" class=\"n\">Target</th><th scope=\"col\">Status</th>\
         <th scope=\"col\" class=\"n\">vs last month</th>\
         <th scope=\"col\" class=\"n\">vs a year earlier</th>\
         <th scope=\"col\" class=\"n\">Open</th></tr></thead><tbody>",
    );
    for l in rep.present() {
        let _ = write!(
            s,
            "<tr><th scope=\"row\"><a href=\"#lpa-{code}\">{name}</a></th><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\"><strong>{}</strong></td><td class=\"n\">{}</td>\
             <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            h(l.rostered_hours),
            h(l.abstracted_hours),
            pct(l.abstraction_ratio),
            pct(Some(l.target_ratio)),
            rag_badge(l.rag, false),
            pp(l.change_vs_previous_month),
            pp(l.change_vs_year_earlier),
            l.open_abstractions,
            code = esc(&l.lpa),
            name = esc(&l.name),
        );
    }
    s.push_str(
        "</tbody></table><p class=\"note\">Ratio = counted abstracted hours ÷ rostered hours \
         on duty. Changes are in percentage points (pp): a positive change means a larger \
         share of time was abstracted. Open = abstractions started this month with no end \
         recorded yet (not in the hours).</p></section>\n",
    );
}

/// Links to the evidence behind an owned LPA's figures, on the server that answers.
fn evidence(s: &mut String, lpa: &str, month: crate::domain::calendar::Month) {
    let lpa = esc(lpa);
    let _ = write!(
        s,
        "<p class=\"note evidence\">Evidence behind these figures: \
         <a href=\"/api/v1/lpas/{lpa}/months/{month}/abstractions?format=csv\">abstractions (CSV)</a> · \
         <a href=\"/api/v1/lpas/{lpa}/months/{month}/shifts?format=csv\">shifts (CSV)</a> · \
         <a href=\"/api/v1/lpas/{lpa}/abstractions/open\">abstractions open now</a></p>"
    );
}

/// A two-column table: `rows` of (already escaped label, number text).
fn small_table(s: &mut String, caption: &str, head: (&str, &str), rows: &[(String, String)]) {
    let _ = write!(
        s,
        "<table><caption>{caption}</caption><thead><tr><th scope=\"col\">{}</th>\
         <th scope=\"col\" class=\"n\">{}</th></tr></thead><tbody>",
        head.0, head.1
    );
    for (k, v) in rows {
        let _ = write!(
            s,
            "<tr><th scope=\"row\">{k}</th><td class=\"n\">{v}</td></tr>"
        );
    }
    if rows.is_empty() {
        s.push_str("<tr><td colspan=\"2\">None this month</td></tr>");
    }
    s.push_str("</tbody></table>");
}

fn lpa_section(
    s: &mut String,
    l: &LpaReport,
    reference: &Reference,
    forecast: bool,
    evidence_of: Option<crate::domain::calendar::Month>,
) {
    let code = esc(&l.lpa);
    let name = esc(&l.name);
    let _ = write!(
        s,
        "<section class=\"lpa\" id=\"lpa-{code}\" aria-labelledby=\"h-{code}\">\
         <h2 id=\"h-{code}\">{name} {}</h2><p>",
        rag_badge(l.rag, forecast),
    );
    match (&l.in_progress, forecast) {
        (Some(p), _) => {
            let _ = write!(
                s,
                "Abstraction ratio to date <strong>{}</strong>, forecast for the month \
                 <strong>{}</strong>, against a target of {}; {} of the month's budget spent. ",
                pct(p.abstraction_ratio_to_date),
                pct(p.forecast_ratio),
                pct(Some(l.target_ratio)),
                pct(p.budget_spent_ratio),
            );
        }
        (None, true) => {
            let _ = write!(
                s,
                "Target {}; {}. ",
                pct(Some(l.target_ratio)),
                esc(NO_FORECAST_HERE)
            );
        }
        (None, false) => {
            let _ = write!(
                s,
                "Abstraction ratio <strong>{}</strong> against a target of {}; {} on last month \
                 and {} on a year earlier. ",
                pct(l.abstraction_ratio),
                pct(Some(l.target_ratio)),
                pp(l.change_vs_previous_month),
                pp(l.change_vs_year_earlier),
            );
        }
    }
    let _ = write!(
        s,
        "{} shifts rostered, {} counted abstractions started, {} still open.</p>",
        l.shifts, l.abstractions, l.open_abstractions,
    );
    if l.trend.is_empty() {
        s.push_str("<p class=\"note\">No trend data.</p>");
    } else {
        let _ = write!(
            s,
            "<figure>{}<figcaption>Monthly abstraction ratio for {name}; the dashed line is \
             the target; gaps are months with no rostered hours.{}</figcaption></figure>",
            svg::trend_chart(l),
            if forecast {
                " The month in progress is shaded: its square is the ratio to date and its \
                 diamond, joined by a dotted line, the forecast for the month."
            } else {
                ""
            }
        );
    }
    if forecast {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(IN_PROGRESS_HOURS));
    }
    s.push_str("<div class=\"grid\"><div>");
    let reasons: Vec<(String, String)> = reason_rows(&l.abstracted_hours_by_reason, reference)
        .into_iter()
        .map(|(label, counted, hours)| {
            let tag = if counted {
                String::new()
            } else {
                format!(" <span class=\"tag\">{NOT_COUNTED}</span>")
            };
            (format!("{}{tag}", esc(&label)), h(hours))
        })
        .collect();
    small_table(s, "Hours by reason", ("Reason", "Hours"), &reasons);
    let roles: Vec<(String, String)> = l
        .abstracted_hours_by_role
        .iter()
        .map(|(k, v)| (role_label(k).map_or_else(|| esc(k), String::from), h(*v)))
        .collect();
    small_table(s, "Counted hours by role", ("Role", "Hours"), &roles);
    s.push_str("</div><div>");
    let scopes: Vec<(String, String)> = SCOPES
        .iter()
        .map(|(k, label)| {
            let v = l.abstracted_hours_by_scope.get(*k).copied().unwrap_or(0.0);
            (label.to_string(), h(v))
        })
        .collect();
    small_table(
        s,
        "Counted hours by where the work was",
        ("Scope", "Hours"),
        &scopes,
    );
    let (planned_share, unplanned_share) = l.planned_shares();
    let planned = [
        (
            "Planned".to_string(),
            format!("{} ({})", h(l.planned_hours), pct(planned_share)),
        ),
        (
            "Spontaneous".to_string(),
            format!("{} ({})", h(l.unplanned_hours), pct(unplanned_share)),
        ),
    ];
    small_table(
        s,
        "Planned or spontaneous (counted)",
        ("Type", "Hours"),
        &planned,
    );
    let at_least = at_least_sorted(l);
    let officers: Vec<(String, String)> = at_least
        .into_iter()
        .map(|(k, v)| {
            let label = match k.strip_suffix('+') {
                Some(n) => format!("{} or more times", esc(n)),
                None => esc(k),
            };
            let value = match v {
                Some(n) => n.to_string(),
                None => fewer_than(reference),
            };
            (label, value)
        })
        .collect();
    small_table(
        s,
        "Officers abstracted this month",
        ("Abstracted", "Officers"),
        &officers,
    );
    s.push_str("</div></div>");
    if forecast {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(IN_PROGRESS_SECTORS));
    } else {
        sectors_table(s, l);
    }
    if let Some(month) = evidence_of {
        evidence(s, &l.lpa, month);
    }
    s.push_str("</section>\n");
}

fn sectors_table(s: &mut String, l: &LpaReport) {
    let top: Vec<_> = l
        .sectors
        .iter()
        .filter(|x| x.abstraction_ratio.is_some())
        .take(5)
        .collect();
    s.push_str(
        "<table><caption>Sectors with the highest abstraction ratio (top 5)</caption><thead>\
         <tr><th scope=\"col\">Sector</th><th scope=\"col\" class=\"n\">Ratio</th>\
         <th scope=\"col\" class=\"n\">Abstracted h</th><th scope=\"col\" class=\"n\">Rostered h</th>\
         </tr></thead><tbody>",
    );
    for x in &top {
        let name = esc(x.name.as_deref().unwrap_or(&x.sector));
        let mark = if x.known {
            String::new()
        } else {
            " <span class=\"tag\">(not in the reference data)</span>".to_string()
        };
        let _ = write!(
            s,
            "<tr><th scope=\"row\">{name}{mark}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            pct(x.abstraction_ratio),
            h(x.abstracted_hours),
            h(x.rostered_hours)
        );
    }
    if top.is_empty() {
        s.push_str("<tr><td colspan=\"4\">No sector had rostered hours this month</td></tr>");
    }
    s.push_str("</tbody></table>");
}

fn data_quality(s: &mut String, rep: &MonthReport) {
    let dq = &rep.data_quality;
    let _ = write!(
        s,
        "<section class=\"dq\" aria-labelledby=\"dq\"><h2 id=\"dq\">Data quality</h2>\
         <p>{} abstraction(s) that started this month have no end recorded yet; they are left \
         out of the hours until they end.</p><div class=\"grid\"><div>",
        dq.open_abstractions
    );
    let unknown: Vec<(String, String)> = dq
        .unknown_sectors
        .iter()
        .map(|(k, n)| (esc(k), n.to_string()))
        .collect();
    small_table(
        s,
        "Sectors not in the reference data (accepted, counted under the LPA)",
        ("LPA/sector code", "Entries"),
        &unknown,
    );
    s.push_str("</div><div>");
    let rejected: Vec<(String, String)> = dq
        .rejected_events
        .iter()
        .map(|(k, n)| (esc(k), n.to_string()))
        .collect();
    small_table(
        s,
        "Rejected events by reason code",
        ("Reason code", "Events"),
        &rejected,
    );
    if !dq.implausible_interval.is_empty() {
        s.push_str("</div><div>");
        let implausible: Vec<(String, String)> = dq
            .implausible_interval
            .iter()
            .map(|(k, n)| (esc(k), n.to_string()))
            .collect();
        small_table(
            s,
            "Implausible intervals (implausible_interval): later corrections made them longer than the limit, so they count in no hours",
            ("LPA", "Shifts and abstractions"),
            &implausible,
        );
    }
    if !dq.unreadable_stored_events.is_empty() {
        s.push_str("</div><div>");
        let unreadable: Vec<(String, String)> = dq
            .unreadable_stored_events
            .iter()
            .map(|u| {
                (
                    esc(&format!("{} {} ({})", u.entity_kind, u.entity_id, u.lpa)),
                    esc(&u.event_id),
                )
            })
            .collect();
        small_table(
            s,
            "Unreadable stored events: these shifts and abstractions keep the figures they had until the store is repaired",
            ("Shift or abstraction", "Event"),
            &unreadable,
        );
    }
    s.push_str("</div></div></section>\n");
}

fn footer(s: &mut String, rep: &MonthReport, reference: &Reference) {
    let not_counted: Vec<String> = reference
        .reasons
        .iter()
        .filter(|r| !r.counted)
        .map(|r| esc(&r.label))
        .collect();
    let not_counted = if not_counted.is_empty() {
        "Every reason counts toward the ratio.".to_string()
    } else {
        format!(
            "These reasons are listed but do not count toward the ratio: {}.",
            not_counted.join(", ")
        )
    };
    let _ = writeln!(
        s,
        "<footer><h2>How these figures are made</h2>\
         <p>Hours are exact elapsed time from start to end, split between months at midnight \
         on the 1st, Europe/London time (GMT or BST). Rostered hours are shifts not cancelled, \
         so leave and sickness show only as time not on duty. The abstraction ratio is counted \
         abstracted hours divided by rostered hours. {not_counted}</p>\
         <p>To protect individuals, counts below {} are not shown (\"fewer than {}\"). No \
         officer identifiers are used in this report. Source: {}.</p></footer>",
        reference.suppress_below,
        reference.suppress_below,
        esc(&rep.generated_from)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::Month;
    use crate::domain::contribution::{AbstractedCell, AbstractionKey};
    use crate::domain::event::{Role, Scope};
    use crate::domain::readmodel::{LpaDay, LpaMonth, SectorMonth};
    use crate::domain::report::{month_report, LpaInputs};

    const H: i64 = 3_600_000;

    fn cell(reason: &str, ms: i64) -> AbstractedCell {
        AbstractedCell {
            month: Month::new(2024, 3),
            day: jiff::civil::date(2024, 3, 1),
            sector: "x".into(),
            key: AbstractionKey {
                reason: reason.into(),
                role: Role::Pc,
                scope: Scope::Force,
                planned: false,
            },
            ms,
            count: 1,
        }
    }

    fn lpa_month(rostered_h: i64, abstracted: &[(&str, i64)]) -> LpaMonth {
        let mut m = LpaMonth::default();
        m.add_rostered(Role::Pc, rostered_h * H, rostered_h / 8);
        for (reason, hours) in abstracted {
            m.add_abstracted(&cell(reason, hours * H), 1);
        }
        m
    }

    fn lpa_day(rostered_h: i64, abstracted: &[(&str, i64)]) -> LpaDay {
        let mut d = LpaDay {
            rostered_ms: rostered_h * H,
            ..LpaDay::default()
        };
        for (reason, hours) in abstracted {
            d.add_abstracted(reason, false, hours * H);
        }
        d
    }

    fn sample() -> (Reference, MonthReport) {
        let r = Reference::west_midlands();
        let month = Month::new(2024, 3);
        let mut sector = SectorMonth::default();
        sector.add_rostered(50 * H, 6);
        sector.add_abstracted("response_cover", 20 * H, 2);
        let mut trend: Vec<(Month, LpaMonth)> = Vec::new();
        let mut mo = month;
        for i in 0..13 {
            // Two months with nothing rostered: gaps in the line.
            let m = if i == 4 || i == 5 {
                LpaMonth::default()
            } else {
                lpa_month(400, &[("response_cover", 60 + i * 3)])
            };
            trend.push((mo, m));
            mo = mo.prev();
        }
        trend.reverse();
        let inputs = vec![
            LpaInputs {
                days: None,
                lpa: "dudley".into(),
                // 130 / 400 = 32.5% against a 20% target: red.
                this: lpa_month(400, &[("response_cover", 100), ("scene_guarding", 30)]),
                prev: lpa_month(400, &[("response_cover", 80)]),
                year_ago: lpa_month(400, &[("response_cover", 60)]),
                sectors: vec![
                    ("dudley-town".into(), sector.clone()),
                    ("dudley-nowhere".into(), sector),
                ],
                // "3+" covers two officers: suppressed.
                officer_counts: vec![1, 1, 1, 1, 1, 2, 3, 4],
                trend,
            },
            LpaInputs {
                lpa: "coventry".into(),
                this: lpa_month(500, &[("response_cover", 50), ("training", 40)]),
                ..Default::default()
            },
        ];
        let rep = month_report(&r, month, &inputs, &[("unknown_lpa".into(), 3)]);
        (r, rep)
    }

    #[test]
    fn page_is_self_contained_html_with_charts() {
        let (r, rep) = sample();
        let page = render(&rep, &r);
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.trim_end().ends_with("</html>"));
        assert!(
            page.matches("<svg").count() >= 2,
            "trend and reasons charts"
        );
        assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
        assert_eq!(
            page.matches("<svg").count(),
            page.matches("role=\"img\"").count()
        );
        assert_eq!(
            page.matches("<section").count(),
            page.matches("</section>").count()
        );
        assert!(page.contains("@page{size:A4;margin:15mm}"));
        let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!without_ns.contains("http://"), "nothing fetched");
        assert!(!without_ns.contains("https://"), "nothing fetched");
        assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("<img"));
        for l in &r.lpas {
            assert!(page.contains(&l.name), "{} missing", l.name);
        }
        assert!(page.contains("Training <span class=\"tag\">(not counted)</span>"));
        assert!(
            page.contains("(not counted)</text>"),
            "marked in the bar chart"
        );
        assert!(page.contains("no data</text>"), "trend gaps are marked");
    }

    #[test]
    fn red_lpa_carries_a_text_label_not_only_colour() {
        let (r, rep) = sample();
        let d = rep.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(d.rag, Some(Rag::Red));
        let page = render(&rep, &r);
        assert!(page.contains(
            "<a href=\"#lpa-dudley\">Dudley</a></th><td class=\"n\">400.0</td><td class=\"n\">130.0</td>\
             <td class=\"n\"><strong>32.5%</strong></td><td class=\"n\">20.0%</td>\
             <td><span class=\"rag rag-red\">Well above target</span></td>"
        ));
        assert!(page.contains(
            "<h2 id=\"h-dudley\">Dudley <span class=\"rag rag-red\">Well above target</span></h2>"
        ));
        // An LPA with nothing rostered says so in words.
        assert!(page.contains(
            "<h2 id=\"h-walsall\">Walsall <span class=\"rag rag-none\">No data</span></h2>"
        ));
    }

    #[test]
    fn suppressed_counts_print_no_number() {
        let (r, rep) = sample();
        let d = rep.lpas.iter().find(|l| l.lpa == "dudley").unwrap();
        assert_eq!(d.officers_abstracted_at_least["3+"], None);
        let page = render(&rep, &r);
        let sec = &page[page.find("id=\"lpa-dudley\"").unwrap()..];
        let sec = &sec[..sec.find("</section>").unwrap()];
        let row = "<tr><th scope=\"row\">3 or more times</th><td class=\"n\">";
        let at = sec.find(row).expect("3+ row") + row.len();
        let cell = &sec[at..at + sec[at..].find("</td>").unwrap()];
        assert_eq!(cell, "fewer than 5");
        assert!(!cell.contains('2'), "the true count (2) never shows");
        assert!(sec.contains("1 or more times</th><td class=\"n\">8</td>"));
        let five = sec.find("5 or more times").unwrap();
        assert!(
            five < sec.find("10 or more times").unwrap(),
            "thresholds in numeric order"
        );
    }

    #[test]
    fn sectors_missing_from_the_reference_are_marked() {
        let (r, rep) = sample();
        let page = render(&rep, &r);
        assert!(page.contains("<th scope=\"row\">Dudley town</th>"));
        assert!(page.contains(
            "<th scope=\"row\">dudley-nowhere <span class=\"tag\">(not in the reference data)</span></th>"
        ));
        assert!(page.contains("<th scope=\"row\">dudley/dudley-nowhere</th>"));
    }

    #[test]
    fn the_month_in_progress_says_so_and_draws_the_budget_burn_down() {
        let r = Reference::west_midlands();
        let month = Month::new(2024, 3);
        let day = |d: i8| jiff::civil::date(2024, 3, d);
        let mut trend = vec![(month.prev(), lpa_month(400, &[("response_cover", 90)]))];
        trend.push((month, lpa_month(400, &[("response_cover", 52)])));
        let inputs = vec![LpaInputs {
            lpa: "dudley".into(),
            // The part-month ratio, 52 h over the whole month's 400 h, is 13.0%: within
            // a 20% target. To date it is 52 / 200 = 26.0%, and the forecast
            // 52 + 0.26 × 200 = 104 h of 400 = 26.0%: well above (over 1.25 × 20%).
            this: lpa_month(400, &[("response_cover", 52)]),
            prev: lpa_month(400, &[("response_cover", 90)]),
            trend,
            days: Some((
                day(12),
                vec![
                    (day(1), lpa_day(200, &[("response_cover", 52)])),
                    (day(20), lpa_day(200, &[])),
                ],
            )),
            ..Default::default()
        }];
        let rep = month_report(&r, month, &inputs, &[]);
        let html = render(&rep, &r);
        assert!(
            html.contains("In progress, figures to 2024-03-12"),
            "{html}"
        );
        assert!(html.contains("<svg class=\"chart budget\""));
        // Budget 20 % of 400 h = 80 h; 52 h spent; forecast 104 h.
        assert!(
            html.contains("Dudley: 65.0% of the budget spent, 0.0% planned, forecast 130.0%"),
            "{html}"
        );
        let md = crate::render::md::render(&rep, &r);
        assert!(
            md.contains("**In progress, figures to 2024-03-12.**"),
            "{md}"
        );
        // Nothing shows the part-month ratio, a status from it, or a change from it.
        for page in [&html, &md] {
            assert!(!page.contains("13.0%"), "{page}");
            assert!(!page.contains("Within target") && !page.contains("within target)"));
            assert!(
                !page.contains(" pp") && !page.contains("last month"),
                "no change against whole months: {page}"
            );
        }
        assert!(html.contains(
            "<h2 id=\"h-dudley\">Dudley <span class=\"rag rag-red rag-forecast\">Forecast well above target</span></h2>"
        ));
        assert!(html.contains("<strong>LPAs by forecast status:</strong>"));
        assert!(html.contains("<div><dt>Ratio to date</dt><dd>26.0%</dd></div>"));
        assert!(md.contains("| Dudley | 200.0 | 52.0 | 26.0% | 26.0% | 20.0% | RED (forecast well above target) | 65.0% | 0 |"), "{md}");
        // The trend draws the month as to date and forecast, in a shaded column.
        assert!(html.contains(">to date 26.0%</text>") && html.contains(">forecast 26.0%</text>"));
        assert!(html.contains(">in progress</text>"));
        let (closed_r, closed) = sample();
        let closed_html = render(&closed, &closed_r);
        assert!(!closed_html.contains("In progress") && !closed_html.contains("in progress"));
        assert!(!closed_html.contains(" rag-forecast\"") && !closed_html.contains("Forecast "));
    }
}
