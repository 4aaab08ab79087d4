//! Issued reports in JetStream KV (contract v3 section 13): the bucket
//! `NEIGHBOURHOOD_ISSUES`, key `<YYYY-MM>.<issue>`, one value per issue written
//! create-only, so two projectors issuing at once never share a number (the second
//! `create` of a number fails and takes the next). Every projector reads issues there,
//! and copies each one it sees into its store (`Store::put_issue`) for `report
//! --data-dir` and `explain --data-dir`.
//!
//! Numbers are dense (1, 2, … with no gap: a number is taken only by a successful
//! create), so a month's issues are read key by key from 1 until the first absent one.

use crate::domain::calendar::Month;
use crate::domain::issue::Issue;
use crate::store::Store;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

pub const ISSUES_BUCKET: &str = "NEIGHBOURHOOD_ISSUES";

/// The most numbers one issue tries before giving up (each failed create means another
/// projector took that number in between).
const MAX_ATTEMPTS: u64 = 100;

pub fn key(month: Month, issue: u64) -> String {
    format!("{month}.{issue}")
}

/// What the issue routes of a running `serve` need beyond the store: the bucket (set
/// once the broker is reachable), each owned LPA's consumer (its checkpoint is the
/// LPA's `stream_sequence`; set once ingest has planned its consumers) and the ingest
/// lock (figures and checkpoints are read between batches).
#[derive(Default)]
pub struct IssueDesk {
    pub bucket: tokio::sync::OnceCell<kv::Store>,
    pub consumer_of: std::sync::RwLock<HashMap<String, String>>,
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

/// Opens the issues bucket, creating it with `replicas` when missing.
pub async fn open(js: &jetstream::Context, replicas: usize) -> anyhow::Result<kv::Store> {
    crate::app::bucket::open_bucket(
        js,
        ISSUES_BUCKET,
        "Issued monthly reports of neighbourhood abstraction, one value per issue, never replaced",
        replicas,
    )
    .await
}

/// `month`'s issues in the bucket, by number.
pub async fn read_month(kv: &kv::Store, month: Month) -> anyhow::Result<Vec<Issue>> {
    let mut out = Vec::new();
    for n in 1.. {
        let Some(bytes) = kv.get(key(month, n)).await? else {
            break;
        };
        match serde_json::from_slice::<Issue>(&bytes) {
            Ok(issue) => out.push(issue),
            Err(e) => anyhow::bail!("issue {} is not readable: {e}", key(month, n)),
        }
    }
    Ok(out)
}

/// `month`'s issues: from the bucket when `desk` has it open, else (the broker out of
/// reach, or no broker) the store's copy.
pub async fn month_issues(
    desk: Option<&IssueDesk>,
    store: &Store,
    month: Month,
) -> Result<Vec<Issue>, String> {
    if let Some(kv) = desk.and_then(|d| d.bucket.get()) {
        match read_month(kv, month).await {
            Ok(list) => return Ok(list),
            Err(e) => warn!(error = %e, "cannot read the issues bucket; using the store's copy"),
        }
    }
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.issues(month))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot read the store's copy of the issues: {e}"))
}

/// Writes a new issue of `month` under the first free number from the next one after
/// those read; `make(n)` is the issue numbered `n`.
pub async fn create(
    kv: &kv::Store,
    month: Month,
    make: impl Fn(u64) -> Issue,
) -> anyhow::Result<Issue> {
    let next = read_month(kv, month).await?.len() as u64 + 1;
    create_from(kv, month, next, make).await
}

/// [`create`] trying `n` first: what another projector may have taken since the month's
/// issues were read is skipped, never overwritten.
pub async fn create_from(
    kv: &kv::Store,
    month: Month,
    mut n: u64,
    make: impl Fn(u64) -> Issue,
) -> anyhow::Result<Issue> {
    for _ in 0..MAX_ATTEMPTS {
        let issue = make(n);
        let value = serde_json::to_vec(&issue).expect("an issue serialises");
        match kv.create(key(month, n), value.into()).await {
            Ok(_) => return Ok(issue),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                debug!(key = %key(month, n), "issue number taken by another projector; taking the next");
                n += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("no free issue number for {month} in {MAX_ATTEMPTS} attempts")
}

/// Opens the bucket (retrying while the broker refuses it), hands it to `desk`, then
/// copies every issue there, and each new one as it is made, into `store` until
/// `shutdown`.
pub async fn keep(
    js: jetstream::Context,
    replicas: usize,
    desk: Arc<IssueDesk>,
    store: Store,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let kv = loop {
        match open(&js, replicas).await {
            Ok(kv) => break kv,
            Err(e) => {
                warn!(error = %e, bucket = ISSUES_BUCKET, "cannot open the issues bucket; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = &mut shutdown => return,
                }
            }
        }
    };
    let _ = desk.bucket.set(kv.clone());
    loop {
        tokio::select! {
            _ = copy(&kv, &store) => {}
            _ = &mut shutdown => return,
        }
        // The watch ended (the broker went away): watch again from the start.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = &mut shutdown => return,
        }
    }
}

/// Copies each issue the bucket holds and gets into `store`, until the watch ends.
async fn copy(kv: &kv::Store, store: &Store) {
    let mut watch = match kv.watch_with_history(">").await {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, bucket = ISSUES_BUCKET, "cannot watch the issues bucket; retrying");
            return;
        }
    };
    let mut copied = 0u64;
    while let Some(entry) = watch.next().await {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, bucket = ISSUES_BUCKET, "the issues watch failed; watching again");
                return;
            }
        };
        if entry.operation != kv::Operation::Put {
            continue;
        }
        let Ok(issue) = serde_json::from_slice::<Issue>(&entry.value) else {
            warn!(key = %entry.key, "an issues bucket value is not an issue; not copied");
            continue;
        };
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.put_issue(&issue)).await {
            Ok(Ok(())) => copied += 1,
            Ok(Err(e)) => {
                warn!(key = %entry.key, error = %e, "cannot copy an issue into the store")
            }
            Err(e) => warn!(key = %entry.key, error = %e, "copying an issue panicked"),
        }
        if entry.delta == 0 && copied > 0 {
            info!(issues = copied, "issues copied into the store");
        }
    }
}
