//! The evidence paths of the HTTP API (contract v3 section 12), merged into the `/api`
//! router of `http` behind the same bearer token:
//!
//! - `GET /api/v1/lpas/{lpa}/months/{YYYY-MM}/abstractions`
//! - `GET /api/v1/lpas/{lpa}/months/{YYYY-MM}/shifts`
//! - `GET /api/v1/lpas/{lpa}/abstractions/open`
//!
//! each `?format=json` (default) or `csv`, for the LPAs this projector owns only (any
//! other: 404 with a JSON `error`). Thin: the lists come from `app::evidence`.

use crate::app::evidence;
use crate::app::issues::{month_issues, IssueDesk};
use crate::clock::Clock;
use crate::domain::calendar::Month;
use crate::domain::evidence::open_months;
use crate::domain::evidence::{
    abstractions_csv, mark_revised, mark_revised_open, mark_revised_shifts, shifts_csv,
};
use crate::domain::issue::latest;
use crate::domain::reference::Reference;
use crate::store::Store;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// What the evidence handlers read: the store, the reference data, the LPAs owned
/// here and the clock. Its own state (not `http::AppState`), so this file and `http`
/// do not import each other.
#[derive(Clone)]
struct Evidence {
    store: Store,
    reference: Arc<Reference>,
    owned: Arc<Vec<String>>,
    clock: Clock,
    /// Where the issues are read (none: the store's copy only).
    issues: Option<Arc<IssueDesk>>,
}

/// The evidence routes, to merge into the token-guarded API router. `owned`: the LPAs
/// of `serve --lpas`; None: every LPA of the reference data.
pub fn evidence_routes<S: Clone + Send + Sync + 'static>(
    store: &Store,
    reference: &Arc<Reference>,
    owned: Option<&[String]>,
    clock: Clock,
    issues: Option<Arc<IssueDesk>>,
) -> Router<S> {
    let owned = match owned {
        Some(o) => o.to_vec(),
        None => reference.lpas.iter().map(|l| l.code.clone()).collect(),
    };
    Router::new()
        .route(
            "/api/v1/lpas/{lpa}/months/{month}/abstractions",
            get(month_abstractions),
        )
        .route(
            "/api/v1/lpas/{lpa}/months/{month}/shifts",
            get(month_shifts),
        )
        .route("/api/v1/lpas/{lpa}/abstractions/open", get(open))
        .with_state(Evidence {
            store: store.clone(),
            reference: reference.clone(),
            owned: Arc::new(owned),
            clock,
            issues,
        })
}

/// A refused request: its status and the reason, answered as `{"error": ...}`.
struct Refusal(StatusCode, String);

fn error(status: StatusCode, message: String) -> Refusal {
    Refusal(status, message)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, mut message) = self;
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %message, "evidence request failed");
            message = "internal error; see the tracker's log".into();
        }
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Csv,
}

fn format_of(q: &FormatQuery) -> Result<Format, Refusal> {
    match q.format.as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(f) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("format {f:?} is not one of json, csv"),
        )),
    }
}

fn parse_month(s: &str) -> Result<Month, Refusal> {
    s.parse().map_err(|e: crate::domain::calendar::BadMonth| {
        error(StatusCode::BAD_REQUEST, e.to_string())
    })
}

/// Only the LPAs whose events this projector stores have evidence here.
fn owns(s: &Evidence, lpa: &str) -> Result<(), Refusal> {
    if s.owned.iter().any(|o| o == lpa) {
        return Ok(());
    }
    let known = s.reference.lpa(lpa).is_some();
    Err(error(
        StatusCode::NOT_FOUND,
        format!(
            "LPA {lpa:?} is not owned here{}: this projector holds the evidence of {} only; ask the projector that owns it",
            if known { "" } else { " (nor in the reference data)" },
            s.owned.join(", ")
        ),
    ))
}

/// The latest issue's `stream_sequence` for `lpa` in `month` (none: no issue). Issues
/// that cannot be read are a 503: an entry is never shown as unrevised for want of them.
async fn issue_sequence(s: &Evidence, lpa: &str, month: Month) -> Result<Option<u64>, Refusal> {
    let issues = month_issues(s.issues.as_deref(), &s.store, month)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok(latest(&issues).and_then(|i| i.stream_sequence(lpa)))
}

fn csv(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// Runs a store read on a blocking thread; a store error is a 500 (logged, not shown).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn month_abstractions(
    State(s): State<Evidence>,
    Path((lpa, month)): Path<(String, String)>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, Refusal> {
    let month = parse_month(&month)?;
    let format = format_of(&q)?;
    owns(&s, &lpa)?;
    let (store, reference) = (s.store.clone(), s.reference.clone());
    let seq = issue_sequence(&s, &lpa, month).await?;
    let mut list =
        blocking(move || evidence::month_abstractions(&store, &reference, &lpa, month)).await?;
    mark_revised(&mut list, seq);
    Ok(match format {
        Format::Json => Json(list).into_response(),
        Format::Csv => csv(abstractions_csv(&list)),
    })
}

async fn month_shifts(
    State(s): State<Evidence>,
    Path((lpa, month)): Path<(String, String)>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, Refusal> {
    let month = parse_month(&month)?;
    let format = format_of(&q)?;
    owns(&s, &lpa)?;
    let (store, reference) = (s.store.clone(), s.reference.clone());
    let seq = issue_sequence(&s, &lpa, month).await?;
    let mut list =
        blocking(move || evidence::month_shifts(&store, &reference, &lpa, month)).await?;
    mark_revised_shifts(&mut list, seq);
    Ok(match format {
        Format::Json => Json(list).into_response(),
        Format::Csv => csv(shifts_csv(&list)),
    })
}

async fn open(
    State(s): State<Evidence>,
    Path(lpa): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, Refusal> {
    let format = format_of(&q)?;
    owns(&s, &lpa)?;
    let now_ms = s.clock.now().as_millisecond();
    let (store, reference) = (s.store.clone(), s.reference.clone());
    let code = lpa.clone();
    let mut list =
        blocking(move || evidence::open_abstractions(&store, &reference, &lpa, now_ms)).await?;
    // An open abstraction is revised against the issue of the month it started in.
    let mut sequences = std::collections::BTreeMap::new();
    for month in open_months(&list) {
        sequences.insert(month, issue_sequence(&s, &code, month).await?);
    }
    mark_revised_open(&mut list, |m| sequences.get(&m).copied().flatten());
    Ok(match format {
        Format::Json => Json(list).into_response(),
        Format::Csv => csv(abstractions_csv(&list)),
    })
}
