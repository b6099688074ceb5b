//! `hub import <inbound> [FILES…]`: imports arriving transports in order and answers them.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ImportArgs;
use crate::inbound::{self, FileOutcome};
use crate::output::{self, Table};

pub fn run(g: &super::Global, args: &ImportArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    if !args.json.json {
        app.progress = crate::progress::terminal_bar(format!("{}:", args.inbound));
    }
    let files = (!args.files.is_empty()).then_some(args.files.as_slice());
    let r = inbound::import(&mut app, &args.inbound, files, args.request_missing)?;
    let refused = r
        .files
        .iter()
        .any(|f| matches!(f.outcome, FileOutcome::Refused { .. }));
    if args.json.json {
        output::json(&r)?;
    } else {
        if r.files.is_empty() {
            println!("{}: nothing arrived", r.inbound);
        }
        for f in &r.files {
            match &f.outcome {
                FileOutcome::Imported { sender, number } => {
                    println!("{}: transport {number} from {sender} imported", f.file)
                }
                FileOutcome::Held {
                    sender,
                    number,
                    waiting_for,
                } => println!(
                    "{}: transport {number} from {sender} held: waiting for {}",
                    f.file,
                    list(waiting_for)
                ),
                FileOutcome::Duplicate {
                    sender,
                    number,
                    state,
                } => println!(
                    "{}: transport {number} from {sender} is a duplicate (already {state}); skipped",
                    f.file
                ),
                FileOutcome::Refused { reason } => {
                    println!("{}: refused, nothing imported: {reason}", f.file)
                }
            }
        }
        if !r.imported.is_empty() {
            let mut t = Table::new(&["sender", "number", "records", "rejected", "docs", "receipt"]);
            for i in &r.imported {
                t.row(vec![
                    i.sender.clone(),
                    i.number.to_string(),
                    i.records.to_string(),
                    i.rejected.to_string(),
                    i.documents.to_string(),
                    i.receipt.clone(),
                ]);
            }
            println!("\nImported, in order:\n{}", t.render());
        }
        for p in &r.pairs {
            if !p.missing.is_empty() {
                println!(
                    "GAP: from {} to {}: imported up to {}, held {}, missing {}{}",
                    p.sender,
                    p.receiver,
                    p.imported_up_to,
                    list(&p.held),
                    list(&p.missing),
                    if args.request_missing {
                        ""
                    } else {
                        " (hub import --request-missing asks for them)"
                    }
                );
            }
        }
        for q in &r.requests {
            println!("re-transmission requested: {q}");
        }
        for a in &r.answers_delivered {
            println!("answer delivered: {a}");
        }
        for e in &r.answer_errors {
            eprintln!("hub: answer not delivered yet: {}", output::clean(e));
        }
    }
    Ok(if refused || !r.answer_errors.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn list(numbers: &[u64]) -> String {
    numbers
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
