//! The `abstraction-tracker` binary: parse the command line, then [`cli::run`].

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run(cli::parse())
}
