//! Markdown: the board paper in plain text, with the same sections as the HTML page
//! but no charts.

use super::text::{
    at_least_sorted, fewer_than, hrs, in_progress_basis, in_progress_until, pct, pp, rag_md,
    IN_PROGRESS_HOURS, IN_PROGRESS_SECTORS, NO_FORECAST_HERE,
};
use crate::domain::reference::Reference;
use crate::domain::report::MonthReport;
use std::fmt::Write;

pub fn render(rep: &MonthReport, reference: &Reference) -> String {
    let labels = reference.reason_labels();
    let label = |c: &str| labels.get(c).copied().unwrap_or(c).to_string();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Neighbourhood abstraction: {} — {}\n",
        rep.force, rep.month
    );
    in_progress(&mut s, rep);
    let until = in_progress_until(rep);
    let forecast = until.is_some();
    let f = &rep.summary;
    match (&f.in_progress, until) {
        (Some(p), Some(until)) => {
            let _ = writeln!(
                s,
                "Force-wide, from the 1st to the start of {until}, neighbourhood staff were rostered \
                 for **{} h** and abstracted for **{} h** (counted reasons): an abstraction ratio \
                 **to date of {}**, and a **forecast of {}** for the whole month ({} of the \
                 month's budget of {} h spent). By forecast: {} LPA(s) red, {} amber, {} green. \
                 {} abstraction(s) started this month are still open.\n",
                hrs(p.rostered_hours_to_date),
                hrs(p.abstracted_hours_to_date),
                pct(p.abstraction_ratio_to_date),
                pct(p.forecast_ratio),
                pct(p.budget_spent_ratio),
                hrs(p.budget_hours),
                f.lpas_red,
                f.lpas_amber,
                f.lpas_green,
                f.open_abstractions
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "Force-wide, neighbourhood staff were rostered for **{} h** and abstracted for **{} h** \
                 (counted reasons): an abstraction ratio of **{}**. {} LPA(s) red, {} amber, {} green. \
                 {} abstraction(s) started this month are still open.\n",
                hrs(f.rostered_hours),
                hrs(f.abstracted_hours),
                pct(f.abstraction_ratio),
                f.lpas_red,
                f.lpas_amber,
                f.lpas_green,
                f.open_abstractions
            );
        }
    }
    let _ = writeln!(s, "## By LPA\n");
    if let Some(until) = until {
        let _ = writeln!(s, "{}\n", in_progress_basis(until));
        let _ = writeln!(
            s,
            "| LPA | Rostered h to date | Abstracted h to date | Ratio to date | Forecast | Target | Status (forecast) | Budget spent | Open |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---|---:|---:|");
        for l in rep.present() {
            let p = l.in_progress.as_ref();
            let h = |f: fn(&crate::domain::progress::InProgress) -> f64| {
                p.map_or_else(|| "—".to_string(), |p| hrs(f(p)))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                l.name,
                h(|p| p.rostered_hours_to_date),
                h(|p| p.abstracted_hours_to_date),
                pct(p.and_then(|p| p.abstraction_ratio_to_date)),
                pct(p.and_then(|p| p.forecast_ratio)),
                pct(Some(l.target_ratio)),
                if p.is_none() {
                    NO_FORECAST_HERE.to_string()
                } else {
                    rag_md(l.rag, true)
                },
                pct(p.and_then(|p| p.budget_spent_ratio)),
                l.open_abstractions
            );
        }
    } else {
        let _ = writeln!(
            s,
            "| LPA | Rostered h | Abstracted h | Ratio | Target | Status | vs last month | vs a year earlier | Open |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---:|---:|---:|");
        for l in rep.present() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                l.name,
                hrs(l.rostered_hours),
                hrs(l.abstracted_hours),
                pct(l.abstraction_ratio),
                pct(Some(l.target_ratio)),
                rag_md(l.rag, false),
                pp(l.change_vs_previous_month),
                pp(l.change_vs_year_earlier),
                l.open_abstractions
            );
        }
    }
    if let Some(note) = super::text::sources_note(rep) {
        let _ = writeln!(s, "\n{note}");
    }
    super::revision::md(&mut s, rep);
    let _ = writeln!(s, "\n## Hours by reason (force)\n");
    if forecast {
        let _ = writeln!(s, "{IN_PROGRESS_HOURS}\n");
    }
    let _ = writeln!(s, "| Reason | Counted | Hours |");
    let _ = writeln!(s, "|---|---|---:|");
    for r in &reference.reasons {
        let h = f
            .abstracted_hours_by_reason
            .get(&r.code)
            .copied()
            .unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            r.label,
            if r.counted { "yes" } else { "no" },
            hrs(h)
        );
    }
    for l in rep.present() {
        let _ = writeln!(s, "\n## {}\n", l.name);
        match (&l.in_progress, forecast) {
            (Some(p), _) => {
                let _ = writeln!(
                    s,
                    "Ratio to date {}, forecast {} against a target of {} — {}. {} shifts, {} counted \
                     abstractions. Recorded for the month so far (to date and booked ahead): \
                     planned {} h, spontaneous {} h.\n",
                    pct(p.abstraction_ratio_to_date),
                    pct(p.forecast_ratio),
                    pct(Some(l.target_ratio)),
                    rag_md(l.rag, true),
                    l.shifts,
                    l.abstractions,
                    hrs(l.planned_hours),
                    hrs(l.unplanned_hours)
                );
            }
            (None, true) => {
                let _ = writeln!(
                    s,
                    "Target {}; {NO_FORECAST_HERE}. {} shifts, {} counted abstractions.\n",
                    pct(Some(l.target_ratio)),
                    l.shifts,
                    l.abstractions,
                );
            }
            (None, false) => {
                let _ = writeln!(
                    s,
                    "Ratio {} against a target of {} — {}. {} shifts, {} counted abstractions. \
                     Planned {} h, spontaneous {} h.\n",
                    pct(l.abstraction_ratio),
                    pct(Some(l.target_ratio)),
                    rag_md(l.rag, false),
                    l.shifts,
                    l.abstractions,
                    hrs(l.planned_hours),
                    hrs(l.unplanned_hours)
                );
            }
        }
        let scope = |k: &str| hrs(l.abstracted_hours_by_scope.get(k).copied().unwrap_or(0.0));
        let _ = writeln!(
            s,
            "By scope: own LPA {} h, force {} h, external {} h.\n",
            scope("lpa"),
            scope("force"),
            scope("external")
        );
        let mut reasons: Vec<_> = l
            .abstracted_hours_by_reason
            .iter()
            .filter(|(_, h)| **h > 0.0)
            .collect();
        reasons.sort_by(|a, b| b.1.total_cmp(a.1));
        if !reasons.is_empty() {
            if forecast {
                let _ = writeln!(s, "{IN_PROGRESS_HOURS}\n");
            }
            let _ = writeln!(s, "| Reason | Hours |\n|---|---:|");
            for (code, h) in reasons {
                let _ = writeln!(s, "| {} | {} |", label(code), hrs(*h));
            }
            let _ = writeln!(s);
        }
        let top: Vec<_> = l
            .sectors
            .iter()
            .filter(|x| x.abstraction_ratio.is_some())
            .take(3)
            .collect();
        if forecast {
            let _ = writeln!(s, "{IN_PROGRESS_SECTORS}\n");
        } else if !top.is_empty() {
            let _ = writeln!(s, "Highest-ratio sectors:");
            for x in top {
                let _ = writeln!(
                    s,
                    "- {}: {} ({} of {} h){}",
                    x.name.clone().unwrap_or_else(|| x.sector.clone()),
                    pct(x.abstraction_ratio),
                    hrs(x.abstracted_hours),
                    hrs(x.rostered_hours),
                    if x.known {
                        ""
                    } else {
                        " — sector not in reference data"
                    }
                );
            }
            let _ = writeln!(s);
        }
        let reps: Vec<String> = at_least_sorted(l)
            .into_iter()
            .map(|(k, v)| match v {
                Some(n) => format!("{k}: {n}"),
                None => format!("{k}: {}", fewer_than(reference)),
            })
            .collect();
        let _ = writeln!(
            s,
            "Officers abstracted N or more times: {}.",
            reps.join(", ")
        );
    }
    let dq = &rep.data_quality;
    let _ = writeln!(s, "\n## Data quality\n");
    let _ = writeln!(
        s,
        "- Open abstractions started this month: {}",
        dq.open_abstractions
    );
    if dq.unknown_sectors.is_empty() {
        let _ = writeln!(s, "- Unknown sectors: none");
    } else {
        for (k, n) in &dq.unknown_sectors {
            let _ = writeln!(
                s,
                "- Unknown sector `{k}`: {n} entries (accepted, counted under the LPA)"
            );
        }
    }
    if dq.rejected_events.is_empty() {
        let _ = writeln!(s, "- Rejected events this month: none");
    } else {
        for (k, n) in &dq.rejected_events {
            let _ = writeln!(s, "- Rejected events, `{k}`: {n}");
        }
    }
    for (lpa, n) in &dq.implausible_interval {
        let _ = writeln!(
            s,
            "- Implausible intervals (`implausible_interval`), `{lpa}`: {n} shift(s) or abstraction(s) longer than {} hours, counted in no hours",
            reference.limits.max_interval_hours
        );
    }
    for u in &dq.unreadable_stored_events {
        let _ = writeln!(
            s,
            "- Unreadable stored event `{}` of {} `{}` (`{}`): its figures are held as they were until the store is repaired",
            u.event_id, u.entity_kind, u.entity_id, u.lpa
        );
    }
    let _ = writeln!(
        s,
        "\nHours are exact elapsed time split at midnight on the 1st, Europe/London. \
         Counts below {} are suppressed.",
        reference.suppress_below
    );
    s
}

/// The month in progress, when this is it: a note and each LPA's forecast.
fn in_progress(s: &mut String, rep: &MonthReport) {
    let Some(until) = rep
        .lpas
        .iter()
        .find_map(|l| l.in_progress.as_ref().map(|p| p.to_date_until))
    else {
        return;
    };
    let _ = writeln!(
        s,
        "**In progress, figures to {until}.** Figures to date run from the 1st to the start of \
         {until}; the forecast adds the abstractions planned for the rest of the month and \
         unplanned ones at the rate so far; the budget is the target times the month's \
         rostered hours.\n\n\
         | LPA | Ratio to date | Forecast ratio | Target | Budget (h) | Spent | Forecast (h) |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for l in rep.present() {
        let Some(p) = &l.in_progress else { continue };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            l.name,
            pct(p.abstraction_ratio_to_date),
            pct(p.forecast_ratio),
            pct(Some(l.target_ratio)),
            hrs(p.budget_hours),
            pct(p.budget_spent_ratio),
            hrs(p.forecast_abstracted_hours)
        );
    }
    let _ = writeln!(s);
}
