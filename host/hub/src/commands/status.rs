//! `hub status`: the seeds' "page 333": every transfer and its state.

use std::process::ExitCode;

use anyhow::Result;
use hub_store::Store;

use crate::cli::StatusArgs;
use crate::output::{self, Table};

pub fn run(g: &super::Global, args: &StatusArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let status = app.store.status(args.target.as_deref())?;
    if args.json.json {
        output::json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut counts = Table::new(&[
        "TARGET",
        "QUEUED",
        "IN FLIGHT",
        "DELIVERED",
        "FAILED",
        "RESOLVED",
        "SUPERSEDED",
    ]);
    for c in &status.targets {
        counts.row(vec![
            c.target.clone(),
            c.queued.to_string(),
            c.in_flight.to_string(),
            c.delivered.to_string(),
            c.failed.to_string(),
            c.resolved.to_string(),
            c.superseded.to_string(),
        ]);
    }
    if counts.is_empty() {
        println!("Nothing has been enqueued yet.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", counts.render());
    let mut transfers = Table::new(&[
        "TRANSFER", "TARGET", "BATCH", "NO", "STATE", "RECORDS", "ATTEMPTS", "CREATED", "DONE ON",
        "PAYLOADS",
    ]);
    for t in &status.transfers {
        transfers.row(vec![
            format!("#{}", t.id),
            t.target.clone(),
            t.batch_key.clone(),
            t.sequence_no
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            t.state.to_string(),
            t.records.to_string(),
            t.attempts.to_string(),
            t.created_at.to_string(),
            t.done_at
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            t.payloads
                .iter()
                .map(|p| format!("{} [{}]", p.name, p.state))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    if !transfers.is_empty() {
        println!();
        print!("{}", transfers.render());
    }
    let open_errors: Vec<_> = status
        .transfers
        .iter()
        .filter(|t| t.state == hub_core::state::TransferState::Open)
        .filter_map(|t| t.last_error.as_ref().map(|e| (t.id, e)))
        .collect();
    if !open_errors.is_empty() {
        println!("\nTransfers waiting for a retry:");
        for (id, e) in open_errors {
            println!("  #{id}: {e}");
        }
    }
    if !status.needs_check.is_empty() {
        println!("\nRecords that need checking (hub resolve <record> --reason …):");
        let mut t = Table::new(&["RECORD", "TARGET", "STATE", "TRANSFER", "MESSAGES"]);
        for r in &status.needs_check {
            t.row(vec![
                r.id.clone(),
                r.target.clone(),
                r.state.to_string(),
                r.transfer_id
                    .map(|t| format!("#{t}"))
                    .unwrap_or_else(|| "-".into()),
                r.messages.join(" | "),
            ]);
        }
        print!("{}", t.render());
    }
    Ok(ExitCode::SUCCESS)
}
