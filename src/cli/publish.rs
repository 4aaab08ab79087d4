//! `publish`: validate the NDJSON input in a first streaming pass, then (when every line
//! passed, or with `--skip-invalid`) publish it in a second, each with a progress bar.
//! Neither pass holds the input: a regular file is read twice; standard input, which
//! cannot be re-read, is copied to an unnamed temporary file during the first pass.
//! `--no-validate` is one pass, straight from the input.

use super::args::PublishArgs;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::tools::publish::{self, Mode, PublishSummary, Tee, Validation};
use abstraction_tracker::wire::decode::Validator;
use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek as _, Write as _};

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
    let checked = input.validate(&validator, now_ms)?;
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

/// The input of a validated publish, readable a second time.
enum Input {
    /// A regular file, read twice through the same handle; its size and modification
    /// time are checked between the passes.
    File {
        name: String,
        file: File,
        seen: (u64, Option<std::time::SystemTime>),
    },
    /// Standard input or a pipe: the first pass copies it here.
    Spool {
        source: Box<dyn std::io::Read>,
        spool: Spool,
    },
}

impl Input {
    fn open(name: &str) -> anyhow::Result<Input> {
        let source: Box<dyn std::io::Read> = if name == "-" {
            Box::new(std::io::stdin())
        } else {
            let file = File::open(name).with_context(|| format!("reading {name}"))?;
            let meta = file.metadata().with_context(|| format!("reading {name}"))?;
            if meta.is_file() {
                return Ok(Input::File {
                    name: name.to_string(),
                    file,
                    seen: stamp(&meta),
                });
            }
            Box::new(file)
        };
        Ok(Input::Spool {
            source,
            spool: Spool::create()?,
        })
    }

    fn validate(&mut self, validator: &Validator, now_ms: i64) -> anyhow::Result<Validation> {
        match self {
            Input::File { name, file, seen } => {
                let pb = bytes_bar(Some(seen.0));
                let r = BufReader::with_capacity(READ_BUFFER, &*file);
                let v = publish::validate(validator, now_ms, r, LISTED_ERRORS, |n| pb.inc(n))
                    .with_context(|| format!("reading {name}"))?;
                pb.finish_and_clear();
                Ok(v)
            }
            Input::Spool { source, spool } => {
                let pb = bytes_bar(None);
                let copy = BufWriter::with_capacity(READ_BUFFER, &spool.file);
                let mut r = BufReader::with_capacity(
                    READ_BUFFER,
                    Tee {
                        inner: source,
                        copy,
                    },
                );
                let v = publish::validate(validator, now_ms, &mut r, LISTED_ERRORS, |n| pb.inc(n))
                    .context("reading the input, or copying it to a temporary file")?;
                r.into_inner()
                    .copy
                    .flush()
                    .context("copying the input to a temporary file")?;
                pb.finish_and_clear();
                Ok(v)
            }
        }
    }

    /// The same bytes again, from the start.
    fn rewind(&mut self) -> anyhow::Result<BufReader<&File>> {
        let file = match self {
            Input::File { name, file, seen } => {
                let now = stamp(&file.metadata()?);
                if now != *seen {
                    bail!("{name} changed while it was being validated; nothing was published");
                }
                &*file
            }
            Input::Spool { spool, .. } => &spool.file,
        };
        let mut f = file;
        f.rewind().context("rewinding the input")?;
        Ok(BufReader::with_capacity(READ_BUFFER, f))
    }
}

fn stamp(meta: &std::fs::Metadata) -> (u64, Option<std::time::SystemTime>) {
    (meta.len(), meta.modified().ok())
}

/// A temporary file with no name (unlinked as soon as it is created, on Unix), so
/// nothing is left behind even if the process is killed.
struct Spool {
    file: File,
    path: Option<std::path::PathBuf>,
}

impl Spool {
    fn create() -> anyhow::Result<Spool> {
        let dir = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = dir.join(format!(
                ".abstraction-tracker-publish-{}-{attempt}",
                std::process::id()
            ));
            let file = match File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating a temporary file in {}", dir.display()))
                }
            };
            // Unix lets an open file lose its name; elsewhere it is removed on drop.
            let path = std::fs::remove_file(&path).is_err().then_some(path);
            return Ok(Spool { file, path });
        }
        bail!("creating a temporary file in {}", dir.display())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
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
