//! The command line's clap definitions: every subcommand, flag, env var, default and
//! help text of the `abstraction-tracker` binary. The help text is an external
//! interface: change it only on purpose.

use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::nats::Auth;
use abstraction_tracker::render::Format;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Measures how often neighbourhood officers, PCSOs and specials are abstracted from
/// neighbourhood duty, per Local Policing Area (LPA), sector and month.
///
/// Rostering systems publish events to NATS JetStream; `serve` validates them, keeps
/// an append-only log in sled, folds them into monthly read models and serves
/// Prometheus metrics, a JSON API and the governance board's monthly report.
#[derive(Parser)]
#[command(name = "abstraction-tracker", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
pub struct NatsArgs {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    #[command(flatten)]
    pub auth: Auth,
}

#[derive(clap::Args, Clone)]
pub struct ReferenceArg {
    /// Reference data file (LPAs, sectors, reasons, targets); defaults to the shipped
    /// West Midlands Police file.
    #[arg(long, env = "TRACKER_REFERENCE")]
    pub reference: Option<PathBuf>,
}

impl ReferenceArg {
    /// The file named by `--reference`, or the shipped West Midlands Police data.
    pub fn load(&self) -> anyhow::Result<Reference> {
        match &self.reference {
            None => Ok(Reference::west_midlands()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading reference file {}", p.display()))?;
                Reference::from_json(&text).with_context(|| format!("in {}", p.display()))
            }
        }
    }
}

// The doc comment of each variant is that subcommand's help text; the argument
// structs carry no doc comment of their own, so they do not replace it.
#[derive(Subcommand)]
pub enum Command {
    /// Consume events from JetStream, fold them into read models and serve HTTP
    /// (/metrics, /healthz, /readyz, /api/v1/months/{YYYY-MM}, /api/v1/reports/monthly/{YYYY-MM}).
    /// Creates the NEIGHBOURHOOD_EVENTS and NEIGHBOURHOOD_REJECTED streams when missing.
    Serve(ServeArgs),
    /// Validate an NDJSON file (one event per line; `-` for stdin) and publish each event
    /// on neighbourhood.events.<lpa>.<type> with Nats-Msg-Id = event_id. Nothing is sent
    /// if any line is invalid (unless --skip-invalid); invalid lines are listed with their
    /// numbers. Lines are checked by the tracker's own rules, times against this machine's
    /// clock; the input is streamed (read twice), never held in memory.
    Publish(PublishArgs),
    /// Write realistic, deterministic NDJSON events for the force to stdout.
    Simulate(SimulateArgs),
    /// Print the governance board's monthly report.
    Report(ReportArgs),
    /// Rebuild every read model from the stored event log (stop `serve` first).
    Rebuild(RebuildArgs),
    /// Write the stored event log as NDJSON (grouped by LPA and entity): a backup that `publish` can
    /// replay into a fresh broker and tracker (stop `serve` first).
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Directory of the sled store (event log and read models). One process at a time.
    #[arg(long, env = "TRACKER_DATA_DIR", default_value = "./tracker-data")]
    pub data_dir: PathBuf,
    /// Address for HTTP. Binds loopback by default; put a proxy in front to expose it.
    #[arg(long, env = "TRACKER_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    #[command(flatten)]
    pub reference: ReferenceArg,
    /// Stream replicas when creating the streams (3 on a JetStream cluster).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Durable consumer name; also names this projector's checkpoint.
    #[arg(long, default_value = "abstraction-tracker")]
    pub consumer: String,
    /// Subject filter: e.g. neighbourhood.events.dudley.> for a projector owning one LPA.
    #[arg(long, default_value = "neighbourhood.events.>")]
    pub filter: String,
    /// Most messages folded into one durable store batch. Larger batches gain
    /// little and make sled hold far more memory (docs/BENCHMARKS.md).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Require `Authorization: Bearer <token>` on /api and /reports.
    #[arg(long, env = "TRACKER_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// The instant taken as now (RFC 3339, e.g. 2024-03-31T12:00:00Z); default: the
    /// wall clock. /metrics exposes its Europe/London month and the 12 before it.
    #[arg(long, env = "TRACKER_AS_OF", value_name = "RFC3339", value_parser = parse_as_of)]
    pub as_of: Option<jiff::Timestamp>,
}

#[derive(clap::Args)]
pub struct PublishArgs {
    /// NDJSON file, or `-` for standard input. Standard input (or a pipe given by name)
    /// is copied to an unnamed temporary file in $TMPDIR while it is validated, so that
    /// it too is published only once every line has passed: it needs that much disk,
    /// not memory.
    pub file: String,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub reference: ReferenceArg,
    /// Send lines as they are, without local validation (to exercise the rejected stream).
    #[arg(long, conflicts_with = "skip_invalid")]
    pub no_validate: bool,
    /// Publish the valid lines of a file that has invalid ones, instead of nothing. The
    /// invalid lines are still listed, and the exit status is still 1: events are missing
    /// from the board's figures until they are fixed. Re-publishing the corrected whole
    /// file is then safe (the tracker keeps one copy per event_id).
    #[arg(long)]
    pub skip_invalid: bool,
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Same seed, same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First day (YYYY-MM-DD, Europe/London).
    #[arg(long, default_value = "2024-01-01")]
    pub from: jiff::civil::Date,
    /// Last day, inclusive.
    #[arg(long, default_value = "2024-03-31")]
    pub to: jiff::civil::Date,
    /// Neighbourhood staff across the force.
    #[arg(long, default_value_t = 2000)]
    pub officers: u32,
    #[command(flatten)]
    pub reference: ReferenceArg,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The month, YYYY-MM.
    #[arg(long)]
    pub month: Month,
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Read the store directly (only while `serve` is not running on it).
    #[arg(
        long,
        env = "TRACKER_DATA_DIR",
        default_value = "./tracker-data",
        conflicts_with = "server"
    )]
    pub data_dir: PathBuf,
    /// Ask a running tracker instead, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub server: Option<String>,
    /// Bearer token for --server, when the tracker requires one.
    #[arg(long, env = "TRACKER_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    #[command(flatten)]
    pub reference: ReferenceArg,
}

#[derive(clap::Args)]
pub struct RebuildArgs {
    #[arg(long, env = "TRACKER_DATA_DIR", default_value = "./tracker-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub reference: ReferenceArg,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long, env = "TRACKER_DATA_DIR", default_value = "./tracker-data")]
    pub data_dir: PathBuf,
    /// Output file; standard output when absent.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `--as-of`: an RFC 3339 instant with an offset.
fn parse_as_of(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>().map_err(|_| {
        format!("{s:?} is not an RFC 3339 time with an offset, e.g. 2024-03-31T12:00:00Z")
    })
}
