//! Data protection and proof: retention (purging bodies and bytes once records are final),
//! the tamper-evident audit trail, and backups.
//!
//! A separate trait beside [`Store`](crate::Store), so the sending side's interface stays
//! as it is; every backend implements both, and [`HubStore`](crate::HubStore) asks for
//! both.

use std::path::{Path, PathBuf};

use hub_core::time::Timestamp;
use serde::Serialize;

use crate::Result;
pub use crate::audit::{AuditEntry, AuditHead, AuditProblem, NewAuditEntry, VerifyReport, verify};

/// How long one target's record bodies and payload bytes are kept after a record became
/// final (delivered, resolved, superseded) and its transfer done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub target: String,
    /// Days after the record's (and its transfer's) last change.
    pub keep_days: u32,
}

impl Retention {
    /// The moment before which a final record's body and its transfer's bytes go.
    pub fn cutoff(&self, now: Timestamp) -> Timestamp {
        Timestamp(now.0.saturating_sub(i64::from(self.keep_days) * 86_400_000))
    }
}

/// What a purge removed (or, dry, would remove) for one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub target: String,
    pub keep_days: u32,
    /// Record bodies emptied (their hashes stay).
    pub records: u64,
    /// Payloads whose bytes were deleted (name, size and hash stay).
    pub payloads: u64,
    /// Bytes of bodies and payloads removed.
    pub bytes: u64,
}

/// What a compaction did to the database's files (SQLite: VACUUM and a WAL checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Compacted {
    /// The database file's size before and after, in bytes (0 where not known).
    pub before: u64,
    pub after: u64,
    /// Whether the write-ahead log could be emptied (another process reading at that
    /// moment keeps it: the next purge tries again).
    pub wal_emptied: bool,
    pub took_ms: u64,
}

/// What the store is asked for data protection. Each method is one transaction.
pub trait Protection {
    /// Purges, per policy, the bodies of final records and the bytes of done transfers
    /// whose last change is older than the policy allows; hashes, sizes, names and the
    /// protocol log stay. Appends one audit entry per target that lost something (signed
    /// `who`). With `dry_run`, counts only.
    fn purge(
        &mut self,
        policies: &[Retention],
        who: &str,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Vec<Purged>>;

    /// Makes purged bytes leave the database's files: SQLite rewrites the file (VACUUM)
    /// and empties its write-ahead log; PostgreSQL runs a plain VACUUM (see the README for
    /// what that does and does not remove).
    fn compact(&mut self) -> Result<Compacted>;

    /// Appends operator actions and other events the store does not see itself to the
    /// audit trail, in one transaction; returns the new head.
    fn audit_append(&mut self, entries: &[NewAuditEntry]) -> Result<Option<AuditHead>>;

    /// Up to `limit` audit entries with an id above `after`, in order.
    fn audit_page(&mut self, after: i64, limit: usize) -> Result<Vec<AuditEntry>>;

    /// The last audit entry's id and hash.
    fn audit_head(&mut self) -> Result<Option<AuditHead>>;

    /// Writes the head of the trail to this file after every append (`[audit]
    /// head_file`), so that a trail cut short is noticed.
    fn set_audit_head_file(&mut self, file: Option<PathBuf>);

    /// A consistent copy of the whole store in a new file (SQLite's online backup, safe
    /// while `hub serve` runs). PostgreSQL refuses: `pg_dump` is its backup.
    fn backup(&mut self, to: &Path) -> Result<u64>;
}

/// Writes `head` to `file` through a temporary file and a rename, so a reader never sees
/// half a line. Best effort: the trail in the store is the record; the file only makes a
/// trail cut short visible (`hub audit verify` reads it as "at least this far").
pub(crate) fn publish_head(file: Option<&Path>, head: Option<&AuditHead>) {
    let (Some(file), Some(head)) = (file, head) else {
        return;
    };
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, format!("{} {}\n", head.id, head.hash)).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}

/// Reads a head file written by [`publish_head`]; `None` when it does not exist.
pub fn read_head_file(file: &Path) -> std::io::Result<Option<AuditHead>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not `ID HASH`", file.display()),
        )
    };
    let (id, hash) = text.trim().split_once(' ').ok_or_else(bad)?;
    Ok(Some(AuditHead {
        id: id.parse().map_err(|_| bad())?,
        hash: hash.to_string(),
    }))
}

/// The message a re-send or a read of purged bytes gets.
pub(crate) fn purged_message(transfer_id: i64, purged_at: Timestamp) -> String {
    format!(
        "transfer #{transfer_id} was purged on {purged_at} under its target's retention: its \
         bytes are gone, only their names, sizes and SHA-256 are kept (hub status, hub log); \
         it cannot be sent again"
    )
}

/// The audit entry of a purge.
pub(crate) fn purge_entry(p: &Purged, who: &str, now: Timestamp) -> NewAuditEntry {
    NewAuditEntry {
        at: now,
        actor: who.to_string(),
        action: "purge".into(),
        target: Some(p.target.clone()),
        subject: format!("retention {} days", p.keep_days),
        detail: format!(
            "{} record bodies and {} payloads ({} bytes) purged; their SHA-256 kept",
            p.records, p.payloads, p.bytes
        ),
    }
}
