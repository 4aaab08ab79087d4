//! The command line: [`args`] defines it, [`run`] sets up logging, dispatches to one
//! module per subcommand and turns the outcome into the exit status. Each subcommand
//! wires arguments into the library and does no work of its own.

mod args;
mod client;
mod export;
mod publish;
mod rebuild;
mod report;
mod serve;
mod simulate;

pub use args::Cli;

use args::{Command, LogFormat};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Runs the parsed command line. Exit status 0 on success; 1 with a one-line
/// `error: ...` on stderr otherwise. (Argument errors never get here: clap reports
/// them and exits with status 2.)
pub fn run(cli: Cli) -> ExitCode {
    init_logging(cli.log_format);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(a) => serve::run(a),
        Command::Publish(a) => publish::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Report(a) => report::run(a),
        Command::Rebuild(a) => rebuild::run(a),
        Command::Export(a) => export::run(a),
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
