//! The issue paths of the HTTP API (contract v3 section 13), merged into the `/api`
//! router of `http` behind the same bearer token:
//!
//! - `POST /api/v1/reports/monthly/{YYYY-MM}/issue`: freezes a closed month
//! - `GET /api/v1/reports/monthly/{YYYY-MM}/issues` and `…/issues/{n}`
//!
//! Issues are read from the `NEIGHBOURHOOD_ISSUES` bucket; where it cannot be read,
//! from the store's copy. Thin: the issue itself is `domain::issue`'s, the bucket
//! `app::issues`'.

use crate::app::force::{month_with_sequences, ForceView};
use crate::app::issues::{self, month_issues, IssueDesk};
use crate::clock::Clock;
use crate::domain::calendar::{month_of, Month};
use crate::domain::issue::{issue_entries, Issue, IssueList, Refused};
use crate::domain::reference::Reference;
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

/// What the issue handlers read. Their own state (not `http::AppState`), so this file
/// and `http` do not import each other.
#[derive(Clone)]
struct Issues {
    store: Store,
    reference: Arc<Reference>,
    view: Option<Arc<ForceView>>,
    clock: Clock,
    desk: Option<Arc<IssueDesk>>,
}

/// The issue routes, to merge into the token-guarded API router.
pub fn issue_routes<S: Clone + Send + Sync + 'static>(
    store: &Store,
    reference: &Arc<Reference>,
    view: Option<Arc<ForceView>>,
    clock: Clock,
    desk: Option<Arc<IssueDesk>>,
) -> Router<S> {
    Router::new()
        .route("/api/v1/reports/monthly/{month}/issue", post(issue))
        .route("/api/v1/reports/monthly/{month}/issues", get(list))
        .route("/api/v1/reports/monthly/{month}/issues/{n}", get(one))
        .with_state(Issues {
            store: store.clone(),
            reference: reference.clone(),
            view,
            clock,
            desk,
        })
}

/// A refused request: its status and the reason, answered as `{"error": ...}`.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, mut message) = self;
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %message, "issue request failed");
            message = "internal error; see the tracker's log".into();
        }
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

fn parse_month(s: &str) -> Result<Month, Refusal> {
    s.parse().map_err(|e: crate::domain::calendar::BadMonth| {
        Refusal(StatusCode::BAD_REQUEST, e.to_string())
    })
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn unavailable(why: &str) -> Refusal {
    Refusal(StatusCode::SERVICE_UNAVAILABLE, why.to_string())
}

async fn issues_of(s: &Issues, month: Month) -> Result<Vec<Issue>, Refusal> {
    month_issues(s.desk.as_deref(), &s.store, month)
        .await
        .map_err(|e| unavailable(&format!("cannot read the issues: {e}")))
}

async fn issue(State(s): State<Issues>, Path(m): Path<String>) -> Result<Response, Refusal> {
    let month = parse_month(&m)?;
    let clock = s.clock;
    let as_of = clock.day();
    if month >= month_of(as_of) {
        let e = Refused::NotClosed {
            month,
            as_of: month_of(as_of),
        };
        return Err(Refusal(StatusCode::CONFLICT, e.to_string()));
    }
    let desk: Arc<IssueDesk> = s
        .desk
        .clone()
        .ok_or_else(|| unavailable("issuing needs the broker: this tracker has none"))?;
    let kv = desk.bucket.get().cloned().ok_or_else(|| {
        unavailable(
            "the issues bucket is not open yet (the broker out of reach?); try again shortly",
        )
    })?;
    let consumer_of = desk.consumer_of.read().expect("consumer lock").clone();
    if consumer_of.is_empty() {
        return Err(unavailable(
            "ingest is still setting up its consumers; try again shortly",
        ));
    }
    // Figures and checkpoints in one turn between batches: every event up to an LPA's
    // `stream_sequence` is in its issued figures, and none after it.
    let (report, sequences) = {
        let _turn = desk.lock.lock().await;
        let (report, mut sequences) =
            month_with_sequences(&s.store, &s.reference, s.view.as_deref(), month, as_of)
                .await
                .map_err(internal)?;
        let store = s.store.clone();
        let local = tokio::task::spawn_blocking(move || {
            consumer_of
                .iter()
                .map(|(lpa, c)| Ok((lpa.clone(), store.checkpoint(c)?)))
                .collect::<Result<Vec<_>, crate::store::StoreError>>()
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        sequences.extend(local);
        (report, sequences)
    };
    let lpas = issue_entries(&report, as_of, |lpa| sequences.get(lpa).copied())
        .map_err(|e| Refusal(StatusCode::CONFLICT, e.to_string()))?;
    let issued_at = clock.now().to_string();
    let issue = issues::create(&kv, month, |n| Issue {
        month,
        issue: n,
        issued_at: issued_at.clone(),
        lpas: lpas.clone(),
    })
    .await
    .map_err(internal)?;
    tracing::info!(%month, issue = issue.issue, "issued the monthly report");
    let (store, copy) = (s.store.clone(), issue.clone());
    if let Err(e) = tokio::task::spawn_blocking(move || store.put_issue(&copy))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        // The bucket holds it; the copier takes it into the store later.
        tracing::warn!(error = %e, "cannot copy the new issue into the store yet");
    }
    Ok(Json(issue).into_response())
}

async fn list(State(s): State<Issues>, Path(m): Path<String>) -> Result<Response, Refusal> {
    let month = parse_month(&m)?;
    let issues = issues_of(&s, month).await?;
    Ok(Json(IssueList { month, issues }).into_response())
}

async fn one(
    State(s): State<Issues>,
    Path((m, n)): Path<(String, String)>,
) -> Result<Response, Refusal> {
    let month = parse_month(&m)?;
    let n: u64 = n.parse().map_err(|_| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("issue {n:?} is not a number (1, 2, …)"),
        )
    })?;
    let issues = issues_of(&s, month).await?;
    match issues.into_iter().find(|i| i.issue == n) {
        Some(i) => Ok(Json(i).into_response()),
        None => Err(Refusal(
            StatusCode::NOT_FOUND,
            format!("{month} has no issue {n}"),
        )),
    }
}
