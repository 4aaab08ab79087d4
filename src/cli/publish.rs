//! `publish`: read the NDJSON file (or stdin), validate every line unless
//! `--no-validate`, then publish with a progress bar.

use super::args::PublishArgs;
use abstraction_tracker::tools::publish;
use abstraction_tracker::wire::decode::Validator;
use anyhow::{bail, Context as _};
use std::io::Read;

/// Invalid lines listed on stderr before giving up; the count covers them all.
const LISTED_ERRORS: usize = 50;

pub fn run(a: PublishArgs) -> anyhow::Result<()> {
    let file = a.file;
    let text = read_input(&file)?;
    let validator = Validator::new(a.reference.load()?);
    if !a.no_validate {
        let errors = publish::validate(&validator, &text);
        if !errors.is_empty() {
            for e in errors.iter().take(LISTED_ERRORS) {
                eprintln!("{file}:{}: {}", e.line, e.rejection);
            }
            bail!(
                "{} invalid line(s) in {file}; nothing was published. Fix them, or use --no-validate to send them to the tracker's rejected stream",
                errors.len()
            );
        }
    }
    let total = publish::lines(&text).count() as u64;
    let nats = a.nats;
    let no_validate = a.no_validate;
    super::runtime()?.block_on(async move {
        let client = abstraction_tracker::nats::connect(&nats.nats_url, &nats.auth, false).await?;
        let js = async_nats::jetstream::new(client.clone());
        let pb = super::bar(total, "publishing");
        let v = (!no_validate).then_some(&validator);
        let summary = publish::publish(&js, v, &text, |n| pb.inc(n)).await?;
        pb.finish_and_clear();
        client.flush().await.ok();
        eprintln!(
            "published {} event(s) ({} already in the broker's duplicate window)",
            summary.published + summary.duplicates,
            summary.duplicates
        );
        Ok(())
    })
}

/// The bytes of `file`, or of standard input for `-`.
fn read_input(file: &str) -> anyhow::Result<Vec<u8>> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        Ok(buf)
    } else {
        std::fs::read(file).with_context(|| format!("reading {file}"))
    }
}
