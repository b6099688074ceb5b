//! "Never guess" on PostgreSQL: deliveries held in doubt and settled by a person, attempts
//! written before the remote side is touched, and a record's identity by the canonical
//! hash of its body.

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use postgres::GenericClient;

use super::{PgStore, insert_attempt, pg, set_record_state, settle_transfer, write_attempt};
use crate::identity::Earlier;
use crate::sqlite::{parse_state, sha256_hex};
use crate::{Doubt, DoubtKind, NewAttempt, NewDoubt, NewRecord, Result, Settlement, StoreError};

/// Fills the canonical hash of rows written before migration 004 (once; a no-op after).
pub(super) fn fill_content_hashes(tx: &mut impl GenericClient) -> Result<()> {
    let rows: Vec<(i64, String)> = tx
        .query(
            "SELECT seq, body FROM records WHERE content_sha256 IS NULL",
            &[],
        )
        .map_err(pg("read bodies"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (seq, body) in rows {
        let hash = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(v) => hub_core::input::content_sha256(&v),
            Err(_) => sha256_hex(body.as_bytes()),
        };
        tx.execute(
            "UPDATE records SET content_sha256 = $2 WHERE seq = $1",
            &[&seq, &hash],
        )
        .map_err(pg("fill content hash"))?;
    }
    Ok(())
}

/// Looks at earlier records under `r`'s id with another body and applies the plugin's
/// declaration for its kind.
pub(super) fn changed_body(
    tx: &mut impl GenericClient,
    target: &str,
    r: &NewRecord,
) -> Result<Earlier> {
    let earlier: Vec<(i64, String, Option<i64>)> = tx
        .query(
            "SELECT seq, state, transfer_id FROM records
             WHERE target = $1 AND record_id = $2 ORDER BY seq DESC",
            &[&target, &r.id],
        )
        .map_err(pg("find earlier bodies"))?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    crate::identity::judge(r, &earlier, |seq| {
        Ok(tx
            .query(
                "SELECT p.name FROM payload_records pr JOIN payloads p ON p.id = pr.payload_id
                 WHERE pr.record_seq = $1 ORDER BY p.id",
                &[&seq],
            )
            .map_err(pg("find record files"))?
            .iter()
            .map(|row| row.get(0))
            .collect())
    })
}

/// Records a payload carries that are in `state`.
fn payload_records_in(
    tx: &mut impl GenericClient,
    payload_id: i64,
    state: &str,
) -> Result<Vec<i64>> {
    Ok(tx
        .query(
            "SELECT pr.record_seq FROM payload_records pr JOIN records r ON r.seq = pr.record_seq
             WHERE pr.payload_id = $1 AND r.state = $2 ORDER BY pr.record_seq",
            &[&payload_id, &state],
        )
        .map_err(pg("find payload records"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

impl PgStore {
    pub(super) fn begin_attempt_tx(
        &mut self,
        payload_id: i64,
        state: PayloadState,
        attempt: &NewAttempt,
    ) -> Result<i64> {
        let mut tx = self.client.transaction().map_err(pg("begin attempt"))?;
        tx.execute(
            "UPDATE payloads SET state = $2 WHERE id = $1",
            &[&payload_id, &state.as_str()],
        )
        .map_err(pg("update payload"))?;
        let started = NewAttempt {
            begun: None,
            result: AttemptResult::Started,
            ..attempt.clone()
        };
        let id = insert_attempt(&mut tx, &started)?;
        tx.commit().map_err(pg("commit attempt start"))?;
        Ok(id)
    }

    pub(super) fn hold_tx(
        &mut self,
        payload_id: i64,
        doubt: &NewDoubt,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.client.transaction().map_err(pg("begin doubt"))?;
        let transfer_id = super::outbox::lock_transfer_of(&mut tx, payload_id)?;
        tx.execute(
            "UPDATE payloads SET state = 'in-doubt' WHERE id = $1",
            &[&payload_id],
        )
        .map_err(pg("hold payload"))?;
        write_attempt(&mut tx, attempt)?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO doubts (transfer_id, payload_id, kind, detail, expected, found,
                    opened_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &transfer_id,
                    &payload_id,
                    &doubt.kind.as_str(),
                    &doubt.detail,
                    &doubt.expected,
                    &doubt.found,
                    &now.0,
                ],
            )
            .map_err(pg("record doubt"))?
            .get(0);
        for seq in payload_records_in(&mut tx, payload_id, "in-transfer")? {
            set_record_state(
                &mut tx,
                seq,
                RecordState::InDoubt,
                std::slice::from_ref(&doubt.detail),
                now,
            )?;
        }
        settle_transfer(&mut tx, transfer_id, now)?;
        super::audit::attempt(&mut tx, attempt)?;
        tx.commit().map_err(pg("commit doubt"))?;
        Ok(id)
    }

    pub(super) fn doubts_of(&mut self, target: Option<&str>, settled: bool) -> Result<Vec<Doubt>> {
        let rows = self
            .client
            .query(
                "SELECT d.id, t.target, d.transfer_id, t.sequence_no, p.name, d.kind, d.detail,
                        d.expected, d.found,
                        (SELECT count(*) FROM payload_records pr WHERE pr.payload_id = d.payload_id),
                        d.opened_at, d.settled_at, d.settled_by, d.settled_as, d.reason
                 FROM doubts d JOIN transfers t ON t.id = d.transfer_id
                 JOIN payloads p ON p.id = d.payload_id
                 WHERE ($1::text IS NULL OR t.target = $1) AND ($2 OR d.settled_at IS NULL)
                 ORDER BY d.id",
                &[&target, &settled],
            )
            .map_err(pg("list doubts"))?;
        rows.iter()
            .map(|r| {
                Ok(Doubt {
                    id: r.get(0),
                    target: r.get(1),
                    transfer_id: r.get(2),
                    sequence_no: r.get::<_, Option<i64>>(3).map(|n| n as u64),
                    payload: r.get(4),
                    kind: parse_state(r.get(5), DoubtKind::parse)?,
                    detail: r.get(6),
                    expected: r.get(7),
                    found: r.get(8),
                    records: r.get::<_, i64>(9) as usize,
                    opened_at: Timestamp(r.get(10)),
                    settled_at: r.get::<_, Option<i64>>(11).map(Timestamp),
                    settled_by: r.get(12),
                    settled_as: r.get(13),
                    reason: r.get(14),
                })
            })
            .collect()
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
        let mut tx = self.client.transaction().map_err(pg("begin settlement"))?;
        let row: Option<(String, String)> = tx
            .query_opt(
                "SELECT state, target FROM transfers WHERE id = $1 FOR NO KEY UPDATE",
                &[&transfer_id],
            )
            .map_err(pg("read transfer"))?
            .map(|r| (r.get(0), r.get(1)));
        let Some((state, target)) = row else {
            return Err(StoreError::NotFound(format!(
                "transfer #{transfer_id} does not exist"
            )));
        };
        let payloads: Vec<i64> = tx
            .query(
                "SELECT id FROM payloads WHERE transfer_id = $1 AND state = 'in-doubt'
                 ORDER BY idx",
                &[&transfer_id],
            )
            .map_err(pg("find payloads in doubt"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
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
        tx.execute(
            "UPDATE doubts SET settled_at = $2, settled_by = $3, settled_as = $4, reason = $5
             WHERE transfer_id = $1 AND settled_at IS NULL",
            &[&transfer_id, &now.0, &who, &settled_as, &reason],
        )
        .map_err(pg("settle doubts"))?;
        let new_state = match settlement {
            Settlement::NotDelivered => "pending",
            _ => "delivered",
        };
        for payload in &payloads {
            tx.execute(
                "UPDATE payloads SET state = $2::text,
                    delivered_at = CASE WHEN $2::text = 'delivered'
                                        THEN coalesce(delivered_at, $3) ELSE NULL END
                 WHERE id = $1",
                &[payload, &new_state, &now.0],
            )
            .map_err(pg("settle payload"))?;
            insert_attempt(
                &mut tx,
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
            for seq in payload_records_in(&mut tx, *payload, "in-doubt")? {
                let all_in_place: bool = tx
                    .query_one(
                        "SELECT NOT EXISTS (SELECT 1 FROM payload_records pr
                           JOIN payloads p ON p.id = pr.payload_id
                           WHERE pr.record_seq = $1 AND p.state <> 'delivered')",
                        &[&seq],
                    )
                    .map_err(pg("check record payloads"))?
                    .get(0);
                let state = match settlement {
                    Settlement::Delivered if all_in_place => RecordState::Delivered,
                    _ => RecordState::InTransfer,
                };
                set_record_state(&mut tx, seq, state, std::slice::from_ref(&note), now)?;
            }
        }
        let state = settle_transfer(&mut tx, transfer_id, now)?;
        if state == TransferState::Open {
            super::lease::notify(&mut tx, &target)?;
        }
        super::audit::settle(&mut tx, transfer_id, settled_as, who, reason, now)?;
        tx.commit().map_err(pg("commit settlement"))?;
        Ok(state)
    }
}
