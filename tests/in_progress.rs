//! The month in progress (contract section 8) with a fixed clock, checked field by field
//! against figures worked out by hand: October 2024, as of the 28th, the day after the
//! clocks went back (BST ended 27 October at 01:00 UTC, so the 28th starts at 00:00 UTC
//! and the 1st started at 23:00 UTC on 30 September). The handlers answer over a real
//! sled store filled through the projector, as in tests/http_oneshot.rs.

mod common;

use abstraction_tracker::app::http::{app, AppState};
use abstraction_tracker::app::metrics::Metrics;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::event::Role;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::store::Store;
use abstraction_tracker::wire::decode::Validator;
use axum::body::Body;
use axum::http::Request;
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

const SECTOR: &str = "dudley-town";

fn shift(id: &str, start: &str, end: &str) -> Value {
    event(
        &format!("e-{id}"),
        "dudley",
        "2024-09-01T09:00:00Z",
        rostered(id, "o-1", Role::Pc, SECTOR, start, end),
    )
}

fn abs(id: &str, reason: &str, planned: bool, start: &str, end: &str) -> Value {
    let mut f = abstraction("o-1", Role::Pc, SECTOR, reason, start);
    f.planned = planned;
    event(&format!("e-{id}"), "dudley", start, recorded(id, f, end))
}

fn state(dir: &std::path::Path, as_of: &str) -> AppState {
    let store = Store::open(dir).unwrap();
    let reference = Arc::new(Reference::west_midlands());
    let events = [
        // Rostered to date (before 28 Oct 00:00 UTC): 3 h of s0 (the 1st starts at
        // 23:00 UTC on 30 Sep), 8 h of s1, 4 h of s2: 15 h. The rest: 4 h of s2, 8 h of s3.
        shift("s0", "2024-09-30T22:00:00Z", "2024-10-01T02:00:00Z"),
        shift("s1", "2024-10-01T07:00:00Z", "2024-10-01T15:00:00Z"),
        shift("s2", "2024-10-27T20:00:00Z", "2024-10-28T04:00:00Z"),
        shift("s3", "2024-10-30T08:00:00Z", "2024-10-30T16:00:00Z"),
        // To date: 2 h unplanned, 2 h of a planned 4 h (the other 2 h are the rest's).
        abs(
            "a1",
            "response_cover",
            false,
            "2024-10-01T10:00:00Z",
            "2024-10-01T12:00:00Z",
        ),
        abs(
            "a2",
            "public_order",
            true,
            "2024-10-27T22:00:00Z",
            "2024-10-28T02:00:00Z",
        ),
        // The rest: 3 h planned; 1 h unplanned entered ahead (not in the forecast's
        // planned part); 1 h of training, not counted.
        abs(
            "a3",
            "public_order",
            true,
            "2024-10-30T10:00:00Z",
            "2024-10-30T13:00:00Z",
        ),
        abs(
            "a4",
            "response_cover",
            false,
            "2024-10-30T14:00:00Z",
            "2024-10-30T15:00:00Z",
        ),
        abs(
            "a5",
            "training",
            false,
            "2024-10-01T12:00:00Z",
            "2024-10-01T13:00:00Z",
        ),
    ];
    fold_into(&store, &reference, &events);
    let clock = Clock::AsOf(as_of.parse().unwrap());
    let metrics = Arc::new(Metrics::new(store.clone(), reference.clone(), clock));
    AppState {
        store,
        reference,
        metrics,
        probe: None,
        api_token: None,
        view: None,
        issues: None,
    }
}

async fn get(state: &AppState, uri: &str) -> String {
    let res = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(res.status().is_success(), "{uri}: {}", res.status());
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn close(got: &Value, want: f64, field: &str) {
    let g = got[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is {got}"));
    assert!((g - want).abs() < 1e-9, "{field}: got {g}, want {want}");
}

#[tokio::test]
async fn every_in_progress_field_matches_the_figures_worked_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path(), "2024-10-28T10:00:00Z");
    let target = Reference::west_midlands()
        .lpa("dudley")
        .unwrap()
        .target_ratio;
    let body: Value = serde_json::from_str(&get(&s, "/api/v1/months/2024-10").await).unwrap();
    let dudley = body["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lpa"] == "dudley")
        .unwrap();
    let p = &dudley["in_progress"];
    assert_eq!(p["to_date_until"], "2024-10-28");
    close(p, 15.0, "rostered_hours_to_date");
    close(p, 4.0, "abstracted_hours_to_date");
    close(p, 2.0, "unplanned_hours_to_date");
    close(p, 4.0 / 15.0, "abstraction_ratio_to_date");
    close(p, 12.0, "rostered_hours_rest");
    close(p, 5.0, "planned_hours_rest");
    // 4 + 5 + (2 / 15) × 12 = 10.6
    close(p, 10.6, "forecast_abstracted_hours");
    close(p, 10.6 / 27.0, "forecast_ratio");
    close(p, target * 27.0, "budget_hours");
    close(p, 4.0 / (target * 27.0), "budget_spent_ratio");
    // The whole month is unchanged by the split: 27 h rostered, 10 h counted.
    close(dudley, 27.0, "rostered_hours");
    close(dudley, 10.0, "abstracted_hours");

    // An LPA with nothing rostered is in progress too, with nulls where a ratio has no
    // denominator.
    let coventry = body["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lpa"] == "coventry")
        .unwrap();
    assert_eq!(
        coventry["in_progress"]["abstraction_ratio_to_date"],
        Value::Null
    );
    assert_eq!(coventry["in_progress"]["forecast_ratio"], Value::Null);
    assert_eq!(coventry["in_progress"]["budget_spent_ratio"], Value::Null);

    // Any other month is not in progress.
    let sept: Value = serde_json::from_str(&get(&s, "/api/v1/months/2024-09").await).unwrap();
    for l in sept["lpas"].as_array().unwrap() {
        assert_eq!(l["in_progress"], Value::Null, "{}", l["lpa"]);
    }

    // The metrics of the as-of month carry the same figures.
    let metrics = get(&s, "/metrics").await;
    let value = |name: &str| -> f64 {
        let prefix = format!("{name}{{lpa=\"dudley\",month=\"2024-10\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} missing from /metrics"))
            .parse()
            .unwrap()
    };
    assert!((value("neighbourhood_abstraction_ratio_to_date") - 4.0 / 15.0).abs() < 1e-9);
    assert!((value("neighbourhood_abstraction_forecast_ratio") - 10.6 / 27.0).abs() < 1e-9);
    assert!(
        (value("neighbourhood_abstraction_budget_spent_ratio") - 4.0 / (target * 27.0)).abs()
            < 1e-9
    );
    // Spent to date and planned for the rest: (4 + 5) / budget.
    assert!(
        (value("neighbourhood_abstraction_budget_planned_ratio") - 9.0 / (target * 27.0)).abs()
            < 1e-9
    );
    assert!(
        !metrics
            .contains("neighbourhood_abstraction_forecast_ratio{lpa=\"dudley\",month=\"2024-09\"}"),
        "only the as-of month has a forecast"
    );
}

#[tokio::test]
async fn report_json_carries_the_month_in_progress_and_a_later_clock_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path(), "2024-10-28T10:00:00Z");
    let json: Value =
        serde_json::from_str(&get(&s, "/api/v1/reports/monthly/2024-10?format=json").await)
            .unwrap();
    let dudley = json["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lpa"] == "dudley")
        .unwrap();
    assert_eq!(dudley["in_progress"]["to_date_until"], "2024-10-28");
    drop(s);
    // The same store a month later: October is closed.
    let later = state_reopened(dir.path(), "2024-11-15T10:00:00Z");
    let body: Value = serde_json::from_str(&get(&later, "/api/v1/months/2024-10").await).unwrap();
    for l in body["lpas"].as_array().unwrap() {
        assert_eq!(l["in_progress"], Value::Null, "{}", l["lpa"]);
    }
}

fn state_reopened(dir: &std::path::Path, as_of: &str) -> AppState {
    let store = Store::open(dir).unwrap();
    let reference = Arc::new(Reference::west_midlands());
    let clock = Clock::AsOf(as_of.parse().unwrap());
    let metrics = Arc::new(Metrics::new(store.clone(), reference.clone(), clock));
    AppState {
        store,
        reference,
        metrics,
        probe: None,
        api_token: None,
        view: None,
        issues: None,
    }
}

/// sled releases its lock from a background thread after a drop (spacejam/sled#1234).
fn open_raw(dir: &std::path::Path) -> sled::Db {
    for _ in 0..100 {
        if let Ok(db) = sled::open(dir) {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sled::open(dir).unwrap()
}

#[tokio::test]
async fn a_format_2_store_is_upgraded_by_a_rebuild_to_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let as_of = "2024-10-28T10:00:00Z";
    let before = {
        let s = state(dir.path(), as_of);
        get(&s, "/api/v1/months/2024-10").await
    };
    {
        // What format 2 wrote: the same log and month models, no day models.
        let db = open_raw(dir.path());
        let days: Vec<_> = db.scan_prefix(b"d/").keys().map(|k| k.unwrap()).collect();
        assert!(!days.is_empty(), "the projector writes day models");
        for k in days {
            db.remove(k).unwrap();
        }
        db.insert(b"m/format", b"2".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.needs_upgrade().unwrap());
    let err = store.check_consistent().unwrap_err().to_string();
    assert!(err.contains("rebuild"), "{err}");
    let validator = Validator::new(Reference::west_midlands());
    let n = abstraction_tracker::project::rebuild::rebuild(&store, &validator, |_| {}).unwrap();
    assert_eq!(n, 9);
    assert!(!store.needs_upgrade().unwrap());
    store.check_consistent().unwrap();
    drop(store);
    let after = state_reopened(dir.path(), as_of);
    assert_eq!(get(&after, "/api/v1/months/2024-10").await, before);
}

/// Walsall in October 2024 as of the 28th: 10 h rostered to date with 3 h abstracted
/// (unplanned), 30 h rostered for the rest and nothing entered for it yet. The month's
/// own ratio divides 3 h by all 40 h: 7.5%, within the 20% target. To date it is 30%,
/// and the forecast 3 + 0.3 × 30 = 12 h of 40 h: 30%, well above it.
fn walsall_state(dir: &std::path::Path) -> AppState {
    let store = Store::open(dir).unwrap();
    let reference = Arc::new(Reference::west_midlands());
    let sector = "walsall-north";
    let shift = |id: &str, start: &str, end: &str| {
        event(
            &format!("e-{id}"),
            "walsall",
            "2024-09-01T09:00:00Z",
            rostered(id, "o-2", Role::Pc, sector, start, end),
        )
    };
    let mut f = abstraction(
        "o-2",
        Role::Pc,
        sector,
        "response_cover",
        "2024-10-02T08:00:00Z",
    );
    f.planned = false;
    let events = [
        shift("w1", "2024-10-02T07:00:00Z", "2024-10-02T17:00:00Z"),
        shift("w2", "2024-10-29T07:00:00Z", "2024-10-29T17:00:00Z"),
        shift("w3", "2024-10-30T07:00:00Z", "2024-10-30T17:00:00Z"),
        shift("w4", "2024-10-31T07:00:00Z", "2024-10-31T17:00:00Z"),
        event(
            "e-wa1",
            "walsall",
            "2024-10-02T12:00:00Z",
            recorded("wa1", f, "2024-10-02T11:00:00Z"),
        ),
    ];
    fold_into(&store, &reference, &events);
    let clock = Clock::AsOf("2024-10-28T10:00:00Z".parse().unwrap());
    let metrics = Arc::new(Metrics::new(store.clone(), reference.clone(), clock));
    AppState {
        store,
        reference,
        metrics,
        probe: None,
        api_token: None,
        view: None,
        issues: None,
    }
}

#[tokio::test]
async fn the_status_of_the_month_in_progress_is_the_forecasts_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let s = walsall_state(dir.path());
    let reference = Reference::west_midlands();
    let body: Value = serde_json::from_str(&get(&s, "/api/v1/months/2024-10").await).unwrap();
    let w = body["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lpa"] == "walsall")
        .unwrap();
    let target = w["target_ratio"].as_f64().unwrap();
    close(w, 3.0 / 40.0, "abstraction_ratio");
    let part_month = reference.rag(3.0 / 40.0, target);
    let p = &w["in_progress"];
    close(p, 0.3, "abstraction_ratio_to_date");
    close(p, 0.3, "forecast_ratio");
    let forecast = reference.rag(0.3, target);
    assert_ne!(part_month, forecast, "the case tells the two apart");
    assert_eq!(w["rag"], forecast.as_str(), "{w}");
    assert_eq!(w["change_vs_previous_month"], Value::Null);
    let trend_last = w["trend"].as_array().unwrap().last().unwrap();
    assert_eq!(trend_last["month"], "2024-10");
    close(&trend_last["in_progress"], 0.3, "forecast_ratio");
    let summary = &body["summary"];
    assert_eq!(summary["lpas_red"], 1, "{summary}");
    assert_eq!(summary["lpas_green"], 0, "{summary}");
    close(&summary["in_progress"], 0.3, "abstraction_ratio_to_date");

    let report = |format: &str| format!("/api/v1/reports/monthly/2024-10?format={format}");
    let json: Value = serde_json::from_str(&get(&s, &report("json")).await).unwrap();
    assert_eq!(json["lpas"], body["lpas"], "report json is the month API's");
    let csv = get(&s, &report("csv")).await;
    assert!(
        csv.contains(&format!(
            "2024-10,walsall,Walsall,rag,forecast,{}\n",
            forecast.as_str()
        )),
        "{csv}"
    );
    assert!(
        csv.contains("2024-10,walsall,Walsall,forecast_ratio,,0.3\n"),
        "{csv}"
    );
    assert!(
        csv.contains("2024-10,,Force,lpas_forecast_rag,red,1\n"),
        "{csv}"
    );
    assert!(!csv.contains(",lpas_rag,"), "{csv}");
    let md = get(&s, &report("md")).await;
    assert!(
        md.contains(
            "| Walsall | 10.0 | 3.0 | 30.0% | 30.0% | 20.0% | RED (forecast well above target) |"
        ),
        "{md}"
    );
    let html = get(&s, &report("html")).await;
    assert!(html.contains(
        "<h2 id=\"h-walsall\">Walsall <span class=\"rag rag-red rag-forecast\">Forecast well above target</span></h2>"
    ), "{html}");
    // The part-month ratio and its status appear nowhere the board reads.
    for page in [&md, &html] {
        assert!(!page.contains(" 7.5%") && !page.contains(">7.5%"), "{page}");
        assert!(!page.contains("Within target") && !page.contains("(within target)"));
    }
}

/// Per LPA: (code, ratio to date, forecast ratio, month ratio).
type Figures = Vec<(String, Option<f64>, Option<f64>, Option<f64>)>;

/// The simulated force's December 2026, read as of `as_of`: per LPA, (ratio to date,
/// forecast ratio, month ratio) from the month API's figures.
fn simulated_december(officers: u32, to: &str, now: Option<&str>, as_of: &str) -> Figures {
    use abstraction_tracker::tools::simulate::{simulate, SimConfig};
    let reference = Reference::west_midlands();
    let cfg = SimConfig {
        seed: 1,
        from: "2026-12-01".parse().unwrap(),
        to: to.parse().unwrap(),
        officers,
        now: now.map(|t| t.parse::<jiff::Timestamp>().unwrap().as_second()),
    };
    let mut out = Vec::new();
    simulate(&cfg, &reference, &mut out, &mut |_, _| {}).unwrap();
    let events: Vec<Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for chunk in events.chunks(5_000) {
        fold_into(&store, &reference, chunk);
    }
    let clock = Clock::AsOf(as_of.parse().unwrap());
    let month = "2026-12".parse().unwrap();
    let rep =
        abstraction_tracker::app::figures::month(&store, &reference, month, clock.day()).unwrap();
    rep.lpas
        .iter()
        .map(|l| {
            let p = l.in_progress.as_ref();
            (
                l.lpa.clone(),
                p.and_then(|p| p.abstraction_ratio_to_date),
                p.and_then(|p| p.forecast_ratio),
                l.abstraction_ratio,
            )
        })
        .collect()
}

/// The forecast check of docs/forecast-check.md: the simulated force's December 2026
/// as the tracker saw it at noon on the 7th (the live simulation: roster and planned
/// work booked ahead, unplanned abstractions up to then), against the whole month
/// simulated with the same seed and read after it closed. At the demo's size (2,000
/// staff) every LPA's forecast lands within 4 percentage points of the month's final
/// ratio. FORECAST_CHECK_OFFICERS sets another size (smaller forces sample fewer days'
/// abstractions, and their first week strays further from their month).
#[test]
fn the_forecast_made_on_day_7_lands_near_the_months_final_ratio() {
    let officers = std::env::var("FORECAST_CHECK_OFFICERS")
        .ok()
        .map_or(2000, |v| v.parse().unwrap());
    let day7 = simulated_december(
        officers,
        "2026-12-31",
        Some("2026-12-07T12:00:00Z"),
        "2026-12-07T12:00:00Z",
    );
    let closed = simulated_december(officers, "2027-01-03", None, "2027-01-15T12:00:00Z");
    println!(
        "{officers} officers, seed 1: December 2026 as of 2026-12-07T12:00Z against the month closed\n\
         | LPA | Ratio to date | Forecast | Final ratio | Forecast error |\n|---|---:|---:|---:|---:|"
    );
    let pct = |r: Option<f64>| r.map_or("—".into(), |r| format!("{:.1}%", r * 100.0));
    let mut worst: f64 = 0.0;
    for ((lpa, to_date, forecast, _), (lpa2, _, none, final_ratio)) in day7.iter().zip(&closed) {
        assert_eq!(lpa, lpa2);
        assert_eq!(*none, None, "December is closed by 15 January");
        let (f, r) = (forecast.unwrap(), final_ratio.unwrap());
        println!(
            "| {lpa} | {} | {} | {} | {:+.1} pp |",
            pct(*to_date),
            pct(Some(f)),
            pct(Some(r)),
            (f - r) * 100.0
        );
        worst = worst.max((f - r).abs());
    }
    println!("largest error: {:.1} pp", worst * 100.0);
    if officers == 2000 {
        assert!(worst < 0.04, "a forecast missed the month by {worst}");
    }
}
