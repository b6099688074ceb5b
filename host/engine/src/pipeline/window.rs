//! Pipelined requests with group commit, for request-response targets: up to `depth`
//! transfers are created, claimed and made ready (each attempt recorded as started) in
//! one group of writes, committed with one flush to disk; only then do their requests go
//! out, side by side. Their answers are recorded in a group that stays open for the next
//! window's transfers, so one commit makes a window's answers and the next window's
//! starts durable together: one flush to disk per window, not two (a commit's cost is
//! mostly the B-tree pages it writes, and answers and starts touch the same tables). A
//! delivery keeps the same two durable points it has alone (the state before its
//! request, the state after its answer), so a crash anywhere leaves what it leaves
//! alone: an attempt started without its outcome is looked at or held in doubt, never
//! sent blindly again. Before anything goes out alone (a retry, a numbered transfer),
//! the group is committed: its request needs its own start durable first.
//!
//! What may go together: transfers without a sequence scope (numbered ones go one after
//! another), with one payload each, and never two versions of one record (the order of
//! a record's versions at the receiver is the order they were queued in).

use std::collections::HashSet;

use hub_core::state::{PayloadState, TransferState};
use hub_core::time::Timestamp;
use hub_core::transport::Transport;
use hub_store::StoredRecord;

use super::deliver::{Ready, deliver, finish, noted, prepare};
use super::{SendError, SendReport, lease_until};
use crate::fault;
use crate::{Engine, TargetRuntime};

/// Requests in flight at once per worker where `max_in_flight` does not say: what a
/// browser opens to one host, so a receiver that serves browsers serves this.
pub const DEFAULT_DEPTH: u32 = 6;

/// A window of transfers sent side by side.
pub(super) struct Window {
    depth: usize,
    ready: Vec<(Ready, Timestamp)>,
    /// Record ids in the window: a second version of one waits for the next window.
    ids: HashSet<String>,
    /// A group of writes is open in the store.
    grouped: bool,
    /// Transfers whose answers are in the open group, not yet on disk.
    answered: usize,
}

impl Window {
    /// A window for `t`, or `None` where requests go one at a time: file targets (one
    /// session with the receiver), `max_in_flight = 1`, and dry runs.
    pub(super) fn of(t: &TargetRuntime, transport: Option<&dyn Transport>) -> Option<Window> {
        let transport = transport?;
        if transport.delivers_files() {
            return None;
        }
        let depth = t.config.max_in_flight.unwrap_or(DEFAULT_DEPTH).min(64);
        (depth > 1).then(|| Window {
            depth: depth as usize,
            ready: Vec::new(),
            ids: HashSet::new(),
            grouped: false,
            answered: 0,
        })
    }

    /// Whether a transfer of `records` may join the window as it is (else: flush first).
    pub(super) fn admits(&self, records: &[StoredRecord]) -> bool {
        self.ready.len() < self.depth && !records.iter().any(|r| self.ids.contains(&r.id))
    }

    /// Opens the group the next transfer is created in.
    pub(super) fn open(&mut self, engine: &mut Engine) -> Result<(), SendError> {
        if !self.grouped {
            engine.store.begin_group()?;
            self.grouped = true;
        }
        Ok(())
    }

    /// Takes the transfer just created in the window's group: claims it and records its
    /// attempt as started. One that cannot go with others (numbered, several payloads)
    /// is delivered alone after the window is sent.
    pub(super) fn add(
        &mut self,
        engine: &mut Engine,
        t: &TargetRuntime,
        transport: &mut dyn Transport,
        id: i64,
        records: &[StoredRecord],
        report: &mut SendReport,
    ) -> Result<(), SendError> {
        let now = engine.now();
        let until = lease_until(engine, now);
        // The window's own leases count against `max_in_flight` too.
        let mine = u32::try_from(self.ready.len()).unwrap_or(u32::MAX);
        let limit = t.config.max_in_flight.map(|l| l.saturating_sub(mine));
        let mut claimed = engine
            .store
            .claim_created(id, &engine.worker, until, limit, now)?;
        if !claimed && !self.ready.is_empty() {
            // Perhaps only the window's own leases stood in the way.
            self.flush(engine, t, transport, report)?;
            claimed = engine.store.claim_created(
                id,
                &engine.worker,
                until,
                t.config.max_in_flight,
                now,
            )?;
        }
        if !claimed {
            // Another worker took it, or has as many in flight as allowed: it goes later.
            return Ok(());
        }
        let transfer = engine.store.transfer(id)?;
        let pending: Vec<_> = transfer
            .payloads
            .iter()
            .filter(|p| !matches!(p.state, PayloadState::Delivered | PayloadState::InDoubt))
            .collect();
        let alone = transfer.sequence_scope.is_some()
            || pending.len() != 1
            || pending.iter().any(|p| p.state != PayloadState::Pending);
        if alone {
            self.finish(engine, t, transport, report)?;
            let result = deliver(engine, t, transport, id, until, None, report);
            engine.store.release_lease(id, &engine.worker)?;
            return result;
        }
        let ready = prepare(engine, t, transport, &transfer, pending[0])?;
        self.ids.extend(records.iter().map(|r| r.id.clone()));
        self.ready.push((ready, until));
        if self.ready.len() >= self.depth {
            self.flush(engine, t, transport, report)?;
        }
        Ok(())
    }

    /// Sends what is ready, and commits every answer: the window's last step, and the
    /// step before anything goes out alone.
    pub(super) fn finish(
        &mut self,
        engine: &mut Engine,
        t: &TargetRuntime,
        transport: &mut dyn Transport,
        report: &mut SendReport,
    ) -> Result<(), SendError> {
        self.flush(engine, t, transport, report)?;
        self.close(engine)
    }

    /// Commits the group (the state before every request in it, and the answers of the
    /// window before), sends the requests side by side, and records every answer in a
    /// group left open for the next window ([`Window::finish`] commits it). Those that
    /// failed in a way worth another try are retried one by one, with the target's
    /// backoff, after the answers are committed. Every answer is recorded before an error
    /// is returned.
    pub(super) fn flush(
        &mut self,
        engine: &mut Engine,
        t: &TargetRuntime,
        transport: &mut dyn Transport,
        report: &mut SendReport,
    ) -> Result<(), SendError> {
        // Taken first: requests whose group cannot be committed (rolled back) never go.
        let window = std::mem::take(&mut self.ready);
        self.ids.clear();
        self.close(engine)?;
        if window.is_empty() {
            return Ok(());
        }
        for _ in &window {
            fault::point("requesting");
        }
        let answers = {
            let outgoing: Vec<_> = window.iter().map(|(r, _)| r.outgoing()).collect();
            tracing::debug!(target_name = %t.config.name, requests = outgoing.len(), "requests in flight");
            transport.request_many(&outgoing)
        };
        for _ in &answers {
            fault::point("answered");
        }
        engine.store.begin_group()?;
        self.grouped = true;
        let mut again = Vec::new();
        let mut done = Vec::new();
        let mut error = None;
        for ((ready, until), answer) in window.into_iter().zip(answers) {
            let (id, name) = (ready.transfer.id, ready.p.name.clone());
            match finish(engine, t, transport, ready, answer) {
                Ok(step) => {
                    let state = noted(report, id, &name, step);
                    if !matches!(state, TransferState::Open | TransferState::InDoubt) {
                        report.transfers_completed += 1;
                    }
                    done.push(id);
                }
                Err(
                    e @ SendError::Delivery {
                        retryable: true, ..
                    },
                ) => again.push((id, until, e)),
                Err(e) => {
                    done.push(id);
                    error.get_or_insert(e);
                }
            }
        }
        for id in &done {
            if let Err(e) = engine.store.release_lease(*id, &engine.worker) {
                error.get_or_insert(e.into());
            }
        }
        self.answered += done.len();
        if error.is_none() && again.is_empty() {
            // Committed with the next window's starts, or by `finish`.
            return Ok(());
        }
        self.close(engine)?;
        if let Some(e) = error {
            for (id, _, _) in again {
                engine.store.release_lease(id, &engine.worker)?;
            }
            return Err(e);
        }
        for (id, until, e) in again {
            tracing::warn!(transfer = id, error = %e, "retrying");
            let result = deliver(engine, t, transport, id, until, Some(e), report);
            engine.store.release_lease(id, &engine.worker)?;
            result?;
        }
        Ok(())
    }

    /// Commits the open group, if any, without sending anything.
    fn close(&mut self, engine: &mut Engine) -> Result<(), SendError> {
        if std::mem::take(&mut self.grouped) {
            let committed = engine.store.end_group();
            let answered = std::mem::take(&mut self.answered);
            for _ in 0..answered {
                fault::point("completed");
            }
            if let Err(e) = &committed
                && answered > 0
            {
                // As after a crash: the next run looks at those attempts or holds them in
                // doubt; none is sent again blindly.
                tracing::error!(error = %e, requests = answered, "the answers to requests already sent were not stored; the next send looks at them or holds them in doubt");
            }
            committed?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, id: &str) -> StoredRecord {
        StoredRecord {
            seq,
            id: id.to_string(),
            kind: "child".into(),
            body: "{}".into(),
        }
    }

    #[test]
    fn a_second_version_of_a_record_in_flight_waits_for_the_next_window() {
        let mut w = Window {
            depth: 3,
            ready: Vec::new(),
            ids: HashSet::new(),
            grouped: false,
            answered: 0,
        };
        assert!(w.admits(&[record(1, "child-1")]));
        w.ids.insert("child-1".into());
        assert!(!w.admits(&[record(7, "child-1")]));
        assert!(w.admits(&[record(2, "child-2")]));
        assert!(!w.admits(&[record(2, "child-2"), record(7, "child-1")]));
    }
}
