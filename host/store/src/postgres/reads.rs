//! The [`Store`] trait on PostgreSQL, and its read views: counts, status, the protocol log.

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;

use super::outbox::{stored_record, transfers_in};
use super::{PgStore, VIEW_COLUMNS, pg, row_to_view, view};
use crate::sqlite::parse_state;
use crate::{
    Attempt, AttemptStats, Batch, Completion, Counts, Doubt, NewAttempt, NewDoubt, NewPayload,
    Payload, PluginStamp, RecordView, Resolution, Result, Settlement, Status, Store, StoredRecord,
    Transfer, TransferDraft,
};

impl Store for PgStore {
    fn queued_batches(&mut self, target: &str) -> Result<Vec<Batch>> {
        self.queued_batches_of(target)
    }

    fn queued_records(
        &mut self,
        target: &str,
        batch: &Batch,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.queued_records_of(target, batch, limit)
    }

    fn create_transfer(
        &mut self,
        target: &str,
        batch: &Batch,
        records: &[i64],
        plugin: &PluginStamp,
        inputs: Option<&str>,
        now: Timestamp,
        encode: &mut dyn FnMut(TransferDraft) -> Option<Vec<NewPayload>>,
    ) -> Result<Option<i64>> {
        let out = self.create_transfer_tx(target, batch, records, plugin, inputs, now, encode)?;
        self.publish_head();
        Ok(out)
    }

    fn claim_transfer(
        &mut self,
        target: &str,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        self.claim_tx(target, worker, until, limit, now)
    }

    fn claim_created(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<bool> {
        self.claim_created_tx(transfer_id, worker, until, limit, now)
    }

    fn renew_lease(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.renew_tx(transfer_id, worker, until, now)
    }

    fn release_lease(&mut self, transfer_id: i64, worker: &str) -> Result<()> {
        self.release_tx(transfer_id, worker)
    }

    fn has_work(&mut self, target: &str, worker: &str, now: Timestamp) -> Result<bool> {
        self.has_work_of(target, worker, now)
    }

    fn free_leases(&mut self, worker: &str) -> Result<usize> {
        self.free_tx(worker)
    }

    fn backoffs(&mut self) -> Result<Vec<crate::Backoff>> {
        self.backoffs_of()
    }

    fn set_backoff(&mut self, target: &str, backoff: Option<(u32, Timestamp)>) -> Result<()> {
        self.set_backoff_of(target, backoff)
    }

    fn schedule_looks(&mut self) -> Result<Vec<(String, Timestamp)>> {
        self.looks_of()
    }

    fn first_look(&mut self, target: &str, at: Timestamp) -> Result<()> {
        self.first_look_of(target, at)
    }

    fn take_slot(&mut self, target: &str, slot: Timestamp, now: Timestamp) -> Result<bool> {
        self.take_slot_of(target, slot, now)
    }

    fn records_by_id(&mut self, target: &str, id: &str) -> Result<Vec<RecordView>> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {VIEW_COLUMNS} FROM records WHERE target = $1 AND record_id = $2
                     ORDER BY seq"
                ),
                &[&target, &id],
            )
            .map_err(pg("look up record"))?;
        rows.iter().map(row_to_view).collect()
    }

    fn attempt_stats(&mut self) -> Result<Vec<AttemptStats>> {
        self.fold_attempt_counts()?;
        Ok(self
            .client
            .query(
                // Deltas kept by triggers (schema 018), not grouped from the log each time.
                "SELECT target, result, sum(n)::bigint, sum(duration_ms)::bigint
                 FROM attempt_counts GROUP BY target, result HAVING sum(n) <> 0
                 ORDER BY target, result",
                &[],
            )
            .map_err(pg("read attempt stats"))?
            .iter()
            .map(|r| AttemptStats {
                target: r.get(0),
                result: r.get(1),
                count: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                duration_ms: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
            })
            .collect())
    }

    fn fail_records(&mut self, failures: &[(i64, String)], now: Timestamp) -> Result<()> {
        self.fail_records_tx(failures, now)
    }

    fn open_transfers(&mut self, target: &str) -> Result<Vec<i64>> {
        transfers_in(&mut self.client, target, "open")
    }

    fn sent_transfers(&mut self, target: &str) -> Result<Vec<i64>> {
        transfers_in(&mut self.client, target, "sent")
    }

    fn transfer(&mut self, id: i64) -> Result<Transfer> {
        view::transfer(&mut self.client, id)
    }

    fn payload_bytes(&mut self, payload_id: i64) -> Result<Vec<u8>> {
        let (bytes, key): (Vec<u8>, Option<String>) = self
            .client
            .query_opt(
                "SELECT bytes, key_id FROM payload_bytes WHERE payload_id = $1",
                &[&payload_id],
            )
            .map_err(pg("read payload"))?
            .map(|r| (r.get(0), r.get(1)))
            .ok_or_else(|| super::retention::missing_bytes(&mut self.client, payload_id))?;
        Ok(crate::seal::open_bytes(
            self.keyring.as_deref(),
            key.as_deref(),
            bytes,
            payload_id,
        )?)
    }

    fn payload_request(&mut self, payload_id: i64) -> Result<Option<hub_plugin_sdk::RequestShape>> {
        let text: Option<String> = self
            .client
            .query_one("SELECT request FROM payloads WHERE id = $1", &[&payload_id])
            .map_err(pg("read payload request"))?
            .get(0);
        crate::parse_request(payload_id, text)
    }

    fn payload_records(&mut self, payload_id: i64) -> Result<Vec<StoredRecord>> {
        let rows = self
            .client
            .query(
                "SELECT r.seq, r.record_id, r.kind, r.body, r.body_key FROM payload_records pr
                 JOIN records r ON r.seq = pr.record_seq
                 WHERE pr.payload_id = $1 ORDER BY r.seq",
                &[&payload_id],
            )
            .map_err(pg("list payload records"))?
            .iter()
            .map(stored_record)
            .collect();
        Ok(crate::seal::open_records(self.keyring.as_deref(), rows)?)
    }

    fn recorded_inputs(&mut self, transfer_id: i64) -> Result<crate::RecordedInputs> {
        super::inputs::recorded(self, transfer_id)
    }

    fn set_payload_state(&mut self, payload_id: i64, state: PayloadState) -> Result<()> {
        self.set_payload_state_tx(payload_id, state)
    }

    fn log_attempt(&mut self, attempt: &NewAttempt) -> Result<i64> {
        let out = self.log_attempt_tx(attempt)?;
        self.publish_head();
        Ok(out)
    }

    fn begin_attempt(
        &mut self,
        payload_id: i64,
        state: PayloadState,
        attempt: &NewAttempt,
    ) -> Result<i64> {
        self.begin_attempt_tx(payload_id, state, attempt)
    }

    fn hold(
        &mut self,
        payload_id: i64,
        doubt: &NewDoubt,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<i64> {
        let out = self.hold_tx(payload_id, doubt, attempt, now)?;
        self.publish_head();
        Ok(out)
    }

    fn doubts(&mut self, target: Option<&str>, settled: bool) -> Result<Vec<Doubt>> {
        self.doubts_of(target, settled)
    }

    fn settle(
        &mut self,
        transfer_id: i64,
        settlement: Settlement,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<TransferState> {
        let out = self.settle_tx(transfer_id, settlement, who, reason, now)?;
        self.publish_head();
        Ok(out)
    }

    fn complete_payload(
        &mut self,
        payload_id: i64,
        completion: Completion<'_>,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<TransferState> {
        let out = self.complete_payload_tx(payload_id, completion, attempt, now)?;
        self.publish_head();
        Ok(out)
    }

    fn resolve(
        &mut self,
        target: Option<&str>,
        record_id: &str,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Resolution> {
        let out = self.resolve_by_hand(target, record_id, who, reason, now)?;
        self.publish_head();
        Ok(out)
    }

    fn counts(&mut self, target: Option<&str>) -> Result<Vec<Counts>> {
        self.load_counts(target)
    }

    fn status(&mut self, target: Option<&str>) -> Result<Status> {
        let mut status = Status {
            targets: self.load_counts(target)?,
            ..Status::default()
        };
        status.transfers = view::transfers(&mut self.client, view::Which::Target(target))?;
        status.in_doubt = self.doubts_of(target, false)?;
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {VIEW_COLUMNS} FROM records
                     WHERE ($1::text IS NULL OR target = $1) AND state IN ('rejected', 'failed')
                       AND {FEW} ORDER BY seq",
                    FEW = few_states!()
                ),
                &[&target],
            )
            .map_err(pg("list records to check"))?;
        for row in &rows {
            status.needs_check.push(row_to_view(row)?);
        }
        Ok(status)
    }

    fn attempts(&mut self, transfer: Option<i64>) -> Result<Vec<Attempt>> {
        let rows = self
            .client
            .query(
                "SELECT a.id, a.transfer_id, t.target, p.name, a.started_at, a.duration_ms,
                        a.endpoint, a.credential, a.sent, a.received, a.result, a.error,
                        t.plugin_name, t.plugin_version, t.plugin_sha256
                 FROM attempts a JOIN transfers t ON t.id = a.transfer_id
                 LEFT JOIN payloads p ON p.id = a.payload_id
                 WHERE $1::bigint IS NULL OR a.transfer_id = $1 ORDER BY a.id",
                &[&transfer],
            )
            .map_err(pg("read protocol log"))?;
        rows.iter().map(attempt_row).collect()
    }

    fn reopen_for_resend(&mut self, transfer_id: i64, reason: &str, now: Timestamp) -> Result<()> {
        self.reopen_tx(transfer_id, reason, now)?;
        self.publish_head();
        Ok(())
    }

    fn unclaimed_payloads(&mut self, target: &str) -> Result<Vec<Payload>> {
        Ok(
            view::transfers(&mut self.client, view::Which::Unclaimed(target))?
                .into_iter()
                .flat_map(|t| t.payloads)
                .filter(|p| p.state == PayloadState::Delivered && p.gone_at.is_none())
                .collect(),
        )
    }

    fn mark_checked(&mut self, payload_id: i64, gone: bool, now: Timestamp) -> Result<()> {
        self.mark_checked_tx(payload_id, gone, now)
    }
}

impl PgStore {
    /// Records per target and state: the sums of the deltas migration 008's triggers
    /// append (folded now and then by the overview, `pages.rs`), never the history.
    pub(super) fn load_counts(&mut self, target: Option<&str>) -> Result<Vec<Counts>> {
        let rows = self
            .client
            .query(
                "SELECT target, state, sum(n)::bigint FROM record_counts
                 WHERE $1::text IS NULL OR target = $1 GROUP BY target, state
                 HAVING sum(n) <> 0 ORDER BY target",
                &[&target],
            )
            .map_err(pg("count records"))?;
        let mut out: Vec<Counts> = Vec::new();
        for row in &rows {
            let t: String = row.get(0);
            if out.last().map(|c| c.target.as_str()) != Some(t.as_str()) {
                out.push(Counts {
                    target: t,
                    ..Counts::default()
                });
            }
            let Some(c) = out.last_mut() else {
                continue;
            };
            let n = row.get::<_, i64>(2) as usize;
            match parse_state(row.get(1), RecordState::parse)? {
                RecordState::Queued => c.queued += n,
                RecordState::InTransfer => c.in_flight += n,
                RecordState::InDoubt => c.in_doubt += n,
                RecordState::Delivered => c.delivered += n,
                RecordState::Rejected => {
                    c.failed += n;
                    c.rejected += n;
                }
                RecordState::Failed => c.failed += n,
                RecordState::Resolved => c.resolved += n,
                RecordState::Superseded => c.superseded += n,
            }
        }
        Ok(out)
    }
}

/// One protocol-log row (the columns of the log's SELECT, in order).
pub(super) fn attempt_row(r: &postgres::Row) -> Result<Attempt> {
    Ok(Attempt {
        id: r.get(0),
        transfer_id: r.get(1),
        target: r.get(2),
        payload: r.get(3),
        started_at: Timestamp(r.get(4)),
        duration_ms: r.get::<_, i64>(5).max(0) as u64,
        endpoint: r.get(6),
        credential: r.get(7),
        sent: r.get(8),
        received: r.get(9),
        result: parse_state(r.get(10), AttemptResult::parse)?,
        error: r.get(11),
        plugin: PluginStamp {
            name: r.get(12),
            version: r.get(13),
            sha256: r.get(14),
        },
    })
}
