//! The month in progress on the HTML page: its own section (what "to date" means, the
//! budget burn-down, each LPA's forecast) and "LPAs at a glance" as that month shows it,
//! to date and forecast, with the forecast's status. The rest of the page is
//! [`super::html`]'s, which calls these.

use super::svg;
use super::text::{esc, hrs_grouped as h, pct, rag_badge, NO_FORECAST_HERE};
use crate::domain::report::MonthReport;
use std::fmt::Write;

/// The month in progress: what "to date" means, the burn-down, and each LPA's forecast.
pub(super) fn section(s: &mut String, rep: &MonthReport) {
    let Some(until) = rep
        .lpas
        .iter()
        .find_map(|l| l.in_progress.as_ref().map(|p| p.to_date_until))
    else {
        return;
    };
    let _ = write!(
        s,
        "<section class=\"in-progress\" aria-labelledby=\"in-progress\">\
         <h2 id=\"in-progress\">In progress, figures to {until}</h2>\
         <p>This month is not over. Figures to date run from the 1st to the start of {until}. \
         The forecast adds the abstractions already planned for the rest of the month, and \
         unplanned ones at the rate seen so far over the rest of the published roster; the \
         budget is the LPA's target times the month's rostered hours.</p>"
    );
    if let Some(chart) = svg::budget_chart(rep) {
        s.push_str(&chart);
    }
    let _ = write!(
        s,
        "<table><caption>The month so far and its forecast</caption><thead><tr><th scope=\"col\">LPA</th>\
         <th scope=\"col\">Ratio to date</th><th scope=\"col\">Forecast ratio</th><th scope=\"col\">Target</th>\
         <th scope=\"col\">Budget (h)</th><th scope=\"col\">Spent</th><th scope=\"col\">Forecast (h)</th></tr></thead><tbody>"
    );
    for l in rep.present() {
        let Some(p) = &l.in_progress else { continue };
        let _ = write!(
            s,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.name),
            pct(p.abstraction_ratio_to_date),
            pct(p.forecast_ratio),
            pct(Some(l.target_ratio)),
            h(p.budget_hours),
            pct(p.budget_spent_ratio),
            h(p.forecast_abstracted_hours)
        );
    }
    s.push_str("</tbody></table></section>\n");
}

/// "LPAs at a glance" for the month in progress: to date and forecast, the status of
/// the forecast, and no comparison of a part-month with whole months.
pub(super) fn lpa_table(s: &mut String, rep: &MonthReport, basis: &str) {
    let _ = write!(
        s,
        "<section aria-labelledby=\"by-lpa\"><h2 id=\"by-lpa\">LPAs at a glance</h2>\
         <p class=\"note\">{}</p><table>\
         <thead><tr><th scope=\"col\">LPA</th><th scope=\"col\" class=\"n\">Rostered h to date</th>\
         <th scope=\"col\" class=\"n\">Abstracted h to date</th><th scope=\"col\" class=\"n\">Ratio to date</th>\
         <th scope=\"col\" class=\"n\">Forecast</th><th scope=\"col\" class=\"n\">Target</th>\
         <th scope=\"col\">Status (forecast)</th><th scope=\"col\" class=\"n\">Budget spent</th>\
         <th scope=\"col\" class=\"n\">Open</th></tr></thead><tbody>",
        esc(basis)
    );
    for l in rep.present() {
        let code = esc(&l.lpa);
        let name = esc(&l.name);
        let Some(p) = &l.in_progress else {
            let _ = write!(
                s,
                "<tr><th scope=\"row\"><a href=\"#lpa-{code}\">{name}</a></th>\
                 <td colspan=\"4\" class=\"note\">{}</td><td class=\"n\">{}</td><td>{}</td>\
                 <td class=\"n\">—</td><td class=\"n\">{}</td></tr>",
                esc(NO_FORECAST_HERE),
                pct(Some(l.target_ratio)),
                rag_badge(None, true),
                l.open_abstractions
            );
            continue;
        };
        let _ = write!(
            s,
            "<tr><th scope=\"row\"><a href=\"#lpa-{code}\">{name}</a></th><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\"><strong>{}</strong></td>\
             <td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            h(p.rostered_hours_to_date),
            h(p.abstracted_hours_to_date),
            pct(p.abstraction_ratio_to_date),
            pct(p.forecast_ratio),
            pct(Some(l.target_ratio)),
            rag_badge(l.rag, true),
            pct(p.budget_spent_ratio),
            l.open_abstractions,
        );
    }
    s.push_str(
        "</tbody></table><p class=\"note\">Ratio to date = counted abstracted hours ÷ rostered \
         hours on duty, both before today. Forecast = the month's expected counted abstracted \
         hours ÷ its rostered hours. Budget = target × the month's rostered hours. Open = \
         abstractions started this month with no end recorded yet (not in the hours).</p></section>\n",
    );
}
