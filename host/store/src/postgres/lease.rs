//! Leases on transfers for several workers on one database (migration 005), and wake-ups
//! across machines.
//!
//! A claim picks the oldest claimable transfer with `FOR NO KEY UPDATE SKIP LOCKED` (workers
//! claiming at once spread over different transfers instead of queueing on one), then
//! takes its lease with an `INSERT … ON CONFLICT DO UPDATE … WHERE` whose condition is
//! checked against the lease as committed, so two workers never both hold a transfer
//! whatever their snapshots saw. A per-target limit is counted under the target's
//! advisory lock.
//!
//! An enqueue (and a transfer opened again) sends `NOTIFY hub_work` with the target's
//! name when its transaction commits; [`PgStore::wait_for_work`] waits for one.

use std::time::Duration;

use hub_core::time::Timestamp;
use postgres::GenericClient;
use postgres::fallible_iterator::FallibleIterator;

use super::{PgStore, pg};
use crate::{Backoff, Result};

/// Advisory-lock class of a target's claims under a limit.
const TARGET_LOCK: i32 = 72_614;

/// The channel of wake-ups; the payload is the target.
pub(super) const CHANNEL: &str = "hub_work";

/// The one rule of what a worker may claim, for claims and `has_work`: an open transfer
/// of target `$1` whose lease is free or expired at `$2` (or worker `$3`'s own), and the
/// lowest open one of its sequence scope.
macro_rules! claimable {
    () => {
        "t.target = $1 AND t.state = 'open'
         AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.transfer_id = t.id
                           AND l.until > $2 AND l.worker <> $3)
         AND (t.sequence_scope IS NULL OR NOT EXISTS (
               SELECT 1 FROM transfers e WHERE e.target = t.target
                 AND e.state = 'open' AND e.sequence_scope = t.sequence_scope
                 AND e.id < t.id))"
    };
}

/// Takes `transfer_id`'s lease for `worker` unless another worker holds it unexpired;
/// whether it did.
fn take(
    tx: &mut impl GenericClient,
    transfer_id: i64,
    worker: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<bool> {
    Ok(tx
        .query_opt(
            "INSERT INTO leases (transfer_id, worker, until) VALUES ($1, $2, $3)
             ON CONFLICT (transfer_id) DO UPDATE SET worker = excluded.worker,
                until = excluded.until
             WHERE leases.worker = excluded.worker OR leases.until <= $4
             RETURNING transfer_id",
            &[&transfer_id, &worker, &until.0, &now.0],
        )
        .map_err(pg("take lease"))?
        .is_some())
}

/// How many open transfers of `target` other workers hold unexpired leases on, counted
/// under the target's advisory lock (held to the end of the caller's transaction): what
/// a per-target limit (`max_in_flight`) counts.
fn others_leasing(
    tx: &mut impl GenericClient,
    target: &str,
    worker: &str,
    now: Timestamp,
) -> Result<i64> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&TARGET_LOCK, &target],
    )
    .map_err(pg("lock the target's claims"))?;
    Ok(tx
        .query_one(
            "SELECT count(*) FROM leases l JOIN transfers t ON t.id = l.transfer_id
             WHERE t.target = $1 AND t.state = 'open' AND l.until > $2
               AND l.worker <> $3",
            &[&target, &now.0, &worker],
        )
        .map_err(pg("count leases"))?
        .get(0))
}

/// Wakes listeners for `target` when the caller's transaction commits.
pub(super) fn notify(tx: &mut impl GenericClient, target: &str) -> Result<()> {
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &target])
        .map_err(pg("notify workers"))?;
    Ok(())
}

impl PgStore {
    pub(super) fn claim_tx(
        &mut self,
        target: &str,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let mut tx = self.client.transaction().map_err(pg("begin claim"))?;
        if let Some(limit) = limit
            && others_leasing(&mut tx, target, worker, now)? >= i64::from(limit)
        {
            return Ok(None);
        }
        let mut passed: Vec<i64> = Vec::new();
        loop {
            let Some(id) = tx
                .query_opt(
                    concat!(
                        "SELECT t.id FROM transfers t WHERE NOT (t.id = ANY($4)) AND ",
                        claimable!(),
                        " ORDER BY t.id LIMIT 1 FOR NO KEY UPDATE OF t SKIP LOCKED"
                    ),
                    &[&target, &now.0, &worker, &passed],
                )
                .map_err(pg("claim transfer"))?
                .map(|r| r.get::<_, i64>(0))
            else {
                return Ok(None);
            };
            if take(&mut tx, id, worker, until, now)? {
                tx.commit().map_err(pg("commit claim"))?;
                return Ok(Some(id));
            }
            // Another worker's lease was committed after this statement's snapshot.
            passed.push(id);
        }
    }

    pub(super) fn claim_created_tx(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.client.transaction().map_err(pg("begin claim"))?;
        let Some(target) = tx
            .query_opt(
                "SELECT target FROM transfers WHERE id = $1",
                &[&transfer_id],
            )
            .map_err(pg("read the transfer's target"))?
            .map(|r| r.get::<_, String>(0))
        else {
            return Ok(false);
        };
        if let Some(limit) = limit
            && others_leasing(&mut tx, &target, worker, now)? >= i64::from(limit)
        {
            return Ok(false);
        }
        let claimable = tx
            .query_opt(
                concat!(
                    "SELECT t.id FROM transfers t WHERE t.id = $4 AND ",
                    claimable!(),
                    " FOR NO KEY UPDATE OF t SKIP LOCKED"
                ),
                &[&target, &now.0, &worker, &transfer_id],
            )
            .map_err(pg("claim transfer"))?
            .is_some();
        if !claimable || !take(&mut tx, transfer_id, worker, until, now)? {
            return Ok(false);
        }
        tx.commit().map_err(pg("commit claim"))?;
        Ok(true)
    }

    pub(super) fn renew_tx(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.client.transaction().map_err(pg("begin renewal"))?;
        let n = tx
            .execute(
                "UPDATE leases SET until = $3 WHERE transfer_id = $1 AND worker = $2",
                &[&transfer_id, &worker, &until.0],
            )
            .map_err(pg("renew lease"))?;
        // A lease of ours that ran out is taken back only while no one else holds it.
        let held = n == 1 || take(&mut tx, transfer_id, worker, until, now)?;
        tx.commit().map_err(pg("commit lease"))?;
        Ok(held)
    }

    pub(super) fn release_tx(&mut self, transfer_id: i64, worker: &str) -> Result<()> {
        self.client
            .execute(
                "DELETE FROM leases WHERE transfer_id = $1 AND worker = $2",
                &[&transfer_id, &worker],
            )
            .map_err(pg("release lease"))?;
        Ok(())
    }

    pub(super) fn free_tx(&mut self, worker: &str) -> Result<usize> {
        let n = self
            .client
            .execute("DELETE FROM leases WHERE worker <> $1", &[&worker])
            .map_err(pg("free leases"))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn has_work_of(
        &mut self,
        target: &str,
        worker: &str,
        now: Timestamp,
    ) -> Result<bool> {
        Ok(self
            .client
            .query_one(
                concat!(
                    "SELECT EXISTS (SELECT 1 FROM records WHERE target = $1 AND state = 'queued')
                     OR EXISTS (SELECT 1 FROM transfers t WHERE ",
                    claimable!(),
                    ")"
                ),
                &[&target, &now.0, &worker],
            )
            .map_err(pg("look for work"))?
            .get(0))
    }

    /// Waits until another connection (on any machine) enqueues, or opens a transfer
    /// again, or `timeout` passes; the target it named, or `None`. The first call starts
    /// listening: what is enqueued before it is found by [`has_work`](crate::Store), not
    /// here. Wake-ups that arrived meanwhile are returned at once.
    pub fn wait_for_work(&mut self, timeout: Duration) -> Result<Option<String>> {
        self.listen()?;
        let mut notifications = self.client.notifications();
        let next = notifications.timeout_iter(timeout).next();
        next.map(|n| n.map(|n| n.payload().to_string()))
            .map_err(pg("wait for work"))
    }

    /// Starts listening for wake-ups (once per connection).
    pub fn listen(&mut self) -> Result<()> {
        if !self.listening {
            self.client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .map_err(pg("listen for work"))?;
            self.listening = true;
        }
        Ok(())
    }
}

impl PgStore {
    pub(super) fn backoffs_of(&mut self) -> Result<Vec<Backoff>> {
        Ok(self
            .client
            .query(
                "SELECT target, failures, next_at FROM target_backoff ORDER BY target",
                &[],
            )
            .map_err(pg("read backoffs"))?
            .iter()
            .map(|r| Backoff {
                target: r.get(0),
                failures: u32::try_from(r.get::<_, i64>(1)).unwrap_or(u32::MAX),
                next_at: Timestamp(r.get(2)),
            })
            .collect())
    }

    pub(super) fn set_backoff_of(
        &mut self,
        target: &str,
        backoff: Option<(u32, Timestamp)>,
    ) -> Result<()> {
        match backoff {
            Some((failures, next_at)) => self.client.execute(
                "INSERT INTO target_backoff (target, failures, next_at) VALUES ($1, $2, $3)
                 ON CONFLICT (target) DO UPDATE SET failures = excluded.failures,
                    next_at = excluded.next_at",
                &[&target, &i64::from(failures), &next_at.0],
            ),
            None => self
                .client
                .execute("DELETE FROM target_backoff WHERE target = $1", &[&target]),
        }
        .map_err(pg("record backoff"))?;
        Ok(())
    }
}
