//! `hub serve`: the unattended service (see `crate::service`): every target's schedule,
//! real-time sending, retries with backoff, the HTTP API with its status page and
//! metrics; stops cleanly on SIGTERM or SIGINT: the send under way finishes the transfer
//! it is on and starts no new one, so nothing is left half-recorded (and every step is
//! crash-safe regardless).

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ServeArgs;
use crate::service::{self, ServeOptions};

pub fn run(g: &super::Global, args: &ServeArgs) -> Result<ExitCode> {
    service::serve(&ServeOptions {
        config: match (&args.config_dir, &g.municipality) {
            (Some(dir), _) => dir.clone(),
            // One municipality of a folder: only it.
            (None, Some(_)) => g.config_file()?,
            (None, None) => g.config.clone(),
        },
        listen: args.listen.clone(),
        as_user: g.as_user.clone(),
    })?;
    Ok(ExitCode::SUCCESS)
}
