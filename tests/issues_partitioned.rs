//! Issues on projectors that own some LPAs each (contract v3 sections 10 and 13), on one
//! real broker: an issue is refused (409) while an LPA's figures are missing; once both
//! projectors publish, issues made on either at the same time all get distinct
//! numbers 1..n, both list the same issues, a late event on one projector's LPA
//! revises it on both, and each projector's store keeps a copy of every issue, made
//! here or there, for `report --data-dir`. And a number another projector took between
//! reading the month's issues and writing one is skipped, never overwritten.

mod common;

use abstraction_tracker::domain::event::Role;
use abstraction_tracker::domain::reference::Reference;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const MONTH: &str = "2024-03";
const P1: [&str; 2] = ["dudley", "walsall"];

fn shift(reference: &Reference, lpa: &str, id: &str, day: u32) -> Vec<u8> {
    let sector = &reference.lpa(lpa).unwrap().sectors[0].code;
    serde_json::to_vec(&event(
        id,
        lpa,
        "2024-03-01T07:00:00Z",
        rostered(
            &format!("{id}-shift"),
            &format!("o-{id}"),
            Role::Pc,
            sector,
            &format!("2024-03-{day:02}T08:00:00Z"),
            &format!("2024-03-{day:02}T16:00:00Z"),
        ),
    ))
    .unwrap()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// True when every LPA of the month API has figures (local or from the bucket) and
/// `lpa` has `rostered` hours.
async fn sees(base: &str, lpa_code: &str, rostered: f64) -> bool {
    let (status, body) = get(&format!("{base}/api/v1/months/{MONTH}")).await;
    if status != 200 {
        return false;
    }
    let m = json(&body);
    m["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["source"] != "missing")
        && lpa(&m, lpa_code)["rostered_hours"].as_f64() == Some(rostered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_projectors_share_issues_and_never_share_a_number() {
    let reference = Reference::west_midlands();
    let others: Vec<&str> = reference
        .lpas
        .iter()
        .map(|l| l.code.as_str())
        .filter(|c| !P1.contains(c))
        .collect();
    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut p1 = TrackerProcess::spawn_with(
        &nats.url(),
        d1.path(),
        &["--lpas", &P1.join(","), "--consumer", "p1"],
    );
    p1.wait_ready().await;
    let lines: Vec<Vec<u8>> = reference
        .lpas
        .iter()
        .enumerate()
        .map(|(i, l)| shift(&reference, &l.code, &format!("{}-1", l.code), 4 + i as u32))
        .collect();
    publish_events(&js, &lines).await;
    wait_for(Duration::from_secs(20), "p1 folds its LPAs", || {
        let base = p1.base.clone();
        async move {
            lpa(
                &get_json(&format!("{base}/api/v1/months/{MONTH}")).await,
                "dudley",
            )["rostered_hours"]
                == 8.0
        }
    })
    .await;

    // No projector owns the other LPAs yet: their figures are missing, never issued.
    let (status, body) = post(&format!("{}/api/v1/reports/monthly/{MONTH}/issue", p1.base)).await;
    assert_eq!(status, 409, "{body}");
    let error = json(&body)["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("missing") && error.contains("birmingham"),
        "{error}"
    );

    let p2 = TrackerProcess::spawn_with(
        &nats.url(),
        d2.path(),
        &["--lpas", &others.join(","), "--consumer", "p2"],
    );
    p2.wait_ready().await;
    for (base, code) in [(&p1.base, "birmingham"), (&p2.base, "dudley")] {
        wait_for(Duration::from_secs(20), "every LPA seen", || {
            let base = base.clone();
            async move { sees(&base, code, 8.0).await }
        })
        .await;
    }

    // Six issues at once, three on each projector: six distinct numbers, 1 to 6.
    let mut calls = Vec::new();
    for i in 0..6 {
        let base = if i % 2 == 0 { &p1.base } else { &p2.base };
        let url = format!("{base}/api/v1/reports/monthly/{MONTH}/issue");
        calls.push(tokio::spawn(async move { post(&url).await }));
    }
    let mut numbers = BTreeSet::new();
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let issue = json(&body);
        assert_eq!(
            issue["lpas"].as_array().unwrap().len(),
            reference.lpas.len()
        );
        assert!(numbers.insert(issue["issue"].as_u64().unwrap()), "{body}");
    }
    assert_eq!(numbers, (1..=6).collect());
    let list = |base: &str| format!("{base}/api/v1/reports/monthly/{MONTH}/issues");
    let on1 = get_json(&list(&p1.base)).await;
    assert_eq!(on1, get_json(&list(&p2.base)).await);
    assert_eq!(on1["issues"].as_array().unwrap().len(), 6);

    // A late shift in Birmingham (p2's): both projectors show the revision against 6.
    publish_events(&js, &[shift(&reference, "birmingham", "late-b", 25)]).await;
    for base in [&p2.base, &p1.base] {
        wait_for(Duration::from_secs(20), "the late shift seen", || {
            let base = base.clone();
            async move { sees(&base, "birmingham", 16.0).await }
        })
        .await;
        let m = get_json(&format!("{base}/api/v1/months/{MONTH}")).await;
        let r = &lpa(&m, "birmingham")["revision"];
        assert_eq!(r["issue"], 6, "{base}");
        assert_eq!(r["rostered_hours_issued"], 8.0);
        assert_eq!(r["rostered_hours_change"], 8.0);
        assert_eq!(lpa(&m, "dudley")["revision"]["rostered_hours_change"], 0.0);
    }
    let shifts = get_json(&format!(
        "{}/api/v1/lpas/birmingham/months/{MONTH}/shifts",
        p2.base
    ))
    .await;
    let revised: Vec<&str> = shifts["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["revised_since_issue"] == true)
        .map(|s| s["shift_id"].as_str().unwrap())
        .collect();
    assert_eq!(revised, ["late-b-shift"]);

    // p1's store copied every issue, those p2 made too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(p1.term(Duration::from_secs(20)).success());
    let out = std::process::Command::new(bin())
        .args([
            "report",
            "--data-dir",
            d1.path().to_str().unwrap(),
            "--month",
            MONTH,
        ])
        .args(["--format", "json", "--as-of", TEST_AS_OF])
        .run_ok();
    let offline = json(&String::from_utf8_lossy(&out.stdout));
    for code in P1 {
        assert_eq!(lpa(&offline, code)["revision"]["issue"], 6, "{code}");
    }
    // The others are missing in a partitioned store: no revision for them.
    assert!(lpa(&offline, "birmingham")["revision"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_taken_in_between_is_skipped_never_overwritten() {
    use abstraction_tracker::app::issues;
    use abstraction_tracker::domain::calendar::Month;
    use abstraction_tracker::domain::issue::Issue;
    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = issues::open(&js, 1).await.unwrap();
    let month = Month::new(2024, 3);
    let issue = |n: u64, by: &str| Issue {
        month,
        issue: n,
        issued_at: TEST_AS_OF.into(),
        lpas: vec![serde_json::json!({"lpa": "dudley", "by": by, "stream_sequence": 1})],
    };
    // Another projector took 1 and 2 after this one read the month (it saw none).
    for n in [1, 2] {
        let other = serde_json::to_vec(&issue(n, "other")).unwrap();
        kv.create(issues::key(month, n), other.into())
            .await
            .unwrap();
    }
    let made = issues::create_from(&kv, month, 1, |n| issue(n, "this"))
        .await
        .unwrap();
    assert_eq!(made.issue, 3);
    let all = issues::read_month(&kv, month).await.unwrap();
    let by: Vec<(u64, &str)> = all
        .iter()
        .map(|i| (i.issue, i.lpas[0]["by"].as_str().unwrap()))
        .collect();
    assert_eq!(by, [(1, "other"), (2, "other"), (3, "this")]);
    // The next from the month's own count is 4.
    let next = issues::create(&kv, month, |n| issue(n, "this"))
        .await
        .unwrap();
    assert_eq!(next.issue, 4);
}
