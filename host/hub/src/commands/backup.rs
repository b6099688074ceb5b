//! `hub backup FILE`: a consistent copy of the SQLite store while the hub runs (SQLite's
//! online backup); the copy is checked before the command says so. Restore: see the
//! README (stop the hub, put the copy in the store's place, start).

use std::process::ExitCode;

use anyhow::{Context, Result};
use hub_store::protection::NewAuditEntry;

use crate::cli::BackupArgs;

pub fn run(g: &super::Global, args: &BackupArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let started = std::time::Instant::now();
    let bytes = app
        .store
        .backup(&args.file)
        .with_context(|| format!("backup to {}", args.file.display()))?;
    let now = app.now();
    let actor = app.user.clone();
    // After the copy, so the copy's trail ends before it: the entry says a copy exists.
    app.store.audit_append(&[NewAuditEntry {
        at: now,
        actor,
        action: "backup".into(),
        target: None,
        subject: args.file.display().to_string(),
        detail: format!("{bytes} bytes"),
    }])?;
    println!(
        "hub backup: {} written ({bytes} bytes, {} ms) and checked",
        args.file.display(),
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}
