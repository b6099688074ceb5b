//! `hub rekey`: after a key rotation (`[encryption] current` set to a new key), re-seals
//! what older keys sealed, and what was stored plain before encryption was configured,
//! under the current key; then rewrites the store so the old ciphertexts leave its files.
//! Afterwards the old key can be removed from `[encryption.keys]`.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::RekeyArgs;
use crate::output::{self, Table};

/// Rows re-sealed in one transaction.
const BATCH: usize = 500;

pub fn run(g: &super::Global, args: &RekeyArgs) -> Result<ExitCode> {
    let mut app = g.open()?;
    let Some(ring) = crate::encryption::keyring(&app.config).map_err(anyhow::Error::msg)? else {
        bail!(
            "{} has no [encryption]: nothing to re-seal under",
            app.config.file.display()
        );
    };
    if args.dry_run {
        let uses = app.store.key_uses()?;
        if args.json.json {
            output::json(&uses)?;
        } else {
            print_uses(&uses, ring.current());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = app.now();
    let user = app.user.clone();
    let done = hub_store::seal::reseal(&mut *app.store, &ring, &user, now, BATCH)?;
    let compacted = if done.records + done.payloads > 0 {
        Some(app.store.compact()?)
    } else {
        None
    };
    if args.json.json {
        output::json(&serde_json::json!({ "resealed": done, "compacted": compacted }))?;
    } else {
        println!(
            "{} record bodies (sent and received) and {} payloads and arrived archives re-sealed under key `{}`.",
            done.records, done.payloads, done.key
        );
        for u in &done.unreadable {
            println!(
                "Left as they are: {} bodies and {} payloads under key `{}`, which is not configured.",
                u.records,
                u.payloads,
                u.key.as_deref().unwrap_or("?")
            );
        }
        if let Some(c) = compacted {
            println!(
                "Store rewritten: {} → {} bytes in {} ms{}",
                c.before,
                c.after,
                c.took_ms,
                if c.wal_emptied {
                    ""
                } else {
                    "; the write-ahead log is still in use by another process"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_uses(uses: &[hub_store::seal::KeyUse], current: Option<&str>) {
    // Bodies: sent records and received versions; files: payloads and arrived archives.
    let mut t = Table::new(&["KEY", "BODIES", "FILES", ""]);
    for u in uses {
        let note = match u.key.as_deref() {
            None => "stored plain",
            Some(k) if Some(k) == current => "current",
            Some(_) => "re-sealed by hub rekey",
        };
        t.row(vec![
            u.key.clone().unwrap_or_else(|| "-".into()),
            u.records.to_string(),
            u.payloads.to_string(),
            note.into(),
        ]);
    }
    print!("{}", t.render());
    println!("Dry run: nothing was re-sealed.");
}
