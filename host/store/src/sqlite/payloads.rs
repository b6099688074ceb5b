//! A payload's bytes, request and records as the transports and plugins read them: kept
//! compressed (and sealed, where configured), streamed to a transport in chunks.

use rusqlite::OptionalExtension;

use super::cached::Cached;
use super::{SqliteStore, packed, retention, sealed_record, sql};
use crate::{Result, StoredRecord};

pub(super) fn payload_bytes(this: &mut SqliteStore, payload_id: i64) -> Result<Vec<u8>> {
    let (bytes, key, codec, size): (Vec<u8>, Option<String>, Option<String>, i64) = this
        .conn
        .one(
            "SELECT b.bytes, b.key_id, b.codec, p.size FROM payload_bytes b
             JOIN payloads p ON p.id = b.payload_id WHERE b.payload_id = ?1",
            [payload_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(sql("read payload"))?
        .ok_or_else(|| retention::missing_bytes(&this.conn, payload_id))?;
    let opened =
        crate::seal::open_bytes(this.keyring.as_deref(), key.as_deref(), bytes, payload_id)?;
    packed::unpack(codec.as_deref(), opened, size.max(0) as u64, payload_id)
}

pub(super) fn send_payload(
    this: &mut SqliteStore,
    payload_id: i64,
    send: &mut dyn FnMut(&mut dyn std::io::Read, u64) -> std::result::Result<(), ()>,
) -> Result<std::result::Result<(), ()>> {
    let found: Option<(bool, Option<String>, i64, String, String)> = this
        .conn
        .one(
            "SELECT b.key_id IS NOT NULL, b.codec, p.size, p.sha256, p.name FROM payload_bytes b
             JOIN payloads p ON p.id = b.payload_id WHERE b.payload_id = ?1",
            [payload_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(sql("read payload"))?;
    let Some((false, codec, size, sha256, name)) = found else {
        // Sealed bytes are opened whole (one authenticated box); a missing row gets
        // its explanation there.
        let bytes = payload_bytes(this, payload_id)?;
        return Ok(send(&mut bytes.as_slice(), bytes.len() as u64));
    };
    // The row's rowid is its payload_id (INTEGER PRIMARY KEY). The handle holds a
    // read transaction while it is open; in WAL the writer is not held up by it.
    let blob = this
        .conn
        .blob_open(
            rusqlite::MAIN_DB,
            "payload_bytes",
            "bytes",
            payload_id,
            true,
        )
        .map_err(sql("open payload"))?;
    let size = size.max(0) as u64;
    let reader = packed::reader(codec.as_deref(), blob, size, payload_id)?;
    let what = format!("payload #{payload_id} ({name})");
    let mut reader = packed::Watched::new(reader, size, sha256, what);
    let sent = send(&mut reader, size);
    // A fault in the stored bytes is the store's error, not the connection's: another
    // try would send the same damaged bytes again.
    match reader.fault() {
        Some(damaged) => Err(damaged),
        None => Ok(sent),
    }
}

pub(super) fn payload_request(
    this: &mut SqliteStore,
    payload_id: i64,
) -> Result<Option<hub_plugin_sdk::RequestShape>> {
    let text: Option<String> = this
        .conn
        .one(
            "SELECT request FROM payloads WHERE id = ?1",
            [payload_id],
            |r| r.get(0),
        )
        .map_err(sql("read payload request"))?;
    crate::parse_request(payload_id, text)
}

pub(super) fn payload_records(
    this: &mut SqliteStore,
    payload_id: i64,
) -> Result<Vec<StoredRecord>> {
    let mut stmt = this
        .conn
        .prepare_cached(
            "SELECT r.seq, r.record_id, r.kind, r.body, r.body_key FROM payload_records pr
             JOIN records r ON r.seq = pr.record_seq
             WHERE pr.payload_id = ?1 ORDER BY r.seq",
        )
        .map_err(sql("prepare payload records"))?;
    let rows = stmt
        .query_map([payload_id], |r| sealed_record(&this.bodies, &this.conn, r))
        .map_err(sql("list payload records"))?;
    let rows = rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("list payload records"))?;
    Ok(crate::seal::open_records(this.keyring.as_deref(), rows)?)
}
