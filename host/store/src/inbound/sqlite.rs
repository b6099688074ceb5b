//! SQLite's side of the receiving store: [`InboundStore`] for [`SqliteStore`] and the
//! statements the importing transaction shares with it.

use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{
    Answer, Arrival, ImportTx, InboundStore, InboundTransportView, KnownTransport, PairView,
    VersionView, archive_bytes, pairs_from, to_i64, version_body,
};
use crate::sqlite::sql;
use crate::{Result, SqliteStore, StoreError};

/// Stores an answer's `len` bytes, read from `bytes`, through SQLite's incremental blob
/// I/O, so a receipt of any length is never held whole. The caller commits.
pub(super) fn put_answer_bytes(
    tx: &rusqlite::Connection,
    answer: i64,
    bytes: &mut dyn std::io::Read,
    len: u64,
) -> Result<()> {
    let what = "store an answer";
    let mut blob = archive_bytes::new_blob(tx, "inbound_answer_bytes", answer, len, what)?;
    archive_bytes::fill(&mut blob, bytes, len, what)
}

fn known(row: &rusqlite::Row<'_>) -> rusqlite::Result<KnownTransport> {
    Ok(KnownTransport {
        id: row.get(0)?,
        state: row.get(1)?,
        sha256: row.get(2)?,
        file_name: row.get(3)?,
        arrived_at: row.get(4)?,
        imported_at: row.get(5)?,
    })
}

pub(super) fn next_number(
    conn: &rusqlite::Connection,
    inbound: &str,
    sender: &str,
    receiver: &str,
) -> Result<u64> {
    let max: Option<i64> = conn
        .query_row(
            "SELECT MAX(number) FROM inbound_transports
             WHERE inbound = ?1 AND sender = ?2 AND receiver = ?3 AND state = 'imported'",
            params![inbound, sender, receiver],
            |r| r.get(0),
        )
        .map_err(sql("read the next transport number"))?;
    Ok(u64::try_from(max.unwrap_or(0)).unwrap_or(0) + 1)
}

/// Stores an arriving transport's row and its bytes; the caller commits.
pub(super) fn insert_arrival(
    tx: &rusqlite::Connection,
    ring: Option<&crate::seal::Keyring>,
    a: &Arrival<'_>,
    state: &str,
    now: Timestamp,
) -> Result<i64> {
    tx.execute(
        "INSERT INTO inbound_transports
         (inbound, sender, receiver, number, transport_guid, file_name, sha256, size, state, arrived_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            a.inbound,
            a.sender,
            a.receiver,
            to_i64(a.number),
            a.transport_guid,
            a.file_name,
            a.sha256,
            to_i64(a.bytes.size()),
            state,
            now.0
        ],
    )
    .map_err(sql("store an arriving transport"))?;
    let id = tx.last_insert_rowid();
    archive_bytes::store(tx, ring, id, a.bytes)?;
    Ok(id)
}

/// The columns of [`InboundTransportView`], for [`transport_view`].
const TRANSPORT_VIEW: &str = "SELECT id, inbound, sender, receiver, number, state, file_name, \
     size, arrived_at, imported_at, records, rejected, documents FROM inbound_transports";

fn transport_view(r: &rusqlite::Row<'_>) -> rusqlite::Result<InboundTransportView> {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(InboundTransportView {
        id: r.get(0)?,
        inbound: r.get(1)?,
        sender: r.get(2)?,
        receiver: r.get(3)?,
        number: n(r.get(4)?),
        state: r.get(5)?,
        file_name: r.get(6)?,
        size: n(r.get(7)?),
        arrived_at: r.get(8)?,
        imported_at: r.get(9)?,
        records: n(r.get(10)?),
        rejected: n(r.get(11)?),
        documents: n(r.get(12)?),
    })
}

impl InboundStore for SqliteStore {
    fn inbound_known(
        &mut self,
        inbound: &str,
        sender: &str,
        receiver: &str,
        number: u64,
    ) -> Result<Option<KnownTransport>> {
        self.conn
            .query_row(
                "SELECT id, state, sha256, file_name, arrived_at, imported_at
                 FROM inbound_transports
                 WHERE inbound = ?1 AND sender = ?2 AND receiver = ?3 AND number = ?4",
                params![inbound, sender, receiver, to_i64(number)],
                known,
            )
            .optional()
            .map_err(sql("look up a transport"))
    }

    fn inbound_next(&mut self, inbound: &str, sender: &str, receiver: &str) -> Result<u64> {
        next_number(&self.conn, inbound, sender, receiver)
    }

    fn inbound_hold(&mut self, a: &Arrival<'_>, now: Timestamp) -> Result<i64> {
        let ring = self.keyring.clone();
        let tx = self.write()?;
        let id = insert_arrival(&tx, ring.as_deref(), a, "held", now)?;
        tx.commit().map_err(sql("commit a held transport"))?;
        Ok(id)
    }

    fn inbound_held_bytes(&mut self, id: i64, into: &mut dyn std::io::Write) -> Result<String> {
        archive_bytes::read(&self.conn, self.keyring.as_deref(), id, into)
    }

    fn inbound_refuse_held(&mut self, id: i64, reason: &str, now: Timestamp) -> Result<()> {
        let tx = self.write()?;
        let n = tx
            .execute(
                "INSERT INTO inbound_refused (inbound, file_name, sha256, reason, at)
                 SELECT inbound, file_name, sha256, ?2, ?3 FROM inbound_transports
                 WHERE id = ?1 AND state = 'held'",
                params![id, reason, now.0],
            )
            .map_err(sql("note a refused held transport"))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no held transport #{id}")));
        }
        tx.execute(
            "DELETE FROM inbound_bytes WHERE transport = ?1",
            params![id],
        )
        .map_err(sql("drop a refused transport's bytes"))?;
        tx.execute("DELETE FROM inbound_transports WHERE id = ?1", params![id])
            .map_err(sql("drop a refused held transport"))?;
        tx.commit().map_err(sql("commit a refused held transport"))
    }

    fn inbound_request(
        &mut self,
        inbound: &str,
        name: &str,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<bool> {
        let tx = self.write()?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO inbound_answers (inbound, kind, name, state, created_at)
                 VALUES (?1, 'request', ?2, 'pending', ?3)",
                params![inbound, name, now.0],
            )
            .map_err(sql("store a re-transmission request"))?;
        if n > 0 {
            let mut read = bytes;
            put_answer_bytes(&tx, tx.last_insert_rowid(), &mut read, bytes.len() as u64)?;
        }
        tx.commit()
            .map_err(sql("commit a re-transmission request"))?;
        Ok(n > 0)
    }

    fn pending_answers(&mut self, inbound: &str) -> Result<Vec<Answer>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.id, a.name, length(b.bytes) FROM inbound_answers a
                 JOIN inbound_answer_bytes b ON b.answer = a.id
                 WHERE a.inbound = ?1 AND a.state = 'pending' ORDER BY a.id",
            )
            .map_err(sql("read pending answers"))?;
        let rows = stmt
            .query_map(params![inbound], |r| {
                Ok(Answer {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                })
            })
            .map_err(sql("read pending answers"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("read pending answers"))
    }

    fn answer_bytes(&mut self, id: i64) -> Result<Box<dyn std::io::Read + '_>> {
        let blob = self
            .conn
            .blob_open(rusqlite::MAIN_DB, "inbound_answer_bytes", "bytes", id, true)
            .map_err(sql("read an answer"))?;
        Ok(Box::new(blob))
    }

    fn answers_owed(&mut self, inbound: &str) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM inbound_answers WHERE inbound = ?1 AND state = 'pending' LIMIT 1",
            )
            .and_then(|mut stmt| stmt.exists(params![inbound]))
            .map_err(sql("look for pending answers"))
    }

    fn answer_delivered(&mut self, id: i64, now: Timestamp) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE inbound_answers SET state = 'delivered', delivered_at = ?2 WHERE id = ?1",
            params![id, now.0],
        )
        .map_err(sql("mark an answer delivered"))?;
        tx.commit().map_err(sql("commit a delivered answer"))
    }

    fn inbound_refuse(
        &mut self,
        inbound: &str,
        file_name: &str,
        sha256: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO inbound_refused (inbound, file_name, sha256, reason, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![inbound, file_name, sha256, reason, now.0],
        )
        .map_err(sql("note a refused archive"))?;
        tx.commit().map_err(sql("commit a refused archive"))
    }

    fn inbound_pairs(&mut self, inbound: &str) -> Result<Vec<PairView>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sender, receiver, number, state, arrived_at FROM inbound_transports
                 WHERE inbound = ?1 ORDER BY sender, receiver, number",
            )
            .map_err(sql("read transport pairs"))?;
        let rows = stmt
            .query_map(params![inbound], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(sql("read transport pairs"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("read transport pairs"))?;
        pairs_from(rows)
    }

    fn inbound_begin<'a>(
        &'a mut self,
        a: &Arrival<'_>,
        now: Timestamp,
    ) -> Result<Box<dyn ImportTx + 'a>> {
        Ok(Box::new(self.begin_import(a, now)?))
    }

    fn inbound_transports(
        &mut self,
        inbound: Option<&str>,
        limit: usize,
    ) -> Result<Vec<InboundTransportView>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "{TRANSPORT_VIEW} WHERE ?1 IS NULL OR inbound = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(sql("list arrived transports"))?;
        stmt.query_map(
            params![inbound, i64::try_from(limit).unwrap_or(i64::MAX)],
            transport_view,
        )
        .map_err(sql("list arrived transports"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql("list arrived transports"))
    }

    fn inbound_archive(&mut self, id: i64) -> Result<(InboundTransportView, Vec<u8>)> {
        let view = self
            .conn
            .query_row(
                &format!("{TRANSPORT_VIEW} WHERE id = ?1"),
                params![id],
                transport_view,
            )
            .optional()
            .map_err(sql("read an arrived transport"))?
            .ok_or_else(|| {
                StoreError::NotFound(format!("received transport {id} does not exist"))
            })?;
        let mut bytes = Vec::new();
        archive_bytes::read(&self.conn, self.keyring.as_deref(), id, &mut bytes)?;
        Ok((view, bytes))
    }

    fn record_versions(&mut self, record_id: &str) -> Result<Vec<VersionView>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT v.record_id, v.version, v.kind, v.action, v.result, v.code, v.message,
                        t.inbound, t.sender, t.number, v.file, t.imported_at, v.body,
                        v.body_key, v.id
                 FROM record_versions v JOIN inbound_transports t ON t.id = v.transport
                 WHERE v.record_id = ?1 ORDER BY v.version, v.id",
            )
            .map_err(sql("read record versions"))?;
        let rows = stmt
            .query_map(params![record_id], |r| {
                let (stored, key, id): (String, Option<String>, i64) =
                    (r.get(12)?, r.get(13)?, r.get(14)?);
                Ok((
                    stored,
                    key,
                    id,
                    VersionView {
                        record_id: r.get(0)?,
                        version: r.get(1)?,
                        kind: r.get(2)?,
                        action: r.get(3)?,
                        result: r.get(4)?,
                        code: r.get(5)?,
                        message: r.get(6)?,
                        inbound: r.get(7)?,
                        sender: r.get(8)?,
                        transport_number: u64::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
                        file: r.get(10)?,
                        imported_at: r.get(11)?,
                        body: serde_json::Value::Null,
                    },
                ))
            })
            .map_err(sql("read record versions"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("read record versions"))?;
        let ring = self.keyring.as_deref();
        rows.into_iter()
            .map(|(stored, key, id, mut v)| {
                v.body = version_body(ring, stored, key.as_deref(), id)?;
                Ok(v)
            })
            .collect()
    }
}
