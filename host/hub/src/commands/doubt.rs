//! `hub doubt list` and `hub doubt settle <transfer> --delivered|--not-delivered --reason …`:
//! where the hub cannot know whether a delivery arrived, a person who asked the receiver
//! decides, and the store keeps who, when and why.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{DoubtCommand, DoubtListArgs, DoubtSettleArgs};
use crate::output::{self, Table};

pub fn run(g: &super::Global, cmd: &DoubtCommand) -> Result<ExitCode> {
    match cmd {
        DoubtCommand::List(a) => list(g, a),
        DoubtCommand::Settle(a) => settle(g, a),
    }
}

fn list(g: &super::Global, args: &DoubtListArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let doubts = app.store.doubts(args.target.as_deref(), args.all)?;
    if args.json.json {
        output::json(&doubts)?;
        return Ok(ExitCode::SUCCESS);
    }
    if doubts.is_empty() {
        println!("Nothing in doubt.");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&doubts, args.all).render());
    if doubts.iter().any(|d| d.settled_at.is_none()) {
        println!(
            "Ask the receiver, then: hub doubt settle <transfer> --delivered|--not-delivered --reason \"…\""
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The doubts as a table (also `hub status`'s section).
pub(crate) fn table(doubts: &[hub_store::Doubt], settled: bool) -> Table {
    let mut head = vec![
        "TRANSFER",
        "TARGET",
        "NUMBER",
        "PAYLOAD",
        "RECORDS",
        "KIND",
        "SINCE",
        "WHAT THE HUB SAW",
    ];
    if settled {
        head.push("SETTLED");
    }
    let mut t = Table::new(&head);
    for d in doubts {
        let mut row = vec![
            format!("#{}", d.transfer_id),
            d.target.clone(),
            d.sequence_no.map_or("-".into(), |n| n.to_string()),
            d.payload.clone(),
            d.records.to_string(),
            d.kind.as_str().to_string(),
            d.opened_at.to_string(),
            d.detail.clone(),
        ];
        if settled {
            row.push(match (&d.settled_as, &d.settled_by, &d.reason) {
                (Some(how), Some(who), Some(why)) => format!("{how} by {who}: {why}"),
                _ => "-".into(),
            });
        }
        t.row(row);
    }
    t
}

fn settle(g: &super::Global, args: &DoubtSettleArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let who = app.user.clone();
    let target = app.store.transfer(args.transfer)?.target;
    let state =
        crate::pipeline::settle(&mut app, args.transfer, args.delivered, &who, &args.reason)?;
    tracing::info!(%who, target_name = %target, transfer = args.transfer, delivered = args.delivered, reason = %hub_plugin_sdk::text::excerpt_max(&args.reason, 300), "settled by hand");
    if args.json.json {
        output::json(&serde_json::json!({
            "transfer": args.transfer,
            "settled_as": if args.delivered { "delivered" } else { "not-delivered" },
            "by": who,
            "state": state.to_string(),
        }))?;
    } else if args.delivered {
        println!(
            "transfer #{} settled as delivered by {who}; it is now {state}",
            args.transfer
        );
    } else {
        println!(
            "transfer #{} settled as not delivered by {who}; the next `hub send {target}` sends it again, unchanged",
            args.transfer
        );
    }
    Ok(ExitCode::SUCCESS)
}
