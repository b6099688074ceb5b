//! What a transfer was encoded from, read back for `hub audit reencode` (SQLite).

use super::cached::Cached;
use hub_core::time::Timestamp;
use rusqlite::OptionalExtension;

use super::{SqliteStore, sql};
use crate::{InputRecord, RecordedInputs, Result, StoreError, StoredRecord};

pub(super) fn recorded(store: &mut SqliteStore, transfer_id: i64) -> Result<RecordedInputs> {
    let context: Option<String> = store
        .conn
        .one(
            "SELECT encode_inputs FROM transfers WHERE id = ?1",
            [transfer_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql("read encode inputs"))?
        .ok_or_else(|| StoreError::NotFound(format!("transfer #{transfer_id} does not exist")))?;
    let mut stmt = store
        .conn
        .prepare_cached(
            // Hashes are 32-byte BLOBs since schema 022; the hub speaks hex.
            "SELECT DISTINCT r.seq, r.record_id, r.kind, r.body, r.body_key,
                    CASE typeof(r.body_sha256) WHEN 'blob' THEN lower(hex(r.body_sha256))
                         ELSE r.body_sha256 END,
                    r.purged_at
             FROM payloads p JOIN payload_records pr ON pr.payload_id = p.id
             JOIN records r ON r.seq = pr.record_seq
             WHERE p.transfer_id = ?1 ORDER BY r.seq",
        )
        .map_err(sql("prepare transfer records"))?;
    let rows = stmt
        .query_map([transfer_id], |r| {
            Ok((
                (
                    StoredRecord {
                        seq: r.get(0)?,
                        id: r.get(1)?,
                        kind: r.get(2)?,
                        body: store.bodies.text(&store.conn, r, 3)?,
                    },
                    r.get::<_, Option<String>>(4)?,
                ),
                r.get::<_, String>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })
        .map_err(sql("list transfer records"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("list transfer records"))?;
    let (sealed, proofs): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|(sealed, sha, purged)| (sealed, (sha, purged)))
        .unzip();
    let opened = crate::seal::open_records(store.keyring.as_deref(), sealed)?;
    Ok(RecordedInputs {
        context,
        records: opened
            .into_iter()
            .zip(proofs)
            .map(|(r, (body_sha256, purged))| InputRecord {
                seq: r.seq,
                id: r.id,
                kind: r.kind,
                body: r.body,
                body_sha256,
                purged_at: purged.map(Timestamp),
            })
            .collect(),
    })
}
