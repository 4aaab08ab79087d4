//! The HTTP API: `/metrics`, `/healthz`, `/readyz`, the month API and the report.
//! Handlers are thin: figures come from `figures`, formatting from `render`.
//!
//! Served by hyper directly rather than `axum::serve`, which sets no timer and so
//! keeps a connection that never finishes its request head open for ever. Here
//! ([`HttpLimits`]) a connection must send a whole request head within a timeout (idle
//! keep-alive connections included), a request is answered within another (408), a
//! body over the limit is refused (413), and /api and /reports answer 503 at once when
//! too many are in hand, so slow or greedy clients never queue ahead of /metrics and
//! /readyz, which have no such limit.

pub use crate::app::force::ForceView;
use crate::app::metrics::Metrics;
use crate::domain::calendar::Month;
use crate::domain::reference::Reference;
use crate::render::{self, Format};
use crate::store::Store;
use async_nats::jetstream;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// What `/readyz` asks: is the client connected, and has the consumer nothing pending?
#[derive(Clone)]
pub struct ReadyProbe {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub stream: String,
    /// The durable consumers of the owned LPAs; empty until ingest has set them up.
    pub consumers: Arc<std::sync::RwLock<Vec<String>>>,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub reference: Arc<Reference>,
    pub metrics: Arc<Metrics>,
    pub probe: Option<ReadyProbe>,
    /// When set, `/api` and `/reports` need `Authorization: Bearer <token>`.
    pub api_token: Option<String>,
    /// Set on a projector that owns only some LPAs: the others come from the figures
    /// bucket. None: every LPA is this store's.
    pub view: Option<Arc<ForceView>>,
    /// Set on `serve`: the issues bucket and what freezing a month reads (contract v3
    /// section 13). None: no broker; issues are read from the store's copy only.
    pub issues: Option<Arc<crate::app::issues::IssueDesk>>,
}

/// What keeps slow, idle or greedy clients from holding the tracker's HTTP.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// A connection must send a whole request head within this long of opening, or of
    /// its previous answer (so idle keep-alive connections too); otherwise it is closed.
    pub header_timeout: Duration,
    /// A request must be answered, its body read included, within this long; 408 else.
    pub request_timeout: Duration,
    /// The largest request body taken, in bytes; 413 beyond.
    pub body_limit: usize,
    /// Most /api and /reports requests in hand at once; more get 503 at once.
    pub max_api_requests: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            body_limit: 64 * 1024,
            max_api_requests: 32,
        }
    }
}

/// The routes with the default [`HttpLimits`].
pub fn app(state: AppState) -> Router {
    app_with(state, &HttpLimits::default())
}

/// The routes, with the request timeout, body limit and API concurrency limit of
/// `limits` (the header timeout is the connection's: [`serve_with`]).
pub fn app_with(state: AppState, limits: &HttpLimits) -> Router {
    // One semaphore for every API route (`GlobalConcurrencyLimitLayer`; the plain layer
    // would give each route its own), shedding rather than queueing when it is empty.
    let busy = tower::ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(
            |_: tower::BoxError| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    Json(serde_json::json!({ "error": "too many API requests in hand; try again shortly" })),
                )
            },
        ))
        .layer(tower::load_shed::LoadShedLayer::new())
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            limits.max_api_requests,
        ));
    let api = Router::new()
        .route("/api/v1/months/{month}", get(month))
        .route("/api/v1/reports/monthly/{month}", get(report))
        .merge(crate::app::issues_http::issue_routes(
            &state.store,
            &state.reference,
            state.view.clone(),
            state.metrics.clock(),
            state.issues.clone(),
        ))
        .merge(crate::app::evidence_http::evidence_routes(
            &state.store,
            &state.reference,
            state.view.as_ref().map(|v| v.owned.as_slice()),
            state.metrics.clock(),
            state.issues.clone(),
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .route_layer(busy);
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .with_state(state)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            limits.body_limit,
        ))
}

async fn require_token(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(want) = &s.api_token {
        let got = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(got.as_bytes(), want.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(serde_json::json!({ "error": "missing or wrong bearer token" })),
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Compares without an early exit, so response time does not reveal the prefix matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves with the default [`HttpLimits`] until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, HttpLimits::default(), shutdown).await
}

/// Serves HTTP/1.1 until `shutdown` resolves: then stops accepting, closes idle
/// connections, and lets the requests in hand finish (each within the request timeout).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app_with(state, &limits);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            _ = &mut shutdown => break,
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, say: pause rather than spin; the header
                    // timeout frees them.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    let _ = stop_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.request_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!("HTTP requests still in hand at shutdown were cut off");
    }
    Ok(())
}

/// Errors as responses: clients get the reason, never internals.
pub enum ApiError {
    BadRequest(String),
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": m })),
            )
                .into_response(),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({ "error": "internal error; see the tracker's log" })),
                )
                    .into_response()
            }
        }
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    let body = tokio::task::spawn_blocking(move || s.metrics.render())
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.metrics.disk_full() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store's file system is full: not consuming (see the log)\n",
        )
            .into_response();
    }
    let Some(p) = &s.probe else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not consuming\n").into_response();
    };
    if p.client.connection_state() != async_nats::connection::State::Connected {
        return (StatusCode::SERVICE_UNAVAILABLE, "not connected to NATS\n").into_response();
    }
    let consumers = p.consumers.read().expect("probe lock").clone();
    if consumers.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "setting up the consumers\n",
        )
            .into_response();
    }
    // Ready when every owned LPA's consumer is caught up.
    let info = async {
        let stream = p.js.get_stream(&p.stream).await.ok()?;
        let mut behind = Vec::new();
        for c in &consumers {
            let i = stream.consumer_info(c).await.ok()?;
            if i.num_pending != 0 || i.num_ack_pending != 0 {
                behind.push(format!(
                    "{c}: {} pending, {} in flight",
                    i.num_pending, i.num_ack_pending
                ));
            }
        }
        Some(behind)
    };
    match tokio::time::timeout(Duration::from_secs(2), info).await {
        Ok(Some(behind)) if behind.is_empty() => (StatusCode::OK, "ready\n").into_response(),
        Ok(Some(behind)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("catching up: {}\n", behind.join("; ")),
        )
            .into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "consumer not available\n").into_response(),
    }
}

fn parse_month(s: &str) -> Result<Month, ApiError> {
    s.parse()
        .map_err(|e: crate::domain::calendar::BadMonth| ApiError::BadRequest(e.to_string()))
}

/// A month's report with each entry's `revision` against the month's latest issue.
async fn month_report(
    s: &AppState,
    month: Month,
) -> Result<crate::domain::report::MonthReport, ApiError> {
    let as_of = s.metrics.clock().day();
    let (mut report, _) = crate::app::force::month_with_sequences(
        &s.store,
        &s.reference,
        s.view.as_deref(),
        month,
        as_of,
    )
    .await
    .map_err(ApiError::Internal)?;
    let issues = crate::app::issues::month_issues(s.issues.as_deref(), &s.store, month).await;
    let latest = issues.as_ref().map(|i| crate::domain::issue::latest(i));
    crate::domain::issue::apply_revisions(&mut report, latest.map_err(Clone::clone));
    Ok(report)
}

async fn month(State(s): State<AppState>, Path(m): Path<String>) -> Result<Response, ApiError> {
    let month = parse_month(&m)?;
    Ok(Json(month_report(&s, month).await?).into_response())
}

#[derive(Deserialize)]
struct ReportQuery {
    format: Option<String>,
}

async fn report(
    State(s): State<AppState>,
    Path(m): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let month = parse_month(&m)?;
    let format = match q.format.as_deref() {
        None => Format::Html,
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::BadRequest(format!("format {f:?} is not one of md, html, csv, json"))
        })?,
    };
    let rep = month_report(&s, month).await?;
    let body = render::render_served(&rep, &s.reference, format);
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}
