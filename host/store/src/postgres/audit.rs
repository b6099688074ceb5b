//! The audit trail in PostgreSQL: appended as the last step of the transaction that
//! records what happened, under a transaction-scoped advisory lock, so that workers append
//! one after another (the last entry read is the last entry) and a transaction holding the
//! lock waits for nothing else before it commits.

use hub_core::time::Timestamp;
use postgres::GenericClient;

use super::{PgStore, pg};
use crate::audit::{AuditEntry, AuditHead, GENESIS, NewAuditEntry, canonical, link};
use crate::{NewAttempt, PluginStamp, Result};

/// Serialises appends to the trail across workers.
const AUDIT_LOCK: i32 = 72_615;

/// Appends one entry to the chain in the caller's transaction.
pub(crate) fn append(tx: &mut impl GenericClient, e: &NewAuditEntry) -> Result<AuditHead> {
    tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&AUDIT_LOCK])
        .map_err(pg("lock the audit trail"))?;
    let (id, prev) = match head(tx)? {
        Some(h) => (h.id + 1, h.hash),
        None => (1, GENESIS.to_string()),
    };
    let hash = link(&prev, &canonical(id, e));
    tx.execute(
        "INSERT INTO audit (id, at, actor, action, target, subject, detail, prev, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &id, &e.at.0, &e.actor, &e.action, &e.target, &e.subject, &e.detail, &prev, &hash,
        ],
    )
    .map_err(pg("append to the audit trail"))?;
    Ok(AuditHead { id, hash })
}

pub(crate) fn head(tx: &mut impl GenericClient) -> Result<Option<AuditHead>> {
    Ok(tx
        .query_opt("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &[])
        .map_err(pg("read the audit trail's head"))?
        .map(|r| AuditHead {
            id: r.get(0),
            hash: r.get(1),
        }))
}

fn target_of(tx: &mut impl GenericClient, transfer_id: i64) -> Result<String> {
    Ok(tx
        .query_one(
            "SELECT target FROM transfers WHERE id = $1",
            &[&transfer_id],
        )
        .map_err(pg("read transfer"))?
        .get(0))
}

/// A delivery outcome (an attempt with its result) as an audit entry.
pub(crate) fn attempt(tx: &mut impl GenericClient, a: &NewAttempt) -> Result<()> {
    let target = target_of(tx, a.transfer_id)?;
    append(
        tx,
        &crate::audit::attempt_entry(target, a, a.credential.as_deref()),
    )?;
    Ok(())
}

/// A delivered transfer opened again to be sent once more.
pub(crate) fn resend(
    tx: &mut impl GenericClient,
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
    tx: &mut impl GenericClient,
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
    tx: &mut impl GenericClient,
    target: &str,
    transfer_id: i64,
    stamp: &PluginStamp,
    now: Timestamp,
) -> Result<()> {
    let before = tx
        .query_opt(
            "SELECT plugin, plugin_sha256 FROM transfers WHERE target = $1 AND id < $2
             ORDER BY id DESC LIMIT 1",
            &[&target, &transfer_id],
        )
        .map_err(pg("read the previous plugin"))?
        .map(|r| (r.get(0), r.get(1)));
    if let Some(e) = crate::audit::plugin_entry(target, transfer_id, stamp, before, now) {
        append(tx, &e)?;
    }
    Ok(())
}

impl PgStore {
    pub(crate) fn audit_page_of(&mut self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        let rows = self
            .client
            .query(
                "SELECT id, at, actor, action, target, subject, detail, prev, hash FROM audit
                 WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(pg("read audit trail"))?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                at: Timestamp(r.get(1)),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                subject: r.get(5),
                detail: r.get(6),
                prev: r.get(7),
                hash: r.get(8),
            })
            .collect())
    }

    pub(crate) fn audit_append_tx(
        &mut self,
        entries: &[NewAuditEntry],
    ) -> Result<Option<AuditHead>> {
        let mut tx = self.client.transaction().map_err(pg("begin audit"))?;
        let mut head = None;
        for e in entries {
            head = Some(append(&mut tx, e)?);
        }
        tx.commit().map_err(pg("commit audit entries"))?;
        Ok(head)
    }

    /// Writes the trail's head to the head file, if one is set (after a commit).
    pub(crate) fn publish_head(&mut self) {
        if self.head_file.is_some()
            && let Ok(head) = head(&mut self.client)
        {
            crate::protection::publish_head(self.head_file.as_deref(), head.as_ref());
        }
    }
}
