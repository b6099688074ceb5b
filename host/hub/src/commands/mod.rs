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
    /// Of a folder of configuration files, the one (by its name without `.toml`).
    pub municipality: Option<String>,
}

impl Global {
    /// The configuration file meant: `--config` itself, or of a folder the file
    /// `--municipality` names (or its only one).
    pub fn config_file(&self) -> Result<PathBuf> {
        if !self.config.is_dir() {
            if let Some(m) = &self.municipality {
                let stem = self.config.file_stem().and_then(|s| s.to_str());
                if stem != Some(m.as_str()) {
                    anyhow::bail!(
                        "--municipality {m}: {} is one file, not a folder of municipalities",
                        self.config.display()
                    );
                }
            }
            return Ok(self.config.clone());
        }
        let files = crate::service::config_files(&self.config)?;
        let names: Vec<String> = files.iter().map(|f| municipality_of(f)).collect();
        match (&self.municipality, files.as_slice()) {
            (None, [only]) => Ok(only.clone()),
            (None, _) => anyhow::bail!(
                "{} holds {} municipalities ({}); name one with --municipality",
                self.config.display(),
                files.len(),
                names.join(", ")
            ),
            (Some(m), _) => files
                .iter()
                .zip(&names)
                .find(|(_, n)| *n == m)
                .map(|(f, _)| f.clone())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no municipality {m} in {} (there are: {})",
                        self.config.display(),
                        names.join(", ")
                    )
                }),
        }
    }

    /// Every municipality `--config` stands for, as a `Global` of one file each (of a
    /// folder without `--municipality`, all of them, in name order).
    pub fn each(&self) -> Result<Vec<(String, Global)>> {
        if !self.config.is_dir() || self.municipality.is_some() {
            let file = self.config_file()?;
            return Ok(vec![(municipality_of(&file), self.with_file(file))]);
        }
        Ok(crate::service::config_files(&self.config)?
            .into_iter()
            .map(|f| (municipality_of(&f), self.with_file(f)))
            .collect())
    }

    fn with_file(&self, file: PathBuf) -> Global {
        Global {
            config: file,
            as_user: self.as_user.clone(),
            municipality: None,
        }
    }

    /// Opens the hub for the configuration, acting for `--as` or the current user.
    pub fn open(&self) -> Result<App> {
        let mut app = App::open(&self.config_file()?)?;
        if let Some(user) = &self.as_user {
            app.user = user.clone();
        }
        Ok(app)
    }
}

/// A municipality's name: its configuration file's name without `.toml`.
fn municipality_of(file: &std::path::Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
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
        municipality: cli.municipality,
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
