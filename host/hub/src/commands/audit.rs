//! `hub audit verify|export`: the tamper-evident audit trail (see `hub_store::audit`).
//! `hub audit reencode`: whether a past transfer's bytes can be made again.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use hub_core::time::Timestamp;
use hub_store::protection::{read_head_file, verify};

use crate::cli::{AuditCommand, AuditExportArgs, JsonArg, ReencodeArgs};
use crate::output;

pub fn run(g: &super::Global, c: &AuditCommand) -> Result<ExitCode> {
    match c {
        AuditCommand::Verify(a) => verify_trail(g, a),
        AuditCommand::Export(a) => export(g, a),
        AuditCommand::Reencode(a) => reencode(g, a),
    }
}

/// Encodes a transfer again (`hub_engine::pipeline::reencode`) and says whether a
/// re-send would carry the same bytes, and if not, which payload differs and why.
fn reencode(g: &super::Global, args: &ReencodeArgs) -> Result<ExitCode> {
    use hub_engine::pipeline::{self, Verdict};
    let id = super::transfer_number(&args.transfer)?;
    let mut app = g.open()?;
    let r = pipeline::reencode(&mut app, id)?;
    if args.json.json {
        output::json(&r)?;
    } else {
        let number = r
            .sequence
            .map_or(String::new(), |n| format!(", number {n}"));
        println!(
            "transfer #{} (target {}{number}), encoded by {}",
            r.transfer, r.target, r.recorded_plugin
        );
        if let Some(p) = &r.loaded_plugin {
            println!("  encoded again by {p}");
        }
        for p in &r.payloads {
            match &p.difference {
                None if p.same => println!("  {}: same bytes (sha256 {})", p.name, p.sent_sha256),
                Some(d) => println!("  {}: DIFFERS: {d}", p.name),
                None => println!(
                    "  {}: not encoded again (sent: sha256 {})",
                    p.name, p.sent_sha256
                ),
            }
        }
        if r.verdict != Verdict::CannotReencode {
            for f in &r.findings {
                println!("  why: {f}");
            }
        }
        match r.verdict {
            Verdict::Reproduced => println!(
                "reproduced byte for byte: a re-send of transfer #{} carries the bytes sent",
                r.transfer
            ),
            Verdict::NotReproduced => println!(
                "NOT reproduced: transfer #{} cannot be claimed to re-send byte for byte",
                r.transfer
            ),
            Verdict::CannotReencode => println!(
                "CANNOT re-encode transfer #{}: {}",
                r.transfer,
                r.findings.first().map_or("", String::as_str)
            ),
        }
    }
    Ok(if r.verdict == Verdict::Reproduced {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
