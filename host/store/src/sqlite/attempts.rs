//! The protocol log's rows: written when a try begins and completed when it ends.

use hub_core::state::AttemptResult;
use hub_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::cached::Cached;
use super::{audit, parse_state, sql};
use crate::{Attempt, NewAttempt, PluginStamp, Result};

/// Completes the `begun` entry of an attempt, or adds a new one.
pub(super) fn write_attempt(tx: &Connection, a: &NewAttempt) -> Result<i64> {
    let id = write_attempt_row(tx, a)?;
    audit::attempt(tx, a)?;
    Ok(id)
}

pub(super) fn write_attempt_row(tx: &Connection, a: &NewAttempt) -> Result<i64> {
    let Some(id) = a.begun else {
        return insert_attempt(tx, a);
    };
    let changed = tx
        .run(
            "UPDATE attempts SET duration_ms = ?2, sent = ?3, received = ?4, result = ?5,
                error = ?6 WHERE id = ?1",
            params![
                id,
                i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                a.sent,
                a.received,
                a.result.as_str(),
                a.error
            ],
        )
        .map_err(sql("complete attempt"))?;
    if changed == 0 {
        return insert_attempt(tx, a);
    }
    Ok(id)
}

pub(super) fn insert_attempt(tx: &Connection, a: &NewAttempt) -> Result<i64> {
    tx.run(
        "INSERT INTO attempts (transfer_id, payload_id, started_at, duration_ms, endpoint,
            credential, sent, received, result, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            a.transfer_id,
            a.payload_id,
            a.started_at.0,
            i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
            a.endpoint,
            a.credential,
            a.sent,
            a.received,
            a.result.as_str(),
            a.error
        ],
    )
    .map_err(sql("insert attempt"))?;
    Ok(tx.last_insert_rowid())
}

/// One protocol-log row (the columns of the log's SELECT, in order), its result still
/// text: [`attempts_from`] parses it, so a bad value is a store error, not a SQL one.
pub(crate) fn attempt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Attempt, String)> {
    Ok((
        Attempt {
            id: r.get(0)?,
            transfer_id: r.get(1)?,
            target: r.get(2)?,
            payload: r.get(3)?,
            started_at: Timestamp(r.get(4)?),
            duration_ms: r.get::<_, i64>(5)?.max(0) as u64,
            endpoint: r.get(6)?,
            credential: r.get(7)?,
            sent: r.get(8)?,
            received: r.get(9)?,
            result: AttemptResult::Delivered,
            error: r.get(11)?,
            plugin: PluginStamp {
                name: r.get(12)?,
                version: r.get(13)?,
                sha256: r.get(14)?,
            },
        },
        r.get::<_, String>(10)?,
    ))
}

/// The attempts of [`attempt_row`]s, each with its result parsed.
pub(crate) fn attempts_from(
    rows: impl Iterator<Item = rusqlite::Result<(Attempt, String)>>,
) -> Result<Vec<Attempt>> {
    rows.map(|row| {
        let (mut a, result) = row.map_err(sql("read protocol log"))?;
        a.result = parse_state(&result, AttemptResult::parse)?;
        Ok(a)
    })
    .collect()
}
