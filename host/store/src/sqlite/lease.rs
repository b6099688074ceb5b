//! Leases on transfers for several workers on one store (see migration 005). In SQLite
//! every write is `BEGIN IMMEDIATE`, so a claim is atomic across processes; PostgreSQL
//! does the same with `FOR UPDATE SKIP LOCKED`.

use super::cached::Cached;
use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, sql};
use crate::{Backoff, Result};

/// The one rule of what a worker may claim, for [`claim`] and [`has_work`]: an open
/// transfer of target `?1` whose lease is free or expired at `?2` (or worker `?3`'s own),
/// and the lowest open one of its sequence scope.
macro_rules! claimable {
    () => {
        "t.target = ?1 AND t.state = 'open'
         AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.transfer_id = t.id
                           AND l.until > ?2 AND l.worker <> ?3)
         AND (t.sequence_scope IS NULL OR NOT EXISTS (
               SELECT 1 FROM transfers e WHERE e.target = t.target
                 AND e.state = 'open' AND e.sequence_scope = t.sequence_scope
                 AND e.id < t.id))"
    };
}

/// How many open transfers of `target` other workers hold unexpired leases on: what a
/// per-target limit (`max_in_flight`) counts.
fn others_leasing(
    tx: &rusqlite::Connection,
    target: &str,
    worker: &str,
    now: Timestamp,
) -> Result<i64> {
    tx.one(
        "SELECT count(*) FROM leases l JOIN transfers t ON t.id = l.transfer_id
         WHERE t.target = ?1 AND t.state = 'open' AND l.until > ?2 AND l.worker <> ?3",
        params![target, now.0, worker],
        |r| r.get(0),
    )
    .map_err(sql("count leases"))
}

/// Takes (or takes over) `transfer_id`'s lease for `worker` until `until`, in the
/// caller's transaction; the caller has checked that it may.
fn take(tx: &rusqlite::Connection, transfer_id: i64, worker: &str, until: Timestamp) -> Result<()> {
    tx.run(
        "INSERT INTO leases (transfer_id, worker, until) VALUES (?1, ?2, ?3)
         ON CONFLICT (transfer_id) DO UPDATE SET worker = excluded.worker, until = excluded.until",
        params![transfer_id, worker, until.0],
    )
    .map(|_| ())
    .map_err(sql("take lease"))
}

pub(super) fn claim(
    store: &mut SqliteStore,
    target: &str,
    worker: &str,
    until: Timestamp,
    limit: Option<u32>,
    now: Timestamp,
) -> Result<Option<i64>> {
    let tx = store.write()?;
    if let Some(limit) = limit
        && others_leasing(&tx, target, worker, now)? >= i64::from(limit)
    {
        return Ok(None);
    }
    let id: Option<i64> = tx
        .prepare_cached(concat!(
            "SELECT t.id FROM transfers t WHERE ",
            claimable!(),
            " ORDER BY t.id LIMIT 1"
        ))
        .map_err(sql("prepare claim"))?
        .query_row(params![target, now.0, worker], |r| r.get(0))
        .optional()
        .map_err(sql("claim transfer"))?;
    let Some(id) = id else {
        return Ok(None);
    };
    take(&tx, id, worker, until)?;
    tx.commit().map_err(sql("commit claim"))?;
    Ok(Some(id))
}

pub(super) fn claim_created(
    store: &mut SqliteStore,
    transfer_id: i64,
    worker: &str,
    until: Timestamp,
    limit: Option<u32>,
    now: Timestamp,
) -> Result<bool> {
    let tx = store.write()?;
    let target: Option<String> = tx
        .one(
            "SELECT target FROM transfers WHERE id = ?1",
            [transfer_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql("read the transfer's target"))?;
    let Some(target) = target else {
        return Ok(false);
    };
    if let Some(limit) = limit
        && others_leasing(&tx, &target, worker, now)? >= i64::from(limit)
    {
        return Ok(false);
    }
    let found: Option<i64> = tx
        .one(
            concat!(
                "SELECT t.id FROM transfers t WHERE t.id = ?4 AND ",
                claimable!()
            ),
            params![target, now.0, worker, transfer_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql("claim transfer"))?;
    if found.is_none() {
        return Ok(false);
    }
    take(&tx, transfer_id, worker, until)?;
    tx.commit().map_err(sql("commit claim"))?;
    Ok(true)
}

pub(super) fn renew(
    store: &mut SqliteStore,
    transfer_id: i64,
    worker: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<bool> {
    let tx = store.write()?;
    // Still ours if nobody else took it; a lease of ours that ran out is taken back
    // only while no one else holds it.
    let n = tx
        .run(
            "UPDATE leases SET until = ?3 WHERE transfer_id = ?1 AND worker = ?2",
            params![transfer_id, worker, until.0],
        )
        .map_err(sql("renew lease"))?;
    let held = if n == 1 {
        true
    } else {
        let other: Option<i64> = tx
            .one(
                "SELECT until FROM leases WHERE transfer_id = ?1",
                [transfer_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read lease"))?;
        match other {
            Some(other_until) if other_until > now.0 => false,
            _ => {
                take(&tx, transfer_id, worker, until)?;
                true
            }
        }
    };
    tx.commit().map_err(sql("commit lease"))?;
    Ok(held)
}

pub(super) fn release(store: &mut SqliteStore, transfer_id: i64, worker: &str) -> Result<()> {
    let tx = store.write()?;
    tx.run(
        "DELETE FROM leases WHERE transfer_id = ?1 AND worker = ?2",
        params![transfer_id, worker],
    )
    .map_err(sql("release lease"))?;
    tx.commit().map_err(sql("commit release"))
}

pub(super) fn free(store: &mut SqliteStore, worker: &str) -> Result<usize> {
    let tx = store.write()?;
    let n = tx
        .run("DELETE FROM leases WHERE worker <> ?1", [worker])
        .map_err(sql("free leases"))?;
    tx.commit().map_err(sql("commit freed leases"))?;
    Ok(n)
}

pub(super) fn has_work(
    store: &mut SqliteStore,
    target: &str,
    worker: &str,
    now: Timestamp,
) -> Result<bool> {
    store
        .conn
        .prepare_cached(concat!(
            "SELECT EXISTS (SELECT 1 FROM records WHERE target = ?1 AND state = 'queued')
                 OR EXISTS (SELECT 1 FROM transfers t WHERE ",
            claimable!(),
            ")"
        ))
        .and_then(|mut s| s.query_row(params![target, now.0, worker], |r| r.get(0)))
        .map_err(sql("look for work"))
}

pub(super) fn backoffs(store: &mut SqliteStore) -> Result<Vec<Backoff>> {
    let mut stmt = store
        .conn
        .prepare_cached("SELECT target, failures, next_at FROM target_backoff ORDER BY target")
        .map_err(sql("prepare backoffs"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Backoff {
                target: r.get(0)?,
                failures: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                next_at: Timestamp(r.get(2)?),
            })
        })
        .map_err(sql("read backoffs"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(sql("read backoffs"))
}

pub(super) fn set_backoff(
    store: &mut SqliteStore,
    target: &str,
    backoff: Option<(u32, Timestamp)>,
) -> Result<()> {
    let tx = store.write()?;
    match backoff {
        Some((failures, next_at)) => tx.run(
            "INSERT INTO target_backoff (target, failures, next_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (target) DO UPDATE SET failures = excluded.failures,
                next_at = excluded.next_at",
            params![target, failures, next_at.0],
        ),
        None => tx.run("DELETE FROM target_backoff WHERE target = ?1", [target]),
    }
    .map_err(sql("record backoff"))?;
    tx.commit().map_err(sql("commit backoff"))
}
