//! `hub records show <id>`: every imported version of a record with the action that
//! made it, the transport it came in and the receipt's verdict.

use std::process::ExitCode;

use anyhow::Result;
use hub_core::time::Timestamp;

use crate::cli::RecordsCommand;
use crate::output::{self, Table};

pub fn run(g: &super::Global, cmd: &RecordsCommand) -> Result<ExitCode> {
    let RecordsCommand::Show(args) = cmd;
    let mut app = g.open()?;
    let versions = app.store.record_versions(&args.record)?;
    if args.json.json {
        output::json(&versions)?;
    } else if versions.is_empty() {
        eprintln!("hub: no imported version of record {}", args.record);
        return Ok(ExitCode::from(1));
    } else {
        let mut t = Table::new(&[
            "version",
            "kind",
            "action",
            "result",
            "from",
            "transport",
            "imported at",
        ]);
        for v in &versions {
            t.row(vec![
                v.version.to_string(),
                v.kind.clone(),
                v.action.clone().unwrap_or_else(|| "-".into()),
                match &v.code {
                    Some(code) => format!("{} ({code})", v.result),
                    None => v.result.clone(),
                },
                v.sender.clone(),
                format!("{} ({})", v.transport_number, v.inbound),
                v.imported_at
                    .map(|t| Timestamp(t).to_string())
                    .unwrap_or_default(),
            ]);
        }
        println!(
            "Record {}\n{}",
            crate::output::clean(&args.record),
            t.render()
        );
        for v in versions.iter().filter(|v| v.message.is_some()) {
            println!(
                "version {}: {}",
                v.version,
                crate::output::clean(v.message.as_deref().unwrap_or_default())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
