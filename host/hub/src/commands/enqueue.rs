//! `hub enqueue <target> [FILE|-]`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::EnqueueArgs;
use crate::output;
use crate::pipeline::{self, EnqueueError};

pub fn run(g: &super::Global, args: &EnqueueArgs) -> Result<ExitCode> {
    // Read as a stream: a file of any size is one read buffer and a few chunks in
    // memory. The reader goes to the thread that checks the lines (so `Send`: standard
    // input unlocked; it is read in large blocks).
    let (name, src): (String, Box<dyn Read + Send>) = match args.file.as_deref() {
        Some(p) if p != Path::new("-") => (
            p.display().to_string(),
            Box::new(
                std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?,
            ),
        ),
        _ => ("standard input".to_string(), Box::new(std::io::stdin())),
    };
    let decode_error = |e: &hub_core::input::DecodeError| {
        let hint = match (e, &args.encoding) {
            (hub_core::input::DecodeError::Malformed { .. }, None) => {
                "; give the file's encoding with --encoding (e.g. windows-1252)"
            }
            _ => "",
        };
        anyhow::anyhow!("{name}: nothing was queued: {e}{hint}")
    };
    let lines = hub_core::input::lines::Lines::new(src, args.encoding.as_deref())
        .map_err(|e| decode_error(&e))?;
    let mut app = g.open()?;
    match pipeline::enqueue_lines(&mut app, &args.target, lines) {
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
        Err(EnqueueError::Decode(e)) => Err(decode_error(&e)),
        Err(EnqueueError::Read(e)) => Err(anyhow::anyhow!(
            "{name}: nothing was queued: cannot read: {e}"
        )),
        Err(e) => Err(e.into()),
    }
}
