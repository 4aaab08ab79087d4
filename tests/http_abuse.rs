//! HTTP under abuse (issue 22 item 7), over real sockets: 300 connections that send
//! nothing or half a request head are closed by the tracker once the header timeout
//! has passed, while /metrics, /readyz and /healthz answer at once; a body over the
//! limit is refused before it is read; too many API requests at once are shed with a
//! 503 while /metrics is still served.

mod common;

use abstraction_tracker::app::http::{app_with, AppState, HttpLimits};
use abstraction_tracker::app::metrics::Metrics;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::ingest::IngestConfig;
use abstraction_tracker::store::Store;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// The header timeout the test runs with (the default is 10 s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const HELD: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_and_never_hold_up_a_scrape() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let mut config = Tracker::config(
        &nats.url(),
        data.path(),
        Reference::west_midlands(),
        IngestConfig::default(),
    );
    config.tuning.http.header_timeout = HEADER_TIMEOUT;
    let tracker = Tracker::start_config(config).await;
    let addr = tracker.base.trim_start_matches("http://").to_string();

    // A third send nothing at all; the rest stop in the middle of a request head.
    let mut held = Vec::with_capacity(HELD);
    for i in 0..HELD {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 3 != 0 {
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: tracker\r\nX-Slow: ")
                .await
                .unwrap();
        }
        held.push((Instant::now(), s));
    }
    let all_open = Instant::now();

    // Meanwhile the operators' endpoints answer at once, again and again.
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        for path in ["/metrics", "/readyz", "/healthz"] {
            let t = Instant::now();
            let (status, body) = get(&format!("{}{path}", tracker.base)).await;
            assert_eq!(status, 200, "{path}: {body}");
            slowest = slowest.max(t.elapsed());
        }
    }
    assert!(
        all_open.elapsed() < HEADER_TIMEOUT,
        "the scrapes took {:?}: they did not run while the connections were held",
        all_open.elapsed()
    );
    assert!(
        slowest < Duration::from_millis(500),
        "slowest answer {slowest:?}"
    );

    // The tracker closes every one of them, none before the timeout and all soon after.
    let mut answered_408 = 0;
    let mut first_closed_after = None;
    for (opened, mut s) in held {
        let deadline = opened + HEADER_TIMEOUT + Duration::from_secs(5);
        let mut buf = Vec::new();
        let read = tokio::time::timeout_at(deadline.into(), s.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "a held connection was still open {:?} after it opened",
            opened.elapsed()
        );
        first_closed_after.get_or_insert(opened.elapsed());
        if buf.starts_with(b"HTTP/1.1 408") {
            answered_408 += 1;
        }
    }
    let first = first_closed_after.unwrap();
    assert!(
        first >= HEADER_TIMEOUT - Duration::from_millis(100),
        "closed after {first:?}, before the timeout"
    );
    eprintln!(
        "{HELD} held connections closed (the first after {first:?}; {answered_408} answered 408); slowest scrape meanwhile {slowest:?}"
    );

    // A body over the limit is refused from its Content-Length, before it is read.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"GET /api/v1/months/2024-03 HTTP/1.1\r\nHost: tracker\r\nContent-Length: 10000000\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head))
        .await
        .expect("an answer without the body")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    tracker.stop().await.unwrap();
}

#[tokio::test]
async fn api_requests_beyond_the_limit_are_shed_and_metrics_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reference = Arc::new(Reference::west_midlands());
    let clock = Clock::AsOf(TEST_AS_OF.parse().unwrap());
    let state = AppState {
        store: store.clone(),
        reference: reference.clone(),
        metrics: Arc::new(Metrics::new(store, reference, clock)),
        probe: None,
        api_token: None,
        view: None,
        issues: None,
    };
    let ask = |limits: HttpLimits, uri: &'static str| {
        let app = app_with(state.clone(), &limits);
        async move {
            app.oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    };
    let open = HttpLimits::default();
    // No API slot free: shed at once rather than queued.
    let full = HttpLimits {
        max_api_requests: 0,
        ..HttpLimits::default()
    };
    assert_eq!(
        ask(open.clone(), "/api/v1/months/2024-03").await,
        StatusCode::OK
    );
    assert_eq!(
        ask(full.clone(), "/api/v1/months/2024-03").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        ask(full.clone(), "/api/v1/reports/monthly/2024-03?format=csv").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(ask(full.clone(), "/metrics").await, StatusCode::OK);
    assert_eq!(ask(full, "/healthz").await, StatusCode::OK);
}
