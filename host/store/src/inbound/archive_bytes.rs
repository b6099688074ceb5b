//! An arrived archive's bytes in SQLite: streamed in through incremental blob I/O and out
//! again, sealed frame by frame under the tenant's current key when there is one (the key
//! id goes on the transport's row, `inbound_transports.bytes_key`).

use rusqlite::{OptionalExtension, params};

use super::{Bytes, to_i64};
use crate::seal::{self, Keyring, Purpose};
use crate::sqlite::sql;
use crate::{Result, StoreError};

/// Makes row `rowid` of `table` (`transport` or `answer` its key, `bytes` its last
/// column) with a zeroblob of `len` bytes, and opens the blob for writing. The blob being
/// the row's last column, SQLite never builds it in memory. The caller commits.
pub(super) fn new_blob<'c>(
    tx: &'c rusqlite::Connection,
    table: &'static str,
    rowid: i64,
    len: u64,
    what: &'static str,
) -> Result<rusqlite::blob::Blob<'c>> {
    let key = match table {
        "inbound_answer_bytes" => "answer",
        _ => "transport",
    };
    tx.execute(
        &format!("INSERT INTO {table} ({key}, bytes) VALUES (?1, zeroblob(?2))"),
        params![rowid, to_i64(len)],
    )
    .map_err(sql(what))?;
    tx.blob_open(rusqlite::MAIN_DB, table, "bytes", rowid, false)
        .map_err(sql(what))
}

/// Copies exactly `len` bytes into `blob`.
pub(super) fn fill(
    blob: &mut rusqlite::blob::Blob<'_>,
    bytes: &mut dyn std::io::Read,
    len: u64,
    what: &'static str,
) -> Result<()> {
    let copied = std::io::copy(bytes, blob).map_err(|source| StoreError::Io {
        context: what,
        source,
    })?;
    if copied != len {
        return Err(StoreError::Refused(format!(
            "{what}: {copied} bytes, {len} were announced"
        )));
    }
    Ok(())
}

/// Keeps transport `id`'s bytes, sealed when `ring` has a current key. The caller commits.
pub(super) fn store(
    tx: &rusqlite::Connection,
    ring: Option<&Keyring>,
    id: i64,
    bytes: Bytes<'_>,
) -> Result<()> {
    let what = "keep a transport's bytes";
    let len = bytes.size();
    match ring.filter(|r| r.current().is_some()) {
        Some(r) => {
            let mut blob = new_blob(tx, "inbound_bytes", id, seal::sealed_len(len), what)?;
            let key = r.seal_stream(
                Purpose::ReceivedArchive,
                &mut bytes.reader(),
                len,
                &mut blob,
                &|| format!("received transport #{id}"),
            )?;
            tx.execute(
                "UPDATE inbound_transports SET bytes_key = ?2 WHERE id = ?1",
                params![id, key],
            )
            .map_err(sql(what))?;
        }
        None => {
            let mut blob = new_blob(tx, "inbound_bytes", id, len, what)?;
            fill(&mut blob, &mut bytes.reader(), len, what)?;
        }
    }
    Ok(())
}

/// Writes transport `id`'s bytes, opened when sealed, to `into`; returns its file name.
pub(super) fn read(
    conn: &rusqlite::Connection,
    ring: Option<&Keyring>,
    id: i64,
    into: &mut dyn std::io::Write,
) -> Result<String> {
    let what = "read an arrived transport's bytes";
    let (name, key): (String, Option<String>) = conn
        .query_row(
            "SELECT t.file_name, t.bytes_key FROM inbound_transports t
             JOIN inbound_bytes b ON b.transport = t.id WHERE t.id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql(what))?
        .ok_or_else(|| StoreError::NotFound(format!("no bytes of received transport {id}")))?;
    let mut blob = conn
        .blob_open(rusqlite::MAIN_DB, "inbound_bytes", "bytes", id, true)
        .map_err(sql(what))?;
    match key {
        Some(key) => {
            let name_it = || format!("received transport #{id}");
            let ring = ring.ok_or_else(|| seal::SealError::KeyMissing {
                what: name_it(),
                key: key.clone(),
            })?;
            let len = blob.len() as u64;
            seal::open_stream(
                ring,
                &key,
                Purpose::ReceivedArchive,
                &mut blob,
                len,
                into,
                &name_it,
            )?;
        }
        None => {
            std::io::copy(&mut blob, into).map_err(|source| StoreError::Io {
                context: what,
                source,
            })?;
        }
    }
    Ok(name)
}

/// Re-seals up to `limit` received versions' bodies and `limit` arrived archives sealed
/// under `from` (`None`: stored plain) under `ring`'s current key, in the caller's
/// transaction; returns how many of each. An archive is opened into memory whole (at most
/// the inbound's `max_archive_mb`) and streamed back sealed.
pub(crate) fn reseal_received(
    tx: &rusqlite::Connection,
    ring: &Keyring,
    from: Option<&str>,
    limit: i64,
) -> Result<(usize, usize)> {
    let versions: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare(
                "SELECT id, body FROM record_versions WHERE body_key IS ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(sql("prepare re-seal"))?;
        stmt.query_map(params![from, limit], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql("read received bodies to re-seal"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("read received bodies to re-seal"))?
    };
    for (id, stored) in &versions {
        let body = seal::open_text(
            Some(ring),
            Purpose::ReceivedBody,
            from,
            stored.clone(),
            &|| format!("the body of received version #{id}"),
        )?;
        let (sealed, key) = seal::seal_text(Some(ring), Purpose::ReceivedBody, &body)?;
        tx.execute(
            "UPDATE record_versions SET body = ?2, body_key = ?3 WHERE id = ?1",
            params![id, sealed, key],
        )
        .map_err(sql("re-seal a received body"))?;
    }
    let archives: Vec<i64> = {
        let mut stmt = tx
            .prepare(
                "SELECT t.id FROM inbound_transports t JOIN inbound_bytes b ON b.transport = t.id
                 WHERE t.bytes_key IS ?1 ORDER BY t.id LIMIT ?2",
            )
            .map_err(sql("prepare re-seal"))?;
        stmt.query_map(params![from, limit], |r| r.get(0))
            .map_err(sql("read archives to re-seal"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("read archives to re-seal"))?
    };
    for id in &archives {
        let mut plain = Vec::new();
        read(tx, Some(ring), *id, &mut plain)?;
        tx.execute(
            "DELETE FROM inbound_bytes WHERE transport = ?1",
            params![id],
        )
        .map_err(sql("re-seal an archive"))?;
        tx.execute(
            "UPDATE inbound_transports SET bytes_key = NULL WHERE id = ?1",
            params![id],
        )
        .map_err(sql("re-seal an archive"))?;
        store(tx, Some(ring), *id, Bytes::Memory(&plain))?;
    }
    Ok((versions.len(), archives.len()))
}
