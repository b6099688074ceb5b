//! `hub enqueue <target> [FILE|-]`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::app::App;
use crate::cli::EnqueueArgs;
use crate::output;
use crate::pipeline::{self, EnqueueError};

pub fn run(config: &Path, args: &EnqueueArgs) -> Result<ExitCode> {
    let (name, text) = match args.file.as_deref() {
        Some(p) if p != Path::new("-") => (
            p.display().to_string(),
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            ("standard input".to_string(), text)
        }
    };
    let mut app = App::open(config)?;
    match pipeline::enqueue(&mut app, &args.target, &text) {
        Ok(report) => {
            if args.json.json {
                output::json(&report)?;
            } else {
                println!(
                    "{}: {} queued for {}, {} duplicate(s) skipped, {} older snapshot(s) superseded",
                    name, report.queued, args.target, report.duplicates, report.superseded
                );
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
