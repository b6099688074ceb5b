//! `hub audit verify|export`: the tamper-evident audit trail (see `hub_store::audit`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hub_core::time::Timestamp;
use hub_store::protection::{read_head_file, verify};

use crate::cli::{AuditCommand, AuditExportArgs, JsonArg};
use crate::output;

pub fn run(g: &super::Global, c: &AuditCommand) -> Result<ExitCode> {
    match c {
        AuditCommand::Verify(a) => verify_trail(g, a),
        AuditCommand::Export(a) => export(g, a),
    }
}

/// Checks the chain from its first entry to its last, and against the head file.
fn verify_trail(g: &super::Global, args: &JsonArg) -> Result<ExitCode> {
    let mut app = g.open()?;
    let head_file = app.config.store.audit_head_file.clone();
    let expected = match &head_file {
        Some(f) => read_head_file(f).with_context(|| format!("audit head file {}", f.display()))?,
        None => None,
    };
    let started = std::time::Instant::now();
    let report = verify(app.store.as_mut(), expected.as_ref())?;
    let took = started.elapsed();
    if args.json {
        output::json(&report)?;
    } else if let Some(p) = &report.problem {
        eprintln!("hub audit verify: FAILED at entry {}: {}", p.entry, p.what);
    } else {
        let head = report.head.as_ref().map_or("empty".to_string(), |h| {
            format!("last entry {} (sha256 {})", h.id, h.hash)
        });
        let against = match (&head_file, &expected) {
            (Some(f), Some(h)) => {
                format!("; reaches entry {} of the head file {}", h.id, f.display())
            }
            (Some(f), None) => format!("; head file {} not written yet", f.display()),
            (None, _) => {
                "; no [audit] head_file, so a trail cut short at its end is not noticed".into()
            }
        };
        println!(
            "hub audit verify: {} entries intact, {head}{against} ({} ms)",
            report.entries,
            took.as_millis()
        );
    }
    Ok(if report.problem.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every entry from `--since` on, one JSON object a line, with its hashes, so the
/// receiver of the export can check the chain itself.
fn export(g: &super::Global, args: &AuditExportArgs) -> Result<ExitCode> {
    let since = match &args.since {
        Some(s) => match Timestamp::parse(s) {
            Some(t) => Some(t),
            None => bail!(
                "--since `{s}`: not a time (RFC 3339 like 2026-01-31T00:00:00Z, or Unix seconds)"
            ),
        },
        None => None,
    };
    let mut app = g.open()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after = 0;
    loop {
        let page = app.store.audit_page(after, 10_000)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in page.iter().filter(|e| since.is_none_or(|s| e.at >= s)) {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
