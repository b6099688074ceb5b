//! `hub receipt <target> FILE`: completes a transport with the receiver's receipt.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ReceiptArgs;
use crate::output;
use crate::pipeline;

pub fn run(g: &super::Global, args: &ReceiptArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut app = g.open()?;
    let r = pipeline::import_receipt(&mut app, &args.target, &bytes)
        .with_context(|| format!("receipt {}", args.file.display()))?;
    if args.json.json {
        output::json(&r)?;
    } else {
        println!(
            "{}: receipt for transfer #{}{}: {} record(s) delivered, {} rejected; transfer {}",
            args.target,
            r.transfer,
            r.sequence_no
                .map(|n| format!(" (number {n})"))
                .unwrap_or_default(),
            r.delivered,
            r.rejected,
            r.state
        );
    }
    Ok(ExitCode::SUCCESS)
}
