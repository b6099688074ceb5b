//! `hub status`: the seeds' "page 333": every transfer and its state.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::StatusArgs;
use crate::output::{self, Table};

/// One row per payload: the seeds' page 333 for file targets.
fn files(status: &hub_store::Status, json: bool) -> Result<ExitCode> {
    let rows: Vec<serde_json::Value> = status
        .transfers
        .iter()
        .flat_map(|t| {
            t.payloads.iter().map(move |p| {
                serde_json::json!({
                    "transfer": t.id,
                    "target": t.target,
                    "name": p.name,
                    "labels": serde_json::Value::Object(
                        p.labels.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()
                    ),
                    "state": p.state.to_string(),
                    "created_at": t.created_at.to_string(),
                    "delivered_at": p.delivered_at.map(|d| d.to_string()),
                    "picked_up_at": p.gone_at.map(|d| d.to_string()),
                    "attempts": p.attempts,
                })
            })
        })
        .collect();
    if json {
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Label columns in the order the plugins first name them.
    let mut keys: Vec<String> = Vec::new();
    for t in &status.transfers {
        for p in &t.payloads {
            for (k, _) in &p.labels {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    let mut header = vec!["TRANSFER".to_string(), "TARGET".to_string()];
    header.extend(keys.iter().map(|k| k.to_uppercase()));
    header.extend(
        [
            "STATE",
            "CREATED",
            "UPLOADED",
            "PICKED UP",
            "ATTEMPTS",
            "FILE",
        ]
        .map(String::from),
    );
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header_refs);
    for t in &status.transfers {
        for p in &t.payloads {
            let mut row = vec![format!("#{}", t.id), t.target.clone()];
            row.extend(keys.iter().map(|k| p.label(k).unwrap_or("-").to_string()));
            row.push(p.state.to_string());
            row.push(t.created_at.to_string());
            row.push(p.delivered_at.map_or("-".into(), |d| d.to_string()));
            row.push(p.gone_at.map_or("-".into(), |d| d.to_string()));
            row.push(p.attempts.to_string());
            row.push(p.name.clone());
            table.row(row);
        }
    }
    if table.is_empty() {
        println!("No files match.");
    } else {
        print!("{}", table.render());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(g: &super::Global, args: &StatusArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let mut status = app.store.status(args.target.as_deref())?;
    let filters: Vec<(&str, &str)> = args
        .filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--where takes LABEL=VALUE, found `{f}`"))
        })
        .collect::<Result<_>>()?;
    if !filters.is_empty() {
        let keep = |p: &hub_store::Payload| filters.iter().all(|(k, v)| p.label(k) == Some(*v));
        status.transfers.retain(|t| t.payloads.iter().any(keep));
        for t in &mut status.transfers {
            t.payloads.retain(keep);
        }
    }
    // Files the receiver left in place too long, as of the last look (`hub send`/`serve`).
    let stuck: Vec<serde_json::Value> = status
        .transfers
        .iter()
        .flat_map(|t| {
            let limit = app
                .config
                .target(&t.target)
                .and_then(|c| c.stuck_after_minutes);
            t.payloads.iter().filter_map(move |p| {
                let limit = i64::try_from(limit?).ok()?;
                let (delivered, checked) = (p.delivered_at?, p.checked_at?);
                let waited = (checked.0 - delivered.0) / 60_000;
                (p.gone_at.is_none() && waited >= limit).then(|| {
                    serde_json::json!({
                        "transfer": t.id,
                        "target": t.target,
                        "name": p.name,
                        "delivered_at": delivered.to_string(),
                        "checked_at": checked.to_string(),
                        "minutes_waiting": waited,
                    })
                })
            })
        })
        .collect();
    // Transports still without their receipt after `receipt_after_minutes`.
    let now = app.now();
    let no_receipt: Vec<serde_json::Value> = status
        .transfers
        .iter()
        .filter(|t| t.state == hub_core::state::TransferState::Sent)
        .filter_map(|t| {
            let limit = app.config.target(&t.target)?.receipt_after_minutes?;
            let sent = t.payloads.iter().filter_map(|p| p.delivered_at).max()?;
            let waited = (now.0 - sent.0) / 60_000;
            (waited >= i64::try_from(limit).ok()?).then(|| {
                serde_json::json!({
                    "transfer": t.id,
                    "target": t.target,
                    "sequence_no": t.sequence_no,
                    "sent_at": sent.to_string(),
                    "minutes_waiting": waited,
                })
            })
        })
        .collect();
    // Arrived transports waiting for earlier numbers, per inbound and sender.
    let mut waiting: Vec<serde_json::Value> = Vec::new();
    let inbounds: Vec<String> = app.config.inbound.iter().map(|i| i.name.clone()).collect();
    for name in inbounds {
        for p in hub_store::inbound::InboundStore::inbound_pairs(&mut *app.store, &name)? {
            if let Some(since) = p.waiting_since {
                waiting.push(serde_json::json!({
                    "inbound": name,
                    "sender": p.sender,
                    "receiver": p.receiver,
                    "imported_up_to": p.imported_up_to,
                    "held": p.held,
                    "missing": p.missing,
                    "waiting_since": hub_core::time::Timestamp(since).to_string(),
                }));
            }
        }
    }
    if args.files {
        return files(&status, args.json.json);
    }
    // Certificates about to expire or unusable (read, like at every send, from their files).
    let certificates: Vec<serde_json::Value> = crate::certificates::all(&app.config, app.now())
        .into_iter()
        .filter_map(|(name, info)| match info {
            Ok(c) if c.expiring => Some(serde_json::json!({
                "credential": name,
                "expires": c.expires,
                "days_left": c.days_left,
                "warning": crate::certificates::warning(&c),
            })),
            Ok(_) => None,
            Err(e) => Some(serde_json::json!({ "credential": name, "warning": e })),
        })
        .collect();
    if args.json.json {
        let mut value = serde_json::to_value(&status)?;
        value["certificates"] = serde_json::Value::Array(certificates);
        value["stuck"] = serde_json::Value::Array(stuck);
        value["no_receipt"] = serde_json::Value::Array(no_receipt);
        value["waiting"] = serde_json::Value::Array(waiting);
        output::json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut counts = Table::new(&[
        "TARGET",
        "QUEUED",
        "IN FLIGHT",
        "IN DOUBT",
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
            c.in_doubt.to_string(),
            c.delivered.to_string(),
            c.failed.to_string(),
            c.resolved.to_string(),
            c.superseded.to_string(),
        ]);
    }
    let print_waiting = || {
        if !waiting.is_empty() {
            println!(
                "\nTransports waiting for earlier numbers (hub import <inbound> --request-missing asks for them):"
            );
            for w in &waiting {
                let list = |k: &str| {
                    w[k].as_array()
                        .map(|a| {
                            a.iter()
                                .map(|n| n.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default()
                };
                println!(
                    "  {}: from {} to {}: imported up to {}, held {}, missing {}, waiting since {}",
                    w["inbound"].as_str().unwrap_or_default(),
                    w["sender"].as_str().unwrap_or_default(),
                    w["receiver"].as_str().unwrap_or_default(),
                    w["imported_up_to"],
                    list("held"),
                    list("missing"),
                    w["waiting_since"].as_str().unwrap_or_default()
                );
            }
        }
    };
    if counts.is_empty() {
        println!("Nothing has been enqueued yet.");
        print_waiting();
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", counts.render());
    for c in &certificates {
        println!("warning: {}", c["warning"].as_str().unwrap_or_default());
    }
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
                .map(|p| match p.purged_at {
                    Some(_) => format!("{} [{}, purged]", p.name, p.state),
                    None => format!("{} [{}]", p.name, p.state),
                })
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
            println!("  #{id}: {}", crate::output::clean(&e.to_string()));
        }
    }
    if !no_receipt.is_empty() {
        println!("\nTransports still without a receipt (hub receipt <target> FILE):");
        for s in &no_receipt {
            println!(
                "  #{} {} number {}: sent {}, {} minutes ago",
                s["transfer"],
                s["target"].as_str().unwrap_or_default(),
                s["sequence_no"],
                s["sent_at"].as_str().unwrap_or_default(),
                s["minutes_waiting"]
            );
        }
    }
    if !stuck.is_empty() {
        println!("\nFiles still on the receiver (is its receiving job running?):");
        for s in &stuck {
            println!(
                "  #{} {}: delivered {}, still there at {} ({} minutes)",
                s["transfer"],
                crate::output::clean(s["name"].as_str().unwrap_or_default()),
                s["delivered_at"].as_str().unwrap_or_default(),
                s["checked_at"].as_str().unwrap_or_default(),
                s["minutes_waiting"]
            );
        }
    }
    if !status.in_doubt.is_empty() {
        println!(
            "\nIn doubt: whether these arrived is unknown; nothing is sent again until a person \
             settles them (hub doubt settle <transfer> --delivered|--not-delivered --reason …):"
        );
        print!("{}", super::doubt::table(&status.in_doubt, false).render());
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
    print_waiting();
    Ok(ExitCode::SUCCESS)
}
