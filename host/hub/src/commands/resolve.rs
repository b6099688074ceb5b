//! `hub resolve <record> --reason …`: "Datensatz ohne Import erledigen".

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ResolveArgs;
use crate::output;

pub fn run(g: &super::Global, args: &ResolveArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let who = app.user.clone();
    let now = app.now();
    let res = app.store.resolve(
        args.target.as_deref(),
        &args.record,
        &who,
        &args.reason,
        now,
    )?;
    tracing::info!(%who, target_name = %res.record.target, record = %res.record.id, reason = %hub_plugin_sdk::text::excerpt_max(&args.reason, 300), "resolved by hand");
    if args.json.json {
        output::json(&res)?;
    } else {
        println!(
            "record {} ({}) completed without import by {who}",
            res.record.id, res.record.target
        );
        if let Some(t) = res.transfer_done {
            println!("transfer #{t} is done: every record has its outcome");
        }
    }
    Ok(ExitCode::SUCCESS)
}
