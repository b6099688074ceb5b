//! `hub records show <id>`: every imported version of a record with the action that
//! made it, the transport it came in and the receipt's verdict. `hub records view`: a
//! readable view of a transport, sent or received (`crate::view`).

use std::process::ExitCode;

use anyhow::Result;
use hub_core::time::Timestamp;

use crate::cli::{RecordsCommand, RecordsViewArgs};
use crate::output::{self, Table};

pub fn run(g: &super::Global, cmd: &RecordsCommand) -> Result<ExitCode> {
    let args = match cmd {
        RecordsCommand::Show(args) => args,
        RecordsCommand::View(args) => return view(g, args),
    };
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

fn view(g: &super::Global, args: &RecordsViewArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let format = if args.html {
        crate::view::Format::Html
    } else {
        crate::view::Format::Text
    };
    let number: u64 = args
        .number
        .trim_start_matches('#')
        .parse()
        .map_err(|_| anyhow::anyhow!("`{}` is not a number", args.number))?;
    let text = match &args.inbound {
        None => crate::view::sent(&mut app, i64::try_from(number)?, format)?,
        Some(inbound) => {
            if !app.config.inbound.iter().any(|i| &i.name == inbound) {
                anyhow::bail!("no inbound `{inbound}` in {}", app.config.file.display());
            }
            let found: Vec<_> = app
                .store
                .inbound_transports(Some(inbound), usize::MAX)?
                .into_iter()
                .filter(|t| t.number == number)
                .filter(|t| args.from.as_ref().is_none_or(|f| &t.sender == f))
                .collect();
            match found.as_slice() {
                [] => anyhow::bail!(
                    "no transport number {number}{} has arrived at {inbound}",
                    args.from
                        .as_ref()
                        .map(|f| format!(" from {f}"))
                        .unwrap_or_default()
                ),
                [one] => crate::view::received(&mut app, one.id, format)?,
                several => anyhow::bail!(
                    "transport number {number} arrived at {inbound} from {}: say which with --from",
                    several
                        .iter()
                        .map(|t| t.sender.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
