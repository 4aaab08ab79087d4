//! The force-wide view of a month on a projector (contract section 10): the LPAs it
//! owns from its store, the others from the `NEIGHBOURHOOD_FIGURES` bucket, each bucket
//! entry with the `stream_sequence` it was folded to (what an issue freezes). Shared by
//! the month API (`http`) and issuing (`issues_http`).

use crate::domain::calendar::{Day, Month};
use crate::domain::reference::Reference;
use crate::domain::report::MonthReport;
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a projector that owns some LPAs needs to show the force: which LPAs it owns,
/// and the figures bucket for the others (set once the broker is reachable).
pub struct ForceView {
    pub owned: Vec<String>,
    pub bucket: Arc<tokio::sync::OnceCell<async_nats::jetstream::kv::Store>>,
}

/// A month's report (no revisions) and the `stream_sequence` of each entry that came
/// from the figures bucket. `view` none: every LPA is this store's.
pub async fn month_with_sequences(
    store: &Store,
    reference: &Arc<Reference>,
    view: Option<&ForceView>,
    month: Month,
    as_of: Day,
) -> Result<(MonthReport, BTreeMap<String, u64>), String> {
    let (store, reference) = (store.clone(), reference.clone());
    let Some(view) = view else {
        let report = tokio::task::spawn_blocking(move || {
            crate::app::figures::month(&store, &reference, month, as_of)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        return Ok((report, BTreeMap::new()));
    };
    let others: Vec<String> = reference
        .lpas
        .iter()
        .map(|l| l.code.clone())
        .filter(|c| !view.owned.contains(c))
        .collect();
    // Without the bucket (the broker unreachable) the others are missing, never zero.
    let remote = match view.bucket.get() {
        Some(kv) => match crate::app::bucket::read_month_with_sequences(kv, &others, month).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the figures bucket; other LPAs shown as missing");
                Default::default()
            }
        },
        None => Default::default(),
    };
    let sequences = remote.iter().map(|(l, (_, q))| (l.clone(), *q)).collect();
    let remote = remote.into_iter().map(|(l, (e, _))| (l, e)).collect();
    let owned = view.owned.clone();
    let report = tokio::task::spawn_blocking(move || {
        crate::app::figures::force_month(&store, &reference, &owned, &remote, month, as_of)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok((report, sequences))
}
