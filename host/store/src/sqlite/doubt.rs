//! The store's side of "never guess": deliveries held in doubt and settled by a person,
//! attempts written before the remote side is touched, and a record's identity by the
//! canonical hash of its body.

use super::cached::Cached;
use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    SqliteStore, insert_attempt, parse_state, set_record_state, settle_transfer, sql, write_attempt,
};
use crate::{Doubt, DoubtKind, NewAttempt, NewDoubt, NewRecord, Result, Settlement, StoreError};

pub(crate) use crate::identity::Earlier;

/// Fills the canonical hash of rows written before migration 004 (once; a no-op after).
pub(crate) fn fill_content_hashes(tx: &Connection, bodies: &super::bodies::Bodies) -> Result<()> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare("SELECT seq, body FROM records WHERE content_sha256 IS NULL")
            .map_err(sql("prepare content hashes"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, bodies.text(tx, r, 1)?)))
            .map_err(sql("read bodies"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("read bodies"))?
    };
    for (seq, body) in rows {
        let hash = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(v) => hub_core::input::content_sha256(&v),
            Err(_) => super::sha256_hex(body.as_bytes()),
        };
        tx.run(
            "UPDATE records SET content_sha256 = ?2 WHERE seq = ?1",
            params![seq, super::hash_value(&hash)],
        )
        .map_err(sql("fill content hash"))?;
    }
    Ok(())
}

/// Looks at earlier records under `r`'s id: `None` when one has the same content (a
/// duplicate), else the plugin's declaration for its kind applied to those with another
/// body. One lookup through `records_by_id` for both questions.
pub(crate) fn changed_body(
    tx: &Connection,
    target: &str,
    r: &NewRecord,
) -> Result<Option<Earlier>> {
    let mut duplicate = false;
    let earlier: Vec<(i64, String, Option<i64>)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT seq, state, transfer_id, coalesce(content_sha256 = ?3, 0) FROM records
                 WHERE target = ?1 AND record_id = ?2 ORDER BY seq DESC",
            )
            .map_err(sql("prepare earlier bodies"))?;
        let rows = stmt
            .query_map(
                params![target, r.id, super::hash_value(&r.content_sha256)],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get::<_, bool>(3)?,
                    ))
                },
            )
            .map_err(sql("find earlier bodies"))?;
        let mut earlier = Vec::new();
        for row in rows {
            let (seq, state, transfer, same) = row.map_err(sql("find earlier bodies"))?;
            duplicate |= same;
            earlier.push((seq, state, transfer));
        }
        earlier
    };
    if duplicate {
        return Ok(None);
    }
    crate::identity::judge(r, &earlier, |seq| files_of(tx, seq)).map(Some)
}

/// The payload names a record went out in.
fn files_of(tx: &Connection, seq: i64) -> Result<Vec<String>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT p.name FROM payload_records pr JOIN payloads p ON p.id = pr.payload_id
             WHERE pr.record_seq = ?1 ORDER BY p.id",
        )
        .map_err(sql("prepare record files"))?;
    let rows = stmt
        .query_map([seq], |r| r.get(0))
        .map_err(sql("find record files"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(sql("find record files"))
}

impl SqliteStore {
    pub(super) fn begin_attempt_tx(
        &mut self,
        payload_id: i64,
        state: PayloadState,
        attempt: &NewAttempt,
    ) -> Result<i64> {
        let tx = self.write()?;
        tx.run(
            "UPDATE payloads SET state = ?2 WHERE id = ?1",
            params![payload_id, state.as_str()],
        )
        .map_err(sql("update payload"))?;
        let started = NewAttempt {
            begun: None,
            result: AttemptResult::Started,
            ..attempt.clone()
        };
        let id = insert_attempt(&tx, &started)?;
        tx.commit().map_err(sql("commit attempt start"))?;
        Ok(id)
    }

    pub(super) fn hold_tx(
        &mut self,
        payload_id: i64,
        doubt: &NewDoubt,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<i64> {
        let tx = self.write()?;
        let transfer_id: i64 = tx
            .one(
                "SELECT transfer_id FROM payloads WHERE id = ?1",
                [payload_id],
                |r| r.get(0),
            )
            .map_err(sql("find payload"))?;
        tx.run(
            "UPDATE payloads SET state = 'in-doubt' WHERE id = ?1",
            [payload_id],
        )
        .map_err(sql("hold payload"))?;
        write_attempt(&tx, attempt)?;
        tx.run(
            "INSERT INTO doubts (transfer_id, payload_id, kind, detail, expected, found, opened_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                transfer_id,
                payload_id,
                doubt.kind.as_str(),
                doubt.detail,
                doubt.expected,
                doubt.found,
                now.0
            ],
        )
        .map_err(sql("record doubt"))?;
        let id = tx.last_insert_rowid();
        for seq in payload_records_in(&tx, payload_id, "in-transfer")? {
            set_record_state(
                &tx,
                seq,
                RecordState::InDoubt,
                std::slice::from_ref(&doubt.detail),
                now,
            )?;
        }
        settle_transfer(&tx, transfer_id, now)?;
        tx.commit().map_err(sql("commit doubt"))?;
        Ok(id)
    }

    pub(super) fn doubts_of(&mut self, target: Option<&str>, settled: bool) -> Result<Vec<Doubt>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.id, t.target, d.transfer_id, t.sequence_no, p.name, d.kind, d.detail,
                        d.expected, d.found,
                        (SELECT count(*) FROM payload_records pr WHERE pr.payload_id = d.payload_id),
                        d.opened_at, d.settled_at, d.settled_by, d.settled_as, d.reason
                 FROM doubts d JOIN transfers t ON t.id = d.transfer_id
                 JOIN payloads p ON p.id = d.payload_id
                 WHERE (?1 IS NULL OR t.target = ?1) AND (?2 OR d.settled_at IS NULL)
                 ORDER BY d.id",
            )
            .map_err(sql("prepare doubts"))?;
        let rows = stmt
            .query_map(params![target, settled], |r| {
                Ok((
                    Doubt {
                        id: r.get(0)?,
                        target: r.get(1)?,
                        transfer_id: r.get(2)?,
                        sequence_no: r.get::<_, Option<i64>>(3)?.map(|n| n as u64),
                        payload: r.get(4)?,
                        kind: DoubtKind::UnknownOutcome,
                        detail: r.get(6)?,
                        expected: r.get(7)?,
                        found: r.get(8)?,
                        records: r.get::<_, i64>(9)? as usize,
                        opened_at: Timestamp(r.get(10)?),
                        settled_at: r.get::<_, Option<i64>>(11)?.map(Timestamp),
                        settled_by: r.get(12)?,
                        settled_as: r.get(13)?,
                        reason: r.get(14)?,
                    },
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(sql("list doubts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (mut d, kind) = row.map_err(sql("list doubts"))?;
            d.kind = parse_state(&kind, DoubtKind::parse)?;
            out.push(d);
        }
        Ok(out)
    }

    pub(super) fn settle_tx(
        &mut self,
        transfer_id: i64,
        settlement: Settlement,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<TransferState> {
        if reason.trim().is_empty() {
            return Err(StoreError::Refused(
                "a settlement needs a reason (--reason): what the receiver said, who was asked"
                    .into(),
            ));
        }
        let tx = self.write()?;
        let state: Option<String> = tx
            .one(
                "SELECT state FROM transfers WHERE id = ?1",
                [transfer_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read transfer"))?;
        let Some(state) = state else {
            return Err(StoreError::NotFound(format!(
                "transfer #{transfer_id} does not exist"
            )));
        };
        let payloads: Vec<i64> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id FROM payloads WHERE transfer_id = ?1 AND state = 'in-doubt'
                     ORDER BY idx",
                )
                .map_err(sql("prepare payloads in doubt"))?;
            let rows = stmt
                .query_map([transfer_id], |r| r.get(0))
                .map_err(sql("find payloads in doubt"))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(sql("find payloads in doubt"))?
        };
        if payloads.is_empty() {
            return Err(StoreError::Refused(format!(
                "transfer #{transfer_id} is {state}, not in doubt; nothing to settle"
            )));
        }
        let (settled_as, note) = match settlement {
            Settlement::Delivered | Settlement::DeliveredAwaitingReceipt => (
                "delivered",
                format!("settled as delivered by {who}: {reason}"),
            ),
            Settlement::NotDelivered => (
                "not-delivered",
                format!("settled as not delivered by {who}: {reason}; sent again unchanged"),
            ),
        };
        tx.run(
            "UPDATE doubts SET settled_at = ?2, settled_by = ?3, settled_as = ?4, reason = ?5
             WHERE transfer_id = ?1 AND settled_at IS NULL",
            params![transfer_id, now.0, who, settled_as, reason],
        )
        .map_err(sql("settle doubts"))?;
        for payload in &payloads {
            let new_state = match settlement {
                Settlement::NotDelivered => "pending",
                _ => "delivered",
            };
            tx.run(
                "UPDATE payloads SET state = ?2,
                    delivered_at = CASE WHEN ?2 = 'delivered' THEN coalesce(delivered_at, ?3)
                                        ELSE NULL END
                 WHERE id = ?1",
                params![payload, new_state, now.0],
            )
            .map_err(sql("settle payload"))?;
            insert_attempt(
                &tx,
                &NewAttempt {
                    begun: None,
                    transfer_id,
                    payload_id: Some(*payload),
                    started_at: now,
                    duration_ms: 0,
                    endpoint: "hub doubt settle".into(),
                    credential: None,
                    sent: format!("settled by {who}"),
                    received: Some(note.clone()),
                    result: AttemptResult::Settled,
                    error: None,
                },
            )?;
        }
        for payload in &payloads {
            for seq in payload_records_in(&tx, *payload, "in-doubt")? {
                let all_in_place: bool = tx
                    .one(
                        "SELECT NOT EXISTS (SELECT 1 FROM payload_records pr
                           JOIN payloads p ON p.id = pr.payload_id
                           WHERE pr.record_seq = ?1 AND p.state != 'delivered')",
                        [seq],
                        |r| r.get(0),
                    )
                    .map_err(sql("check record payloads"))?;
                let state = match settlement {
                    Settlement::Delivered if all_in_place => RecordState::Delivered,
                    _ => RecordState::InTransfer,
                };
                set_record_state(&tx, seq, state, std::slice::from_ref(&note), now)?;
            }
        }
        let state = settle_transfer(&tx, transfer_id, now)?;
        super::audit::settle(&tx, transfer_id, settled_as, who, reason, now)?;
        tx.commit().map_err(sql("commit settlement"))?;
        Ok(state)
    }
}

/// Records a payload carries that are in `state`.
fn payload_records_in(tx: &Connection, payload_id: i64, state: &str) -> Result<Vec<i64>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT pr.record_seq FROM payload_records pr JOIN records r ON r.seq = pr.record_seq
             WHERE pr.payload_id = ?1 AND r.state = ?2 ORDER BY pr.record_seq",
        )
        .map_err(sql("prepare payload records"))?;
    let rows = stmt
        .query_map(params![payload_id, state], |r| r.get(0))
        .map_err(sql("find payload records"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(sql("find payload records"))
}
