//! `explain`: the evidence behind a figure (contract v3 section 12) on stdout: the
//! abstractions or shifts behind an LPA-month, or the abstractions open now, from a
//! running tracker (`--server`) or from a stopped store (`--data-dir`, reading issues
//! as `report --data-dir` does: `issues`).

use super::args::{EvidenceFormat, ExplainArgs};
use super::client;
use abstraction_tracker::app::evidence;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::evidence::{
    abstractions_csv, mark_revised, mark_revised_open, mark_revised_shifts, open_months, shifts_csv,
};
use abstraction_tracker::domain::fold::Rules;
use abstraction_tracker::store::Store;
use std::io::Write;

pub fn run(a: ExplainArgs) -> anyhow::Result<()> {
    let body = match &a.server {
        Some(server) => from_server(&a, server)?,
        None => from_store(&a)?,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(body.as_bytes())?;
    if !body.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn path(a: &ExplainArgs) -> String {
    let lpa = &a.lpa;
    match a.month {
        Some(m) if a.shifts => format!("/api/v1/lpas/{lpa}/months/{m}/shifts"),
        Some(m) => format!("/api/v1/lpas/{lpa}/months/{m}/abstractions"),
        None => format!("/api/v1/lpas/{lpa}/abstractions/open"),
    }
}

fn from_server(a: &ExplainArgs, server: &str) -> anyhow::Result<String> {
    let format = match a.format {
        EvidenceFormat::Json => "json",
        EvidenceFormat::Csv => "csv",
    };
    let url = format!(
        "{}{}?format={format}",
        server.trim_end_matches('/'),
        path(a)
    );
    let options = client::Options {
        timeout: a.timeout,
        ca: a.server_ca.as_deref(),
    };
    let answer = client::get(&url, a.api_token.as_deref(), options)?;
    match answer.status {
        200 => Ok(answer.body),
        401 => anyhow::bail!(
            "the tracker at {server} refused the request (401: {}): pass the right --api-token (or TRACKER_API_TOKEN)",
            client::server_error(&answer.body)
        ),
        s => anyhow::bail!(
            "the tracker at {server} answered {s} for {url}: {}",
            client::server_error(&answer.body)
        ),
    }
}

fn from_store(a: &ExplainArgs) -> anyhow::Result<String> {
    let reference = a.reference.load()?;
    anyhow::ensure!(
        reference.lpa(&a.lpa).is_some(),
        "no LPA {:?} in the reference data (codes: {})",
        a.lpa,
        reference
            .lpas
            .iter()
            .map(|l| l.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let store = Store::open_existing_with(&a.data_dir, a.engine.engine)?;
    store.check_rules(&Rules::from(&reference.limits))?;
    if let Some(owned) = store.owned()? {
        anyhow::ensure!(
            owned.contains(&a.lpa),
            "LPA {:?} is not owned here: the store in {} holds {} only; ask the projector that owns it",
            a.lpa,
            a.data_dir.display(),
            owned.join(", ")
        );
    }
    // Issues as `report --data-dir` reads them; none readable: nothing is marked revised.
    let sequence = |month: Month| -> Option<u64> {
        match super::issues::latest_issue(&a.issues_from, &store, month) {
            Ok(latest) => latest.and_then(|i| i.stream_sequence(&a.lpa)),
            Err(e) => {
                eprintln!("warning: {e}; revised_since_issue is false throughout");
                None
            }
        }
    };
    Ok(match (a.month, a.shifts, a.format) {
        (Some(m), true, f) => {
            let mut list = evidence::month_shifts(&store, &reference, &a.lpa, m)?;
            mark_revised_shifts(&mut list, sequence(m));
            match f {
                EvidenceFormat::Json => json(&list),
                EvidenceFormat::Csv => shifts_csv(&list),
            }
        }
        (Some(m), false, f) => {
            let mut list = evidence::month_abstractions(&store, &reference, &a.lpa, m)?;
            mark_revised(&mut list, sequence(m));
            match f {
                EvidenceFormat::Json => json(&list),
                EvidenceFormat::Csv => abstractions_csv(&list),
            }
        }
        (None, _, f) => {
            let now = Clock::from_as_of(a.as_of).now().as_millisecond();
            let mut list = evidence::open_abstractions(&store, &reference, &a.lpa, now)?;
            let sequences: std::collections::BTreeMap<Month, Option<u64>> = open_months(&list)
                .into_iter()
                .map(|m| (m, sequence(m)))
                .collect();
            mark_revised_open(&mut list, |m| sequences.get(&m).copied().flatten());
            match f {
                EvidenceFormat::Json => json(&list),
                EvidenceFormat::Csv => abstractions_csv(&list),
            }
        }
    })
}

/// JSON of a list, as the API writes it.
fn json<T: serde::Serialize>(list: &T) -> String {
    serde_json::to_string(list).expect("evidence lists serialise")
}
