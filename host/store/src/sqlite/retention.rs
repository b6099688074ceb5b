//! Retention, compaction and backup in SQLite, and the [`Protection`] trait's SQLite side.
//!
//! A purge empties record bodies and deletes payload bytes with `secure_delete` on, so the
//! freed pages are overwritten with zeros rather than left holding the text; [`compact`]
//! then rewrites the file (VACUUM) and empties the write-ahead log, whose older frames
//! still hold the pages as they were before the purge.
//!
//! [`compact`]: Protection::compact

use super::cached::Cached;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hub_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, audit, sql};
use crate::audit::{AuditEntry, AuditHead, NewAuditEntry};
use crate::protection::{Compacted, Protection, Purged, Retention, purge_entry, purged_message};
use crate::{Result, StoreError};

/// Final records of `?1` last changed before `?2`, outside any transfer or in a transfer
/// that is done and was done before `?2`; not yet purged.
const PURGEABLE_RECORDS: &str = "FROM records
     WHERE target = ?1 AND purged_at IS NULL
       AND state IN ('delivered', 'resolved', 'superseded') AND updated_at <= ?2
       AND (transfer_id IS NULL OR transfer_id IN
            (SELECT id FROM transfers WHERE target = ?1 AND state = 'done' AND done_at <= ?2))";

/// Payloads of `?1`'s transfers that are done and were done before `?2`; not yet purged.
const PURGEABLE_PAYLOADS: &str = "FROM payloads
     WHERE purged_at IS NULL AND transfer_id IN
           (SELECT id FROM transfers WHERE target = ?1 AND state = 'done' AND done_at <= ?2)";

fn purge_target(tx: &Connection, p: &Retention, now: Timestamp, dry: bool) -> Result<Purged> {
    let cutoff = p.cutoff(now).0;
    let (records, body_bytes): (i64, i64) = tx
        .one(
            &format!(
                "SELECT count(*), coalesce(sum(length(CAST(body AS BLOB))), 0) {PURGEABLE_RECORDS}"
            ),
            params![p.target, cutoff],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql("count purgeable records"))?;
    let (payloads, payload_bytes): (i64, i64) = tx
        .one(
            &format!("SELECT count(*), coalesce(sum(size), 0) {PURGEABLE_PAYLOADS}"),
            params![p.target, cutoff],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql("count purgeable payloads"))?;
    if !dry {
        // What the receiver answered and the doubts' notes may quote a record: they go
        // with the bodies; results, times, sizes and hashes stay.
        for (statement, context) in [
            (
                "UPDATE attempts SET received = NULL WHERE received IS NOT NULL
                 AND transfer_id IN (SELECT id FROM transfers
                     WHERE target = ?1 AND state = 'done' AND done_at <= ?2)",
                "purge answers in the protocol log",
            ),
            (
                "UPDATE doubts SET detail = '(purged)' WHERE detail <> '(purged)'
                 AND transfer_id IN (SELECT id FROM transfers
                     WHERE target = ?1 AND state = 'done' AND done_at <= ?2)",
                "purge notes of doubts",
            ),
        ] {
            tx.run(statement, params![p.target, cutoff])
                .map_err(sql(context))?;
        }
        tx.run(
            &format!(
                "UPDATE outcomes SET messages = '[]' WHERE record_seq IN (SELECT seq {PURGEABLE_RECORDS})"
            ),
            params![p.target, cutoff],
        )
        .map_err(sql("purge outcome messages"))?;
        tx.run(
            &format!(
                "DELETE FROM payload_bytes WHERE payload_id IN (SELECT id {PURGEABLE_PAYLOADS})"
            ),
            params![p.target, cutoff],
        )
        .map_err(sql("purge payload bytes"))?;
        tx.run(
            &format!(
                "UPDATE payloads SET purged_at = ?3 WHERE id IN (SELECT id {PURGEABLE_PAYLOADS})"
            ),
            params![p.target, cutoff, now.0],
        )
        .map_err(sql("mark payloads purged"))?;
        tx.run(
            &format!(
                "UPDATE records SET body = '', body_key = NULL, messages = '[]', purged_at = ?3 WHERE seq IN (SELECT seq {PURGEABLE_RECORDS})"
            ),
            params![p.target, cutoff, now.0],
        )
        .map_err(sql("purge record bodies"))?;
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
pub(crate) fn refuse_if_purged(tx: &Connection, transfer_id: i64) -> Result<()> {
    let purged: Option<i64> = tx
        .one(
            "SELECT max(purged_at) FROM payloads WHERE transfer_id = ?1",
            [transfer_id],
            |r| r.get(0),
        )
        .map_err(sql("read purge"))?;
    match purged {
        Some(at) => Err(StoreError::Refused(purged_message(
            transfer_id,
            Timestamp(at),
        ))),
        None => Ok(()),
    }
}

/// Why a payload has no bytes: purged (and when), or it does not exist.
pub(crate) fn missing_bytes(conn: &Connection, payload_id: i64) -> StoreError {
    let found: Option<(i64, Option<i64>)> = conn
        .one(
            "SELECT transfer_id, purged_at FROM payloads WHERE id = ?1",
            [payload_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .unwrap_or(None);
    match found {
        Some((transfer_id, Some(at))) => {
            StoreError::Refused(purged_message(transfer_id, Timestamp(at)))
        }
        _ => StoreError::NotFound(format!("payload #{payload_id} does not exist")),
    }
}

fn file_size(conn: &Connection) -> Result<u64> {
    let pages: i64 = conn
        .one("PRAGMA page_count", [], |r| r.get(0))
        .map_err(sql("read page count"))?;
    let size: i64 = conn
        .one("PRAGMA page_size", [], |r| r.get(0))
        .map_err(sql("read page size"))?;
    Ok((pages * size).max(0) as u64)
}

/// Empties the write-ahead log into the file and truncates it; `false` when a reader in
/// another process kept part of it.
fn checkpoint(conn: &Connection) -> Result<bool> {
    let (busy, log, done): (i64, i64, i64) = conn
        .one("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(sql("checkpoint the write-ahead log"))?;
    Ok(busy == 0 && log == done)
}

impl Protection for SqliteStore {
    fn purge(
        &mut self,
        policies: &[Retention],
        who: &str,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Vec<Purged>> {
        self.conn
            .pragma_update(None, "secure_delete", "ON")
            .map_err(sql("turn on secure delete"))?;
        let result = (|| -> Result<Vec<Purged>> {
            let tx = self.write()?;
            let mut out = Vec::new();
            for p in policies {
                let purged = purge_target(&tx, p, now, dry_run)?;
                if !dry_run && (purged.records > 0 || purged.payloads > 0) {
                    audit::append(&tx, &purge_entry(&purged, who, now))?;
                }
                out.push(purged);
            }
            if dry_run {
                return Ok(out);
            }
            tx.commit().map_err(sql("commit purge"))?;
            Ok(out)
        })();
        let _ = self.conn.pragma_update(None, "secure_delete", "OFF");
        let out = result?;
        self.publish_head();
        Ok(out)
    }

    fn compact(&mut self) -> Result<Compacted> {
        let started = Instant::now();
        let before = file_size(&self.conn)?;
        checkpoint(&self.conn)?;
        self.conn
            .execute_batch("VACUUM")
            .map_err(sql("rewrite the database file (VACUUM)"))?;
        let wal_emptied = checkpoint(&self.conn)?;
        Ok(Compacted {
            before,
            after: file_size(&self.conn)?,
            wal_emptied,
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
        audit::head(&self.conn)
    }

    fn set_audit_head_file(&mut self, file: Option<PathBuf>) {
        self.head_file = file;
    }

    fn backup(&mut self, to: &Path) -> Result<u64> {
        let fail = |message: String| StoreError::Open {
            path: to.display().to_string(),
            message,
        };
        if to.exists() {
            return Err(fail(
                "already exists; a backup never overwrites a file".into(),
            ));
        }
        let mut dst = Connection::open(to).map_err(|e| fail(e.to_string()))?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut dst)
                .map_err(sql("start the backup"))?;
            // All pages in one step (-1): one read transaction, so the copy is one
            // consistent moment even while other processes write (they are not blocked:
            // WAL). Copied in smaller steps, a write by another process between two steps
            // would start the copy over. Busy (a checkpoint holding the file): try again.
            let mut tries = 0;
            loop {
                match backup.step(-1).map_err(sql("copy the store"))? {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => {}
                    _ if tries < 200 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    _ => return Err(fail("the store stayed locked for 10 s; try again".into())),
                }
            }
        }
        let ok: String = dst
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(sql("check the backup"))?;
        if ok != "ok" {
            return Err(fail(format!("the copy does not check out: {ok}")));
        }
        drop(dst);
        Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
    }
}
