//! Retention as the commands and the service use it: the policies hub.toml sets per
//! target, a purge followed by a compaction, and the hourly purge of `hub serve`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::Result;
use hub_core::config::Config;
use hub_core::time::Timestamp;
use hub_store::protection::{Compacted, Purged, Retention};

use crate::app::App;

/// How often `hub serve` purges a store.
const EVERY_MS: i64 = 3_600_000;

/// The targets of a configuration that have `retention_days`.
pub fn policies(config: &Config) -> Vec<Retention> {
    config
        .targets
        .iter()
        .filter_map(|t| {
            t.retention_days.map(|keep_days| Retention {
                target: t.name.clone(),
                keep_days,
            })
        })
        .collect()
}

/// What one purge did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PurgeRun {
    pub dry_run: bool,
    pub targets: Vec<Purged>,
    /// The file rewritten afterwards (only when something was purged).
    pub compacted: Option<Compacted>,
}

/// Purges what the configuration's retention allows, signed by the app's user, and
/// compacts the store when anything went, so the purged bytes leave its files.
pub fn purge(app: &mut App, dry_run: bool) -> Result<PurgeRun> {
    let policies = policies(&app.config);
    let now = app.now();
    let user = app.user.clone();
    let targets = app.store.purge(&policies, &user, now, dry_run)?;
    let any = targets.iter().any(|p| p.records > 0 || p.payloads > 0);
    let compacted = if any && !dry_run {
        Some(app.store.compact()?)
    } else {
        None
    };
    Ok(PurgeRun {
        dry_run,
        targets,
        compacted,
    })
}

/// `hub serve`'s hourly look per configuration: the purge its retention allows, and its
/// certificates (see `crate::certificates::look`). Kept here, behind one call, so the
/// service's loop only knows that there is an hourly look.
pub fn tick(app: &mut App) {
    static LAST: OnceLock<Mutex<BTreeMap<PathBuf, Timestamp>>> = OnceLock::new();
    let now = app.now();
    let key = app.config.file.clone();
    {
        let mut last = LAST
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.get(&key).is_some_and(|t| now.0 - t.0 < EVERY_MS) {
            return;
        }
        last.insert(key, now);
    }
    crate::certificates::look(app);
    if policies(&app.config).is_empty() {
        return;
    }
    match purge(app, false) {
        Ok(run) => {
            for p in run
                .targets
                .iter()
                .filter(|p| p.records > 0 || p.payloads > 0)
            {
                tracing::info!(target_name = %p.target, records = p.records, payloads = p.payloads, bytes = p.bytes, "purged under the target's retention");
            }
            if let Some(c) = run.compacted
                && !c.wal_emptied
            {
                tracing::warn!(
                    "purged bytes may stay in the write-ahead log until the next purge: a reader kept it"
                );
            }
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "purge failed; trying again in an hour")
        }
    }
}
