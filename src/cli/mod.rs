//! The command line: [`args`] defines it, [`run`] sets up logging, dispatches to one
//! module per subcommand and turns the outcome into the exit status. Each subcommand
//! wires arguments into the library and does no work of its own.

mod args;
mod client;
mod convert;
mod engine;
mod explain;
mod export;
mod issues;
mod parse;
mod probe;
mod publish;
mod rebuild;
mod report;
mod serve;
mod simulate;
mod tuning;

pub use args::Cli;

use args::{Command, LogFormat};
use clap::parser::ValueSource;
use clap::{CommandFactory as _, FromArgMatches as _};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Parses the command line; on a usage error prints clap's message and exits 2.
///
/// Beyond clap's own checks: for `report`, flags decide over the environment between
/// the store and a server. The shipped image and pod set `TRACKER_DATA_DIR`, so a
/// data directory from the environment must not stop `report --server` (clap's
/// `conflicts_with` counts environment values as given); `--data-dir` and `--server`
/// both on the command line are a usage error; a `--data-dir` flag wins over a
/// `TRACKER_SERVER` from the environment.
pub fn parse() -> Cli {
    let mut cmd = Cli::command();
    let matches = cmd.get_matches_mut();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit());
    if let (Command::Report(a), Some(("report", m))) = (&mut cli.command, matches.subcommand()) {
        let flag = |id| m.value_source(id) == Some(ValueSource::CommandLine);
        if flag("data_dir") && flag("server") {
            let sub = cmd.find_subcommand_mut("report").expect("report exists");
            sub.error(
                clap::error::ErrorKind::ArgumentConflict,
                "--data-dir and --server cannot be used together: --data-dir reads the store \
                 directly, --server asks a running tracker",
            )
            .exit();
        }
        if flag("data_dir") {
            a.server = None;
        }
    }
    // `explain` reads like `report`: the same rule between store and server.
    if let (Command::Explain(a), Some(("explain", m))) = (&mut cli.command, matches.subcommand()) {
        let flag = |id| m.value_source(id) == Some(ValueSource::CommandLine);
        if flag("data_dir") && flag("server") {
            let sub = cmd.find_subcommand_mut("explain").expect("explain exists");
            sub.error(
                clap::error::ErrorKind::ArgumentConflict,
                "--data-dir and --server cannot be used together: --data-dir reads the store \
                 directly, --server asks a running tracker",
            )
            .exit();
        }
        if flag("data_dir") {
            a.server = None;
        }
    }
    cli
}

/// Runs the parsed command line. Exit status 0 on success; 1 with a one-line
/// `error: ...` on stderr otherwise. (Argument errors never get here: clap reports
/// them and exits with status 2.)
pub fn run(cli: Cli) -> ExitCode {
    init_logging(cli.log_format);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(a) => serve::run(*a),
        Command::Publish(a) => publish::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Report(a) => report::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Rebuild(a) => rebuild::run(a),
        Command::Export(a) => export::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Probe(a) => probe::run(a),
    }
}

/// The error and its causes on one line, outermost first, joined by ": ". A cause
/// whose text the message so far already contains is left out: an error that writes
/// its source into its own message (thiserror's `{0}` with `#[from]`) would otherwise
/// print it twice.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init_logging(format: LogFormat) {
    // fjall (through `log`) says "Recovering database" at info on every open: that
    // would put a line before a command's one-line error (`report --data-dir`).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,async_nats=warn,fjall=warn,lsm_tree=warn")
    });
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// The tokio runtime for the subcommands that talk to NATS or bind a socket.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A progress bar on stderr labelled `what`, `len` steps long.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Wrapping {
        #[error("storage error: {0}")]
        Io(#[from] std::io::Error),
    }

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(Wrapping::from(io)).context("opening the store");
        assert_eq!(
            one_line(&e),
            "opening the store: storage error: disk on fire"
        );
    }

    #[test]
    fn distinct_causes_are_all_printed_on_one_line() {
        let e = anyhow::anyhow!("no such file\n(os error 2)").context("reading x.json");
        assert_eq!(one_line(&e), "reading x.json: no such file (os error 2)");
    }
}
