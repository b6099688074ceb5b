//! The audit trail in SQLite: appended in the transaction that records what happened
//! (`BEGIN IMMEDIATE` serialises every writer, so the last entry read is the last entry).

use super::cached::Cached;
use hub_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, sql};
use crate::audit::{AuditEntry, AuditHead, GENESIS, NewAuditEntry, canonical, link};
use crate::{NewAttempt, PluginStamp, Result};

/// Appends one entry to the chain in the caller's transaction.
pub(crate) fn append(tx: &Connection, e: &NewAuditEntry) -> Result<AuditHead> {
    let last = head(tx)?;
    let (id, prev) = match last {
        Some(h) => (h.id + 1, h.hash),
        None => (1, GENESIS.to_string()),
    };
    let hash = link(&prev, &canonical(id, e));
    tx.run(
        "INSERT INTO audit (id, at, actor, action, target, subject, detail, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id, e.at.0, e.actor, e.action, e.target, e.subject, e.detail, prev, hash
        ],
    )
    .map_err(sql("append to the audit trail"))?;
    Ok(AuditHead { id, hash })
}

pub(crate) fn head(conn: &Connection) -> Result<Option<AuditHead>> {
    conn.one(
        "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
        [],
        |r| {
            Ok(AuditHead {
                id: r.get(0)?,
                hash: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(sql("read the audit trail's head"))
}

/// A delivery outcome (an attempt with its result) as an audit entry.
pub(crate) fn attempt(tx: &Connection, a: &NewAttempt) -> Result<()> {
    let target = target_of(tx, a.transfer_id)?;
    append(
        tx,
        &crate::audit::attempt_entry(target, a, a.credential.as_deref()),
    )?;
    Ok(())
}

fn target_of(tx: &Connection, transfer_id: i64) -> Result<String> {
    tx.one(
        "SELECT target FROM transfers WHERE id = ?1",
        [transfer_id],
        |r| r.get(0),
    )
    .map_err(sql("read transfer"))
}

/// A delivered transfer opened again to be sent once more.
pub(crate) fn resend(
    tx: &Connection,
    transfer_id: i64,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let target = target_of(tx, transfer_id)?;
    append(
        tx,
        &crate::audit::resend_entry(target, transfer_id, reason, now),
    )?;
    Ok(())
}

/// A person's settlement of a transfer in doubt.
pub(crate) fn settle(
    tx: &Connection,
    transfer_id: i64,
    settled_as: &str,
    who: &str,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let target = target_of(tx, transfer_id)?;
    append(
        tx,
        &crate::audit::settle_entry(target, transfer_id, settled_as, who, reason, now),
    )?;
    Ok(())
}

/// A transfer encoded by another plugin file than the target's previous transfer.
pub(crate) fn plugin(
    tx: &Connection,
    target: &str,
    transfer_id: i64,
    stamp: &PluginStamp,
    now: Timestamp,
) -> Result<()> {
    let before: Option<(String, String)> = tx
        .one(
            "SELECT plugin, plugin_sha256 FROM transfers WHERE target = ?1 AND id < ?2
             ORDER BY id DESC LIMIT 1",
            params![target, transfer_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql("read the previous plugin"))?;
    if let Some(e) = crate::audit::plugin_entry(target, transfer_id, stamp, before, now) {
        append(tx, &e)?;
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) fn audit_page_of(&mut self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, at, actor, action, target, subject, detail, prev, hash FROM audit
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(sql("prepare audit trail"))?;
        let rows = stmt
            .query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: Timestamp(r.get(1)?),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        subject: r.get(5)?,
                        detail: r.get(6)?,
                        prev: r.get(7)?,
                        hash: r.get(8)?,
                    })
                },
            )
            .map_err(sql("read audit trail"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("read audit trail"))
    }

    pub(crate) fn audit_append_tx(
        &mut self,
        entries: &[NewAuditEntry],
    ) -> Result<Option<AuditHead>> {
        let tx = self.write()?;
        let mut head = None;
        for e in entries {
            head = Some(append(&tx, e)?);
        }
        tx.commit().map_err(sql("commit audit entries"))?;
        Ok(head)
    }

    /// Writes the trail's head to the head file, if one is set (after a commit).
    pub(crate) fn publish_head(&mut self) {
        if self.head_file.is_some()
            && let Ok(head) = head(&self.conn)
        {
            crate::protection::publish_head(self.head_file.as_deref(), head.as_ref());
        }
    }
}
