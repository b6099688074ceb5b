//! One file per subcommand.

mod enqueue;
mod init;
mod log;
mod plugins;
mod resolve;
mod send;
mod status;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init(a) => init::run(&cli.config, &a),
        Command::Enqueue(a) => enqueue::run(&cli.config, &a),
        Command::Send(a) => send::run(&cli.config, &a),
        Command::Status(a) => status::run(&cli.config, &a),
        Command::Log(a) => log::run(&cli.config, &a),
        Command::Resolve(a) => resolve::run(&cli.config, &a),
        Command::Plugins(a) => plugins::run(&cli.config, &a),
    }
}
