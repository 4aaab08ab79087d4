//! `serve`'s periods and limits: flags with defaults that suit a deployment, turned
//! into the library's `serve::Tuning`.

use abstraction_tracker::app::http::HttpLimits;
use abstraction_tracker::app::serve::Tuning;
use std::time::Duration;

#[derive(clap::Args, Clone)]
pub struct ServeTuning {
    /// How often every owned LPA-month is published again to the NEIGHBOURHOOD_FIGURES
    /// bucket, e.g. 5m, 30s.
    ///
    /// Changed figures are published within half a second of being stored; this
    /// re-publishes all of them besides (anti-entropy), so a bucket value that was
    /// deleted, overwritten by hand or missed through a failure is restored within
    /// this period. A value with a greater stream_sequence is never replaced, and an
    /// unchanged one is only read, not written.
    #[arg(
        long,
        env = "TRACKER_REPUBLISH_EVERY",
        default_value = "5m",
        value_parser = parse_duration,
        help_heading = "NATS"
    )]
    pub republish_every: Duration,
    /// How long a connection may take to send a whole request head, e.g. 10s.
    ///
    /// Counted from opening the connection or from its previous answer, so idle
    /// keep-alive connections are closed after this long too: a client that opens
    /// connections and sends nothing (or half a request) cannot hold them.
    #[arg(
        long,
        env = "TRACKER_HTTP_HEADER_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration,
        help_heading = "HTTP"
    )]
    pub http_header_timeout: Duration,
    /// How long a request may take to be answered, its body read included; 408 after.
    #[arg(
        long,
        env = "TRACKER_HTTP_REQUEST_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration,
        help_heading = "HTTP"
    )]
    pub http_request_timeout: Duration,
    /// The largest request body taken, in bytes; 413 beyond.
    #[arg(
        long,
        env = "TRACKER_HTTP_BODY_LIMIT",
        value_name = "BYTES",
        default_value_t = 65536,
        help_heading = "HTTP"
    )]
    pub http_body_limit: usize,
    /// Most /api and /reports requests in hand at once; more get 503 at once.
    ///
    /// /metrics, /healthz and /readyz are not counted, so a burst of report requests
    /// never holds up a scrape or a health check.
    #[arg(
        long,
        env = "TRACKER_HTTP_MAX_API_REQUESTS",
        default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "HTTP"
    )]
    pub http_max_api_requests: u32,
}

impl ServeTuning {
    pub fn tuning(&self) -> Tuning {
        Tuning {
            republish_every: self.republish_every,
            http: HttpLimits {
                header_timeout: self.http_header_timeout,
                request_timeout: self.http_request_timeout,
                body_limit: self.http_body_limit,
                max_api_requests: self.http_max_api_requests as usize,
            },
        }
    }
}

/// A positive duration such as `2s`, `500ms`, `5m`, or whole seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a positive duration such as 30s, 500ms or 5m");
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let d: jiff::SignedDuration = s.trim().parse().map_err(|_| bad())?;
            Duration::try_from(d).map_err(|_| bad())?
        }
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abstraction_tracker::app::serve::REPUBLISH_EVERY;

    #[test]
    fn durations_read_as_the_other_flags_do() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        // The flags' defaults are the library's.
        assert_eq!(parse_duration("5m"), Ok(REPUBLISH_EVERY));
        let http = HttpLimits::default();
        assert_eq!(parse_duration("10s"), Ok(http.header_timeout));
        assert_eq!(parse_duration("30s"), Ok(http.request_timeout));
        assert_eq!((http.body_limit, http.max_api_requests), (65536, 32));
    }
}
