//! `hub serve`: the unattended service. Sends every target with a `[target.schedule]` at
//! its times (a missed slot runs once at the next look), imports what arrives in each
//! `[[inbound]]` inbox within a second, and stops cleanly on SIGTERM or
//! SIGINT: the send under way finishes the transfer it is on and starts no new one, so
//! nothing is left half-recorded (and every step is crash-safe regardless).

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hub_core::schedule::{Schedule, Scheduler};

use crate::pipeline;

/// The longest sleep between two looks at the clock and the stop flag.
const TICK: Duration = Duration::from_secs(1);

pub fn run(g: &super::Global) -> Result<ExitCode> {
    let mut app = g.open()?;
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, app.stop.clone())
            .context("cannot install the signal handler")?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, app.reload.clone())
        .context("cannot install the SIGHUP handler")?;
    let mut schedules = Vec::new();
    for t in &app.config.targets {
        if let Some(c) = &t.schedule {
            let s =
                Schedule::from_config(c).map_err(|e| anyhow::anyhow!("target {}: {e}", t.name))?;
            schedules.push((t.name.clone(), s));
        }
    }
    if schedules.is_empty() && app.config.inbound.is_empty() {
        bail!(
            "no target in {} has a [target.schedule] and there is no [[inbound]]; nothing to serve",
            app.config.file.display()
        );
    }
    // Check every scheduled target now, not at its first run.
    for (name, _) in &schedules {
        app.target(name)?;
    }
    let names: Vec<&str> = schedules.iter().map(|(n, _)| n.as_str()).collect();
    let mut scheduler = Scheduler::new(schedules.clone(), app.now());
    println!(
        "hub serve: {} scheduled target(s) ({}); next run {}",
        names.len(),
        names.join(", "),
        scheduler
            .next_wake()
            .map_or("never".to_string(), |t| t.to_string())
    );
    for i in &app.config.inbound {
        println!(
            "hub serve: watching {} for inbound {}",
            i.inbox.display(),
            i.name
        );
    }
    while !app.stop.load(Ordering::SeqCst) {
        app.reload_plugins(); // Logs what it did; between sends, so no batch sees two plugins.
        for target in scheduler.due(app.now()) {
            match pipeline::send(&mut app, &target, false) {
                Ok(r) => {
                    tracing::info!(target_name = %target, transfers = r.transfers_created, delivered = r.records_delivered, to_check = r.records_to_check, "scheduled send done");
                    for e in &r.errors {
                        tracing::error!(target_name = %target, error = %e, "scheduled send: batch not sent");
                    }
                    for f in &r.stuck {
                        tracing::warn!(target_name = %target, file = %f.name, minutes = f.minutes_waiting, "file still on the receiver");
                    }
                }
                // The records stay queued; the next slot tries again.
                Err(e) => {
                    tracing::error!(target_name = %target, error = %e, "scheduled send failed")
                }
            }
            if app.stop.load(Ordering::SeqCst) {
                break;
            }
        }
        // Arriving transports are imported at every look (each inbox is one listing).
        if !app.stop.load(Ordering::SeqCst) {
            crate::inbound::watch(&mut app);
        }
        let wait = scheduler
            .next_wake()
            .map(|next| Duration::from_millis(u64::try_from(next.0 - app.now().0).unwrap_or(0)))
            .unwrap_or(TICK);
        std::thread::sleep(wait.min(TICK));
    }
    println!("hub serve: stopped");
    Ok(ExitCode::SUCCESS)
}
