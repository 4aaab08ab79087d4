//! `serve`'s periods and limits: flags with defaults that suit a deployment, turned
//! into the library's `serve::Tuning`.

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
}

impl ServeTuning {
    pub fn tuning(&self) -> Tuning {
        Tuning {
            republish_every: self.republish_every,
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
        // The flag's default is the library's.
        assert_eq!(parse_duration("5m"), Ok(REPUBLISH_EVERY));
    }
}
