//! HTTP reads and the readings tests make of the answers.

use std::time::{Duration, Instant};

/// The tests' HTTP client: every status is an answer, not an error; 10 s at most.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// GET returning (status, body); never errors on HTTP status.
pub async fn get(url: &str) -> (u16, String) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || match agent().get(&url).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    })
    .await
    .unwrap()
}

/// POST with an empty body, returning (status, body); never errors on HTTP status.
pub async fn post(url: &str) -> (u16, String) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || match agent().post(&url).send_empty() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    })
    .await
    .unwrap()
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The LPA entry of a `/api/v1/months` answer.
pub fn lpa<'a>(month: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    month["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lpa"] == code)
        .unwrap_or_else(|| panic!("no LPA {code} in {month}"))
}

/// A sample value from Prometheus text, by exact series text, e.g.
/// `neighbourhood_rostered_seconds{lpa="dudley",month="2024-03"}`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
}
