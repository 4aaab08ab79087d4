//! The HTTP handlers without a broker or a socket: the router answers requests
//! (`tower::ServiceExt::oneshot`) over a real sled store in a temporary directory,
//! filled through the projector as ingest fills it. `tests/openapi.rs` covers the same
//! routes over a real socket and a real broker.

mod common;

use abstraction_tracker::app::http::{app, AppState};
use abstraction_tracker::app::metrics::Metrics;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::event::Role;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::store::Store;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

/// A store holding an 8-hour Dudley shift and 2 hours of response cover in March 2024,
/// with shifts in February 2023 and May 2024 either side of the metric window and one in
/// March 2023, its first month.
fn state(api_token: Option<&str>) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reference = Arc::new(Reference::west_midlands());
    let events = [
        event(
            "h-1",
            "dudley",
            "2024-03-01T09:00:00Z",
            rostered(
                "h-s1",
                "o-1",
                Role::Pc,
                "dudley-town",
                "2024-03-04T08:00:00Z",
                "2024-03-04T16:00:00Z",
            ),
        ),
        event(
            "h-2",
            "dudley",
            "2024-03-04T12:00:00Z",
            recorded(
                "h-a1",
                abstraction(
                    "o-1",
                    Role::Pc,
                    "dudley-town",
                    "response_cover",
                    "2024-03-04T10:00:00Z",
                ),
                "2024-03-04T12:00:00Z",
            ),
        ),
        event(
            "h-3",
            "dudley",
            "2024-03-01T09:00:00Z",
            rostered(
                "h-s2",
                "o-1",
                Role::Pc,
                "dudley-town",
                "2024-05-06T08:00:00Z",
                "2024-05-06T16:00:00Z",
            ),
        ),
        event(
            "h-4",
            "dudley",
            "2023-02-01T09:00:00Z",
            rostered(
                "h-s3",
                "o-1",
                Role::Pc,
                "dudley-town",
                "2023-02-06T08:00:00Z",
                "2023-02-06T16:00:00Z",
            ),
        ),
        event(
            "h-5",
            "dudley",
            "2023-03-01T09:00:00Z",
            rostered(
                "h-s4",
                "o-1",
                Role::Pc,
                "dudley-town",
                "2023-03-06T08:00:00Z",
                "2023-03-06T16:00:00Z",
            ),
        ),
    ];
    fold_into(&store, &reference, &events);
    let as_of = "2024-03-15T12:00:00Z".parse().unwrap();
    let metrics = Arc::new(Metrics::new(
        store.clone(),
        reference.clone(),
        Clock::AsOf(as_of),
    ));
    let state = AppState {
        store,
        reference,
        metrics,
        probe: None,
        api_token: api_token.map(str::to_owned),
        view: None,
        issues: None,
    };
    (dir, state)
}

async fn get(state: &AppState, uri: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = app(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn health_is_ok_and_readiness_needs_a_consumer() {
    let (_dir, s) = state(None);
    assert_eq!(get(&s, "/healthz", None).await.0, StatusCode::OK);
    let (status, _, body) = get(&s, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not consuming\n");
}

#[tokio::test]
async fn the_month_api_reads_the_store() {
    let (_dir, s) = state(None);
    let (status, content_type, body) = get(&s, "/api/v1/months/2024-03", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let month: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(month["month"], "2024-03");
    let dudley = lpa(&month, "dudley");
    assert_eq!(dudley["rostered_hours"], 8.0);
    assert_eq!(dudley["abstracted_hours"], 2.0);
    assert_eq!(dudley["abstraction_ratio"], 0.25);
    // Every configured LPA appears; one with nothing rostered has no ratio.
    assert_eq!(month["lpas"].as_array().unwrap().len(), 7);
    assert!(lpa(&month, "walsall")["abstraction_ratio"].is_null());
}

#[tokio::test]
async fn a_bad_month_or_format_is_a_400_with_the_reason() {
    let (_dir, s) = state(None);
    for uri in [
        "/api/v1/months/2024-13",
        "/api/v1/months/March",
        "/api/v1/reports/monthly/2024-03?format=pdf",
    ] {
        let (status, _, body) = get(&s, uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let err: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(err["error"].as_str().unwrap().len() > 10, "{uri}: {body}");
    }
}

#[tokio::test]
async fn reports_come_in_each_format_with_its_content_type() {
    let (_dir, s) = state(None);
    for (format, want) in [
        ("csv", "text/csv"),
        ("md", "text/markdown"),
        ("json", "application/json"),
        ("html", "text/html"),
    ] {
        let uri = format!("/api/v1/reports/monthly/2024-03?format={format}");
        let (status, content_type, body) = get(&s, &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{format}");
        assert!(content_type.starts_with(want), "{format}: {content_type}");
        assert!(!body.is_empty(), "{format}");
    }
}

#[tokio::test]
async fn the_api_token_guards_the_api_but_not_metrics() {
    let (_dir, s) = state(Some("s3cret"));
    let (status, _, _) = get(&s, "/api/v1/months/2024-03", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = get(&s, "/api/v1/months/2024-03", Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = get(&s, "/api/v1/months/2024-03", Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&s, "/metrics", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_are_the_read_models_in_prometheus_text() {
    let (_dir, s) = state(None);
    let (status, content_type, body) = get(&s, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let series = |name: &str| metric(&body, name);
    assert_eq!(
        series(r#"neighbourhood_rostered_seconds{lpa="dudley",month="2024-03"}"#),
        Some(8.0 * 3600.0)
    );
    assert_eq!(
        series(r#"neighbourhood_abstraction_ratio{lpa="dudley",month="2024-03"}"#),
        Some(0.25)
    );
    assert_eq!(series(r#"abstraction_tracker_stored_events"#), Some(5.0));
    let build = format!(
        r#"abstraction_tracker_build_info{{version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(series(&build), Some(1.0));
    // Nothing has loaded the filters in this test.
    assert_eq!(
        series("abstraction_tracker_filters_loaded_ratio"),
        Some(0.0)
    );
}

#[tokio::test]
async fn the_metric_window_is_the_as_of_month_and_the_twelve_before() {
    let (_dir, s) = state(None);
    let (_, _, body) = get(&s, "/metrics", None).await;
    let months: std::collections::BTreeSet<&str> = body
        .lines()
        .filter(|l| l.starts_with("neighbourhood_rostered_seconds{"))
        .filter_map(|l| l.split("month=\"").nth(1)?.split('"').next())
        .collect();
    // As of 2024-03-15: March 2024 and back to March 2023; the rostered May (a plan)
    // and February 2023 (13 months back) stay out.
    assert_eq!(
        months.into_iter().collect::<Vec<_>>(),
        ["2023-03", "2024-03"]
    );
    let rostered = |m: &str| {
        metric(
            &body,
            &format!(r#"neighbourhood_rostered_seconds{{lpa="dudley",month="{m}"}}"#),
        )
    };
    assert_eq!(rostered("2024-05"), None);
    assert_eq!(rostered("2023-02"), None);
}

/// The evidence paths (contract v3 section 12) on a projector owning Dudley only: its
/// lists behind the token, any other LPA a 404 saying it is not owned here. Events
/// stored without a stream sequence (as here, folded straight into the store, or by
/// format 4) show `null`.
#[tokio::test]
async fn evidence_is_served_for_owned_lpas_only_behind_the_token() {
    let (_dir, mut s) = state(Some("s3cret"));
    s.view = Some(Arc::new(abstraction_tracker::app::http::ForceView {
        owned: vec!["dudley".into()],
        bucket: Arc::default(),
    }));
    let t = Some("s3cret");
    let url = "/api/v1/lpas/dudley/months/2024-03/abstractions";
    assert_eq!(get(&s, url, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, ct, body) = get(&s, url, t).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let a = &v["abstractions"][0];
    assert_eq!(
        (&a["abstraction_id"], &a["status"], &a["hours_in_month"]),
        (&"h-a1".into(), &"counted".into(), &2.0.into())
    );
    assert!(a["events"][0]["stream_sequence"].is_null(), "{a}");
    let (_, _, body) = get(&s, "/api/v1/lpas/dudley/months/2024-03/shifts", t).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["shifts"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["shifts"][0]["hours_in_month"], 8.0);
    let (status, ct, body) = get(&s, "/api/v1/lpas/dudley/abstractions/open?format=csv", t).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::OK, "text/csv; charset=utf-8")
    );
    assert_eq!(body.lines().count(), 1, "only the header: nothing open");
    for url in [
        "/api/v1/lpas/walsall/months/2024-03/abstractions",
        "/api/v1/lpas/walsall/abstractions/open",
    ] {
        let (status, _, body) = get(&s, url, t).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
        assert!(
            body.contains("not owned here") && body.contains("dudley"),
            "{body}"
        );
    }
}
