//! `report`: the board's monthly report on stdout, rendered from the store directly or
//! fetched from a running tracker with `--server`.

use super::args::ReportArgs;
use super::client;
use abstraction_tracker::app::figures;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::fold::Rules;
use abstraction_tracker::domain::issue::apply_revisions;
use abstraction_tracker::render;
use abstraction_tracker::store::Store;
use std::io::Write;

pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    let month = a
        .month
        .unwrap_or_else(|| last_closed_month(Clock::from_as_of(a.as_of)));
    if a.issue {
        return issue(&a, month);
    }
    let body = match a.server {
        Some(url) => {
            let options = client::Options {
                timeout: a.timeout,
                ca: a.server_ca.as_deref(),
            };
            client::fetch_report(&url, month, a.format, a.api_token.as_deref(), options)?
        }
        None => {
            let reference = a.reference.load()?;
            let store = Store::open_existing_with(&a.data_dir, a.engine.engine)?;
            store.check_rules(&Rules::from(&reference.limits))?;
            let as_of = Clock::from_as_of(a.as_of).day();
            // A partitioned projector's store holds its own LPAs only; the others are
            // in the figures bucket, which `--server` reads through that projector.
            let rep = match store.owned()? {
                Some(owned) if owned.len() < reference.lpas.len() => figures::force_month(
                    &store,
                    &reference,
                    &owned,
                    &Default::default(),
                    month,
                    as_of,
                )?,
                _ => figures::month(&store, &reference, month, as_of)?,
            };
            let mut rep = rep;
            let latest = super::issues::latest_issue(&a.issues_from, &store, month);
            apply_revisions(
                &mut rep,
                latest.as_ref().map(Option::as_ref).map_err(Clone::clone),
            );
            render::render(&rep, &reference, a.format)
        }
    };
    std::io::stdout().write_all(body.as_bytes())?;
    Ok(())
}

/// `report --month M --issue`: asks the tracker at `--server` to issue the month and
/// prints the issue.
fn issue(a: &ReportArgs, month: Month) -> anyhow::Result<()> {
    let Some(server) = &a.server else {
        anyhow::bail!("report --issue asks a running tracker: pass --server URL (the issue is written to the broker's NEIGHBOURHOOD_ISSUES bucket, which a stopped store cannot reach)");
    };
    let url = format!(
        "{}/api/v1/reports/monthly/{month}/issue",
        server.trim_end_matches('/')
    );
    let options = client::Options {
        timeout: a.timeout,
        ca: a.server_ca.as_deref(),
    };
    let answer = client::post(&url, a.api_token.as_deref(), options)?;
    match answer.status {
        200 => {
            let mut out = std::io::stdout().lock();
            out.write_all(answer.body.as_bytes())?;
            out.write_all(b"\n")?;
            Ok(())
        }
        401 => anyhow::bail!(
            "the tracker at {server} refused the request (401: {}): pass the right --api-token (or TRACKER_API_TOKEN)",
            client::server_error(&answer.body)
        ),
        s => anyhow::bail!(
            "the tracker at {server} did not issue {month} ({s}): {}",
            client::server_error(&answer.body)
        ),
    }
}

/// The month before the Europe/London month holding the clock's now.
fn last_closed_month(clock: Clock) -> Month {
    Month::containing(clock.now()).prev()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_month_is_the_one_before_now_in_london() {
        let at = |s: &str| Clock::AsOf(s.parse().unwrap());
        assert_eq!(
            last_closed_month(at("2024-03-14T12:00:00Z")),
            Month::new(2024, 2)
        );
        assert_eq!(
            last_closed_month(at("2024-01-01T00:30:00Z")),
            Month::new(2023, 12)
        );
        // 23:30 UTC on 31 May is 00:30 BST on 1 June: May has closed.
        assert_eq!(
            last_closed_month(at("2024-05-31T23:30:00Z")),
            Month::new(2024, 5)
        );
    }
}
