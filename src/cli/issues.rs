//! Where `report --data-dir` and `explain --data-dir` find a month's issues (contract v3
//! section 13): the copy `serve` keeps in the store, or with `--nats-url` the
//! `NEIGHBOURHOOD_ISSUES` bucket itself.

use super::args::IssuesFrom;
use abstraction_tracker::app::issues;
use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::issue::{latest, Issue};
use abstraction_tracker::store::Store;
use std::time::Duration;

/// How long the bucket may take to answer before the issues count as unreadable.
const NATS_TIMEOUT: Duration = Duration::from_secs(10);

/// The latest issue of `month` (none: the month has no issue where they were read), or
/// why none could be read.
pub fn latest_issue(
    from: &IssuesFrom,
    store: &Store,
    month: Month,
) -> Result<Option<Issue>, String> {
    let all = match &from.nats_url {
        None => store
            .issues(month)
            .map_err(|e| format!("cannot read the store's copy of the issues: {e}"))?,
        Some(url) => from_nats(url, from, month)
            .map_err(|e| format!("cannot read the issues from NATS at {url}: {e:#}"))?,
    };
    Ok(latest(&all).cloned())
}

fn from_nats(url: &str, from: &IssuesFrom, month: Month) -> anyhow::Result<Vec<Issue>> {
    super::runtime()?.block_on(async {
        tokio::time::timeout(NATS_TIMEOUT, async {
            let client = abstraction_tracker::nats::connect(url, &from.auth, false).await?;
            let js = async_nats::jetstream::new(client);
            // No bucket: no issue was ever made.
            use async_nats::jetstream::context::GetStreamErrorKind;
            use async_nats::jetstream::ErrorCode;
            if let Err(e) = js.get_stream(format!("KV_{}", issues::ISSUES_BUCKET)).await {
                return match e.kind() {
                    GetStreamErrorKind::JetStream(j)
                        if j.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                    {
                        Ok(Vec::new())
                    }
                    _ => Err(e.into()),
                };
            }
            let kv = js.get_key_value(issues::ISSUES_BUCKET).await?;
            issues::read_month(&kv, month).await
        })
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {NATS_TIMEOUT:?}"))?
    })
}
