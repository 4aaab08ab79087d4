//! Golden files: one report built from fixed inputs, rendered in every format and
//! compared byte for byte with `testdata/`. The inputs reach every branch the
//! renderers have (each status, gaps in a trend, unknown sectors and reasons,
//! suppressed counts, characters that need escaping). A second report is of the month
//! in progress (`report-in-progress.*`): to-date and forecast figures, forecast statuses,
//! an LPA from another projector with no forecast, and a missing one. After a deliberate
//! change to the output, regenerate with `UPDATE_GOLDEN=1 cargo nextest run --lib golden`
//! and review the diff.

use super::{render, Format};
use crate::domain::calendar::Month;
use crate::domain::contribution::{AbstractedCell, AbstractionKey};
use crate::domain::event::{Role, Scope};
use crate::domain::readmodel::{LpaDay, LpaMonth, SectorMonth};
use crate::domain::reference::Reference;
use crate::domain::report::{force_report, lpa_entry, month_report, LpaInputs, MonthReport};
use std::collections::BTreeMap;

const H: i64 = 3_600_000;

fn cell(reason: &str, role: Role, scope: Scope, planned: bool, ms: i64) -> AbstractedCell {
    AbstractedCell {
        month: Month::new(2024, 3),
        day: jiff::civil::date(2024, 3, 1),
        sector: "x".into(),
        key: AbstractionKey {
            reason: reason.into(),
            role,
            scope,
            planned,
        },
        ms,
        count: 1,
    }
}

/// `rostered_h` hours of PC time, then (reason, role, scope, planned, hours) cells.
fn lpa_month(rostered_h: i64, cells: &[(&str, Role, Scope, bool, i64)]) -> LpaMonth {
    let mut m = LpaMonth::default();
    m.add_rostered(Role::Pc, rostered_h * H, rostered_h / 8);
    for &(reason, role, scope, planned, h) in cells {
        m.add_abstracted(&cell(reason, role, scope, planned, h * H), 1);
    }
    m
}

fn trend(month: Month, base: i64, gaps: &[usize]) -> Vec<(Month, LpaMonth)> {
    let mut out = Vec::new();
    let mut mo = month;
    for i in 0..13usize {
        let m = if gaps.contains(&i) {
            LpaMonth::default()
        } else {
            let h = base + (i as i64 * 7) % 23;
            lpa_month(400, &[("response_cover", Role::Pc, Scope::Lpa, false, h)])
        };
        out.push((mo, m));
        mo = mo.prev();
    }
    out.reverse();
    out
}

fn sample() -> (Reference, MonthReport) {
    let (r, inputs, rejected) = inputs();
    let rep = month_report(&r, Month::new(2024, 3), &inputs, &rejected);
    (r, rep)
}

/// The sample month compared with its issue 2: Coventry then had 8 rostered and 6
/// abstracted hours fewer (late events since), the others are as issued.
fn sample_issued() -> (Reference, MonthReport) {
    use crate::domain::issue::{apply_revisions, issue_entries, Issue};
    let (r, mut rep) = sample();
    let as_of = jiff::civil::date(2024, 4, 2);
    let mut lpas = issue_entries(&rep, as_of, |_| Some(42)).expect("March is closed");
    let first = lpas
        .iter_mut()
        .find(|l| l["lpa"] == "coventry")
        .expect("Coventry is issued");
    let (rostered, abstracted) = (
        first["rostered_hours"].as_f64().unwrap() - 8.0,
        first["abstracted_hours"].as_f64().unwrap() - 6.0,
    );
    first["rostered_hours"] = rostered.into();
    first["abstracted_hours"] = abstracted.into();
    first["abstraction_ratio"] = (abstracted / rostered).into();
    let issue = Issue {
        month: rep.month,
        issue: 2,
        issued_at: "2024-04-02T09:30:00Z".into(),
        lpas,
    };
    apply_revisions(&mut rep, Ok(Some(&issue)));
    (r, rep)
}

/// `rostered_h` hours of a day with (reason, planned, hours) abstractions.
fn lpa_day(rostered_h: i64, abstractions: &[(&str, bool, i64)]) -> LpaDay {
    let mut d = LpaDay {
        rostered_ms: rostered_h * H,
        ..LpaDay::default()
    };
    for &(reason, planned, h) in abstractions {
        d.add_abstracted(reason, planned, h * H);
    }
    d
}

/// March 2024 as of the 12th: Dudley forecast well above target, Coventry within it,
/// Solihull above it, Walsall with nothing rostered; Sandwell from another projector
/// (no forecast), Birmingham and Wolverhampton missing.
fn sample_in_progress() -> (Reference, MonthReport) {
    let (r, mut inputs, rejected) = inputs();
    let day = |d: i8| jiff::civil::date(2024, 3, d);
    let days: [Vec<(jiff::civil::Date, LpaDay)>; 4] = [
        vec![
            (day(1), lpa_day(150, &[("response_cover", false, 40)])),
            (day(5), lpa_day(50, &[("scene_guarding", true, 10)])),
            (day(20), lpa_day(200, &[("mutual_aid", true, 30)])),
        ],
        vec![
            (day(2), lpa_day(6_000, &[("response_cover", false, 900)])),
            (day(15), lpa_day(6_000, &[("court", true, 40)])),
        ],
        vec![
            (day(3), lpa_day(40, &[("hospital_watch", false, 9)])),
            (day(25), lpa_day(60, &[])),
        ],
        vec![(day(14), lpa_day(0, &[("training", true, 4)]))],
    ];
    for (inp, d) in inputs.iter_mut().zip(days) {
        inp.days = Some((day(12), d));
    }
    let sandwell = LpaInputs {
        lpa: "sandwell".into(),
        this: lpa_month(300, &[("response_cover", Role::Pc, Scope::Lpa, false, 25)]),
        prev: lpa_month(300, &[("response_cover", Role::Pc, Scope::Lpa, false, 70)]),
        trend: trend(Month::new(2024, 3), 50, &[]),
        ..Default::default()
    };
    let remote: BTreeMap<String, _> = [("sandwell".to_string(), lpa_entry(&r, &sandwell).unwrap())]
        .into_iter()
        .collect();
    let rep = force_report(
        &r,
        Month::new(2024, 3),
        day(12),
        &inputs,
        &remote,
        &rejected,
    );
    (r, rep)
}

fn inputs() -> (Reference, Vec<LpaInputs>, [(String, u64); 2]) {
    let mut r = Reference::west_midlands();
    r.lpas[2].name = "Dudley & <Halesowen> \"North\"".into();
    let month = Month::new(2024, 3);
    let mut known = SectorMonth::default();
    known.add_rostered(50 * H, 6);
    known.add_abstracted("response_cover", 20 * H, 2);
    known.add_abstracted("training", 3 * H, 1);
    let mut odd = SectorMonth::default();
    odd.add_rostered(12 * H, 2);
    odd.add_abstracted("court", H, 1);
    odd.open = 1;
    let mut quiet = SectorMonth::default();
    quiet.add_abstracted("response_cover", 2 * H, 1);
    let mut big = SectorMonth::default();
    big.add_rostered(5_000 * H, 600);
    big.add_abstracted("response_cover", 1_234 * H + H / 2, 90);
    let mut dudley_this = lpa_month(
        400,
        &[
            ("response_cover", Role::Pc, Scope::Lpa, false, 100),
            ("scene_guarding", Role::Pcso, Scope::Force, true, 30),
            ("mutual_aid", Role::Sergeant, Scope::External, true, 12),
            ("training", Role::Pc, Scope::Lpa, true, 16),
            ("mystery_duty", Role::Inspector, Scope::Lpa, false, 2),
        ],
    );
    dudley_this.open = 1;
    let mut coventry_this = lpa_month(
        12_000,
        &[
            (
                "response_cover",
                Role::SpecialConstable,
                Scope::Lpa,
                false,
                2_200,
            ),
            ("court", Role::Pc, Scope::Lpa, true, 40),
        ],
    );
    coventry_this.open = 3;
    let inputs = vec![
        LpaInputs {
            days: None,
            lpa: "dudley".into(),
            this: dudley_this,
            prev: lpa_month(400, &[("response_cover", Role::Pc, Scope::Lpa, false, 80)]),
            year_ago: lpa_month(400, &[("response_cover", Role::Pc, Scope::Lpa, false, 60)]),
            sectors: vec![
                ("dudley-town".into(), known.clone()),
                ("dudley-halesowen".into(), quiet),
                ("a<b>&c,\"d\"".into(), odd),
                ("dudley-nowhere".into(), known.clone()),
                ("dudley-brierley-hill".into(), known.clone()),
                ("dudley-x1".into(), known.clone()),
                ("dudley-x2".into(), known),
            ],
            officer_counts: vec![1, 1, 1, 1, 1, 2, 3, 4, 10, 12, 3, 3, 3],
            trend: trend(month, 60, &[4, 5]),
        },
        LpaInputs {
            lpa: "coventry".into(),
            this: coventry_this,
            prev: lpa_month(500, &[("response_cover", Role::Pc, Scope::Lpa, false, 120)]),
            sectors: vec![("coventry-south".into(), big)],
            officer_counts: vec![1; 40],
            trend: trend(month, 2_000, &[]),
            ..Default::default()
        },
        LpaInputs {
            lpa: "solihull".into(),
            // 22 / 100 against a 20% target: amber.
            this: lpa_month(
                100,
                &[("hospital_watch", Role::Pc, Scope::Force, false, 22)],
            ),
            year_ago: lpa_month(
                100,
                &[("hospital_watch", Role::Pc, Scope::Force, false, 25)],
            ),
            officer_counts: vec![1, 1],
            trend: trend(month, 20, &[0, 12]),
            ..Default::default()
        },
        LpaInputs {
            lpa: "walsall".into(),
            this: lpa_month(0, &[("training", Role::Pc, Scope::Lpa, true, 4)]),
            ..Default::default()
        },
    ];
    let rejected = [
        ("unknown_lpa".to_string(), 3),
        ("bad,<code>".to_string(), 1),
    ];
    (r, inputs, rejected)
}

fn check(format: Format, name: &str, expected: &str) {
    check_report(sample, format, name, expected)
}

fn check_report(
    sample: fn() -> (Reference, MonthReport),
    format: Format,
    name: &str,
    expected: &str,
) {
    let (r, rep) = sample();
    let got = render(&rep, &r, format);
    let path = format!("{}/src/render/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    assert!(got == expected, "{name} differs from {path}");
}

#[test]
fn markdown_is_unchanged() {
    check(Format::Md, "report.md", include_str!("testdata/report.md"));
}

#[test]
fn html_is_unchanged() {
    check(
        Format::Html,
        "report.html",
        include_str!("testdata/report.html"),
    );
}

#[test]
fn csv_is_unchanged() {
    check(
        Format::Csv,
        "report.csv",
        include_str!("testdata/report.csv"),
    );
}

#[test]
fn json_is_unchanged() {
    check(
        Format::Json,
        "report.json",
        include_str!("testdata/report.json"),
    );
}

#[test]
fn in_progress_markdown_is_unchanged() {
    let want = include_str!("testdata/report-in-progress.md");
    check_report(
        sample_in_progress,
        Format::Md,
        "report-in-progress.md",
        want,
    );
}

#[test]
fn in_progress_html_is_unchanged() {
    let want = include_str!("testdata/report-in-progress.html");
    check_report(
        sample_in_progress,
        Format::Html,
        "report-in-progress.html",
        want,
    );
}

#[test]
fn in_progress_csv_is_unchanged() {
    let want = include_str!("testdata/report-in-progress.csv");
    check_report(
        sample_in_progress,
        Format::Csv,
        "report-in-progress.csv",
        want,
    );
}

#[test]
fn in_progress_json_is_unchanged() {
    let want = include_str!("testdata/report-in-progress.json");
    check_report(
        sample_in_progress,
        Format::Json,
        "report-in-progress.json",
        want,
    );
}

#[test]
fn issued_markdown_is_unchanged() {
    let want = include_str!("testdata/report-issued.md");
    check_report(sample_issued, Format::Md, "report-issued.md", want);
}

#[test]
fn issued_html_is_unchanged() {
    let want = include_str!("testdata/report-issued.html");
    check_report(sample_issued, Format::Html, "report-issued.html", want);
}

#[test]
fn issued_json_is_unchanged() {
    let want = include_str!("testdata/report-issued.json");
    check_report(sample_issued, Format::Json, "report-issued.json", want);
}
