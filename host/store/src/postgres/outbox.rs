//! The outbox on PostgreSQL: enqueue, transfers created with their numbers, delivery
//! steps, resolutions.

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use postgres::GenericClient;

use super::{PgStore, insert_attempt, lease, pg, set_record_state, settle_transfer, write_attempt};
use crate::sqlite::sha256_hex;
use crate::{
    Batch, Completion, NewAttempt, NewPayload, PluginStamp, Result, StoreError, StoredRecord,
    TransferDraft,
};

/// Advisory-lock class of a target's enqueues (the second key is the target's hash).
pub(super) const ENQUEUE_LOCK: i32 = 72_612;

impl PgStore {
    pub(super) fn queued_batches_of(&mut self, target: &str) -> Result<Vec<Batch>> {
        let rows = self
            .client
            .query(
                "SELECT batch_key, sequence_scope FROM records
                 WHERE target = $1 AND state = 'queued'
                 GROUP BY batch_key, sequence_scope ORDER BY min(seq)",
                &[&target],
            )
            .map_err(pg("list batches"))?;
        Ok(rows
            .iter()
            .map(|r| Batch {
                batch_key: r.get(0),
                sequence_scope: r.get(1),
            })
            .collect())
    }

    pub(super) fn queued_records_of(
        &mut self,
        target: &str,
        batch: &Batch,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let rows = self
            .client
            .query(
                "SELECT seq, record_id, kind, body, body_key FROM records
                 WHERE target = $1 AND state = 'queued' AND batch_key = $2
                   AND sequence_scope IS NOT DISTINCT FROM $3
                 ORDER BY seq LIMIT $4",
                &[
                    &target,
                    &batch.batch_key,
                    &batch.sequence_scope,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .map_err(pg("list queued records"))?;
        let rows = rows.iter().map(stored_record).collect();
        Ok(crate::seal::open_records(self.keyring.as_deref(), rows)?)
    }

    /// Creates a transfer in one transaction: the records are locked and must all still be
    /// queued, the scope's number is taken under its row lock, `encode` sees the draft;
    /// `None` from it rolls everything back (no number used).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_transfer_tx(
        &mut self,
        target: &str,
        batch: &Batch,
        records: &[i64],
        plugin: &PluginStamp,
        inputs: Option<&str>,
        now: Timestamp,
        encode: &mut dyn FnMut(TransferDraft) -> Option<Vec<NewPayload>>,
    ) -> Result<Option<i64>> {
        let ring = self.keyring.clone();
        let mut tx = self.client.transaction().map_err(pg("begin transfer"))?;
        // Row locks in seq order (every creator takes them in the same order), then the
        // check: a record another worker put into its transfer meanwhile is not queued
        // any more when its lock is granted.
        let locked: Vec<(i64, String)> = tx
            .query(
                "SELECT seq, state FROM records WHERE seq = ANY($1) AND target = $2
                 ORDER BY seq FOR NO KEY UPDATE",
                &[&records, &target],
            )
            .map_err(pg("lock records"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for seq in records {
            let state = locked.iter().find(|(s, _)| s == seq).map(|(_, st)| st);
            if state.map(String::as_str) != Some("queued") {
                return Err(StoreError::Taken(format!(
                    "record #{seq} is no longer queued (it is {})",
                    state.map_or("missing", String::as_str)
                )));
            }
        }
        let sequence = match &batch.sequence_scope {
            Some(scope) => {
                let next: i64 = tx
                    .query_one(
                        "INSERT INTO sequences (target, scope, last) VALUES ($1, $2, 1)
                         ON CONFLICT (target, scope) DO UPDATE SET last = sequences.last + 1
                         RETURNING last",
                        &[&target, scope],
                    )
                    .map_err(pg("advance sequence"))?
                    .get(0);
                Some(u64::try_from(next).unwrap_or(0))
            }
            None => None,
        };
        let id: i64 = tx
            .query_one(
                "INSERT INTO transfers (target, batch_key, sequence_scope, sequence_no, state,
                    plugin, plugin_sha256, created_at, plugin_name, plugin_version, encode_inputs)
                 VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    &target,
                    &batch.batch_key,
                    &batch.sequence_scope,
                    &sequence.map(|s| s as i64),
                    &format!("{}@{}", plugin.name, plugin.version),
                    &plugin.sha256,
                    &now.0,
                    &plugin.name,
                    &plugin.version,
                    &inputs,
                ],
            )
            .map_err(pg("insert transfer"))?
            .get(0);
        let Some(payloads) = encode(TransferDraft { id, sequence }) else {
            // Dropping the transaction rolls back the number and the transfer row.
            return Ok(None);
        };
        for (idx, p) in payloads.iter().enumerate() {
            let payload_id: i64 = tx
                .query_one(
                    "INSERT INTO payloads (transfer_id, idx, name, media_type, size, sha256,
                        state, labels, request)
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8) RETURNING id",
                    &[
                        &id,
                        &(idx as i64),
                        &p.name,
                        &p.media_type,
                        &(p.bytes.len() as i64),
                        &sha256_hex(&p.bytes),
                        &serde_json::to_string(&p.labels).unwrap_or_else(|_| "[]".into()),
                        &crate::request_json(p),
                    ],
                )
                .map_err(pg("insert payload"))?
                .get(0);
            let (bytes, key) = crate::seal::seal_bytes(ring.as_deref(), &p.bytes)?;
            tx.execute(
                "INSERT INTO payload_bytes (payload_id, bytes, key_id) VALUES ($1, $2, $3)",
                &[&payload_id, &bytes.as_ref(), &key],
            )
            .map_err(pg("insert payload bytes"))?;
            tx.execute(
                "INSERT INTO payload_records (payload_id, record_seq)
                 SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                &[&payload_id, &p.records],
            )
            .map_err(pg("link payload records"))?;
        }
        tx.execute(
            "UPDATE records SET state = 'in-transfer', transfer_id = $2, updated_at = $3
             WHERE seq = ANY($1)",
            &[&records, &id, &now.0],
        )
        .map_err(pg("move records into transfer"))?;
        super::audit::plugin(&mut tx, target, id, plugin, now)?;
        tx.commit().map_err(pg("commit transfer"))?;
        Ok(Some(id))
    }

    pub(super) fn fail_records_tx(
        &mut self,
        failures: &[(i64, String)],
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.client.transaction().map_err(pg("begin failures"))?;
        for (seq, message) in failures {
            set_record_state(
                &mut tx,
                *seq,
                RecordState::Failed,
                std::slice::from_ref(message),
                now,
            )?;
        }
        tx.commit().map_err(pg("commit failures"))
    }

    pub(super) fn set_payload_state_tx(
        &mut self,
        payload_id: i64,
        state: PayloadState,
    ) -> Result<()> {
        self.client
            .execute(
                "UPDATE payloads SET state = $2 WHERE id = $1",
                &[&payload_id, &state.as_str()],
            )
            .map_err(pg("update payload"))?;
        Ok(())
    }

    pub(super) fn log_attempt_tx(&mut self, attempt: &NewAttempt) -> Result<i64> {
        let mut tx = self.client.transaction().map_err(pg("begin attempt"))?;
        let id = write_attempt(&mut tx, attempt)?;
        super::audit::attempt(&mut tx, attempt)?;
        tx.commit().map_err(pg("commit attempt"))?;
        Ok(id)
    }

    pub(super) fn complete_payload_tx(
        &mut self,
        payload_id: i64,
        completion: Completion<'_>,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<TransferState> {
        let mut tx = self.client.transaction().map_err(pg("begin delivery"))?;
        let transfer_id = lock_transfer_of(&mut tx, payload_id)?;
        tx.execute(
            "UPDATE payloads SET state = 'delivered', delivered_at = coalesce(delivered_at, $2)
             WHERE id = $1",
            &[&payload_id, &now.0],
        )
        .map_err(pg("mark payload delivered"))?;
        write_attempt(&mut tx, attempt)?;
        match completion {
            Completion::AwaitingReceipt => {}
            Completion::Outcomes(outcomes) => {
                for o in outcomes {
                    let state = o.record_state();
                    set_record_state(&mut tx, o.seq, state, &o.messages, now)?;
                }
            }
            Completion::InPlace => {
                // Records whose every payload is now in place are delivered.
                let seqs: Vec<i64> = tx
                    .query(
                        "SELECT pr.record_seq FROM payload_records pr
                         JOIN records r ON r.seq = pr.record_seq
                         WHERE pr.payload_id = $1 AND r.state = 'in-transfer'
                           AND NOT EXISTS (
                             SELECT 1 FROM payload_records pr2
                             JOIN payloads p2 ON p2.id = pr2.payload_id
                             WHERE pr2.record_seq = pr.record_seq AND p2.state <> 'delivered')
                         ORDER BY pr.record_seq",
                        &[&payload_id],
                    )
                    .map_err(pg("find delivered records"))?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                for seq in seqs {
                    set_record_state(&mut tx, seq, RecordState::Delivered, &[], now)?;
                }
            }
        }
        let state = settle_transfer(&mut tx, transfer_id, now)?;
        super::audit::attempt(&mut tx, attempt)?;
        tx.commit().map_err(pg("commit delivery"))?;
        Ok(state)
    }

    pub(super) fn reopen_tx(
        &mut self,
        transfer_id: i64,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.client.transaction().map_err(pg("begin reopen"))?;
        let row: Option<(String, String)> = tx
            .query_opt(
                "SELECT state, target FROM transfers WHERE id = $1 FOR NO KEY UPDATE",
                &[&transfer_id],
            )
            .map_err(pg("read transfer"))?
            .map(|r| (r.get(0), r.get(1)));
        let (state, target) = row.unzip();
        crate::may_reopen(transfer_id, state.as_deref())?;
        super::retention::refuse_if_purged(&mut tx, transfer_id)?;
        tx.execute(
            "UPDATE payloads SET state = 'pending', delivered_at = NULL, checked_at = NULL,
                gone_at = NULL WHERE transfer_id = $1",
            &[&transfer_id],
        )
        .map_err(pg("reopen payloads"))?;
        tx.execute(
            "UPDATE transfers SET state = 'open', done_at = NULL WHERE id = $1",
            &[&transfer_id],
        )
        .map_err(pg("reopen transfer"))?;
        insert_attempt(
            &mut tx,
            &NewAttempt {
                begun: None,
                transfer_id,
                payload_id: None,
                started_at: now,
                duration_ms: 0,
                endpoint: "hub resend".into(),
                credential: None,
                sent: "the transfer's payloads, unchanged".into(),
                received: None,
                result: AttemptResult::Retryable,
                error: Some(format!("to be sent again on request: {reason}")),
            },
        )?;
        lease::notify(&mut tx, target.as_deref().unwrap_or_default())?;
        super::audit::resend(&mut tx, transfer_id, reason, now)?;
        tx.commit().map_err(pg("commit reopen"))
    }

    pub(super) fn mark_checked_tx(
        &mut self,
        payload_id: i64,
        gone: bool,
        now: Timestamp,
    ) -> Result<()> {
        self.client
            .execute(
                "UPDATE payloads SET checked_at = $2,
                    gone_at = CASE WHEN $3 THEN coalesce(gone_at, $2) ELSE gone_at END
                 WHERE id = $1",
                &[&payload_id, &now.0, &gone],
            )
            .map_err(pg("record a look at the receiver"))?;
        Ok(())
    }
}

/// Locks the transfer a payload belongs to, before anything of it is written: every
/// writer of a transfer's payloads, records and state takes the transfer's row first, so
/// two of them (a worker completing, a person settling) never deadlock.
pub(super) fn lock_transfer_of(tx: &mut impl GenericClient, payload_id: i64) -> Result<i64> {
    Ok(tx
        .query_opt(
            "SELECT t.id FROM transfers t JOIN payloads p ON p.transfer_id = t.id
             WHERE p.id = $1 FOR NO KEY UPDATE OF t",
            &[&payload_id],
        )
        .map_err(pg("lock transfer"))?
        .ok_or_else(|| StoreError::NotFound(format!("payload #{payload_id} does not exist")))?
        .get(0))
}

/// A record row (seq, id, kind, stored body, key id), its body still as stored.
pub(super) fn stored_record(r: &postgres::Row) -> crate::seal::SealedRecord {
    (
        StoredRecord {
            seq: r.get(0),
            id: r.get(1),
            kind: r.get(2),
            body: r.get(3),
        },
        r.get(4),
    )
}

/// The ids of a target's transfers in `state`, oldest first.
pub(super) fn transfers_in(
    c: &mut impl GenericClient,
    target: &str,
    state: &str,
) -> Result<Vec<i64>> {
    Ok(c.query(
        "SELECT id FROM transfers WHERE target = $1 AND state = $2 ORDER BY id",
        &[&target, &state],
    )
    .map_err(pg("list transfers"))?
    .iter()
    .map(|r| r.get(0))
    .collect())
}
