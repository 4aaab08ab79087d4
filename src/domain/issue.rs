//! Issued reports and their revisions (contract v3 section 13): what an issue holds,
//! whether a month may be issued, and how today's figures compare with the latest
//! issue. Pure: the adapters read and write issues (`app::issues`, the store's copy)
//! and hand them here.
//!
//! An issue keeps each LPA's month-API entry as it was (a JSON object, so an issue made
//! by a newer tracker with more fields still reads back); only the figures a revision
//! compares are read out of it ([`IssuedFigures`]).

use super::calendar::{Day, Month};
use super::report::{MonthReport, Source};
pub use super::revision::{Compared, Revision};
use serde::{Deserialize, Serialize};

/// One issue of a month: `{"month", "issue", "issued_at", "lpas": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub month: Month,
    /// 1, 2, … per month.
    pub issue: u64,
    /// The tracker's clock when it was made, RFC 3339.
    pub issued_at: String,
    /// The month API's entries without `in_progress`, each with its `stream_sequence`.
    pub lpas: Vec<serde_json::Value>,
}

/// `GET /api/v1/reports/monthly/{YYYY-MM}/issues`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueList {
    pub month: Month,
    pub issues: Vec<Issue>,
}

/// The figures of one LPA as an issue froze them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IssuedFigures {
    pub lpa: String,
    pub rostered_hours: f64,
    pub abstracted_hours: f64,
    pub abstraction_ratio: Option<f64>,
    /// The events-stream sequence every event of the LPA up to which was folded.
    pub stream_sequence: u64,
}

impl Issue {
    /// The issued figures of `lpa`; none when the issue does not hold it.
    pub fn figures(&self, lpa: &str) -> Option<IssuedFigures> {
        self.lpas
            .iter()
            .filter(|v| v.get("lpa").and_then(|l| l.as_str()) == Some(lpa))
            .find_map(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The `stream_sequence` the issue froze `lpa` at.
    pub fn stream_sequence(&self, lpa: &str) -> Option<u64> {
        self.figures(lpa).map(|f| f.stream_sequence)
    }
}

/// The latest (highest-numbered) of `issues`.
pub fn latest(issues: &[Issue]) -> Option<&Issue> {
    issues.iter().max_by_key(|i| i.issue)
}

/// Why a month cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{month} is not closed (the as-of month is {as_of}): only a month before the as-of month can be issued")]
    NotClosed { month: Month, as_of: Month },
    #[error("the figures of {} are missing (no projector has published them): an issue never freezes them as zero", .0.join(", "))]
    Missing(Vec<String>),
}

/// The entries of an issue of `report` (the month API's entries without `in_progress`
/// nor `revision`, each with the `stream_sequence` `sequence_of` gives for its LPA),
/// or why the month cannot be issued on `as_of`.
pub fn issue_entries(
    report: &MonthReport,
    as_of: Day,
    sequence_of: impl Fn(&str) -> Option<u64>,
) -> Result<Vec<serde_json::Value>, Refused> {
    let as_of_month = super::calendar::month_of(as_of);
    if report.month >= as_of_month {
        return Err(Refused::NotClosed {
            month: report.month,
            as_of: as_of_month,
        });
    }
    let missing: Vec<String> = report
        .lpas
        .iter()
        .filter(|l| l.source == Source::Missing || sequence_of(&l.lpa).is_none())
        .map(|l| l.lpa.clone())
        .collect();
    if !missing.is_empty() {
        return Err(Refused::Missing(missing));
    }
    Ok(report
        .lpas
        .iter()
        .map(|l| {
            let mut v = serde_json::to_value(l).expect("an LPA entry serialises");
            if let Some(o) = v.as_object_mut() {
                o.remove("in_progress");
                o.remove("revision");
                o.insert(
                    "stream_sequence".into(),
                    sequence_of(&l.lpa).unwrap_or_default().into(),
                );
            }
            v
        })
        .collect())
}

/// The revision of an LPA whose figures today are `rostered`, `abstracted`, `ratio`.
pub fn revision(
    issue: &Issue,
    issued: &IssuedFigures,
    rostered: f64,
    abstracted: f64,
    ratio: Option<f64>,
) -> Revision {
    Revision {
        issue: issue.issue,
        issued_at: issue.issued_at.clone(),
        rostered_hours_issued: issued.rostered_hours,
        abstracted_hours_issued: issued.abstracted_hours,
        abstraction_ratio_issued: issued.abstraction_ratio,
        rostered_hours_change: rostered - issued.rostered_hours,
        abstracted_hours_change: abstracted - issued.abstracted_hours,
        abstraction_ratio_change: match (ratio, issued.abstraction_ratio) {
            (Some(now), Some(then)) => Some(now - then),
            _ => None,
        },
    }
}

/// Gives each present LPA of `report` its `revision` against `latest` (none when
/// there is no issue, or the issue lacks the LPA), and records what was compared.
pub fn apply_revisions(report: &mut MonthReport, latest: Result<Option<&Issue>, String>) {
    report.compared_with = match latest {
        Ok(None) => Compared::NoIssue,
        Err(why) => Compared::Unavailable(why),
        Ok(Some(issue)) => {
            for l in report.lpas.iter_mut() {
                l.revision = match (l.source, issue.figures(&l.lpa)) {
                    (Source::Missing, _) | (_, None) => None,
                    (_, Some(f)) => Some(revision(
                        issue,
                        &f,
                        l.rostered_hours,
                        l.abstracted_hours,
                        l.abstraction_ratio,
                    )),
                };
            }
            Compared::Issue {
                issue: issue.issue,
                issued_at: issue.issued_at.clone(),
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issue(n: u64, lpas: Vec<serde_json::Value>) -> Issue {
        Issue {
            month: Month::new(2024, 3),
            issue: n,
            issued_at: "2024-04-02T09:00:00Z".into(),
            lpas,
        }
    }

    fn entry(lpa: &str, rostered: f64, abstracted: f64, seq: u64) -> serde_json::Value {
        let ratio = (rostered > 0.0).then(|| abstracted / rostered);
        json!({"lpa": lpa, "name": lpa, "rostered_hours": rostered,
               "abstracted_hours": abstracted, "abstraction_ratio": ratio,
               "stream_sequence": seq, "some_future_field": [1, 2]})
    }

    #[test]
    fn a_revision_is_now_minus_issued() {
        let i = issue(2, vec![entry("walsall", 100.0, 25.0, 40)]);
        let f = i.figures("walsall").unwrap();
        assert_eq!(f.stream_sequence, 40);
        let r = revision(&i, &f, 110.0, 33.0, Some(0.3));
        assert_eq!(r.issue, 2);
        assert_eq!(r.rostered_hours_issued, 100.0);
        assert_eq!(r.abstracted_hours_issued, 25.0);
        assert_eq!(r.abstraction_ratio_issued, Some(0.25));
        assert_eq!(r.rostered_hours_change, 10.0);
        assert_eq!(r.abstracted_hours_change, 8.0);
        assert!((r.abstraction_ratio_change.unwrap() - 0.05).abs() < 1e-12);
        assert!(r.moved());
    }

    #[test]
    fn a_ratio_change_is_null_when_either_ratio_is() {
        let i = issue(1, vec![entry("dudley", 0.0, 0.0, 3)]);
        let f = i.figures("dudley").unwrap();
        let r = revision(&i, &f, 10.0, 1.0, Some(0.1));
        assert_eq!(r.abstraction_ratio_issued, None);
        assert_eq!(r.abstraction_ratio_change, None);
        let i = issue(1, vec![entry("dudley", 10.0, 1.0, 3)]);
        let r = revision(&i, &i.figures("dudley").unwrap(), 0.0, 0.0, None);
        assert_eq!(r.abstraction_ratio_change, None);
        assert_eq!(r.rostered_hours_change, -10.0);
    }

    #[test]
    fn unchanged_figures_have_not_moved() {
        let i = issue(1, vec![entry("dudley", 10.0, 1.0, 3)]);
        let r = revision(&i, &i.figures("dudley").unwrap(), 10.0, 1.0, Some(0.1));
        assert!(!r.moved());
        assert_eq!(i.figures("sandwell"), None);
    }

    #[test]
    fn the_latest_issue_is_the_highest_number() {
        let all = vec![issue(1, vec![]), issue(3, vec![]), issue(2, vec![])];
        assert_eq!(latest(&all).unwrap().issue, 3);
        assert_eq!(latest(&[]), None);
    }

    #[test]
    fn an_issue_reads_back_from_its_json() {
        let i = issue(1, vec![entry("walsall", 1.0, 0.5, 7)]);
        let back: Issue = serde_json::from_slice(&serde_json::to_vec(&i).unwrap()).unwrap();
        assert_eq!(back, i);
        assert_eq!(back.stream_sequence("walsall"), Some(7));
    }

    mod with_reports {
        use super::*;
        use crate::domain::reference::Reference;
        use crate::domain::report::{force_report, month_report};

        fn march() -> (Reference, MonthReport) {
            let r = Reference::west_midlands();
            let rep = month_report(&r, Month::new(2024, 3), &[], &[]);
            (r, rep)
        }

        #[test]
        fn only_a_closed_month_is_issued() {
            let (_, rep) = march();
            let in_march = jiff::civil::date(2024, 3, 31);
            assert_eq!(
                issue_entries(&rep, in_march, |_| Some(1)),
                Err(Refused::NotClosed {
                    month: Month::new(2024, 3),
                    as_of: Month::new(2024, 3)
                })
            );
            let lpas = issue_entries(
                &rep,
                jiff::civil::date(2024, 4, 1),
                |l| Some(l.len() as u64),
            )
            .unwrap();
            assert_eq!(lpas.len(), rep.lpas.len());
            for (v, l) in lpas.iter().zip(&rep.lpas) {
                assert_eq!(v["lpa"], l.lpa.as_str());
                assert_eq!(v["stream_sequence"], l.lpa.len() as u64);
                assert!(v.get("in_progress").is_none() && v.get("revision").is_none());
                assert_eq!(v["rostered_hours"], 0.0);
            }
        }

        #[test]
        fn missing_figures_are_never_issued() {
            let r = Reference::west_midlands();
            let april = jiff::civil::date(2024, 4, 1);
            let rep = force_report(
                &r,
                Month::new(2024, 3),
                april,
                &[],
                &Default::default(),
                &[],
            );
            match issue_entries(&rep, april, |_| Some(1)) {
                Err(Refused::Missing(lpas)) => assert_eq!(lpas.len(), r.lpas.len()),
                other => panic!("{other:?}"),
            }
            // An owned LPA whose sequence is unknown is not issued either.
            let (_, rep) = march();
            let refused = issue_entries(&rep, april, |l| (l != "dudley").then_some(3));
            assert_eq!(refused, Err(Refused::Missing(vec!["dudley".into()])));
        }

        #[test]
        fn revisions_compare_with_the_issue_or_say_why_not() {
            let (_, mut rep) = march();
            apply_revisions(&mut rep, Err("broker down".into()));
            assert_eq!(
                rep.compared_with,
                Compared::Unavailable("broker down".into())
            );
            assert!(rep.lpas.iter().all(|l| l.revision.is_none()));
            apply_revisions(&mut rep, Ok(None));
            assert_eq!(rep.compared_with, Compared::NoIssue);
            let lpas = vec![entry("dudley", 10.0, 2.0, 5)];
            let i = issue(4, lpas);
            apply_revisions(&mut rep, Ok(Some(&i)));
            assert_eq!(
                rep.compared_with,
                Compared::Issue {
                    issue: 4,
                    issued_at: i.issued_at.clone()
                }
            );
            for l in &rep.lpas {
                match l.lpa.as_str() {
                    "dudley" => {
                        let r = l.revision.as_ref().unwrap();
                        assert_eq!(
                            (r.rostered_hours_change, r.abstracted_hours_change),
                            (-10.0, -2.0)
                        );
                        assert_eq!(r.abstraction_ratio_change, None, "no ratio today");
                    }
                    // Not in the issue: nothing to compare with.
                    _ => assert_eq!(l.revision, None),
                }
            }
        }
    }
}
