//! `hub check`: everything `hub send` and `hub serve` need, checked without sending:
//! the configuration, the store, every plugin and target, the credential and token files
//! (present and readable; their contents are never printed), and the schedules.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use hub_core::config::{Config, TransportConfig};

use crate::app::App;

pub fn run(g: &super::Global) -> Result<ExitCode> {
    let files = crate::service::config_files(&g.config)?;
    let mut problems = Vec::new();
    for file in &files {
        problems.extend(check_file(g, file));
    }
    if let Err(e) = crate::service::distinct_stores(&files) {
        problems.push(e.to_string());
    }
    if problems.is_empty() {
        println!("hub check: {} configuration file(s) OK", files.len());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("hub check: {} problem(s):", problems.len());
    for p in &problems {
        eprintln!("  - {p}");
    }
    Ok(ExitCode::FAILURE)
}

/// Every problem of one file (empty: fine).
fn check_file(g: &super::Global, file: &Path) -> Vec<String> {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = secret_files(&config);
    problems.extend(certificates(&config, file));
    println!(
        "{}: store: {}",
        file.display(),
        hub_store::describe_store(&config.store)
    );
    if let Err(e) = check_postgres(&config) {
        problems.push(format!("{}: {e}", file.display()));
    }
    let mut app = match App::open(file) {
        Ok(a) => a,
        Err(e) => {
            problems.push(e.to_string());
            return problems;
        }
    };
    if let Some(user) = &g.as_user {
        app.user = user.clone();
    }
    if let Err(e) = app.store.counts(None) {
        problems.push(format!("{}: {e}", file.display()));
    }
    for name in app.target_names() {
        match app.target(&name) {
            Ok(t) => {
                if let Err(e) = crate::app::identity(&app.config, &app.user, &t.config) {
                    problems.push(e.to_string());
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    problems
}

/// Every credential opened with its password: a wrong password, an unreadable file, an
/// expired certificate or one its CA did not issue is a problem; one expiring within its
/// `expiry_warning_days` is a warning. Credentials whose files cannot be read at all are
/// already named by [`secret_files`].
fn certificates(config: &Config, file: &Path) -> Vec<String> {
    let now = crate::app::clock_from_env().now();
    let mut problems = Vec::new();
    for (name, info) in crate::certificates::all(config, now) {
        let readable = config.credentials.get(&name).is_some_and(|c| {
            std::fs::File::open(&c.p12).is_ok()
                && c.password_file
                    .as_ref()
                    .is_none_or(|p| std::fs::File::open(p).is_ok())
        });
        match info {
            Ok(c) => {
                println!("{}: {}", file.display(), crate::certificates::describe(&c));
                if c.expiring {
                    println!(
                        "{}: warning: {}",
                        file.display(),
                        crate::certificates::warning(&c)
                    );
                }
            }
            Err(e) if readable => problems.push(format!("{}: {e}", file.display())),
            Err(_) => {}
        }
    }
    problems
}

/// A PostgreSQL store: its password readable, the server reachable (TLS as configured),
/// the schema up to date. Nothing to do for SQLite.
fn check_postgres(config: &Config) -> Result<(), hub_store::StoreError> {
    if let Some(options) = hub_store::PgOptions::from_config(&config.store)? {
        let mut store = hub_store::PgStore::open(&options)?;
        hub_store::Store::counts(&mut store, None)?;
    }
    Ok(())
}

/// Credential, password, key and token files must exist and be readable; environment
/// variables must be set. Only names and paths are reported.
fn secret_files(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let file = config.file.display();
    let mut need = |what: String, path: &Path| {
        if let Err(e) = std::fs::File::open(path) {
            problems.push(format!(
                "{file}: {what}: cannot read {}: {e}",
                path.display()
            ));
        }
    };
    for (name, c) in &config.credentials {
        need(format!("credential {name}: certificate"), &c.p12);
        if let Some(p) = &c.password_file {
            need(format!("credential {name}: password file"), p);
        }
    }
    for t in &config.targets {
        let files: Vec<(&str, &Path)> = match &t.transport {
            TransportConfig::Dir { .. } => vec![],
            TransportConfig::Http { ca_file, .. } => {
                ca_file.iter().map(|p| ("CA file", p.as_path())).collect()
            }
            TransportConfig::Ftps {
                password_file,
                ca_file,
                ..
            } => password_file
                .iter()
                .map(|p| ("password file", p.as_path()))
                .chain(ca_file.iter().map(|p| ("CA file", p.as_path())))
                .collect(),
            TransportConfig::Sftp {
                password_file,
                key_file,
                passphrase_file,
                ..
            } => password_file
                .iter()
                .map(|p| ("password file", p.as_path()))
                .chain(key_file.iter().map(|p| ("key file", p.as_path())))
                .chain(
                    passphrase_file
                        .iter()
                        .map(|p| ("passphrase file", p.as_path())),
                )
                .collect(),
        };
        for (what, p) in files {
            need(format!("target {}: {what}", t.name), p);
        }
    }
    let mut env_problems = Vec::new();
    for t in &config.targets {
        let vars: Vec<&String> = match &t.transport {
            TransportConfig::Ftps { password_env, .. } => password_env.iter().collect(),
            TransportConfig::Sftp {
                password_env,
                passphrase_env,
                ..
            } => password_env.iter().chain(passphrase_env.iter()).collect(),
            _ => vec![],
        };
        for v in vars {
            if std::env::var_os(v).is_none() {
                env_problems.push(format!(
                    "{file}: target {}: environment variable {v} is not set",
                    t.name
                ));
            }
        }
    }
    problems.extend(env_problems);
    if let Some(api) = &config.api {
        let sources = api
            .operator_source()
            .map(|s| ("operator token".to_string(), s))
            .into_iter()
            .chain(
                api.tokens
                    .iter()
                    .filter_map(|t| t.source().map(|s| (format!("token {}", t.name), s))),
            );
        for (what, source) in sources {
            if let Err(e) = source.read() {
                problems.push(format!("{file}: api {what}: {e}"));
            }
        }
    }
    problems
}
