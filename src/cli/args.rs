//! The command line's clap definitions: every subcommand, flag, env var, default and
//! help text of the `abstraction-tracker` binary. The help text is an external
//! interface: change it only on purpose.
//!
//! Help headings group the options: NATS, Storage, HTTP, Logging; the rest are under
//! "Options". A doc comment's first paragraph is the short help (`-h`), the whole
//! comment the long help (`--help`).

use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::nats::Auth;
use abstraction_tracker::render::Format;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

pub(super) use super::parse::{parse_as_of, parse_http_url, parse_lpas, parse_timeout};

/// Measures how often neighbourhood officers, PCSOs and specials are abstracted from
/// neighbourhood duty, per Local Policing Area (LPA), sector and month.
///
/// Rostering systems publish events to NATS JetStream; `serve` validates them, keeps
/// an append-only log (sled or fjall), folds them into monthly read models and serves
/// Prometheus metrics, a JSON API and the governance board's monthly report.
///
/// The options that configure a deployment can also be set by the environment variable
/// shown beside them (`[env: ...]`); a flag on the command line wins over the
/// environment. Those that choose one run's output (report --month and --format,
/// simulate's, export's) have none, so a forgotten variable cannot change a report.
#[derive(Parser)]
#[command(
    name = "abstraction-tracker",
    version,
    propagate_version = true,
    after_help = EXIT_STATUS,
    after_long_help = EXIT_STATUS
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr (levels: RUST_LOG, e.g. RUST_LOG=debug).
    #[arg(
        long,
        global = true,
        env = "TRACKER_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        help_heading = "Logging"
    )]
    pub log_format: LogFormat,
}

/// The exit statuses, as `run` and clap produce them (tests/cli.rs checks each).
const EXIT_STATUS: &str = "\
Exit status:
  0  success (probe: the tracker answered 200)
  1  failure, with a one-line `error: ...` on stderr (probe: no 200 in time)
  2  usage error: an unknown, missing or invalid argument (clap's message on stderr)";

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured when stderr is a terminal).
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

#[derive(clap::Args, Clone)]
pub struct NatsArgs {
    /// NATS server URL (nats:// or tls://; several separated by commas).
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        help_heading = "NATS"
    )]
    pub nats_url: String,
    #[command(flatten)]
    pub auth: Auth,
}

#[derive(clap::Args, Clone)]
pub struct ReferenceArg {
    /// Reference data file (LPAs, sectors, reasons, targets); defaults to the shipped
    /// West Midlands Police file.
    ///
    /// JSON, schema schemas/reference.schema.json.
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

// The doc comment of each variant is that subcommand's help text: its first paragraph
// the one-line summary, the rest the detail of `--help`. The argument structs carry no
// doc comment of their own, so they do not replace it.
#[derive(Subcommand)]
pub enum Command {
    /// Consume events from JetStream, fold them into read models and serve HTTP.
    ///
    /// HTTP: /metrics, /healthz, /readyz, /api/v1/months/{YYYY-MM},
    /// /api/v1/reports/monthly/{YYYY-MM}. Creates the NEIGHBOURHOOD_EVENTS and
    /// NEIGHBOURHOOD_REJECTED streams when missing. SIGTERM or Ctrl-C finishes the batch
    /// in hand, flushes and exits 0.
    Serve(Box<ServeArgs>),
    /// Validate an NDJSON file and publish each event to JetStream.
    ///
    /// One event per line; `-` for stdin. Each event goes on
    /// neighbourhood.events.<lpa>.<type> with Nats-Msg-Id = event_id. Nothing is sent
    /// if any line is invalid (unless --skip-invalid); invalid lines are listed with
    /// their numbers. Lines are checked by the tracker's own rules, times against this
    /// machine's clock; the input is streamed (read twice), never held in memory.
    Publish(PublishArgs),
    /// Write realistic, deterministic NDJSON events for the force to stdout.
    ///
    /// The same seed, dates and officer count give the same bytes.
    Simulate(SimulateArgs),
    /// Print the governance board's monthly report.
    ///
    /// From a running tracker with --server (or TRACKER_SERVER): the way to read while
    /// `serve` runs, since the store allows one process per data directory. Otherwise from
    /// the store in --data-dir, which `serve` must not be using. The month defaults to
    /// the last closed one: the month before the Europe/London month of now (--as-of).
    Report(ReportArgs),
    /// List the records behind a figure: an LPA-month's abstractions or shifts, or the
    /// abstractions open now.
    ///
    /// `explain --lpa walsall --month 2024-03` lists every abstraction behind Walsall's
    /// March figures with its status (counted, not_counted, open, cancelled,
    /// implausible), its hours in the month and the events that made it (with the
    /// stream sequence each was stored from); the hours_in_month of the counted ones add
    /// up to the month's abstracted_hours. With --shifts, the shifts behind
    /// rostered_hours; --open lists what is open now, oldest first. No officer
    /// identifier or free text is shown: the rostering system resolves ids for those
    /// allowed to know. From a running tracker with --server, or a stopped store with
    /// --data-dir, as `report` reads. docs/checking-a-figure.md has a worked example.
    Explain(ExplainArgs),
    /// Rebuild every read model from the stored event log (stop `serve` first).
    Rebuild(RebuildArgs),
    /// Copy a stopped store to a new data directory on the given storage engine.
    ///
    /// Every key is copied in order into --to, which must not exist; the source is only
    /// read. Afterwards every stored month's figures are compared between the two.
    Convert(ConvertArgs),
    /// Write the stored event log as NDJSON (stop `serve` first).
    ///
    /// Grouped by LPA and entity: a backup that `publish` can replay into a fresh broker
    /// and tracker.
    Export(ExportArgs),
    /// Check that a tracker answers 200 on /healthz: exit 0 if so, 1 otherwise.
    ///
    /// For a container's HEALTHCHECK (the image has no curl):
    /// `abstraction-tracker probe` asks http://<TRACKER_HTTP_ADDR>/healthz, a listen
    /// address of 0.0.0.0 or [::] being asked on loopback. Prints one line either way.
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Stream replicas when creating the streams (3 on a JetStream cluster).
    #[arg(
        long,
        env = "TRACKER_REPLICAS",
        default_value_t = 1,
        help_heading = "NATS"
    )]
    pub replicas: usize,
    /// Durable consumer name; also names this projector's checkpoint.
    #[arg(
        long,
        env = "TRACKER_CONSUMER",
        default_value = "abstraction-tracker",
        help_heading = "NATS"
    )]
    pub consumer: String,
    /// The LPAs this projector owns, e.g. dudley,walsall (default: every LPA of the
    /// reference file).
    ///
    /// It consumes, stores and exposes in /metrics only these (one durable consumer per
    /// LPA named <consumer>-<lpa> on NATS 2.9; one consumer with filter_subjects on
    /// 2.10+), publishes their figures to the NEIGHBOURHOOD_FIGURES bucket and shows the
    /// other LPAs from it. Give each projector its own --consumer and --data-dir; two
    /// with the same LPAs are a standby pair.
    #[arg(
        long,
        env = "TRACKER_LPAS",
        value_name = "CODE,CODE",
        conflicts_with = "filter",
        help_heading = "NATS"
    )]
    pub lpas: Option<String>,
    /// Subject filter (v1): e.g. neighbourhood.events.dudley.> for a projector owning
    /// one LPA. Prefer --lpas.
    #[arg(
        long,
        env = "TRACKER_FILTER",
        default_value = "neighbourhood.events.>",
        help_heading = "NATS"
    )]
    pub filter: String,
    /// Directory of the store (event log and read models). One process at a time.
    #[arg(
        long,
        env = "TRACKER_DATA_DIR",
        default_value = "./tracker-data",
        help_heading = "Storage"
    )]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub engine: super::engine::EngineArg,
    /// Recover a damaged store by re-reading the events stream into a fresh one.
    ///
    /// `serve` checks the store at start and refuses one that a crash of the machine
    /// damaged, naming this flag. With it, a damaged data directory is moved aside to
    /// <data-dir>.damaged-<unix seconds> (kept, never deleted) and a fresh store is
    /// filled again from the first message of NEIGHBOURHOOD_EVENTS, which must still
    /// hold every event (its retention is unlimited by default). A healthy store is
    /// served as it is, so a supervisor may keep the flag on.
    #[arg(long, env = "TRACKER_RECOVER", help_heading = "Storage")]
    pub recover: bool,
    /// Most messages folded into one durable store batch.
    ///
    /// Larger batches gain little and make sled hold far more memory
    /// (docs/BENCHMARKS.md).
    #[arg(
        long,
        env = "TRACKER_BATCH",
        default_value_t = 500,
        help_heading = "Storage"
    )]
    pub batch: usize,
    /// Events stored between sled's recovery snapshots (0: only when serve starts; fjall needs none).
    ///
    /// sled writes its snapshot only when it opens a store, and an open replays its log
    /// since the last one: a store written for months without a restart takes minutes
    /// to open. Every this many events serve closes and re-opens sled between two
    /// batches (a pause of a second or two, HTTP requests wait), and a clean stop does
    /// so once more, so a restart replays little (docs/BENCHMARKS.md).
    #[arg(
        long,
        env = "TRACKER_SNAPSHOT_EVERY",
        default_value_t = abstraction_tracker::store::SNAPSHOT_EVERY,
        help_heading = "Storage"
    )]
    pub snapshot_every: u64,
    /// Address for HTTP. Binds loopback by default; put a proxy in front to expose it.
    #[arg(
        long,
        env = "TRACKER_HTTP_ADDR",
        default_value = "127.0.0.1:8080",
        help_heading = "HTTP"
    )]
    pub http_addr: String,
    /// Require `Authorization: Bearer <token>` on /api and /reports.
    ///
    /// /metrics, /healthz and /readyz stay open.
    #[arg(
        long,
        env = "TRACKER_API_TOKEN",
        hide_env_values = true,
        help_heading = "HTTP"
    )]
    pub api_token: Option<String>,
    #[command(flatten)]
    pub reference: ReferenceArg,
    /// The instant taken as now; default: the wall clock.
    ///
    /// RFC 3339 with an offset, e.g. 2024-03-31T12:00:00Z. /metrics exposes its
    /// Europe/London month and the 12 before it.
    #[arg(long, env = "TRACKER_AS_OF", value_name = "RFC3339", value_parser = parse_as_of)]
    pub as_of: Option<jiff::Timestamp>,
    #[command(flatten)]
    pub tuning: super::tuning::ServeTuning,
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
    /// Seed of the generator: same seed, same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First day (YYYY-MM-DD, Europe/London).
    #[arg(long, default_value = "2024-01-01")]
    pub from: jiff::civil::Date,
    /// Last day (YYYY-MM-DD), inclusive.
    #[arg(long, default_value = "2024-03-31")]
    pub to: jiff::civil::Date,
    /// Neighbourhood staff across the force.
    #[arg(long, default_value_t = 2000)]
    pub officers: u32,
    /// Simulate live use at this instant (RFC 3339): nothing that happens after it is
    /// written, and shifts of later days (to --to) count as published by then, so
    /// --to past it gives the roster published ahead and the planned abstractions
    /// booked by then (days to weeks ahead), with no unplanned ones yet.
    #[arg(long, value_name = "RFC3339", value_parser = parse_as_of)]
    pub now: Option<jiff::Timestamp>,
    #[command(flatten)]
    pub reference: ReferenceArg,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The month, YYYY-MM; default: the last closed month.
    ///
    /// The last closed month is the one before the Europe/London month of now, now
    /// being --as-of when given, else the wall clock.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<Month>,
    /// Output format: md and html for people, csv and json for machines.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// The instant taken as now, for the default month; default: the wall clock.
    ///
    /// RFC 3339 with an offset, e.g. 2024-04-01T12:00:00Z (which makes March the
    /// default month).
    #[arg(long, env = "TRACKER_AS_OF", value_name = "RFC3339", value_parser = parse_as_of)]
    pub as_of: Option<jiff::Timestamp>,
    /// Ask a running tracker, e.g. http://127.0.0.1:8080 or https://tracker.example.
    ///
    /// The way to read while `serve` runs. --data-dir is then not used: the
    /// TRACKER_DATA_DIR of the environment (set in the shipped image and pod) is
    /// ignored, and --data-dir on the command line with --server is a usage error. A
    /// --data-dir flag wins over a TRACKER_SERVER from the environment.
    #[arg(
        long,
        env = "TRACKER_SERVER",
        value_name = "URL",
        value_parser = parse_http_url,
        help_heading = "HTTP"
    )]
    pub server: Option<String>,
    /// Bearer token for --server, when the tracker requires one.
    #[arg(
        long,
        env = "TRACKER_API_TOKEN",
        hide_env_values = true,
        help_heading = "HTTP"
    )]
    pub api_token: Option<String>,
    /// Longest wait for --server's whole answer, e.g. 30s, 2m.
    ///
    /// Covers connecting, TLS and reading the body: a server that accepts and never
    /// answers fails the command after this long.
    #[arg(
        long,
        env = "TRACKER_SERVER_TIMEOUT",
        default_value = "30s",
        value_parser = parse_timeout,
        help_heading = "HTTP"
    )]
    pub timeout: Duration,
    /// CA certificates (PEM) that verify an https:// --server, instead of Mozilla's
    /// roots: for a tracker behind a proxy with a private CA's certificate.
    #[arg(
        long,
        env = "TRACKER_SERVER_CA",
        value_name = "PEM",
        help_heading = "HTTP"
    )]
    pub server_ca: Option<PathBuf>,
    /// Issue the month (contract v3 section 13): freeze its figures for every LPA as
    /// the next numbered issue, through --server; prints the issue (JSON).
    ///
    /// Only a closed month (before the as-of month) with every LPA's figures known.
    #[arg(long, requires = "month")]
    pub issue: bool,
    #[command(flatten)]
    pub issues_from: IssuesFrom,
    /// Read the store directly (only while `serve` is not running on it).
    ///
    /// Not used with --server (see there).
    #[arg(
        long,
        env = "TRACKER_DATA_DIR",
        default_value = "./tracker-data",
        help_heading = "Storage"
    )]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub engine: super::engine::EngineArg,
    #[command(flatten)]
    pub reference: ReferenceArg,
}

/// Where `report --data-dir` and `explain --data-dir` read the issues of a month.
#[derive(clap::Args, Clone)]
pub struct IssuesFrom {
    /// With --data-dir: read the month's issues from the NATS bucket
    /// NEIGHBOURHOOD_ISSUES at this URL, instead of the copy `serve` keeps in the store.
    #[arg(long, value_name = "URL", help_heading = "Issues")]
    pub nats_url: Option<String>,
    #[command(flatten)]
    pub auth: Auth,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvidenceFormat {
    /// `{"lpa", "month", "abstractions"|"shifts": [...]}`, as the API answers.
    Json,
    /// One row per entry with a stable header; events as event ids joined by `;`.
    Csv,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["month", "open"])))]
pub struct ExplainArgs {
    /// The LPA, by its code (e.g. walsall).
    #[arg(long, value_name = "CODE")]
    pub lpa: String,
    /// The month to explain, YYYY-MM: every abstraction behind its abstracted hours and
    /// open count (with --shifts, every shift behind its rostered hours).
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<Month>,
    /// With --month: the shifts instead of the abstractions.
    #[arg(long, requires = "month")]
    pub shifts: bool,
    /// Every abstraction open now, oldest start first, with its open hours.
    #[arg(long, conflicts_with = "month")]
    pub open: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EvidenceFormat::Json)]
    pub format: EvidenceFormat,
    /// The instant taken as now for --open's open hours with --data-dir (a server uses
    /// its own clock); default: the wall clock. RFC 3339, e.g. 2024-04-01T12:00:00Z.
    #[arg(long, env = "TRACKER_AS_OF", value_name = "RFC3339", value_parser = parse_as_of)]
    pub as_of: Option<jiff::Timestamp>,
    /// Ask a running tracker, e.g. http://127.0.0.1:8080 (as `report --server`).
    #[arg(long, env = "TRACKER_SERVER", value_name = "URL", value_parser = parse_http_url, help_heading = "HTTP")]
    pub server: Option<String>,
    /// Bearer token for --server, when the tracker requires one.
    #[arg(
        long,
        env = "TRACKER_API_TOKEN",
        hide_env_values = true,
        help_heading = "HTTP"
    )]
    pub api_token: Option<String>,
    /// Longest wait for --server's whole answer, e.g. 30s, 2m.
    #[arg(long, env = "TRACKER_SERVER_TIMEOUT", default_value = "30s", value_parser = parse_timeout, help_heading = "HTTP")]
    pub timeout: Duration,
    /// CA certificates (PEM) that verify an https:// --server instead of Mozilla's roots.
    #[arg(
        long,
        env = "TRACKER_SERVER_CA",
        value_name = "PEM",
        help_heading = "HTTP"
    )]
    pub server_ca: Option<PathBuf>,
    #[command(flatten)]
    pub issues_from: IssuesFrom,
    /// Read the store directly (only while `serve` is not running on it).
    #[arg(
        long,
        env = "TRACKER_DATA_DIR",
        default_value = "./tracker-data",
        help_heading = "Storage"
    )]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub engine: super::engine::EngineArg,
    #[command(flatten)]
    pub reference: ReferenceArg,
}

#[derive(clap::Args)]
pub struct RebuildArgs {
    /// Directory of the store to rebuild (`serve` must be stopped).
    #[arg(
        long,
        env = "TRACKER_DATA_DIR",
        default_value = "./tracker-data",
        help_heading = "Storage"
    )]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub engine: super::engine::EngineArg,
    #[command(flatten)]
    pub reference: ReferenceArg,
    /// Keep only these LPAs' events (e.g. dudley,walsall) and drop the others' from this
    /// store before rebuilding: for a projector that owns fewer LPAs than before. The
    /// dropped events stay in the JetStream stream for whoever owns them.
    #[arg(long, value_name = "CODE,CODE")]
    pub lpas: Option<String>,
}

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// The data directory to copy (stop `serve` on it first). Only read, never changed.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The new data directory: must not exist.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// The engine of the new data directory.
    #[arg(
        long,
        value_name = "sled|fjall",
        value_parser = super::engine::parse_engine
    )]
    pub engine: abstraction_tracker::store::EngineKind,
    /// The reference data the figures are checked with (as `serve` runs with).
    #[command(flatten)]
    pub reference: ReferenceArg,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Directory of the store to export (`serve` must be stopped).
    #[arg(
        long,
        env = "TRACKER_DATA_DIR",
        default_value = "./tracker-data",
        help_heading = "Storage"
    )]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub engine: super::engine::EngineArg,
    /// Output file; standard output when absent.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// URL to ask; default: http://<--http-addr>/healthz.
    #[arg(
        long,
        env = "TRACKER_PROBE_URL",
        value_name = "URL",
        value_parser = parse_http_url,
        help_heading = "HTTP"
    )]
    pub url: Option<String>,
    /// The address `serve` listens on; 0.0.0.0 and [::] are asked on loopback.
    #[arg(
        long,
        env = "TRACKER_HTTP_ADDR",
        default_value = "127.0.0.1:8080",
        help_heading = "HTTP"
    )]
    pub http_addr: String,
    /// Longest wait for the answer, e.g. 2s, 500ms.
    #[arg(
        long,
        env = "TRACKER_PROBE_TIMEOUT",
        default_value = "2s",
        value_parser = parse_timeout,
        help_heading = "HTTP"
    )]
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_need_a_scheme() {
        assert!(parse_http_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_http_url("HTTPS://tracker.example").is_ok());
        assert!(parse_http_url("127.0.0.1:8080").is_err());
        assert!(parse_http_url("ftp://x").is_err());
    }

    #[test]
    fn timeouts_are_friendly_durations_or_seconds() {
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("7"), Ok(Duration::from_secs(7)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("-2s").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn every_option_and_subcommand_has_help_and_a_one_line_summary() {
        let cmd = <Cli as clap::CommandFactory>::command();
        let mut missing = Vec::new();
        for sub in cmd.get_subcommands() {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            if about.is_empty() || about.contains('\n') {
                missing.push(format!("{}: summary {about:?}", sub.get_name()));
            }
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if !matches!(id, "help" | "version") && arg.get_help().is_none() {
                    missing.push(format!("{} --{id}", sub.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "without help: {missing:?}");
    }

    #[test]
    fn the_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn lpas_lists_are_checked_against_the_reference_data() {
        let r = abstraction_tracker::domain::reference::Reference::west_midlands();
        assert_eq!(
            parse_lpas("dudley, walsall", &r).unwrap(),
            vec!["dudley".to_string(), "walsall".to_string()]
        );
        for (bad, says) in [
            ("", "--lpas is empty"),
            (" , ", "--lpas is empty"),
            ("dudley,atlantis", "\"atlantis\", which is not an LPA"),
            ("dudley,dudley", "\"dudley\" twice"),
        ] {
            let e = parse_lpas(bad, &r).unwrap_err().to_string();
            assert!(e.contains(says) && !e.contains('\n'), "{bad:?}: {e}");
        }
    }
}
