//! `hub log`: the protocol log.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::LogArgs;
use crate::output::{self, Table};

pub fn run(g: &super::Global, args: &LogArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let query = hub_store::Query {
        transfer: args.transfer,
        text: args.grep.clone(),
        ..args.page.query(args.target.as_deref())
    };
    // The newest `--limit` entries, shown oldest first.
    let page = app.store.log_page(&query)?;
    let mut attempts = page.items;
    attempts.reverse();
    if args.json.json {
        output::json(&attempts)?;
        return Ok(ExitCode::SUCCESS);
    }
    if attempts.is_empty() {
        println!("No attempts yet.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        "WHEN",
        "TRANSFER",
        "TARGET",
        "PLUGIN",
        "RESULT",
        "MS",
        "ENDPOINT",
        "CREDENTIAL",
        "SENT",
        "RECEIVED / ERROR",
    ]);
    for a in &attempts {
        t.row(vec![
            a.started_at.to_string(),
            format!("#{}", a.transfer_id),
            a.target.clone(),
            a.plugin.to_string(),
            if a.result == hub_core::state::AttemptResult::Started {
                "started, outcome unknown".to_string()
            } else {
                a.result.to_string()
            },
            a.duration_ms.to_string(),
            a.endpoint.clone(),
            a.credential.clone().unwrap_or_else(|| "-".into()),
            a.sent.clone(),
            a.error
                .clone()
                .or_else(|| a.received.clone())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", t.render());
    if let Some(n) = page.next {
        println!("(older entries: --before {n}, or a larger --limit)");
    }
    Ok(ExitCode::SUCCESS)
}
