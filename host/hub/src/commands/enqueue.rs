//! `hub enqueue <target> [FILE|-]`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::EnqueueArgs;
use crate::output;
use crate::pipeline::{self, EnqueueError};

pub fn run(g: &super::Global, args: &EnqueueArgs) -> Result<ExitCode> {
    let (name, bytes) = match args.file.as_deref() {
        Some(p) if p != Path::new("-") => (
            p.display().to_string(),
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read standard input")?;
            ("standard input".to_string(), bytes)
        }
    };
    let text = hub_core::input::decode(&bytes, args.encoding.as_deref()).map_err(|e| {
        let hint = match (&e, &args.encoding) {
            (hub_core::input::DecodeError::Malformed { .. }, None) => {
                "; give the file's encoding with --encoding (e.g. windows-1252)"
            }
            _ => "",
        };
        anyhow::anyhow!("{name}: nothing was queued: {e}{hint}")
    })?;
    let mut app = g.open()?;
    match pipeline::enqueue(&mut app, &args.target, &text) {
        Ok(report) => {
            if args.json.json {
                output::json(&report)?;
            } else {
                println!(
                    "{}: {} queued for {}, {} duplicate(s) skipped, {} older snapshot(s) superseded",
                    name, report.queued, args.target, report.duplicates, report.superseded
                );
                if report.changed > 0 {
                    println!(
                        "{}: {} of them changed after an earlier body was delivered; sent again as the plugin declares (newer snapshot or new version)",
                        name, report.changed
                    );
                }
            }
            let realtime = app.config.target(&args.target).map(|t| t.sending)
                == Some(hub_core::config::Sending::Realtime);
            if args.send || realtime {
                // The records are safely queued; a target that cannot be reached now gets
                // them on the next send.
                match pipeline::send(&mut app, &args.target, false) {
                    Ok(r) if r.errors.is_empty() => {
                        if !args.json.json {
                            println!(
                                "{}: sent at once: {} record(s) delivered, {} need checking",
                                args.target, r.records_delivered, r.records_to_check
                            );
                        }
                    }
                    Ok(r) => eprintln!("hub: queued, not all sent yet: {}", r.errors.join("; ")),
                    Err(e) => eprintln!("hub: queued, not sent yet: {e}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(EnqueueError::Input(errors)) => {
            // Every bad line, then the one-line reason.
            for e in &errors.0 {
                eprintln!("{name}: {e}");
            }
            anyhow::bail!("{name}: {errors}")
        }
        Err(e) => Err(e.into()),
    }
}
