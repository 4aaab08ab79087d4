//! `publish`: validate the NDJSON input in a first streaming pass, then (when every line
//! passed, or with `--skip-invalid`) publish it in a second, each with a progress bar.
//! Neither pass holds the input ([`publish::Input`]): a regular file is read twice;
//! standard input, which cannot be re-read, is copied to an unnamed temporary file
//! during the first pass.
//! `--no-validate` is one pass, straight from the input.

use super::args::PublishArgs;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::tools::publish::{self, Input, Mode, PublishSummary};
use abstraction_tracker::wire::decode::Validator;
use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufRead, BufReader};

/// Invalid lines listed on stderr; the count covers them all.
const LISTED_ERRORS: usize = 50;

/// Read buffer of each pass.
const READ_BUFFER: usize = 256 * 1024;

pub fn run(a: PublishArgs) -> anyhow::Result<()> {
    let file = a.file.clone();
    if a.no_validate {
        let input: Box<dyn BufRead> = if file == "-" {
            Box::new(BufReader::with_capacity(READ_BUFFER, std::io::stdin()))
        } else {
            let f = File::open(&file).with_context(|| format!("reading {file}"))?;
            Box::new(BufReader::with_capacity(READ_BUFFER, f))
        };
        let summary = send(&a, input, Mode::Raw, None)?;
        report(&summary);
        return Ok(());
    }
    let validator = Validator::new(a.reference.load()?);
    // Times are judged against the publisher's own clock (CONTRACT section 9).
    let now_ms = Clock::Wall.now().as_millisecond();
    let mut input = Input::open(&file)?;
    let pb = bytes_bar(input.size());
    let checked = input.validate(&validator, now_ms, LISTED_ERRORS, |n| pb.inc(n))?;
    pb.finish_and_clear();
    for e in &checked.errors {
        eprintln!("{file}:{}: {}", e.line, e.rejection);
    }
    let refused = checked.refused.len();
    if refused > LISTED_ERRORS {
        eprintln!("{file}: … and {} more", refused - LISTED_ERRORS);
    }
    if refused > 0 && !a.skip_invalid {
        bail!(
            "{refused} invalid line(s) in {file}; nothing was published. Fix them, or use --skip-invalid to publish the valid ones, or --no-validate to send them all to the tracker's rejected stream"
        );
    }
    let second = input.rewind()?;
    let summary = send(&a, second, Mode::Validated(&checked), Some(checked.valid()))?;
    report(&summary);
    if refused > 0 {
        bail!(
            "{refused} invalid line(s) in {file} were not published (listed above); the {} valid one(s) were",
            checked.valid()
        );
    }
    Ok(())
}

fn report(summary: &PublishSummary) {
    eprintln!(
        "published {} event(s) ({} already in the broker's duplicate window)",
        summary.published + summary.duplicates,
        summary.duplicates
    );
}

/// Connects and runs the publishing pass, with a bar over `total` events when known.
fn send(
    a: &PublishArgs,
    input: impl BufRead,
    mode: Mode<'_>,
    total: Option<u64>,
) -> anyhow::Result<PublishSummary> {
    let nats = a.nats.clone();
    super::runtime()?.block_on(async move {
        let client = abstraction_tracker::nats::connect(&nats.nats_url, &nats.auth, false).await?;
        let js = async_nats::jetstream::new(client.clone());
        let pb = match total {
            Some(n) => super::bar(n, "publishing"),
            None => spinner("publishing {pos} event(s) ({per_sec})"),
        };
        let summary = publish::send(&js, input, mode, |n| pb.inc(n)).await;
        pb.finish_and_clear();
        client.flush().await.ok();
        summary
    })
}

/// The validating pass's bar, over bytes (a file's size is known, a pipe's is not).
fn bytes_bar(len: Option<u64>) -> ProgressBar {
    match len {
        Some(len) => {
            let pb = ProgressBar::new(len);
            pb.set_style(
                ProgressStyle::with_template(
                    "validating [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
                )
                .expect("valid template"),
            );
            pb
        }
        None => spinner("validating {bytes} ({bytes_per_sec})"),
    }
}

fn spinner(template: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {template}")).expect("valid template"),
    );
    pb
}
