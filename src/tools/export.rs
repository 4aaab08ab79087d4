//! `export`: the event log as NDJSON, grouped by LPA and entity — a backup that `publish`
//! replays (the fold does not depend on order).

use crate::store::{Store, StoreError};
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes every stored event on its own line and returns how many. Events stored with
/// line breaks inside (pretty-printed JSON is valid input) are re-encoded compactly:
/// the same content, so a replay is recognised as the same event.
pub fn export(
    store: &Store,
    out: &mut dyn Write,
    mut progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    let mut n = 0;
    for raw in store.log() {
        let raw = raw?;
        if raw.contains(&b'\n') || raw.contains(&b'\r') {
            let v: serde_json::Value = serde_json::from_slice(&raw)
                .map_err(|e| StoreError::Corrupt(format!("stored event is not JSON: {e}")))?;
            serde_json::to_writer(&mut *out, &v).map_err(std::io::Error::from)?;
        } else {
            out.write_all(&raw)?;
        }
        out.write_all(b"\n")?;
        n += 1;
        if n % 10_000 == 0 {
            progress(10_000);
        }
    }
    progress(n % 10_000);
    out.flush()?;
    Ok(n)
}
