//! One file per subcommand.

mod audit;
mod backup;
mod check;
mod completions;
mod doubt;
mod enqueue;
mod import;
mod init;
mod log;
mod pause;
pub mod plugin;
mod plugin_determinism;
mod plugin_notes;
pub(crate) mod plugin_schema;
mod plugin_test;
mod plugins;
mod purge;
mod receipt;
mod records;
mod rekey;
mod requeue;
mod resend;
mod resolve;
mod send;
mod serve;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::app::App;
use crate::cli::{Cli, Command};

/// What every command gets from the global flags.
#[derive(Debug)]
pub struct Global {
    pub config: PathBuf,
    pub as_user: Option<String>,
}

impl Global {
    /// Opens the hub for the configuration, acting for `--as` or the current user.
    pub fn open(&self) -> Result<App> {
        let mut app = App::open(&self.config)?;
        if let Some(user) = &self.as_user {
            app.user = user.clone();
        }
        Ok(app)
    }
}

/// A transfer's number as `hub status` shows it: `12` or `#12`.
pub(crate) fn transfer_number(text: &str) -> Result<i64> {
    text.trim_start_matches('#')
        .parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not a transfer number"))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let g = Global {
        config: cli.config,
        as_user: cli.as_user,
    };
    match cli.command {
        Command::Init(a) => init::run(&g, &a),
        Command::Enqueue(a) => enqueue::run(&g, &a),
        Command::Send(a) => send::run(&g, &a),
        Command::Status(a) => status::run(&g, &a),
        Command::Log(a) => log::run(&g, &a),
        Command::Resolve(a) => resolve::run(&g, &a),
        Command::Plugins(a) => plugins::run(&g, &a),
        Command::Serve(a) => serve::run(&g, &a),
        Command::Check => check::run(&g),
        Command::Completions(a) => completions::run(&a),
        Command::Receipt(a) => receipt::run(&g, &a),
        Command::Resend(a) => resend::run(&g, &a),
        Command::Import(a) => import::run(&g, &a),
        Command::Records(c) => records::run(&g, &c),
        Command::Doubt(c) => doubt::run(&g, &c),
        Command::Plugin(a) => plugin::run(&g, &a),
        Command::Purge(a) => purge::run(&g, &a),
        Command::Audit(c) => audit::run(&g, &c),
        Command::Backup(a) => backup::run(&g, &a),
        Command::Rekey(a) => rekey::run(&g, &a),
        Command::Pause(a) => pause::pause(&g, &a),
        Command::Resume(a) => pause::resume(&g, &a),
        Command::Requeue(a) => requeue::requeue(&g, &a),
        Command::Retry(a) => requeue::retry(&g, &a),
    }
}
