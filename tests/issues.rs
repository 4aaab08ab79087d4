//! Issued reports and their revisions (contract v3 section 13) through a real
//! nats-server and the tracker binary: a closed month is issued (409 for the as-of
//! month and later, 400 for a malformed month), numbered 1, 2, … per month; late
//! events after the issue revise exactly the LPAs they touch, and mark exactly their
//! evidence entries `revised_since_issue`; the md and html reports say which issue
//! they compare with; `report --issue` issues through `--server`; and once `serve`
//! stops, `report --data-dir` and `explain --data-dir` compare with the store's copy
//! of the issues (or the bucket, with `--nats-url`).

mod common;

use abstraction_tracker::domain::event::Role;
use abstraction_tracker::domain::reference::Reference;
use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const MONTH: &str = "2024-03";

fn sector(reference: &Reference, lpa: &str) -> String {
    reference.lpa(lpa).unwrap().sectors[0].code.clone()
}

/// An 8-hour shift on `day` of March 2024 and, when `abstracted` is given, that many
/// hours of response cover from its start.
fn shift_with_abstraction(
    reference: &Reference,
    lpa: &str,
    id: &str,
    day: u32,
    abstracted: Option<u32>,
) -> Vec<Vec<u8>> {
    let sector = sector(reference, lpa);
    let start = format!("2024-03-{day:02}T08:00:00Z");
    let end = format!("2024-03-{day:02}T16:00:00Z");
    let mut out = vec![event(
        &format!("{id}-r"),
        lpa,
        "2024-03-01T07:00:00Z",
        rostered(
            &format!("{id}-shift"),
            &format!("o-{id}"),
            Role::Pc,
            &sector,
            &start,
            &end,
        ),
    )];
    if let Some(h) = abstracted {
        out.push(event(
            &format!("{id}-a"),
            lpa,
            &start,
            recorded(
                &format!("{id}-abs"),
                abstraction(
                    &format!("o-{id}"),
                    Role::Pc,
                    &sector,
                    "response_cover",
                    &start,
                ),
                &format!("2024-03-{day:02}T{:02}:00:00Z", 8 + h),
            ),
        ));
    }
    out.iter().map(|e| serde_json::to_vec(e).unwrap()).collect()
}

async fn stored_events(base: &str, n: usize) {
    let url = format!("{base}/metrics");
    wait_for(Duration::from_secs(20), "the events stored", || {
        let url = url.clone();
        async move {
            metric(&get(&url).await.1, "abstraction_tracker_stored_events") == Some(n as f64)
        }
    })
    .await;
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The ids of the entries of an evidence list marked revised.
fn revised(list: &Value, entries: &str, id: &str) -> Vec<String> {
    list[entries]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["revised_since_issue"] == true)
        .map(|e| e[id].as_str().unwrap().to_string())
        .collect()
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issued_month_is_revised_by_late_events_and_says_so() {
    let reference = Reference::west_midlands();
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let mut tracker = TrackerProcess::spawn(&nats.url(), data.path());
    tracker.wait_ready().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut lines = Vec::new();
    for (i, l) in reference.lpas.iter().enumerate() {
        lines.extend(shift_with_abstraction(
            &reference,
            &l.code,
            &format!("{}-1", l.code),
            4 + i as u32,
            Some(2),
        ));
    }
    publish_events(&js, &lines).await;
    stored_events(&tracker.base, lines.len()).await;
    let base = tracker.base.clone();
    let issue_url = |m: &str| format!("{base}/api/v1/reports/monthly/{m}/issue");

    // The as-of month (April 2024) and later are not closed; a bad month is 400.
    for m in ["2024-04", "2024-05"] {
        let (status, body) = post(&issue_url(m)).await;
        assert_eq!(status, 409, "{m}: {body}");
        assert!(json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("not closed"));
    }
    assert_eq!(post(&issue_url("2024-13")).await.0, 400);
    assert_eq!(post(&issue_url("March")).await.0, 400);
    let none = get_json(&format!("{base}/api/v1/reports/monthly/{MONTH}/issues")).await;
    assert_eq!(none["issues"], serde_json::json!([]));
    let month_url = format!("{base}/api/v1/months/{MONTH}");
    let before = get_json(&month_url).await;
    assert!(before["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["revision"].is_null()));

    // Issue 1, then 2: every call a new number, with the figures frozen as they are.
    let (status, body) = post(&issue_url(MONTH)).await;
    assert_eq!(status, 200, "{body}");
    let first = json(&body);
    assert_eq!(first["month"], MONTH);
    assert_eq!(first["issue"], 1);
    assert_eq!(first["issued_at"], TEST_AS_OF);
    let issued = first["lpas"].as_array().unwrap();
    assert_eq!(issued.len(), reference.lpas.len());
    let mut sequences = Vec::new();
    for e in issued {
        let now = lpa(&before, e["lpa"].as_str().unwrap());
        assert!(
            e.get("in_progress").is_none() && e.get("revision").is_none(),
            "{e}"
        );
        assert_eq!(e["rostered_hours"], now["rostered_hours"]);
        assert_eq!(e["abstracted_hours"], now["abstracted_hours"]);
        assert_eq!(e["abstraction_ratio"], now["abstraction_ratio"]);
        sequences.push(e["stream_sequence"].as_u64().unwrap());
    }
    // One consumer folds every LPA here: one checkpoint, the last event's sequence.
    assert!(
        sequences.iter().all(|s| *s == lines.len() as u64),
        "{sequences:?}"
    );
    let (status, body) = post(&issue_url(MONTH)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["issue"], 2);
    let listed = get_json(&format!("{base}/api/v1/reports/monthly/{MONTH}/issues")).await;
    let numbers: Vec<u64> = listed["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["issue"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(listed["issues"][0], first);
    let one = format!("{base}/api/v1/reports/monthly/{MONTH}/issues");
    assert_eq!(get_json(&format!("{one}/1")).await, first);
    assert_eq!(get(&format!("{one}/3")).await.0, 404);
    assert_eq!(get(&format!("{one}/x")).await.0, 400);
    assert_eq!(
        get_json(&format!("{base}/api/v1/reports/monthly/2024-02/issues")).await["issues"],
        serde_json::json!([])
    );

    // Unchanged since the issue: every revision is zero against issue 2.
    let month = get_json(&month_url).await;
    for l in month["lpas"].as_array().unwrap() {
        let r = &l["revision"];
        assert_eq!(r["issue"], 2, "{l}");
        assert_eq!(r["rostered_hours_change"], 0.0);
        assert_eq!(r["abstracted_hours_change"], 0.0);
        assert_eq!(r["abstraction_ratio_change"], 0.0);
    }

    // Late events: an abstraction in Dudley's shift, a new shift in Walsall, through
    // the CLI issue 3 after them, then one more late abstraction in Dudley.
    let late = [
        serde_json::to_vec(&event(
            "late-1",
            "dudley",
            "2024-04-02T09:00:00Z",
            recorded(
                "late-abs-1",
                abstraction(
                    "o-late",
                    Role::Pc,
                    &sector(&reference, "dudley"),
                    "response_cover",
                    "2024-03-04T12:00:00Z",
                ),
                "2024-03-04T15:00:00Z",
            ),
        ))
        .unwrap(),
        shift_with_abstraction(&reference, "walsall", "late-w", 20, None).remove(0),
    ];
    publish_events(&js, &late).await;
    stored_events(&base, lines.len() + late.len()).await;
    let month = get_json(&month_url).await;
    let mut moved = Vec::new();
    for l in month["lpas"].as_array().unwrap() {
        let code = l["lpa"].as_str().unwrap();
        let then = issued.iter().find(|e| e["lpa"] == code).unwrap();
        let r = &l["revision"];
        assert_eq!(r["issue"], 2);
        assert_eq!(r["issued_at"], TEST_AS_OF);
        assert_eq!(r["rostered_hours_issued"], then["rostered_hours"]);
        assert_eq!(r["abstracted_hours_issued"], then["abstracted_hours"]);
        assert_eq!(r["abstraction_ratio_issued"], then["abstraction_ratio"]);
        let drost = f(&l["rostered_hours"]) - f(&then["rostered_hours"]);
        let dabs = f(&l["abstracted_hours"]) - f(&then["abstracted_hours"]);
        let dratio = f(&l["abstraction_ratio"]) - f(&then["abstraction_ratio"]);
        assert_eq!(f(&r["rostered_hours_change"]), drost, "{code}");
        assert_eq!(f(&r["abstracted_hours_change"]), dabs, "{code}");
        assert_eq!(f(&r["abstraction_ratio_change"]), dratio, "{code}");
        if drost != 0.0 || dabs != 0.0 {
            moved.push(code.to_string());
        }
    }
    assert_eq!(moved, ["dudley", "walsall"]);
    let dudley = lpa(&month, "dudley");
    assert!(close(
        f(&dudley["revision"]["abstracted_hours_change"]),
        3.0
    ));
    assert!(close(f(&dudley["revision"]["rostered_hours_change"]), 0.0));
    let walsall = lpa(&month, "walsall");
    assert!(close(f(&walsall["revision"]["rostered_hours_change"]), 8.0));
    assert!(f(&walsall["revision"]["abstraction_ratio_change"]) < 0.0);

    // The evidence marks exactly the entries the late events touched.
    let ev = |path: String| {
        let base = base.clone();
        async move { get_json(&format!("{base}/api/v1/lpas/{path}")).await }
    };
    let d = ev(format!("dudley/months/{MONTH}/abstractions")).await;
    assert_eq!(
        revised(&d, "abstractions", "abstraction_id"),
        ["late-abs-1"]
    );
    assert_eq!(d["abstractions"].as_array().unwrap().len(), 2);
    let d = ev(format!("dudley/months/{MONTH}/shifts")).await;
    assert!(revised(&d, "shifts", "shift_id").is_empty());
    let w = ev(format!("walsall/months/{MONTH}/shifts")).await;
    assert_eq!(revised(&w, "shifts", "shift_id"), ["late-w-shift"]);
    let w = ev(format!("walsall/months/{MONTH}/abstractions")).await;
    assert!(revised(&w, "abstractions", "abstraction_id").is_empty());
    let csv = get(&format!(
        "{base}/api/v1/lpas/dudley/months/{MONTH}/abstractions?format=csv"
    ))
    .await
    .1;
    assert!(csv
        .lines()
        .any(|l| l.starts_with("late-abs-1,") && l.ends_with(",true")));

    // The md and html reports name the issue and the LPAs that moved; the served html
    // links each LPA to its evidence.
    let md = get(&format!("{base}/api/v1/reports/monthly/{MONTH}?format=md"))
        .await
        .1;
    assert!(md.contains("## Revisions since issue 2"), "{md}");
    assert!(
        md.contains("Figures moved since the issue: Dudley, Walsall."),
        "{md}"
    );
    let html = get(&format!("{base}/api/v1/reports/monthly/{MONTH}"))
        .await
        .1;
    assert!(html.contains("Revisions since issue 2"));
    assert!(html.contains(&format!(
        "href=\"/api/v1/lpas/walsall/months/{MONTH}/abstractions?format=csv\""
    )));
    assert!(html.contains("href=\"/api/v1/lpas/walsall/abstractions/open\""));

    // `report --issue` through the server: issue 3, which now holds the late events.
    let (ok, out, err) = run(&["report", "--month", MONTH, "--issue", "--server", &base]);
    assert!(ok, "{err}");
    let third = json(&out);
    assert_eq!(third["issue"], 3);
    let (ok, _, err) = run(&["report", "--month", "2024-04", "--issue", "--server", &base]);
    assert!(
        !ok && err.contains("409") && err.contains("not closed"),
        "{err}"
    );
    let month = get_json(&month_url).await;
    assert_eq!(lpa(&month, "dudley")["revision"]["issue"], 3);
    assert_eq!(
        lpa(&month, "dudley")["revision"]["abstracted_hours_change"],
        0.0
    );
    let d = ev(format!("dudley/months/{MONTH}/abstractions")).await;
    assert!(revised(&d, "abstractions", "abstraction_id").is_empty());
    let late = [shift_with_abstraction(&reference, "dudley", "late-d2", 21, Some(1)).remove(1)];
    publish_events(&js, &late).await;
    stored_events(&base, lines.len() + 3).await;
    let served = get_json(&month_url).await;
    let d = ev(format!("dudley/months/{MONTH}/abstractions")).await;
    assert_eq!(
        revised(&d, "abstractions", "abstraction_id"),
        ["late-d2-abs"]
    );
    // The copy reaches the store through the bucket watch as well as the POST.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(tracker.term(Duration::from_secs(20)).success());

    // With `serve` stopped: the store's copy of the issues, or the bucket.
    let dir = data.path().to_str().unwrap();
    let report = |extra: &[&str]| {
        let mut args = vec![
            "report",
            "--data-dir",
            dir,
            "--month",
            MONTH,
            "--as-of",
            TEST_AS_OF,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    for extra in [
        &["--format", "json"][..],
        &["--format", "json", "--nats-url", &nats.url()][..],
    ] {
        let (ok, out, err) = report(extra);
        assert!(ok, "{extra:?}: {err}");
        let offline = json(&out);
        for code in ["dudley", "walsall", "sandwell"] {
            assert_eq!(
                lpa(&offline, code)["revision"],
                lpa(&served, code)["revision"],
                "{extra:?} {code}"
            );
        }
        assert!(close(
            f(&lpa(&offline, "dudley")["revision"]["abstracted_hours_change"]),
            1.0
        ));
    }
    let (ok, out, _) = report(&["--format", "md"]);
    assert!(ok && out.contains("## Revisions since issue 3"), "{out}");
    assert!(
        out.contains("Figures moved since the issue: Dudley."),
        "{out}"
    );
    // A broker that cannot be reached: no revision, and the report says so.
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let (ok, out, err) = report(&["--format", "json", "--nats-url", &dead]);
    assert!(ok, "{err}");
    assert!(lpa(&json(&out), "dudley")["revision"].is_null());
    let (ok, out, _) = report(&["--format", "md", "--nats-url", &dead]);
    assert!(ok && out.contains("Issues could not be read"), "{out}");
    let (ok, out, err) = run(&[
        "explain",
        "--lpa",
        "dudley",
        "--month",
        MONTH,
        "--data-dir",
        dir,
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        revised(&json(&out), "abstractions", "abstraction_id"),
        ["late-d2-abs"]
    );
}
