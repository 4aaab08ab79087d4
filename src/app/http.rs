//! The HTTP API: `/metrics`, `/healthz`, `/readyz`, the month API and the report.
//! Handlers are thin: figures come from `figures`, formatting from `render`.

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

/// What a projector that owns some LPAs needs to show the force: which LPAs it owns,
/// and the figures bucket for the others (set once the broker is reachable).
pub struct ForceView {
    pub owned: Vec<String>,
    pub bucket: Arc<tokio::sync::OnceCell<async_nats::jetstream::kv::Store>>,
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
}

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/months/{month}", get(month))
        .route("/api/v1/reports/monthly/{month}", get(report))
        .merge(crate::app::evidence_http::evidence_routes(
            &state.store,
            &state.reference,
            state.view.as_ref().map(|v| v.owned.as_slice()),
            state.metrics.clock(),
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .with_state(state)
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

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
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

async fn month_report(
    s: &AppState,
    month: Month,
) -> Result<crate::domain::report::MonthReport, ApiError> {
    let (store, reference) = (s.store.clone(), s.reference.clone());
    let as_of = s.metrics.clock().day();
    let Some(view) = s.view.clone() else {
        return tokio::task::spawn_blocking(move || {
            crate::app::figures::month(&store, &reference, month, as_of)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()));
    };
    let others: Vec<String> = reference
        .lpas
        .iter()
        .map(|l| l.code.clone())
        .filter(|c| !view.owned.contains(c))
        .collect();
    // Without the bucket (the broker unreachable) the others are missing, never zero.
    let remote = match view.bucket.get() {
        Some(kv) => match crate::app::bucket::read_month(kv, &others, month).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the figures bucket; other LPAs shown as missing");
                Default::default()
            }
        },
        None => Default::default(),
    };
    tokio::task::spawn_blocking(move || {
        crate::app::figures::force_month(&store, &reference, &view.owned, &remote, month, as_of)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))
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
    let body = render::render(&rep, &s.reference, format);
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}
