//! The outbox's side of [`SqliteStore`]: the queue read in batches, transfers created
//! (numbered, encoded, linked to their records in one transaction), records failed before
//! sending, payloads completed with their records' outcomes, and transfers reopened.

use hub_core::state::{AttemptResult, RecordState, TransferState};
use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::cached::Cached;
use super::{
    Alike, SqliteStore, audit, insert_attempt, packed, retention, sealed_record, set_record_state,
    set_records_state, settle_transfer, sha256_hex, sql, write_attempt,
};
use crate::{
    Batch, Completion, NewAttempt, NewPayload, PluginStamp, Result, StoreError, StoredRecord,
    TransferDraft,
};

pub(super) fn queued_batches(this: &mut SqliteStore, target: &str) -> Result<Vec<Batch>> {
    let mut stmt = this
        .conn
        .prepare_cached(
            "SELECT batch_key, sequence_scope FROM records
             WHERE target = ?1 AND state = 'queued'
             GROUP BY batch_key, sequence_scope ORDER BY min(seq)",
        )
        .map_err(sql("prepare batches"))?;
    let rows = stmt
        .query_map([target], |r| {
            Ok(Batch {
                batch_key: r.get(0)?,
                sequence_scope: r.get(1)?,
            })
        })
        .map_err(sql("list batches"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(sql("list batches"))
}

pub(super) fn queued_records(
    this: &mut SqliteStore,
    target: &str,
    batch: &Batch,
    limit: usize,
) -> Result<Vec<StoredRecord>> {
    let mut stmt = this
        .conn
        .prepare_cached(
            "SELECT seq, record_id, kind, body, body_key FROM records
             WHERE target = ?1 AND state = 'queued' AND batch_key = ?2
               AND sequence_scope IS ?3
             ORDER BY seq LIMIT ?4",
        )
        .map_err(sql("prepare queued records"))?;
    let rows = stmt
        .query_map(
            params![
                target,
                batch.batch_key,
                batch.sequence_scope,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| sealed_record(&this.bodies, &this.conn, r),
        )
        .map_err(sql("list queued records"))?;
    let rows = rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("list queued records"))?;
    Ok(crate::seal::open_records(this.keyring.as_deref(), rows)?)
}

#[allow(clippy::too_many_arguments)] // `Store::create_transfer`'s, and the store
pub(super) fn create_transfer(
    this: &mut SqliteStore,
    target: &str,
    batch: &Batch,
    records: &[i64],
    plugin: &PluginStamp,
    inputs: Option<&str>,
    now: Timestamp,
    encode: &mut dyn FnMut(TransferDraft) -> Option<Vec<NewPayload>>,
) -> Result<Option<i64>> {
    let ring = this.keyring.clone();
    let tx = this.write()?;
    // The records as one JSON array: each set-based statement below reads it with
    // `json_each`, one statement for the whole transfer instead of one per record.
    let seqs = serde_json::to_string(records).unwrap_or_else(|_| "[]".into());
    // Only records still queued may go in: a concurrent send may have taken them.
    let queued: i64 = tx
        .one(
            "SELECT count(*) FROM records WHERE seq IN (SELECT value FROM json_each(?1))
               AND target = ?2 AND state = 'queued'",
            params![seqs, target],
            |r| r.get(0),
        )
        .map_err(sql("check records"))?;
    let all_queued = usize::try_from(queued).is_ok_and(|n| n == records.len());
    // Only when one is not: which one, for the error.
    for seq in records.iter().filter(|_| !all_queued) {
        let state: Option<String> = tx
            .one(
                "SELECT state FROM records WHERE seq = ?1 AND target = ?2",
                params![seq, target],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("check record"))?;
        if state.as_deref() != Some("queued") {
            return Err(StoreError::Taken(format!(
                "record #{seq} is no longer queued (it is {})",
                state.unwrap_or_else(|| "missing".into())
            )));
        }
    }
    let sequence = match &batch.sequence_scope {
        Some(scope) => {
            let last: i64 = tx
                .one(
                    "SELECT last FROM sequences WHERE target = ?1 AND scope = ?2",
                    params![target, scope],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("read sequence"))?
                .unwrap_or(0);
            let next = last + 1;
            tx.run(
                "INSERT INTO sequences (target, scope, last) VALUES (?1, ?2, ?3)
                 ON CONFLICT (target, scope) DO UPDATE SET last = excluded.last",
                params![target, scope, next],
            )
            .map_err(sql("advance sequence"))?;
            Some(u64::try_from(next).unwrap_or(0))
        }
        None => None,
    };
    tx.run(
        "INSERT INTO transfers (target, batch_key, sequence_scope, sequence_no, state, plugin,
            plugin_sha256, created_at, plugin_name, plugin_version, encode_inputs)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            target,
            batch.batch_key,
            batch.sequence_scope,
            sequence.map(|s| s as i64),
            format!("{}@{}", plugin.name, plugin.version),
            plugin.sha256,
            now.0,
            plugin.name,
            plugin.version,
            inputs
        ],
    )
    .map_err(sql("insert transfer"))?;
    let id = tx.last_insert_rowid();
    audit::plugin(&tx, target, id, plugin, now)?;
    // Dropping the transaction rolls back the number and the transfer row.
    let Some(payloads) = encode(TransferDraft { id, sequence }) else {
        return Ok(None);
    };
    for (idx, p) in payloads.iter().enumerate() {
        tx.run(
            "INSERT INTO payloads (transfer_id, idx, name, media_type, size, sha256, state, labels,
                                   request)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
            params![
                id,
                idx as i64,
                p.name,
                p.media_type,
                p.bytes.len() as i64,
                sha256_hex(&p.bytes),
                serde_json::to_string(&p.labels).unwrap_or_else(|_| "[]".into()),
                crate::request_json(p)
            ],
        )
        .map_err(sql("insert payload"))?;
        let payload_id = tx.last_insert_rowid();
        let (packed, codec) = packed::pack(&p.bytes);
        let (bytes, key) = crate::seal::seal_bytes(ring.as_deref(), &packed)?;
        tx.run(
            "INSERT INTO payload_bytes (payload_id, bytes, key_id, codec)
             VALUES (?1, ?2, ?3, ?4)",
            params![payload_id, bytes, key, codec],
        )
        .map_err(sql("insert payload bytes"))?;
        let linked = serde_json::to_string(&p.records).unwrap_or_else(|_| "[]".into());
        tx.run(
            "INSERT OR IGNORE INTO payload_records (payload_id, record_seq)
             SELECT ?1, value FROM json_each(?2)",
            params![payload_id, linked],
        )
        .map_err(sql("link payload records"))?;
    }
    tx.run(
        "UPDATE records SET state = 'in-transfer', transfer_id = ?2, updated_at = ?3
         WHERE seq IN (SELECT value FROM json_each(?1))",
        params![seqs, id, now.0],
    )
    .map_err(sql("move records into transfer"))?;
    tx.commit().map_err(sql("commit transfer"))?;
    this.publish_head();
    Ok(Some(id))
}

pub(super) fn fail_records(
    this: &mut SqliteStore,
    failures: &[(i64, String)],
    now: Timestamp,
) -> Result<()> {
    let tx = this.write()?;
    for (seq, message) in failures {
        set_record_state(
            &tx,
            *seq,
            RecordState::Failed,
            std::slice::from_ref(message),
            now,
        )?;
    }
    tx.commit().map_err(sql("commit failures"))
}

pub(super) fn complete_payload(
    this: &mut SqliteStore,
    payload_id: i64,
    completion: Completion<'_>,
    attempt: &NewAttempt,
    now: Timestamp,
) -> Result<TransferState> {
    let bodies = this.bodies.clone();
    let tx = this.write()?;
    let (transfer_id, target): (i64, String) = tx
        .one(
            "SELECT p.transfer_id, t.target FROM payloads p
             JOIN transfers t ON t.id = p.transfer_id WHERE p.id = ?1",
            [payload_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql("find payload"))?;
    bodies.prepare(&tx, &target, now)?;
    tx.run(
        "UPDATE payloads SET state = 'delivered', delivered_at = coalesce(delivered_at, ?2)
         WHERE id = ?1",
        params![payload_id, now.0],
    )
    .map_err(sql("mark payload delivered"))?;
    write_attempt(&tx, attempt)?;
    match completion {
        Completion::AwaitingReceipt => {}
        Completion::Outcomes(outcomes) => {
            // Records with the same outcome move together (usually all delivered).
            let mut alike: Vec<(Alike<'_>, Vec<i64>)> = Vec::new();
            for o in outcomes {
                let key = (o.record_state(), o.messages.as_slice());
                match alike.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, seqs)) => seqs.push(o.seq),
                    None => alike.push((key, vec![o.seq])),
                }
            }
            for ((state, messages), seqs) in alike {
                set_records_state(&tx, &seqs, state, messages, now)?;
            }
        }
        Completion::InPlace => {
            // Records whose every payload is now in place are delivered.
            let seqs: Vec<i64> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT pr.record_seq FROM payload_records pr
                         JOIN records r ON r.seq = pr.record_seq
                         WHERE pr.payload_id = ?1 AND r.state = 'in-transfer'
                           AND NOT EXISTS (
                             SELECT 1 FROM payload_records pr2
                             JOIN payloads p2 ON p2.id = pr2.payload_id
                             WHERE pr2.record_seq = pr.record_seq AND p2.state != 'delivered')",
                    )
                    .map_err(sql("prepare delivered records"))?;
                let rows = stmt
                    .query_map([payload_id], |r| r.get(0))
                    .map_err(sql("find delivered records"))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(sql("find delivered records"))?
            };
            set_records_state(&tx, &seqs, RecordState::Delivered, &[], now)?;
        }
    }
    let state = settle_transfer(&tx, transfer_id, now)?;
    tx.commit().map_err(sql("commit delivery"))?;
    this.publish_head();
    Ok(state)
}

pub(super) fn reopen_for_resend(
    this: &mut SqliteStore,
    transfer_id: i64,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let tx = this.write()?;
    let state: Option<String> = tx
        .one(
            "SELECT state FROM transfers WHERE id = ?1",
            [transfer_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql("read transfer"))?;
    crate::may_reopen(transfer_id, state.as_deref())?;
    retention::refuse_if_purged(&tx, transfer_id)?;
    tx.run(
        "UPDATE payloads SET state = 'pending', delivered_at = NULL, checked_at = NULL,
            gone_at = NULL WHERE transfer_id = ?1",
        [transfer_id],
    )
    .map_err(sql("reopen payloads"))?;
    tx.run(
        "UPDATE transfers SET state = 'open', done_at = NULL WHERE id = ?1",
        [transfer_id],
    )
    .map_err(sql("reopen transfer"))?;
    insert_attempt(
        &tx,
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
    audit::resend(&tx, transfer_id, reason, now)?;
    tx.commit().map_err(sql("commit reopen"))?;
    this.publish_head();
    Ok(())
}
