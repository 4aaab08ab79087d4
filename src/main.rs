//! The `abstraction-tracker` binary: argument parsing and wiring only.

use abstraction_tracker::app::{figures, serve};
use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::ingest::IngestConfig;
use abstraction_tracker::nats::Auth;
use abstraction_tracker::project::rebuild;
use abstraction_tracker::render::{self, Format};
use abstraction_tracker::store::Store;
use abstraction_tracker::tools::{export, publish, simulate};
use abstraction_tracker::wire::decode::Validator;
use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Measures how often neighbourhood officers, PCSOs and specials are abstracted from
/// neighbourhood duty, per Local Policing Area (LPA), sector and month.
///
/// Rostering systems publish events to NATS JetStream; `serve` validates them, keeps
/// an append-only log in sled, folds them into monthly read models and serves
/// Prometheus metrics, a JSON API and the governance board's monthly report.
#[derive(Parser)]
#[command(name = "abstraction-tracker", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
struct NatsArgs {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[command(flatten)]
    auth: Auth,
}

#[derive(clap::Args, Clone)]
struct ReferenceArg {
    /// Reference data file (LPAs, sectors, reasons, targets); defaults to the shipped
    /// West Midlands Police file.
    #[arg(long, env = "TRACKER_REFERENCE")]
    reference: Option<PathBuf>,
}

impl ReferenceArg {
    fn load(&self) -> anyhow::Result<Reference> {
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

#[derive(Subcommand)]
enum Command {
    /// Consume events from JetStream, fold them into read models and serve HTTP
    /// (/metrics, /healthz, /readyz, /api/v1/months/{YYYY-MM}, /api/v1/reports/monthly/{YYYY-MM}).
    /// Creates the NEIGHBOURHOOD_EVENTS and NEIGHBOURHOOD_REJECTED streams when missing.
    Serve {
        #[command(flatten)]
        nats: NatsArgs,
        /// Directory of the sled store (event log and read models). One process at a time.
        #[arg(long, env = "TRACKER_DATA_DIR", default_value = "./tracker-data")]
        data_dir: PathBuf,
        /// Address for HTTP. Binds loopback by default; put a proxy in front to expose it.
        #[arg(long, env = "TRACKER_HTTP_ADDR", default_value = "127.0.0.1:8080")]
        http_addr: String,
        #[command(flatten)]
        reference: ReferenceArg,
        /// Stream replicas when creating the streams (3 on a JetStream cluster).
        #[arg(long, default_value_t = 1)]
        replicas: usize,
        /// Durable consumer name; also names this projector's checkpoint.
        #[arg(long, default_value = "abstraction-tracker")]
        consumer: String,
        /// Subject filter: e.g. neighbourhood.events.dudley.> for a projector owning one LPA.
        #[arg(long, default_value = "neighbourhood.events.>")]
        filter: String,
        /// Most messages folded into one durable store batch. Larger batches gain
        /// little and make sled hold far more memory (docs/BENCHMARKS.md).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Require `Authorization: Bearer <token>` on /api and /reports.
        #[arg(long, env = "TRACKER_API_TOKEN", hide_env_values = true)]
        api_token: Option<String>,
        /// The instant taken as now (RFC 3339, e.g. 2024-03-31T12:00:00Z); default: the
        /// wall clock. /metrics exposes its Europe/London month and the 12 before it.
        #[arg(long, env = "TRACKER_AS_OF", value_name = "RFC3339", value_parser = parse_as_of)]
        as_of: Option<jiff::Timestamp>,
    },
    /// Validate an NDJSON file (one event per line; `-` for stdin) and publish each event
    /// on neighbourhood.events.<lpa>.<type> with Nats-Msg-Id = event_id. Nothing is sent
    /// if any line is invalid; every invalid line is listed with its number.
    Publish {
        /// NDJSON file, or `-` for standard input.
        file: String,
        #[command(flatten)]
        nats: NatsArgs,
        #[command(flatten)]
        reference: ReferenceArg,
        /// Send lines as they are, without local validation (to exercise the rejected stream).
        #[arg(long)]
        no_validate: bool,
    },
    /// Write realistic, deterministic NDJSON events for the force to stdout.
    Simulate {
        /// Same seed, same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First day (YYYY-MM-DD, Europe/London).
        #[arg(long, default_value = "2024-01-01")]
        from: jiff::civil::Date,
        /// Last day, inclusive.
        #[arg(long, default_value = "2024-03-31")]
        to: jiff::civil::Date,
        /// Neighbourhood staff across the force.
        #[arg(long, default_value_t = 2000)]
        officers: u32,
        #[command(flatten)]
        reference: ReferenceArg,
    },
    /// Print the governance board's monthly report.
    Report {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: Month,
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Read the store directly (only while `serve` is not running on it).
        #[arg(
            long,
            env = "TRACKER_DATA_DIR",
            default_value = "./tracker-data",
            conflicts_with = "server"
        )]
        data_dir: PathBuf,
        /// Ask a running tracker instead, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: Option<String>,
        /// Bearer token for --server, when the tracker requires one.
        #[arg(long, env = "TRACKER_API_TOKEN", hide_env_values = true)]
        api_token: Option<String>,
        #[command(flatten)]
        reference: ReferenceArg,
    },
    /// Rebuild every read model from the stored event log (stop `serve` first).
    Rebuild {
        #[arg(long, env = "TRACKER_DATA_DIR", default_value = "./tracker-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        reference: ReferenceArg,
    },
    /// Write the stored event log as NDJSON (grouped by LPA and entity): a backup that `publish` can
    /// replay into a fresh broker and tracker (stop `serve` first).
    Export {
        #[arg(long, env = "TRACKER_DATA_DIR", default_value = "./tracker-data")]
        data_dir: PathBuf,
        /// Output file; standard output when absent.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    // indicatif draws only when stderr is a terminal.
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})"
        ))
        .expect("valid template"),
    );
    pb
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            nats,
            data_dir,
            http_addr,
            reference,
            replicas,
            consumer,
            filter,
            batch,
            api_token,
            as_of,
        } => {
            let config = serve::ServeConfig {
                nats_url: nats.nats_url,
                nats_auth: nats.auth,
                data_dir,
                reference: reference.load()?,
                ingest: IngestConfig {
                    consumer,
                    filter,
                    batch: batch.max(1),
                    replicas,
                },
                api_token,
                clock: abstraction_tracker::clock::Clock::from_as_of(as_of),
            };
            runtime()?.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&http_addr)
                    .await
                    .with_context(|| format!("binding HTTP address {http_addr}"))?;
                serve::run(config, listener, shutdown_signal()).await
            })
        }
        Command::Publish {
            file,
            nats,
            reference,
            no_validate,
        } => {
            let text = if file == "-" {
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .context("reading stdin")?;
                buf
            } else {
                std::fs::read(&file).with_context(|| format!("reading {file}"))?
            };
            let validator = Validator::new(reference.load()?);
            if !no_validate {
                let errors = publish::validate(&validator, &text);
                if !errors.is_empty() {
                    for e in errors.iter().take(50) {
                        eprintln!("{file}:{}: {}", e.line, e.rejection);
                    }
                    bail!(
                        "{} invalid line(s) in {file}; nothing was published. Fix them, or use --no-validate to send them to the tracker's rejected stream",
                        errors.len()
                    );
                }
            }
            let total = publish::lines(&text).count() as u64;
            runtime()?.block_on(async move {
                let client =
                    abstraction_tracker::nats::connect(&nats.nats_url, &nats.auth, false).await?;
                let js = async_nats::jetstream::new(client.clone());
                let pb = bar(total, "publishing");
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
        Command::Simulate {
            seed,
            from,
            to,
            officers,
            reference,
        } => {
            if to < from {
                bail!("--to {to} is before --from {from}");
            }
            let reference = reference.load()?;
            let cfg = simulate::SimConfig {
                seed,
                from,
                to,
                officers,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            let pb = bar(0, "simulating days");
            let summary = simulate::simulate(&cfg, &reference, &mut out, &mut |done, total| {
                pb.set_length(total);
                pb.set_position(done);
            })?;
            out.flush()?;
            pb.finish_and_clear();
            eprintln!(
                "simulated {} events: {} shifts, {} abstractions, {} corrections",
                summary.events, summary.shifts, summary.abstractions, summary.corrections
            );
            Ok(())
        }
        Command::Report {
            month,
            format,
            data_dir,
            server,
            api_token,
            reference,
        } => {
            let body = match server {
                Some(url) => fetch_report(&url, month, format, api_token.as_deref())?,
                None => {
                    let reference = reference.load()?;
                    let store = Store::open_existing(&data_dir)?;
                    let rep = figures::month(&store, &reference, month)?;
                    render::render(&rep, &reference, format)
                }
            };
            std::io::stdout().write_all(body.as_bytes())?;
            Ok(())
        }
        Command::Export { data_dir, output } => {
            let store = Store::open_existing(&data_dir)?;
            let pb = bar(store.log_len()?, "exporting");
            let n = match &output {
                Some(p) => {
                    let f = std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?;
                    let mut w = std::io::BufWriter::new(f);
                    export::export(&store, &mut w, |k| pb.inc(k))?
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    export::export(&store, &mut w, |k| pb.inc(k))?
                }
            };
            pb.finish_and_clear();
            eprintln!("exported {n} event(s)");
            Ok(())
        }
        Command::Rebuild {
            data_dir,
            reference,
        } => {
            let store = Store::open_existing(&data_dir)?;
            let validator = Validator::new(reference.load()?);
            let pb = bar(store.log_len()?, "rebuilding");
            let started = std::time::Instant::now();
            let n = rebuild::rebuild(&store, &validator, |k| pb.inc(k))?;
            pb.finish_and_clear();
            eprintln!(
                "rebuilt read models from {n} stored event(s) in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

fn fetch_report(
    server: &str,
    month: Month,
    format: Format,
    token: Option<&str>,
) -> anyhow::Result<String> {
    let fmt = match format {
        Format::Md => "md",
        Format::Html => "html",
        Format::Csv => "csv",
        Format::Json => "json",
    };
    let url = format!(
        "{}/api/v1/reports/monthly/{month}?format={fmt}",
        server.trim_end_matches('/')
    );
    let mut req = ureq::get(&url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req
        .call()
        .with_context(|| format!("asking the tracker at {url}"))?;
    resp.body_mut()
        .read_to_string()
        .context("reading the tracker's answer")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `--as-of`: an RFC 3339 instant with an offset.
fn parse_as_of(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>().map_err(|_| {
        format!("{s:?} is not an RFC 3339 time with an offset, e.g. 2024-03-31T12:00:00Z")
    })
}
