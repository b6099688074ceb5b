//! PostgreSQL's side of [`ByHand`], as SQLite's: resolving and requeueing a rejected or
//! failed record.

use hub_core::state::{RecordState, TransferState};
use hub_core::time::Timestamp;
use postgres::Transaction;

use super::outbox::ENQUEUE_LOCK;
use super::{PgStore, pg, record_view, set_record_state, settle_transfer};
use crate::by_hand::{self, ByHand, Requeued, Requeuing};
use crate::{Resolution, Result, StoreError};

impl PgStore {
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
        let mut tx = self.client.transaction().map_err(pg("begin resolution"))?;
        let (seq, transfer_id) = find(&mut tx, target, record_id, ByHand::Resolve)?;
        let res = close(
            &mut tx,
            seq,
            transfer_id,
            record_id,
            who,
            reason,
            ByHand::Resolve,
            now,
        )?;
        tx.commit().map_err(pg("commit resolution"))?;
        Ok(res)
    }
}

impl Requeuing for PgStore {
    fn requeue(
        &mut self,
        target: Option<&str>,
        record_id: &str,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Requeued> {
        ByHand::Requeue.check_reason(reason)?;
        let mut tx = self.client.transaction().map_err(pg("begin requeue"))?;
        let (seq, transfer_id) = find(&mut tx, target, record_id, ByHand::Requeue)?;
        let (rec_target, purged): (String, Option<i64>) = tx
            .query_one(
                "SELECT target, purged_at FROM records WHERE seq = $1",
                &[&seq],
            )
            .map(|r| (r.get(0), r.get(1)))
            .map_err(pg("read record"))?;
        if purged.is_some() {
            return Err(by_hand::purged(record_id));
        }
        // The target's enqueue lock: the new record is numbered and checked against newer
        // ones as an enqueue would be.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&ENQUEUE_LOCK, &rec_target],
        )
        .map_err(pg("lock the target's outbox"))?;
        let newer = tx
            .query_opt(
                "SELECT seq, state FROM records WHERE target = $1 AND record_id = $2 AND seq > $3
                 ORDER BY seq DESC LIMIT 1",
                &[&rec_target, &record_id, &seq],
            )
            .map_err(pg("look for a newer record"))?;
        if let Some(row) = newer {
            let state: String = row.get(1);
            return Err(by_hand::newer_exists(record_id, row.get(0), &state));
        }
        let queued: i64 = tx
            .query_one(
                "INSERT INTO records (target, record_id, kind, body_sha256, content_sha256, batch_key,
                     sequence_scope, supersede_key, state, transfer_id, messages, enqueued_at,
                     updated_at, body, body_key)
                 SELECT target, record_id, kind, body_sha256, content_sha256, batch_key,
                     sequence_scope, supersede_key, 'queued', NULL, '[]', $2, $2, body, body_key
                 FROM records WHERE seq = $1
                 RETURNING seq",
                &[&seq, &now.0],
            )
            .map(|r| r.get(0))
            .map_err(pg("queue the record again"))?;
        let res = close(
            &mut tx,
            seq,
            transfer_id,
            record_id,
            who,
            reason,
            ByHand::Requeue,
            now,
        )?;
        tx.commit().map_err(pg("commit requeue"))?;
        self.publish_head();
        Ok(Requeued::new(res, queued))
    }
}

/// The one rejected or failed record `record_id` names (in `target`, where given), locked:
/// found without a lock, then its transfer locked first and the record second (the order
/// every other writer takes, so a resolve and a delivery never wait on each other in a
/// circle), and its state checked again under the lock.
fn find(
    tx: &mut Transaction<'_>,
    target: Option<&str>,
    record_id: &str,
    how: ByHand,
) -> Result<(i64, Option<i64>)> {
    let candidates: Vec<(i64, String, Option<i64>)> = tx
        .query(
            concat!(
                "SELECT seq, target, transfer_id FROM records
                 WHERE record_id = $1 AND ($2::text IS NULL OR target = $2)
                   AND state IN ('rejected', 'failed') AND ",
                few_states!(),
                " ORDER BY seq"
            ),
            &[&record_id, &target],
        )
        .map_err(pg("find record"))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let (seq, transfer_id) = match candidates.as_slice() {
        [] => {
            let newest: Option<String> = tx
                .query_opt(
                    "SELECT state FROM records
                     WHERE record_id = $1 AND ($2::text IS NULL OR target = $2)
                     ORDER BY seq DESC LIMIT 1",
                    &[&record_id, &target],
                )
                .map_err(pg("find record"))?
                .map(|r| r.get(0));
            return Err(by_hand::not_found(record_id, newest, how));
        }
        [(seq, _, transfer)] => (*seq, *transfer),
        many => {
            let targets: Vec<&str> = many.iter().map(|(_, t, _)| t.as_str()).collect();
            return Err(by_hand::ambiguous(record_id, &targets));
        }
    };
    if let Some(t) = transfer_id {
        tx.execute(
            "SELECT 1 FROM transfers WHERE id = $1 FOR NO KEY UPDATE",
            &[&t],
        )
        .map_err(pg("lock transfer"))?;
    }
    let still = tx
        .query_opt(
            "SELECT state FROM records WHERE seq = $1 AND state IN ('rejected', 'failed')
             FOR NO KEY UPDATE",
            &[&seq],
        )
        .map_err(pg("lock record"))?;
    if still.is_none() {
        return Err(StoreError::Refused(format!(
            "record {record_id} changed while it was being {}; look again (hub records)",
            how.verb()
        )));
    }
    Ok((seq, transfer_id))
}

/// Completes record `seq` by hand: the resolution, its state and message, its transfer
/// settled, the audit entry.
#[allow(clippy::too_many_arguments)] // one transaction's facts, each used once
fn close(
    tx: &mut Transaction<'_>,
    seq: i64,
    transfer_id: Option<i64>,
    record_id: &str,
    who: &str,
    reason: &str,
    how: ByHand,
    now: Timestamp,
) -> Result<Resolution> {
    tx.execute(
        "INSERT INTO resolutions (record_seq, who, reason, at) VALUES ($1, $2, $3, $4)",
        &[&seq, &who, &reason, &now.0],
    )
    .map_err(pg("insert resolution"))?;
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
    super::audit::append(
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
