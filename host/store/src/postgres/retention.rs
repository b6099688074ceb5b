//! Retention and compaction in PostgreSQL, and the [`Protection`] trait's PostgreSQL side.
//!
//! A purge empties bodies and deletes bytes like SQLite's; what PostgreSQL does with the
//! old row versions is its own: a plain VACUUM (what [`Protection::compact`] runs) marks
//! them free for reuse without rewriting the files, `VACUUM FULL` rewrites the tables
//! (and locks them meanwhile). WAL archives and base backups keep what they hold until
//! they are rotated. The README says so.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hub_core::time::Timestamp;
use postgres::GenericClient;

use super::{PgStore, audit, pg};
use crate::audit::{AuditEntry, AuditHead, NewAuditEntry};
use crate::protection::{Compacted, Protection, Purged, Retention, purge_entry, purged_message};
use crate::{Result, StoreError};

/// Final records of `$1` last changed before `$2`, outside any transfer or in a transfer
/// done before `$2`; not yet purged. (The same rule as SQLite's, in this dialect.)
const PURGEABLE_RECORDS: &str = "FROM records
     WHERE target = $1 AND purged_at IS NULL
       AND state IN ('delivered', 'resolved', 'superseded') AND updated_at <= $2
       AND (transfer_id IS NULL OR transfer_id IN
            (SELECT id FROM transfers WHERE target = $1 AND state = 'done' AND done_at <= $2))";

/// Payloads of `$1`'s transfers done before `$2`; not yet purged.
const PURGEABLE_PAYLOADS: &str = "FROM payloads
     WHERE purged_at IS NULL AND transfer_id IN
           (SELECT id FROM transfers WHERE target = $1 AND state = 'done' AND done_at <= $2)";

fn purge_target(
    tx: &mut impl GenericClient,
    p: &Retention,
    now: Timestamp,
    dry: bool,
) -> Result<Purged> {
    let cutoff = p.cutoff(now).0;
    let r = tx
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum(octet_length(body)), 0)::BIGINT {PURGEABLE_RECORDS}"
            ),
            &[&p.target, &cutoff],
        )
        .map_err(pg("count purgeable records"))?;
    let (records, body_bytes): (i64, i64) = (r.get(0), r.get(1));
    let r = tx
        .query_one(
            &format!("SELECT count(*), coalesce(sum(size), 0)::BIGINT {PURGEABLE_PAYLOADS}"),
            &[&p.target, &cutoff],
        )
        .map_err(pg("count purgeable payloads"))?;
    let (payloads, payload_bytes): (i64, i64) = (r.get(0), r.get(1));
    if !dry {
        // What the receiver answered and the doubts' notes may quote a record: they go
        // with the bodies; results, times, sizes and hashes stay.
        for (statement, context) in [
            (
                "UPDATE attempts SET received = NULL WHERE received IS NOT NULL
                 AND transfer_id IN (SELECT id FROM transfers
                     WHERE target = $1 AND state = 'done' AND done_at <= $2)",
                "purge answers in the protocol log",
            ),
            (
                "UPDATE doubts SET detail = '(purged)' WHERE detail <> '(purged)'
                 AND transfer_id IN (SELECT id FROM transfers
                     WHERE target = $1 AND state = 'done' AND done_at <= $2)",
                "purge notes of doubts",
            ),
        ] {
            tx.execute(statement, &[&p.target, &cutoff])
                .map_err(pg(context))?;
        }
        tx.execute(
            &format!(
                "UPDATE outcomes SET messages = '[]' WHERE record_seq IN (SELECT seq {PURGEABLE_RECORDS})"
            ),
            &[&p.target, &cutoff],
        )
        .map_err(pg("purge outcome messages"))?;
        tx.execute(
            &format!(
                "DELETE FROM payload_bytes WHERE payload_id IN (SELECT id {PURGEABLE_PAYLOADS})"
            ),
            &[&p.target, &cutoff],
        )
        .map_err(pg("purge payload bytes"))?;
        tx.execute(
            &format!(
                "UPDATE payloads SET purged_at = $3 WHERE id IN (SELECT id {PURGEABLE_PAYLOADS})"
            ),
            &[&p.target, &cutoff, &now.0],
        )
        .map_err(pg("mark payloads purged"))?;
        tx.execute(
            &format!(
                "UPDATE records SET body = '', body_key = NULL, messages = '[]', purged_at = $3 WHERE seq IN (SELECT seq {PURGEABLE_RECORDS})"
            ),
            &[&p.target, &cutoff, &now.0],
        )
        .map_err(pg("purge record bodies"))?;
    }
    Ok(Purged {
        target: p.target.clone(),
        keep_days: p.keep_days,
        records: records.max(0) as u64,
        payloads: payloads.max(0) as u64,
        bytes: (body_bytes + payload_bytes).max(0) as u64,
    })
}

/// Refuses to reopen a transfer whose bytes were purged (called before a re-send).
pub(crate) fn refuse_if_purged(tx: &mut impl GenericClient, transfer_id: i64) -> Result<()> {
    let purged: Option<i64> = tx
        .query_one(
            "SELECT max(purged_at) FROM payloads WHERE transfer_id = $1",
            &[&transfer_id],
        )
        .map_err(pg("read purge"))?
        .get(0);
    match purged {
        Some(at) => Err(StoreError::Refused(purged_message(
            transfer_id,
            Timestamp(at),
        ))),
        None => Ok(()),
    }
}

/// Why a payload has no bytes: purged (and when), or it does not exist.
pub(crate) fn missing_bytes(client: &mut impl GenericClient, payload_id: i64) -> StoreError {
    let found = client
        .query_opt(
            "SELECT transfer_id, purged_at FROM payloads WHERE id = $1",
            &[&payload_id],
        )
        .ok()
        .flatten()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, Option<i64>>(1)));
    match found {
        Some((transfer_id, Some(at))) => {
            StoreError::Refused(purged_message(transfer_id, Timestamp(at)))
        }
        _ => StoreError::NotFound(format!("payload #{payload_id} does not exist")),
    }
}

fn database_size(client: &mut impl GenericClient) -> Result<u64> {
    let size: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .map_err(pg("read the database's size"))?
        .get(0);
    Ok(size.max(0) as u64)
}

impl Protection for PgStore {
    fn purge(
        &mut self,
        policies: &[Retention],
        who: &str,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Vec<Purged>> {
        let mut tx = self.client.transaction().map_err(pg("begin purge"))?;
        let mut out = Vec::new();
        let mut entries = Vec::new();
        for p in policies {
            let purged = purge_target(&mut tx, p, now, dry_run)?;
            if !dry_run && (purged.records > 0 || purged.payloads > 0) {
                entries.push(purge_entry(&purged, who, now));
            }
            out.push(purged);
        }
        if dry_run {
            return Ok(out);
        }
        // Last, so the transaction holds the trail's lock only until it commits.
        for e in &entries {
            audit::append(&mut tx, e)?;
        }
        tx.commit().map_err(pg("commit purge"))?;
        self.publish_head();
        Ok(out)
    }

    fn compact(&mut self) -> Result<Compacted> {
        let started = Instant::now();
        let before = database_size(&mut self.client)?;
        self.client
            .batch_execute("VACUUM (ANALYZE) records, payloads, payload_bytes")
            .map_err(pg("vacuum the purged tables"))?;
        Ok(Compacted {
            before,
            after: database_size(&mut self.client)?,
            wal_emptied: false,
            took_ms: started.elapsed().as_millis() as u64,
        })
    }

    fn audit_append(&mut self, entries: &[NewAuditEntry]) -> Result<Option<AuditHead>> {
        let head = self.audit_append_tx(entries)?;
        self.publish_head();
        Ok(head)
    }

    fn audit_page(&mut self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_page_of(after, limit)
    }

    fn audit_head(&mut self) -> Result<Option<AuditHead>> {
        audit::head(&mut self.client)
    }

    fn set_audit_head_file(&mut self, file: Option<PathBuf>) {
        self.head_file = file;
    }

    fn backup(&mut self, _to: &Path) -> Result<u64> {
        Err(StoreError::Refused(format!(
            "{} is a PostgreSQL store: back it up with pg_dump (see the README, Backup and restore)",
            self.endpoint()
        )))
    }
}
