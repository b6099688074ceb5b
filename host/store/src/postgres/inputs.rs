//! What a transfer was encoded from, read back for `hub audit reencode` (PostgreSQL).

use hub_core::time::Timestamp;

use super::{PgStore, pg};
use crate::{InputRecord, RecordedInputs, Result, StoreError, StoredRecord};

pub(super) fn recorded(store: &mut PgStore, transfer_id: i64) -> Result<RecordedInputs> {
    let context: Option<String> = store
        .client
        .query_opt(
            "SELECT encode_inputs FROM transfers WHERE id = $1",
            &[&transfer_id],
        )
        .map_err(pg("read encode inputs"))?
        .ok_or_else(|| StoreError::NotFound(format!("transfer #{transfer_id} does not exist")))?
        .get(0);
    let rows = store
        .client
        .query(
            "SELECT DISTINCT r.seq, r.record_id, r.kind, r.body, r.body_key, r.body_sha256,
                    r.purged_at
             FROM payloads p JOIN payload_records pr ON pr.payload_id = p.id
             JOIN records r ON r.seq = pr.record_seq
             WHERE p.transfer_id = $1 ORDER BY r.seq",
            &[&transfer_id],
        )
        .map_err(pg("list transfer records"))?;
    let mut sealed = Vec::with_capacity(rows.len());
    let mut proofs = Vec::with_capacity(rows.len());
    for r in &rows {
        sealed.push((
            StoredRecord {
                seq: r.get(0),
                id: r.get(1),
                kind: r.get(2),
                body: r.get(3),
            },
            r.get::<_, Option<String>>(4),
        ));
        proofs.push((r.get::<_, String>(5), r.get::<_, Option<i64>>(6)));
    }
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
