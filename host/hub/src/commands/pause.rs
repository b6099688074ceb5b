//! `hub pause <target> --reason …` and `hub resume <target>`: an operator stops sending to
//! a target (its receiver is down, a file is wrong, a job on the receiving side is stuck)
//! without stopping `hub serve` or the other targets. Records go on queueing; nothing is
//! numbered or sent for the target until it is resumed.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::{PauseArgs, ResumeArgs};

pub fn pause(g: &super::Global, args: &PauseArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    known(&app, &args.target)?;
    let who = app.user.clone();
    let now = app.now();
    if app
        .store
        .pause_target(&args.target, &who, &args.reason, now)?
    {
        tracing::info!(%who, target_name = %args.target, reason = %hub_plugin_sdk::text::excerpt_max(&args.reason, 300), "target paused");
        println!(
            "target {} paused by {who}: nothing is sent to it until `hub resume {}`",
            args.target, args.target
        );
    } else if let Some(p) = app.store.paused(&args.target)? {
        println!(
            "target {} was already paused (by {} at {}: {})",
            args.target,
            hub_plugin_sdk::text::excerpt(&p.by),
            p.since,
            hub_plugin_sdk::text::excerpt(&p.reason)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn resume(g: &super::Global, args: &ResumeArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    known(&app, &args.target)?;
    let who = app.user.clone();
    let now = app.now();
    if app.store.resume_target(&args.target, &who, now)? {
        tracing::info!(%who, target_name = %args.target, "target resumed");
        println!("target {} resumed by {who}", args.target);
    } else {
        println!("target {} was not paused", args.target);
    }
    Ok(ExitCode::SUCCESS)
}

/// A pause for a target the configuration does not have would never be seen.
fn known(app: &crate::app::App, target: &str) -> Result<()> {
    if app.config.target(target).is_none() {
        let names: Vec<&str> = app.config.targets.iter().map(|t| t.name.as_str()).collect();
        bail!(
            "no target `{}` in {} (targets: {})",
            hub_plugin_sdk::text::excerpt(target),
            app.config.file.display(),
            names.join(", ")
        );
    }
    Ok(())
}
