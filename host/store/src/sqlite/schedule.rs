//! Schedule looks (migration 012): which worker runs a scheduled slot.

use super::cached::Cached;
use hub_core::time::Timestamp;
use rusqlite::params;

use super::{SqliteStore, sql};
use crate::Result;

pub(super) fn looks(store: &mut SqliteStore) -> Result<Vec<(String, Timestamp)>> {
    let mut stmt = store
        .conn
        .prepare_cached("SELECT target, looked_at FROM schedule_looks ORDER BY target")
        .map_err(sql("prepare schedule looks"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, Timestamp(r.get(1)?))))
        .map_err(sql("read schedule looks"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(sql("read schedule looks"))
}

pub(super) fn first_look(store: &mut SqliteStore, target: &str, at: Timestamp) -> Result<()> {
    let tx = store.write()?;
    tx.run(
        "INSERT INTO schedule_looks (target, looked_at) VALUES (?1, ?2)
         ON CONFLICT (target) DO NOTHING",
        params![target, at.0],
    )
    .map_err(sql("note a first look"))?;
    tx.commit().map_err(sql("commit a first look"))
}

pub(super) fn take_slot(
    store: &mut SqliteStore,
    target: &str,
    slot: Timestamp,
    now: Timestamp,
) -> Result<bool> {
    let tx = store.write()?;
    let changed = tx
        .run(
            "INSERT INTO schedule_looks (target, looked_at) VALUES (?1, ?3)
             ON CONFLICT (target) DO UPDATE SET looked_at = excluded.looked_at
             WHERE schedule_looks.looked_at < ?2",
            params![target, slot.0, now.0],
        )
        .map_err(sql("take a schedule slot"))?;
    tx.commit().map_err(sql("commit a schedule slot"))?;
    Ok(changed == 1)
}
