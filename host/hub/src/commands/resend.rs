//! `hub resend <transfer> --reason …`: the same bytes again, on request.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::ResendArgs;
use crate::pipeline;

pub fn run(g: &super::Global, args: &ResendArgs) -> Result<ExitCode> {
    if args.reason.trim().is_empty() {
        bail!("a resend needs a reason (--reason)");
    }
    let id = super::transfer_number(&args.transfer)?;
    let mut app = g.open()?;
    let transfer = app.store.transfer(id)?;
    let target = transfer.target.clone();
    let t = app.target(&target)?;
    // Files still on the receiver would have to be replaced, which the hub never does:
    // say so before anything changes.
    if hub_transports::delivers_files(&t.config.transport) {
        let mut transport = app
            .open_transport(&t.config)
            .map_err(|e| anyhow::anyhow!("target {target}: {e}"))?;
        for p in &transfer.payloads {
            let remote = transport
                .inspect(&p.name)
                .map_err(|e| anyhow::anyhow!("target {target}: {e}"))?;
            if remote.final_present {
                bail!(
                    "transfer #{id}: {} is still on the receiver; the hub never replaces a delivered file, so nothing was sent",
                    p.name
                );
            }
        }
    }
    let now = app.now();
    let why = format!("{} (by {})", args.reason, app.user);
    app.store.reopen_for_resend(id, &why, now)?;
    // The pipeline finishes open transfers first; a file still on the receiver is not
    // replaced (the error says so) and the transfer stays open for the next try.
    let r = pipeline::send(&mut app, &target, false)?;
    println!(
        "{target}: transfer #{id} sent again ({} transfer(s) completed)",
        r.transfers_completed
    );
    Ok(ExitCode::SUCCESS)
}
