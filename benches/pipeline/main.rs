//! Pipeline benchmark: the tracker measured against its limits, each figure next to a
//! baseline measured in the same run. `docs/BENCHMARKS.md` holds a run's output and what
//! it means. Nothing here asserts a time: it prints. One module per phase; `nats-server`
//! comes from the test kit in `tests/common`.
//!
//! ```text
//! cargo bench --bench pipeline
//! ```
//!
//! The phases that measure the tracker's own store (1, 1b, 3 and 4) run once per engine
//! of `BENCH_ENGINES` (`sled,fjall` by default), each next to a baseline measured just
//! before it; the table's engine column says which (`-`: the figure does not depend on
//! it).
//!
//! Phases, in order:
//! 1. Ingest: `simulate` events pre-loaded into a real `nats-server -js` (own port and
//!    store dir), then the tracker's `Ingestor` (validate, de-duplicate, log, fold,
//!    checkpoint, flush, ack), in a child process so that its RSS is its own, timed until
//!    the stored checkpoint reaches the stream's last sequence. Baselines: a raw async-nats pull consumer over the same stream (AckAll of
//!    the last message of each chunk, like the tracker), and a raw sled `apply_batch` of
//!    the same payloads keyed by sequence, same batch size, `flush()` per batch.
//!
//!    1b. The same stream through the real `serve` binary: one process owning every LPA,
//!    then three owning the LPAs between them at once (`--lpas`), each timed until
//!    caught up.
//! 2. Where the ingest time goes, measured from outside: `Validator::decode` alone, the
//!    `Projector` over a `BTreeMap` alone, and the same pipeline without NATS split into
//!    decode / fold into a `Commit` / sled apply / flush.
//! 3. Rebuild: `rebuild::rebuild` over the ingested store vs a raw scan of its log.
//!
//!    Then sled alone (`BENCH_SLED_EVENTS`, 0 skips it): the tracker's write set (log
//!    entry keyed by entity + id-index key) with time-ordered and random ids, two
//!    batch sizes, sled's compression at two levels and three cache sizes, against one
//!    sequential key per event; speed, peak RSS and disk, a
//!    child process per case (printed as phase 3b). Phase 3c (same switch): that write
//!    set plus an approximation of the read models per batch on sled, redb and fjall,
//!    and the fewer-keys "segments" layout on the same three (per-batch zstd segments
//!    of the log, one id-index key per event, one entity state per touched entity);
//!    then the segments layout alone at `BENCH_ENGINE_BIG_EVENTS` (10M; 0 skips it),
//!    for restart and memory at the size their targets name.
//! 4. A big store (`BENCH_REPORT_EVENTS`) folded straight into a `Store` with the
//!    `Projector` in commits of 500 events, in child processes (so their RSS is their
//!    own) that stop at 1M, 3M and the full size, sampled as history grows; after each
//!    stop another child opens it as `serve` would (after dropping the page cache when
//!    root: the restart figure) and times the month report (`figures::month`),
//!    `/api/v1/months/{month}` and `/metrics`; a last one scans its log raw and rebuilds
//!    it, each from a cold cache when root. One engine's store at a time, removed
//!    before the next is built.
//! 5. PostgreSQL peer (skipped with a note when no server answers, or `BENCH_SKIP_PG=1`):
//!    the same events COPYed into a table, the month figures computed by SQL and compared
//!    with the first engine's store.
//!
//! 6. Soak (`BENCH_SOAK_MIN`, 10; 0 skips it): the real `serve` under a steady publish
//!    rate (`BENCH_SOAK_RATE`, 200/s) with `/metrics` scraped every second and the month
//!    API read ten times a second: latency per endpoint, errors, RSS and its slope.
//!    `BENCH_ONLY=soak` runs this phase alone.
//!
//! Environment: `BENCH_ENGINES` (`sled,fjall`), `BENCH_EVENTS` (300000), `BENCH_OFFICERS` (2000), `BENCH_REPORT_EVENTS`
//! (10000000; 0 skips phases 4 and 5), `BENCH_REPORT_OFFICERS` (10000),
//! `BENCH_SLED_EVENTS` (1000000), `BENCH_ENGINE_BIG_EVENTS` (10000000), `BENCH_RUNS` (50 latency samples), `BENCH_PG_RUNS` (5),
//! `BENCH_SKIP_PG=1`.

#[path = "../../tests/common/mod.rs"]
mod common;

mod bigstore;
mod breakdown;
mod build;
mod engines;
mod ingest;
mod machine;
mod output;
mod partition;
mod pg;
mod serve;
mod sled_alone;
mod soak;

use bigstore::*;
use breakdown::*;
use build::*;
use engines::*;
use ingest::*;
use machine::*;
use output::*;
use partition::*;
use pg::*;
use serve::*;
use sled_alone::*;
use soak::*;

use abstraction_tracker::app::figures;
use abstraction_tracker::app::http::{self, AppState};
use abstraction_tracker::app::metrics::Metrics;
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::event::{Envelope, Event};
use abstraction_tracker::domain::readmodel::{LpaMonth, SectorMonth};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::ingest::{ensure_streams, IngestConfig, Ingestor, EVENTS_STREAM};
use abstraction_tracker::project::projector::{Outcome, Projector};
use abstraction_tracker::project::rebuild;
use abstraction_tracker::store::{EngineKind, Kv, KvResult, Store};
use abstraction_tracker::tools::publish::Window;
use abstraction_tracker::tools::simulate::{simulate, SimConfig};
use abstraction_tracker::wire::decode::{decode_stored, Validator};
use anyhow::{bail, Context as _};
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events in the store the report, API and scrape are timed over: ten million by
/// default (building them is most of the run; see `docs/BENCHMARKS.md`).
const DEFAULT_REPORT_EVENTS: usize = 10_000_000;
const CONSUMER: &str = "abstraction-tracker";
const MIB: f64 = 1024.0 * 1024.0;
/// Where the big store's simulation starts; it runs for as many days as it takes.
const BIG_FROM: &str = "2021-01-01";
/// Events per commit while building the big store: as `serve` batches by default
/// (larger sled batches gain little speed and inflate its memory).
const BIG_CHUNK: usize = 500;
const RESULT: &str = "BENCH_RESULT ";

fn main() {
    let result = match std::env::var("BENCH_CHILD").as_deref() {
        Ok("ingest") => child_ingest(),
        Ok("build") => child_build(),
        Ok("serve") => child_serve(),
        Ok("rebuild") => child_rebuild(),
        Ok("sled") => child_sled(),
        Ok("engine") => child_engine(),
        _ => run(),
    };
    if let Err(e) = result {
        eprintln!("pipeline benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

struct Config {
    events: usize,
    officers: u32,
    report_events: usize,
    report_officers: u32,
    runs: usize,
    pg_runs: usize,
    skip_pg: bool,
    sled_events: usize,
    engine_big_events: usize,
    /// The engines the tracker's own store is measured on, one after the other.
    engines: Vec<EngineKind>,
}

fn env_num(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .replace(['_', ','], "")
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// `BENCH_ENGINES`: a comma-separated list, `sled,fjall` by default.
fn engines_from_env() -> anyhow::Result<Vec<EngineKind>> {
    let v = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "sled,fjall".into());
    let engines = v
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            e.parse::<EngineKind>()
                .map_err(|m| anyhow::anyhow!("BENCH_ENGINES: {m}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if engines.is_empty() {
        bail!("BENCH_ENGINES={v} names no engine");
    }
    Ok(engines)
}

/// The engine a child process creates its store with (`BENCH_CHILD_ENGINE`, default sled).
fn child_engine_kind() -> anyhow::Result<EngineKind> {
    match std::env::var("BENCH_CHILD_ENGINE") {
        Ok(v) => v
            .parse()
            .map_err(|m| anyhow::anyhow!("BENCH_CHILD_ENGINE: {m}")),
        Err(_) => Ok(EngineKind::default()),
    }
}

fn env_str(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            events: env_num("BENCH_EVENTS", 300_000)?,
            officers: env_num("BENCH_OFFICERS", 2_000)? as u32,
            report_events: env_num("BENCH_REPORT_EVENTS", DEFAULT_REPORT_EVENTS)?,
            report_officers: env_num("BENCH_REPORT_OFFICERS", 10_000)? as u32,
            runs: env_num("BENCH_RUNS", 50)?.max(1),
            pg_runs: env_num("BENCH_PG_RUNS", 5)?.max(1),
            skip_pg: std::env::var("BENCH_SKIP_PG").is_ok_and(|v| !v.is_empty() && v != "0"),
            sled_events: env_num("BENCH_SLED_EVENTS", 1_000_000)?,
            engine_big_events: env_num("BENCH_ENGINE_BIG_EVENTS", DEFAULT_REPORT_EVENTS)?,
            engines: engines_from_env()?,
        })
    }
}

fn run() -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let validator = Arc::new(Validator::new(Reference::west_midlands()));
    let mut table = Table::default();
    let mut notes = Vec::new();
    println!(
        "pipeline benchmark: {} cores, load average at start {}",
        cores(),
        loadavg()
    );
    let engines: Vec<&str> = cfg.engines.iter().map(|e| e.name()).collect();
    println!(
        "BENCH_ENGINES={} BENCH_EVENTS={} BENCH_OFFICERS={} BENCH_REPORT_EVENTS={} BENCH_REPORT_OFFICERS={} BENCH_RUNS={} BENCH_PG_RUNS={} BENCH_SKIP_PG={}",
        engines.join(","), cfg.events, cfg.officers, cfg.report_events, cfg.report_officers, cfg.runs, cfg.pg_runs, cfg.skip_pg
    );

    let only_soak = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "soak");
    if !only_soak {
        let per_event_disk = ingest_phases(&cfg, &rt, &validator, &mut table, &mut notes)?;
        table.print_new();
        if cfg.sled_events > 0 {
            sled_phase(&cfg, &mut table)?;
            engine_phase(&cfg, &mut table)?;
            table.print_new();
        } else {
            notes.push(
                "BENCH_SLED_EVENTS=0: phases 3b and 3c (sled alone, engines layout) skipped".into(),
            );
        }
        if cfg.report_events > 0 {
            big_store_phases(&cfg, per_event_disk, &mut table, &mut notes)?;
        } else {
            notes.push(
                "BENCH_REPORT_EVENTS=0: report, API, scrape and PostgreSQL phases skipped".into(),
            );
        }
    }
    drop(rt);
    let soak = Soak::from_env()?;
    if soak.minutes > 0.0 {
        soak_phase(&soak, cfg.officers, &mut table)?;
    } else {
        notes.push("BENCH_SOAK_MIN=0: soak skipped".into());
    }

    println!("\n== Results (one run; ratio = measurement / baseline unless stated) ==\n");
    table.print();
    println!("\nNotes:");
    for n in &notes {
        println!("- {n}");
    }
    println!(
        "\ntotal benchmark time {:.0} s; load average at the end {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    Ok(())
}

/// Runs this benchmark binary again in a child mode; relays what it prints and returns
/// its result line.
fn child<T: DeserializeOwned>(mode: &str, env: &[(&str, String)]) -> anyhow::Result<T> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env("BENCH_CHILD", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut c = cmd.spawn().context("starting a child benchmark process")?;
    let out = io::BufReader::new(c.stdout.take().expect("piped"));
    let mut result = None;
    for line in out.lines() {
        let line = line?;
        match line.strip_prefix(RESULT) {
            Some(json) => result = Some(serde_json::from_str(json)?),
            None => println!("{line}"),
        }
    }
    let status = c.wait()?;
    if !status.success() {
        bail!("child benchmark process ({mode}) failed: {status}");
    }
    result.with_context(|| format!("child benchmark process ({mode}) printed no result"))
}

fn print_result(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{RESULT}{}", serde_json::to_string(v)?);
    Ok(())
}
