//! Value parsers of the command line's flags (`--as-of`, `--server`, `--timeout`),
//! shared by the argument definitions.

use std::time::Duration;

/// `--as-of`: an RFC 3339 instant with an offset.
pub(super) fn parse_as_of(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>().map_err(|_| {
        format!("{s:?} is not an RFC 3339 time with an offset, e.g. 2024-03-31T12:00:00Z")
    })
}

/// `--server`, `--url`: an http:// or https:// URL.
pub(super) fn parse_http_url(s: &str) -> Result<String, String> {
    let scheme = s
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => Ok(s.to_owned()),
        _ => Err(format!(
            "{s:?} is not an http:// or https:// URL, e.g. http://127.0.0.1:8080"
        )),
    }
}

/// `--timeout`: a positive duration such as `2s`, `500ms`, `1m 30s`, or whole seconds.
pub(super) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration such as 2s, 500ms or 1m30s");
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let d: jiff::SignedDuration = s.trim().parse().map_err(|_| bad())?;
            Duration::try_from(d).map_err(|_| bad())?
        }
    };
    if d.is_zero() {
        return Err(format!("{s:?}: the timeout must be more than zero"));
    }
    Ok(d)
}

/// A `--lpas` list checked against the reference data: one line saying what is wrong.
pub fn parse_lpas(
    list: &str,
    reference: &abstraction_tracker::domain::reference::Reference,
) -> anyhow::Result<Vec<String>> {
    let codes: Vec<String> = list
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let known = || {
        reference
            .lpas
            .iter()
            .map(|l| l.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if codes.is_empty() {
        anyhow::bail!("--lpas is empty: name at least one LPA code ({})", known());
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &codes {
        if reference.lpa(c).is_none() {
            anyhow::bail!(
                "--lpas names {c:?}, which is not an LPA of the reference file (known: {})",
                known()
            );
        }
        if !seen.insert(c.as_str()) {
            anyhow::bail!("--lpas names {c:?} twice");
        }
    }
    Ok(codes)
}
