//! `hub send <target>|--all [--dry-run]`.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::SendArgs;
use crate::output;
use crate::pipeline;

pub fn run(g: &super::Global, args: &SendArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let targets = match &args.target {
        Some(t) => vec![t.clone()],
        None => app.target_names(),
    };
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for target in &targets {
        if !args.json.json {
            app.progress = crate::progress::terminal_bar(format!("{target}:"));
        }
        match pipeline::send(&mut app, target, args.dry_run) {
            Ok(r) => {
                if args.dry_run && !r.dry_run_failed.is_empty() {
                    // A dry run ends as the real send would.
                    errors.push(format!(
                        "{target}: {} record(s) would fail",
                        r.dry_run_failed.len()
                    ));
                }
                if !args.dry_run {
                    tracing::info!(target_name = %target, transfers = r.transfers_created, completed = r.transfers_completed, delivered = r.records_delivered, to_check = r.records_to_check, "send done");
                    // Not done while records of this run need a person.
                    if r.records_to_check > 0 {
                        errors.push(format!(
                            "{target}: {} record(s) rejected or failed, they need a person: hub status",
                            r.records_to_check
                        ));
                    }
                }
                errors.extend(r.errors.iter().cloned());
                reports.push(r);
            }
            // One target's trouble does not hold up the others; its records stay queued.
            Err(e) => errors.push(e.to_string()),
        }
    }
    if args.json.json {
        output::json(&serde_json::json!({ "reports": reports, "errors": errors }))?;
    } else {
        for r in &reports {
            if args.dry_run {
                for p in &r.dry_run {
                    println!(
                        "{}: would send {} ({}, {} bytes, {} record(s){})",
                        r.target,
                        p.name,
                        p.media_type,
                        p.size,
                        p.records,
                        p.sequence
                            .map(|s| format!(", number {s}"))
                            .unwrap_or_default()
                    );
                }
                for m in &r.dry_run_failed {
                    println!("{}: would fail {m}", r.target);
                }
                if r.dry_run.is_empty() && r.dry_run_failed.is_empty() {
                    println!("{}: nothing queued", r.target);
                }
            } else {
                println!(
                    "{}: {} transfer(s) created, {} completed, {} record(s) delivered, {} need checking",
                    r.target,
                    r.transfers_created,
                    r.transfers_completed,
                    r.records_delivered,
                    r.records_to_check
                );
                for h in &r.in_doubt {
                    println!(
                        "{}: transfer #{} in doubt ({}): {}; held, not sent again (hub doubt list)",
                        r.target,
                        h.transfer,
                        h.kind.as_str(),
                        h.detail
                    );
                }
                for f in &r.stuck {
                    println!(
                        "{}: {} is still on the receiver after {} minutes (delivered {}); is its receiving job running?",
                        r.target, f.name, f.minutes_waiting, f.delivered_at
                    );
                }
            }
        }
    }
    // Not done while anything is held in doubt (from this run or before): a person must
    // settle what the hub cannot know.
    let mut held = 0;
    if !args.dry_run {
        for target in &targets {
            held += hub_store::Store::doubts(&mut *app.store, Some(target), false)?.len();
        }
    }
    if held > 0 {
        errors.push(format!(
            "{held} transfer(s) in doubt, held for a person: hub doubt list"
        ));
    }
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for e in &errors[..errors.len() - 1] {
            eprintln!("hub: {e}");
        }
        anyhow::bail!("{}", errors[errors.len() - 1])
    }
}
