//! SQLite's side of [`ByHand`]: resolving and requeueing a rejected or failed record.

use super::cached::Cached;
use hub_core::state::{RecordState, TransferState};
use hub_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, audit, count_added, record_view, set_record_state, settle_transfer, sql};
use crate::by_hand::{self, ByHand, Requeued, Requeuing};
use crate::{Resolution, Result};

impl SqliteStore {
    /// `resolve` of the [`crate::Store`] trait.
    pub(super) fn resolve_by_hand(
        &mut self,
        target: Option<&str>,
        record_id: &str,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Resolution> {
        ByHand::Resolve.check_reason(reason)?;
        let tx = self.write()?;
        let seq = find(&tx, target, record_id, ByHand::Resolve)?;
        let res = close(&tx, seq, record_id, who, reason, ByHand::Resolve, now)?;
        tx.commit().map_err(sql("commit resolution"))?;
        self.publish_head();
        Ok(res)
    }
}

impl Requeuing for SqliteStore {
    fn requeue(
        &mut self,
        target: Option<&str>,
        record_id: &str,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Requeued> {
        ByHand::Requeue.check_reason(reason)?;
        let tx = self.write()?;
        let seq = find(&tx, target, record_id, ByHand::Requeue)?;
        let (rec_target, purged): (String, Option<i64>) = tx
            .one(
                "SELECT target, purged_at FROM records WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql("read record"))?;
        if purged.is_some() {
            return Err(by_hand::purged(record_id));
        }
        let newer: Option<(i64, String)> = tx
            .one(
                "SELECT seq, state FROM records WHERE target = ?1 AND record_id = ?2 AND seq > ?3
                 ORDER BY seq DESC LIMIT 1",
                params![rec_target, record_id, seq],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("look for a newer record"))?;
        if let Some((newer, state)) = newer {
            return Err(by_hand::newer_exists(record_id, newer, &state));
        }
        // Everything the plugin and the pipeline read of a record, as enqueued; the new
        // row's number puts it at the end of the outbox.
        tx.run(
            "INSERT INTO records (target, record_id, kind, body_sha256, content_sha256, batch_key,
                 sequence_scope, supersede_key, state, transfer_id, messages, enqueued_at,
                 updated_at, body, body_key)
             SELECT target, record_id, kind, body_sha256, content_sha256, batch_key,
                 sequence_scope, supersede_key, 'queued', NULL, '[]', ?2, ?2, body, body_key
             FROM records WHERE seq = ?1",
            params![seq, now.0],
        )
        .map_err(sql("queue the record again"))?;
        let queued = tx.last_insert_rowid();
        count_added(&tx, &rec_target, RecordState::Queued, 1)?;
        let res = close(&tx, seq, record_id, who, reason, ByHand::Requeue, now)?;
        tx.commit().map_err(sql("commit requeue"))?;
        self.publish_head();
        Ok(Requeued::new(res, queued))
    }
}

/// The one rejected or failed record `record_id` names (in `target`, where given).
fn find(tx: &Connection, target: Option<&str>, record_id: &str, how: ByHand) -> Result<i64> {
    let candidates: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare_cached(concat!(
                "SELECT seq, target FROM records
                     WHERE record_id = ?1 AND (?2 IS NULL OR target = ?2)
                       AND state IN ('rejected', 'failed') AND ",
                few_states!(),
                " ORDER BY seq"
            ))
            .map_err(sql("prepare record lookup"))?;
        let rows = stmt
            .query_map(params![record_id, target], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql("find record"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("find record"))?
    };
    match candidates.as_slice() {
        [] => {
            let newest: Option<String> = tx
                .one(
                    "SELECT state FROM records WHERE record_id = ?1 AND (?2 IS NULL OR target = ?2)
                     ORDER BY seq DESC LIMIT 1",
                    params![record_id, target],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("find record"))?;
            Err(by_hand::not_found(record_id, newest, how))
        }
        [(seq, _)] => Ok(*seq),
        many => {
            let targets: Vec<&str> = many.iter().map(|(_, t)| t.as_str()).collect();
            Err(by_hand::ambiguous(record_id, &targets))
        }
    }
}

/// Completes record `seq` by hand: the resolution, its state and message, its transfer
/// settled, the audit entry.
fn close(
    tx: &Connection,
    seq: i64,
    record_id: &str,
    who: &str,
    reason: &str,
    how: ByHand,
    now: Timestamp,
) -> Result<Resolution> {
    let transfer_id: Option<i64> = tx
        .one(
            "SELECT transfer_id FROM records WHERE seq = ?1",
            [seq],
            |r| r.get(0),
        )
        .map_err(sql("read record"))?;
    tx.run(
        "INSERT INTO resolutions (record_seq, who, reason, at) VALUES (?1, ?2, ?3, ?4)",
        params![seq, who, reason, now.0],
    )
    .map_err(sql("insert resolution"))?;
    set_record_state(
        tx,
        seq,
        RecordState::Resolved,
        &[how.message(who, reason)],
        now,
    )?;
    let transfer_done = match transfer_id {
        Some(t) => (settle_transfer(tx, t, now)? == TransferState::Done).then_some(t),
        None => None,
    };
    let record = record_view(tx, seq)?;
    audit::append(
        tx,
        &crate::audit::NewAuditEntry {
            at: now,
            actor: who.to_string(),
            action: how.action().into(),
            target: Some(record.target.clone()),
            subject: format!("record {record_id} (#{seq})"),
            detail: reason.to_string(),
        },
    )?;
    Ok(Resolution {
        record,
        transfer_done,
    })
}
