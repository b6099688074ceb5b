//! `hub status`: the seeds' "page 333": every transfer and its state.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::StatusArgs;
use crate::output::{self, Table};

/// One row per payload: the seeds' page 333 for file targets (the newest `--limit`, shown
/// oldest first).
fn files(page: &hub_store::Page<hub_store::FileRow>, json: bool) -> Result<ExitCode> {
    let shown: Vec<&hub_store::FileRow> = page.items.iter().rev().collect();
    let rows: Vec<serde_json::Value> = shown
        .iter()
        .map(|f| {
            let p = &f.payload;
            serde_json::json!({
                "transfer": p.transfer_id,
                "target": f.target,
                "name": p.name,
                "labels": serde_json::Value::Object(
                    p.labels.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()
                ),
                "state": p.state.to_string(),
                "created_at": f.created_at.to_string(),
                "delivered_at": p.delivered_at.map(|d| d.to_string()),
                "picked_up_at": p.gone_at.map(|d| d.to_string()),
                "attempts": p.attempts,
            })
        })
        .collect();
    if json {
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Label columns in the order the plugins first name them.
    let mut keys: Vec<String> = Vec::new();
    for f in &shown {
        for (k, _) in &f.payload.labels {
            if !keys.contains(k) {
                keys.push(k.clone());
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
    for f in &shown {
        let p = &f.payload;
        let mut row = vec![format!("#{}", p.transfer_id), f.target.clone()];
        row.extend(keys.iter().map(|k| p.label(k).unwrap_or("-").to_string()));
        row.push(p.state.to_string());
        row.push(f.created_at.to_string());
        row.push(p.delivered_at.map_or("-".into(), |d| d.to_string()));
        row.push(p.gone_at.map_or("-".into(), |d| d.to_string()));
        row.push(p.attempts.to_string());
        row.push(p.name.clone());
        table.row(row);
    }
    if table.is_empty() {
        println!("No files match.");
    } else {
        print!("{}", table.render());
        more(page.next);
    }
    Ok(ExitCode::SUCCESS)
}

/// What `hub status` shows, and where the page of transfers goes on.
struct Shown {
    status: hub_store::Status,
    next: Option<i64>,
}

/// The counts per target (kept counts), a page of transfers (shown oldest first), the
/// records that need a person (the newest `--limit` of each state) and the open doubts.
fn read(
    app: &mut crate::app::App,
    target: Option<&str>,
    query: &hub_store::Query,
) -> Result<Shown> {
    let page = app.store.transfer_page(query)?;
    let mut transfers = page.items;
    transfers.reverse();
    let mut needs_check = Vec::new();
    for state in ["rejected", "failed"] {
        let q = hub_store::Query {
            target: target.map(Into::into),
            state: Some(state.into()),
            limit: query.limit,
            ..hub_store::Query::default()
        };
        needs_check.extend(app.store.record_page(&q)?.items);
    }
    needs_check.sort_by_key(|r| r.seq);
    let status = hub_store::Status {
        targets: app.store.counts(target)?,
        transfers,
        needs_check,
        in_doubt: app.store.doubts(target, false)?,
    };
    Ok(Shown {
        status,
        next: page.next,
    })
}

/// Says how to see the rows before a page, when there are any.
fn more(next: Option<i64>) {
    if let Some(n) = next {
        println!("(older rows: --before {n}, or a larger --limit)");
    }
}

pub fn run(g: &super::Global, args: &StatusArgs) -> Result<ExitCode> {
    let each = g.each()?;
    if each.len() == 1 {
        return one(g, args);
    }
    // A folder: every municipality, one after another, each under its name.
    if args.json.json {
        anyhow::bail!(
            "{} holds {} municipalities; with --json name one with --municipality",
            g.config.display(),
            each.len()
        );
    }
    let mut code = ExitCode::SUCCESS;
    for (i, (name, g)) in each.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("== {} ==", hub_plugin_sdk::text::excerpt(name));
        if one(g, args)? != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    Ok(code)
}

fn one(g: &super::Global, args: &StatusArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let target = args.target.as_deref();
    let labels: Vec<(String, String)> = args
        .filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--where takes LABEL=VALUE, found `{f}`"))
        })
        .collect::<Result<_>>()?;
    if args.files {
        let query = hub_store::Query {
            labels,
            ..args.page.query(target)
        };
        let page = app.store.file_page(&query)?;
        // A label no file has is a typing mistake more often than an empty result.
        if page.items.is_empty() {
            for (key, _) in &query.labels {
                if !app.store.has_label(key)? {
                    anyhow::bail!(
                        "no file has a label `{key}`; see the labels in `hub status --files`"
                    );
                }
            }
        }
        return files(&page, args.json.json);
    }
    let query = hub_store::Query {
        labels,
        ..args.page.query(target)
    };
    let shown = read(&mut app, target, &query)?;
    let status = &shown.status;
    let now = app.now();
    // Files the receiver left in place too long, as of the last look (`hub send`/`serve`),
    // and transports still without their receipt: read per target from what is still
    // open (the files on the receiver, the sent transfers), never from the history.
    let mut stuck: Vec<serde_json::Value> = Vec::new();
    let mut no_receipt: Vec<serde_json::Value> = Vec::new();
    let targets: Vec<(String, Option<u64>, Option<u64>)> = app
        .config
        .targets
        .iter()
        .filter(|t| target.is_none_or(|n| n == t.name))
        .map(|t| {
            (
                t.name.clone(),
                t.stuck_after_minutes,
                t.receipt_after_minutes,
            )
        })
        .collect();
    for (name, stuck_after, receipt_after) in targets {
        if let Some(limit) = stuck_after.and_then(|m| i64::try_from(m).ok()) {
            for p in app.store.unclaimed_payloads(&name)? {
                let (Some(delivered), Some(checked)) = (p.delivered_at, p.checked_at) else {
                    continue;
                };
                if hub_store::views::is_stuck(delivered, checked, limit * 60_000) {
                    stuck.push(serde_json::json!({
                        "transfer": p.transfer_id,
                        "target": name,
                        "name": p.name,
                        "delivered_at": delivered.to_string(),
                        "checked_at": checked.to_string(),
                        "minutes_waiting": (checked.0 - delivered.0) / 60_000,
                    }));
                }
            }
        }
        if let Some(limit) = receipt_after.and_then(|m| i64::try_from(m).ok()) {
            for id in app.store.sent_transfers(&name)? {
                let t = app.store.transfer(id)?;
                let Some(sent) = t.payloads.iter().filter_map(|p| p.delivered_at).max() else {
                    continue;
                };
                if hub_store::views::is_missing_receipt(sent, now, limit * 60_000) {
                    no_receipt.push(serde_json::json!({
                        "transfer": t.id,
                        "target": t.target,
                        "sequence_no": t.sequence_no,
                        "sent_at": sent.to_string(),
                        "minutes_waiting": (now.0 - sent.0) / 60_000,
                    }));
                }
            }
        }
    }
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
    let paused = app.store.paused_targets()?;
    if args.json.json {
        let mut value = serde_json::to_value(status)?;
        value["paused"] = serde_json::to_value(&paused)?;
        value["next"] = shown.next.into();
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
    for p in &paused {
        println!(
            "paused: {} (by {} at {}: {}); `hub resume {}` sends again",
            p.target,
            crate::output::clean(&p.by),
            p.since,
            crate::output::clean(&p.reason),
            p.target
        );
    }
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
        more(shown.next);
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
