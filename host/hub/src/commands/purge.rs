//! `hub purge [--dry-run]`: removes record bodies and payload bytes the targets'
//! `retention_days` no longer allow, keeping their hashes, sizes and the protocol log;
//! then rewrites the store so the bytes leave its files.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::PurgeArgs;
use crate::output::{self, Table};

pub fn run(g: &super::Global, args: &PurgeArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    if crate::retention::policies(&app.config).is_empty() {
        println!("No target has retention_days: nothing is ever purged.");
        return Ok(ExitCode::SUCCESS);
    }
    let run = crate::retention::purge(&mut app, args.dry_run)?;
    if args.json.json {
        output::json(&run)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["TARGET", "KEEP DAYS", "RECORDS", "PAYLOADS", "BYTES"]);
    for p in &run.targets {
        t.row(vec![
            p.target.clone(),
            p.keep_days.to_string(),
            p.records.to_string(),
            p.payloads.to_string(),
            p.bytes.to_string(),
        ]);
    }
    print!("{}", t.render());
    if run.dry_run {
        println!("Dry run: nothing was purged.");
    }
    if let Some(c) = &run.compacted {
        println!(
            "Store rewritten: {} → {} bytes in {} ms{}",
            c.before,
            c.after,
            c.took_ms,
            if c.wal_emptied {
                ""
            } else {
                "; the write-ahead log is still in use by another process (emptied at the next purge)"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
