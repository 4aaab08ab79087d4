//! An entity whose folded interval becomes implausible (contract section 9): each event
//! passes the limit, but `ended` or `amended` stretches the interval past
//! `limits.max_interval_hours`. It counts in no hours and is listed in data quality as
//! `implausible_interval`; a correction back inside the limit counts it again; a changed
//! limit is refused over old read models until a rebuild folds by it.

mod common;

use abstraction_tracker::app::figures;
use abstraction_tracker::domain::calendar::{Day, Month};
use abstraction_tracker::domain::event::{Amendment, Role};
use abstraction_tracker::domain::fold::Rules;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::domain::report::MonthReport;
use abstraction_tracker::project::rebuild::rebuild;
use abstraction_tracker::render::{self, Format};
use abstraction_tracker::store::Store;
use abstraction_tracker::wire::decode::Validator;
use common::*;
use serde_json::Value;

const SECTOR: &str = "dudley-town";
fn march() -> Month {
    Month::new(2024, 3)
}

fn as_of() -> Day {
    "2024-04-10".parse().unwrap()
}

fn dudley(rep: &MonthReport) -> Value {
    let json: Value = serde_json::to_value(rep).unwrap();
    lpa(&json, "dudley").clone()
}

fn hours(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn end_amended(id: &str, abstraction: &str, at: &str, end: &str) -> Value {
    event(
        id,
        "dudley",
        at,
        amended(
            abstraction,
            Amendment {
                end_ms: Some(ms(end)),
                ..Default::default()
            },
        ),
    )
}

#[test]
fn an_abstraction_ended_past_the_limit_counts_in_no_hours_until_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reference = Reference::west_midlands();
    let field = |reason: &str, start: &str| abstraction("o-1", Role::Pc, SECTOR, reason, start);
    fold_into(
        &store,
        &reference,
        &[
            event(
                "e-s1",
                "dudley",
                "2024-02-20T09:00:00Z",
                rostered(
                    "s1",
                    "o-1",
                    Role::Pc,
                    SECTOR,
                    "2024-03-04T08:00:00Z",
                    "2024-03-04T16:00:00Z",
                ),
            ),
            // 2 h, plausible: counts.
            event(
                "e-a2",
                "dudley",
                "2024-03-04T12:00:00Z",
                recorded(
                    "a2",
                    field("response_cover", "2024-03-04T10:00:00Z"),
                    "2024-03-04T12:00:00Z",
                ),
            ),
            // Started (no end, plausible), then ended 27 h later: past the 24 h default.
            event(
                "e-a1",
                "dudley",
                "2024-03-04T09:00:00Z",
                started("a1", field("public_order", "2024-03-04T09:00:00Z")),
            ),
            event(
                "e-a1-end",
                "dudley",
                "2024-03-05T12:00:00Z",
                ended("a1", "2024-03-05T12:00:00Z"),
            ),
        ],
    );
    let rep = figures::month(&store, &reference, march(), as_of()).unwrap();
    let d = dudley(&rep);
    assert_eq!(hours(&d, "rostered_hours"), 8.0);
    assert_eq!(hours(&d, "abstracted_hours"), 2.0, "{d}");
    assert_eq!(
        d["open_abstractions"], 0,
        "an implausible one is not open either"
    );
    let dq = serde_json::to_value(&rep.data_quality).unwrap();
    assert_eq!(dq["implausible_interval"], serde_json::json!({"dudley": 1}));
    let md = render::render(&rep, &reference, Format::Md);
    assert!(
        md.contains("`implausible_interval`") && md.contains("`dudley`: 1"),
        "the board's report lists it:\n{md}"
    );
    let html = render::render(&rep, &reference, Format::Html);
    assert!(html.contains("implausible_interval"), "html lists it too");

    // The correction (a new event, never an edit) brings it back inside the limit: 3 h.
    fold_into(
        &store,
        &reference,
        &[end_amended(
            "e-a1-fix",
            "a1",
            "2024-03-06T09:00:00Z",
            "2024-03-04T12:00:00Z",
        )],
    );
    let rep = figures::month(&store, &reference, march(), as_of()).unwrap();
    assert_eq!(hours(&dudley(&rep), "abstracted_hours"), 5.0);
    assert!(rep.data_quality.implausible_interval.is_empty());
}

#[test]
fn a_lowered_limit_is_refused_over_old_read_models_until_a_rebuild_folds_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut reference = Reference::west_midlands();
    // As `serve` does on start: an empty store takes on the rules it will be folded by.
    store.check_rules(&Rules::from(&reference.limits)).unwrap();
    fold_into(
        &store,
        &reference,
        &[
            event(
                "e-s1",
                "dudley",
                "2024-02-20T09:00:00Z",
                rostered(
                    "s1",
                    "o-1",
                    Role::Pc,
                    SECTOR,
                    "2024-03-04T08:00:00Z",
                    "2024-03-04T16:00:00Z",
                ),
            ),
            event(
                "e-s2",
                "dudley",
                "2024-02-20T09:00:00Z",
                rostered(
                    "s2",
                    "o-2",
                    Role::Pcso,
                    SECTOR,
                    "2024-03-05T08:00:00Z",
                    "2024-03-05T12:00:00Z",
                ),
            ),
        ],
    );
    store.check_rules(&Rules::from(&reference.limits)).unwrap();
    assert_eq!(
        hours(
            &dudley(&figures::month(&store, &reference, march(), as_of()).unwrap()),
            "rostered_hours"
        ),
        12.0
    );

    reference.limits.max_interval_hours = 6;
    let err = store
        .check_rules(&Rules::from(&reference.limits))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_interval_hours = 24")
            && err.contains("now says 6")
            && err.contains("rebuild"),
        "{err}"
    );
    let n = rebuild(&store, &Validator::new(reference.clone()), |_| {}).unwrap();
    assert_eq!(n, 2);
    store.check_rules(&Rules::from(&reference.limits)).unwrap();
    let rep = figures::month(&store, &reference, march(), as_of()).unwrap();
    assert_eq!(
        hours(&dudley(&rep), "rostered_hours"),
        4.0,
        "the 8 h shift is past 6 h"
    );
    assert_eq!(
        serde_json::to_value(&rep.data_quality).unwrap()["implausible_interval"],
        serde_json::json!({"dudley": 1})
    );
}
