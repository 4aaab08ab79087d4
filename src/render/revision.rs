//! The part of the md and html reports that compares a month with its latest issue
//! (contract v3 section 13): which issue, per LPA the issued ratio, today's and the
//! change, and the LPAs whose figures moved. Nothing for a month without an issue; a
//! line saying so where issues could not be read.

use super::text::{esc, hrs, pct_fine, pp_fine};
use crate::domain::issue::Compared;
use crate::domain::report::MonthReport;
use std::fmt::Write;

/// What the reader is told before the table.
fn intro(rep: &MonthReport, issue: u64, issued_at: &str) -> String {
    format!(
        "These figures are compared with issue {issue} of {}, issued at {issued_at}. Events \
         that arrive after a month is issued (late records, corrections) revise it: the \
         change is today's figure minus the issued one.",
        rep.month
    )
}

/// The LPAs whose figures moved since the issue, by name.
fn moved(rep: &MonthReport) -> Vec<&str> {
    rep.present()
        .filter(|l| l.revision.as_ref().is_some_and(|r| r.moved()))
        .map(|l| l.name.as_str())
        .collect()
}

fn moved_line(rep: &MonthReport) -> String {
    let moved = moved(rep);
    if moved.is_empty() {
        "No LPA's figures have moved since the issue.".into()
    } else {
        format!("Figures moved since the issue: {}.", moved.join(", "))
    }
}

fn signed_hours(h: f64) -> String {
    if h == 0.0 {
        "0".into()
    } else if h > 0.0 {
        format!("+{}", hrs(h))
    } else {
        format!("−{}", hrs(-h))
    }
}

fn unavailable(why: &str) -> String {
    format!("Issues could not be read ({why}): no revision against an issued report is shown.")
}

pub fn md(s: &mut String, rep: &MonthReport) {
    match &rep.compared_with {
        Compared::NotAsked | Compared::NoIssue => {}
        Compared::Unavailable(why) => {
            let _ = writeln!(s, "\n## Revisions since issue\n\n{}", unavailable(why));
        }
        Compared::Issue { issue, issued_at } => {
            let _ = writeln!(
                s,
                "\n## Revisions since issue {issue}\n\n{}\n",
                intro(rep, *issue, issued_at)
            );
            let _ = writeln!(
                s,
                "| LPA | Issued ratio | Today's ratio | Change | Rostered h change | Abstracted h change |"
            );
            let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
            for l in rep.present() {
                let Some(r) = &l.revision else {
                    let _ = writeln!(
                        s,
                        "| {} | — | {} | — | — | — |",
                        l.name,
                        pct_fine(l.abstraction_ratio)
                    );
                    continue;
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    l.name,
                    pct_fine(r.abstraction_ratio_issued),
                    pct_fine(l.abstraction_ratio),
                    pp_fine(r.abstraction_ratio_change),
                    signed_hours(r.rostered_hours_change),
                    signed_hours(r.abstracted_hours_change),
                );
            }
            let _ = writeln!(s, "\n{}", moved_line(rep));
        }
    }
}

pub fn html(s: &mut String, rep: &MonthReport) {
    match &rep.compared_with {
        Compared::NotAsked | Compared::NoIssue => {}
        Compared::Unavailable(why) => {
            let _ = writeln!(
                s,
                "<section aria-labelledby=\"revisions\"><h2 id=\"revisions\">Revisions since issue</h2>\
                 <p class=\"note\">{}</p></section>",
                esc(&unavailable(why))
            );
        }
        Compared::Issue { issue, issued_at } => {
            let _ = write!(
                s,
                "<section aria-labelledby=\"revisions\"><h2 id=\"revisions\">Revisions since issue {issue}</h2>\
                 <p>{}</p><table><thead><tr><th scope=\"col\">LPA</th>\
                 <th scope=\"col\" class=\"n\">Issued ratio</th><th scope=\"col\" class=\"n\">Today's ratio</th>\
                 <th scope=\"col\" class=\"n\">Change</th><th scope=\"col\" class=\"n\">Rostered h change</th>\
                 <th scope=\"col\" class=\"n\">Abstracted h change</th></tr></thead><tbody>",
                esc(&intro(rep, *issue, issued_at))
            );
            for l in rep.present() {
                let (issued, change, rostered, abstracted) = match &l.revision {
                    Some(r) => (
                        pct_fine(r.abstraction_ratio_issued),
                        pp_fine(r.abstraction_ratio_change),
                        signed_hours(r.rostered_hours_change),
                        signed_hours(r.abstracted_hours_change),
                    ),
                    None => ("—".into(), "—".into(), "—".into(), "—".into()),
                };
                let _ = write!(
                    s,
                    "<tr><th scope=\"row\">{}</th><td class=\"n\">{issued}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{change}</td><td class=\"n\">{rostered}</td><td class=\"n\">{abstracted}</td></tr>",
                    esc(&l.name),
                    pct_fine(l.abstraction_ratio),
                );
            }
            let _ = writeln!(
                s,
                "</tbody></table><p class=\"note\">{}</p></section>",
                esc(&moved_line(rep))
            );
        }
    }
}
