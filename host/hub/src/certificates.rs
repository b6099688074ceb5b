//! Every credential's certificate, looked at without connecting: `hub check` lists them
//! (and fails on one that cannot be opened or has expired), `hub status` and the hourly
//! look of `hub serve` warn from each credential's `expiry_warning_days` on; a
//! certificate replaced while the service runs goes into the audit trail.
//!
//! Nothing here is cached: the .p12 and its password file are read at every look, as
//! they are at every send, so a replaced file counts without a restart.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hub_core::config::Config;
use hub_core::time::Timestamp;
use hub_store::protection::NewAuditEntry;
use hub_transports::credential::{CertificateInfo, inspect};

use crate::app::App;

/// `now` for the certificate checks (the hub's clock, so `HUB_NOW` moves it too).
fn system_time(now: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(now.0).unwrap_or(0))
}

/// Every credential of a configuration: what its certificate says, or why it cannot be
/// used (wrong password, expired, not issued by its CA …; never a secret).
pub fn all(config: &Config, now: Timestamp) -> Vec<(String, Result<CertificateInfo, String>)> {
    config
        .credentials
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                inspect(name, c, system_time(now)).map_err(|e| e.message),
            )
        })
        .collect()
}

/// One line about a certificate that is fine.
pub fn describe(c: &CertificateInfo) -> String {
    format!(
        "credential {}: {} (issued by {}), valid until {}, {} days left{}",
        c.credential,
        c.subject,
        c.issuer,
        c.expires,
        c.days_left,
        if c.chain_verified {
            ", chain verified against its CA"
        } else {
            ""
        }
    )
}

/// The warning for a certificate about to expire.
pub fn warning(c: &CertificateInfo) -> String {
    format!(
        "credential {}: the certificate ({}) expires in {} days, on {}: replace the .p12 (read at every send, no restart needed)",
        c.credential, c.subject, c.days_left, c.expires
    )
}

/// `hub serve`'s look: a warning in the log for every certificate about to expire or
/// unusable, and an audit entry when a credential's certificate changed since the last
/// look of this process.
pub fn look(app: &mut App) {
    static SEEN: OnceLock<Mutex<BTreeMap<(std::path::PathBuf, String), String>>> = OnceLock::new();
    let now = app.now();
    let mut changes = Vec::new();
    for (name, info) in all(&app.config, now) {
        match info {
            Ok(c) => {
                if c.expiring {
                    tracing::warn!(credential = %name, days_left = c.days_left, "{}", warning(&c));
                }
                let key = (app.config.file.clone(), name.clone());
                let what = format!("{} until {}", c.subject, c.expires);
                let mut seen = SEEN
                    .get_or_init(Default::default)
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if let Some(before) = seen.insert(key, what.clone())
                    && before != what
                {
                    changes.push(NewAuditEntry {
                        at: now,
                        actor: "hub".into(),
                        action: "certificate".into(),
                        target: None,
                        subject: format!("credential {name}"),
                        detail: format!("{before} replaced by {what}"),
                    });
                }
            }
            Err(e) => tracing::warn!(credential = %name, "{e}"),
        }
    }
    if !changes.is_empty()
        && let Err(e) = app.store.audit_append(&changes)
    {
        tracing::warn!(error = %e, "cannot record a certificate change in the audit trail");
    }
}
