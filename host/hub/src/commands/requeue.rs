//! `hub requeue <record> --reason …` and `hub retry <transfer> --reason …`: a person sends
//! again what the target refused (after correcting the data at the receiver), or delivers
//! a transfer left open now instead of after the backoff.

use std::process::ExitCode;

use anyhow::Result;
use hub_engine::pipeline;

use crate::cli::{RequeueArgs, RetryArgs};
use crate::output;

pub fn requeue(g: &super::Global, args: &RequeueArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let who = app.user.clone();
    let now = app.now();
    let r = app.store.requeue(
        args.target.as_deref(),
        &args.record,
        &who,
        &args.reason,
        now,
    )?;
    let target = r.record.target.clone();
    tracing::info!(%who, target_name = %target, record = %r.record.id, queued = r.queued, reason = %hub_plugin_sdk::text::excerpt_max(&args.reason, 300), "requeued by hand");
    let sent = if args.send {
        Some(pipeline::send(&mut app, &target, false)?)
    } else {
        None
    };
    if args.json.json {
        output::json(&serde_json::json!({ "requeued": r, "sent": sent }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "record {} ({target}) queued again as #{} by {who}",
        hub_plugin_sdk::text::excerpt(&r.record.id),
        r.queued
    );
    if let Some(t) = r.transfer_done {
        println!("transfer #{t} is done: every record has its outcome");
    }
    match sent {
        Some(s) => println!(
            "{target}: {} record(s) delivered, {} to check",
            s.records_delivered, s.records_to_check
        ),
        None => println!("it goes with the next send (`hub send {target}`, or the schedule)"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retry(g: &super::Global, args: &RetryArgs) -> Result<ExitCode> {
    let id = super::transfer_number(&args.transfer)?;
    let mut app = g.open()?;
    let who = app.user.clone();
    let target = pipeline::ask_retry(&mut app, id, &who, &args.reason)?;
    tracing::info!(%who, target_name = %target, transfer = id, reason = %hub_plugin_sdk::text::excerpt_max(&args.reason, 300), "retry by hand");
    let r = pipeline::retry(&mut app, &target)?;
    let state = app.store.transfer(id)?.state;
    if args.json.json {
        output::json(&serde_json::json!({ "transfer": id, "state": state.as_str(), "report": r }))?;
    } else {
        println!(
            "{target}: transfer #{id} is {state} ({} record(s) delivered, {} to check)",
            r.records_delivered, r.records_to_check
        );
    }
    // Still open: the receiver refused again; the error is in `hub log`.
    Ok(if state == hub_core::state::TransferState::Open {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
