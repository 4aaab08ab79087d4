//! The HTTP client of the command line: `report --server` (one GET of
//! `/api/v1/reports/monthly/{YYYY-MM}?format=...` on a running tracker, since sled
//! allows only one process, the `serve`, per data directory) and `probe` (one GET of
//! `/healthz`). HTTPS goes through rustls with Mozilla's root certificates, or the CA
//! certificates of a PEM file (`--server-ca`, for a force's private CA); every
//! request has a deadline, so a server that accepts and never answers cannot hang
//! the command.

use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::render::Format;
use anyhow::Context as _;
use clap::ValueEnum as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// The largest answer read (an HTML report with its charts is well under 1 MiB).
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// How a request is made: its deadline and whom to trust for `https://`.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// From name lookup to the last byte of the body.
    pub timeout: Duration,
    /// A PEM file of CA certificates trusted instead of Mozilla's roots.
    pub ca: Option<&'a Path>,
}

/// The CA certificates of a PEM file.
fn roots(ca: &Path) -> anyhow::Result<RootCerts> {
    let pem = std::fs::read(ca)
        .with_context(|| format!("reading the --server-ca file {}", ca.display()))?;
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) =
            item.with_context(|| format!("reading PEM from {}", ca.display()))?
        {
            certs.push(c);
        }
    }
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", ca.display());
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// An agent whose every request, from name lookup to the last byte of the body, ends
/// within the timeout. Statuses are not turned into errors: the caller reads the body
/// of a 401 or 404 to say why.
fn agent(o: Options) -> anyhow::Result<ureq::Agent> {
    let timeout = o.timeout;
    let mut tls = TlsConfig::builder();
    if let Some(ca) = o.ca {
        tls = tls.root_certs(roots(ca)?);
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
        .http_status_as_error(false)
        .user_agent(concat!("abstraction-tracker/", env!("CARGO_PKG_VERSION")))
        .build()
        .into())
}

/// A status and the body of an answer.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// GET `url`, with `Authorization: Bearer <token>` when a token is given. Errors
/// (refused, timed out, TLS) say which URL and how long was allowed.
pub fn get(url: &str, token: Option<&str>, o: Options) -> anyhow::Result<Answer> {
    let timeout = o.timeout;
    let mut req = agent(o)?.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(url, timeout, req.call())
}

/// POST with an empty body, as [`get`].
pub fn post(url: &str, token: Option<&str>, o: Options) -> anyhow::Result<Answer> {
    let timeout = o.timeout;
    let mut req = agent(o)?.post(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(url, timeout, req.send_empty())
}

fn answer(
    url: &str,
    timeout: Duration,
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> anyhow::Result<Answer> {
    let explain = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => anyhow::anyhow!(
            "no answer from {url} within {}",
            jiff::SignedDuration::try_from(timeout)
                .map(|d| format!("{d:#}"))
                .unwrap_or_else(|_| format!("{timeout:?}"))
        ),
        // ureq's "io: " prefix adds nothing to the I/O error's own words.
        ureq::Error::Io(e) => anyhow::Error::new(e).context(format!("asking {url}")),
        e => anyhow::Error::new(e).context(format!("asking {url}")),
    };
    let mut resp = sent.map_err(explain)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_string()
        .map_err(explain)
        .context("reading the answer")?;
    Ok(Answer { status, body })
}

/// The `error` member of a JSON error body, else the body itself, on one line.
pub fn server_error(body: &str) -> String {
    let text = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The report body for `month` in `format` from the tracker at `server`.
pub fn fetch_report(
    server: &str,
    month: Month,
    format: Format,
    token: Option<&str>,
    o: Options,
) -> anyhow::Result<String> {
    // The name `--format` accepts (md, html, csv, json) is the one the API's `format`
    // query parameter accepts too.
    let format = format
        .to_possible_value()
        .expect("no Format variant is skipped");
    let url = format!(
        "{}/api/v1/reports/monthly/{month}?format={}",
        server.trim_end_matches('/'),
        format.get_name()
    );
    let a = get(&url, token, o).map_err(|e| {
        if format!("{e:#}").contains("invalid peer certificate") {
            e.context(
                "the server's TLS certificate was not accepted: for a private CA, pass \
                 --server-ca with its certificate (PEM)",
            )
        } else {
            e
        }
    })?;
    match a.status {
        200 => Ok(a.body),
        401 if token.is_none() => anyhow::bail!(
            "the tracker at {server} refused the request (401: {}): it requires a token; pass --api-token (or set TRACKER_API_TOKEN)",
            server_error(&a.body)
        ),
        401 => anyhow::bail!(
            "the tracker at {server} refused the token (401: {}): check --api-token (or TRACKER_API_TOKEN) against the server's",
            server_error(&a.body)
        ),
        s => anyhow::bail!(
            "the tracker at {server} answered {s} for {url}: {}",
            server_error(&a.body)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_error_is_the_json_error_member_or_the_text() {
        assert_eq!(
            server_error(r#"{"error":"missing or wrong bearer token"}"#),
            "missing or wrong bearer token"
        );
        assert_eq!(server_error("not\nfound\n"), "not found");
    }
}
