//! The receiving side's store: transports that arrived (held or imported), the record
//! versions they carried, and the answers owed to their senders.
//!
//! The importer decides; the store guarantees: a transport is imported only as its pair's
//! next number (checked inside the importing transaction), its versions and its receipt
//! are written in that same transaction, and a held transport keeps its bytes until its
//! turn comes.

use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::sqlite::sql;
use crate::{Result, SqliteStore, StoreError};

mod archive_bytes;
mod bytes;
mod importing;
pub(crate) use archive_bytes::reseal_received;
pub use bytes::{Bytes, FileAt};
pub use importing::RecordFacts;

/// Where one transport number of a pair stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownTransport {
    pub id: i64,
    pub state: String,
    pub sha256: String,
    pub file_name: String,
    pub arrived_at: i64,
    pub imported_at: Option<i64>,
}

/// The header of an arriving transport and its archive.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    pub inbound: &'a str,
    pub sender: &'a str,
    pub receiver: &'a str,
    pub number: u64,
    pub transport_guid: &'a str,
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub bytes: Bytes<'a>,
}

/// One record version to store with an imported transport.
#[derive(Debug, Clone, Serialize)]
pub struct NewVersion {
    pub record_id: String,
    pub version: u32,
    pub kind: String,
    pub action: Option<String>,
    pub file: String,
    pub imported: bool,
    pub code: Option<String>,
    pub message: Option<String>,
    pub body: String,
}

/// A file owed to a sender (its bytes are read with [`InboundStore::answer_bytes`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: i64,
    pub name: String,
    pub size: u64,
}

/// A stored record version, for `hub records show`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub record_id: String,
    pub version: u32,
    pub kind: String,
    pub action: Option<String>,
    pub result: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub inbound: String,
    pub sender: String,
    pub transport_number: u64,
    pub file: String,
    pub imported_at: Option<i64>,
    pub body: serde_json::Value,
}

/// A sender/receiver pair as the receiving side sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PairView {
    pub sender: String,
    pub receiver: String,
    /// The last number imported (0: none yet).
    pub imported_up_to: u64,
    /// Numbers that arrived early and wait for the ones before them.
    pub held: Vec<u64>,
    /// Numbers not yet seen below the highest held one.
    pub missing: Vec<u64>,
    /// When the oldest held transport arrived (ms since the epoch): how long the pair
    /// has been waiting.
    pub waiting_since: Option<i64>,
}

/// The receiving side's store operations; each is one transaction.
pub trait InboundStore {
    /// What is known of this number of the pair.
    fn inbound_known(
        &mut self,
        inbound: &str,
        sender: &str,
        receiver: &str,
        number: u64,
    ) -> Result<Option<KnownTransport>>;

    /// The pair's next number to import (1 when none was imported yet).
    fn inbound_next(&mut self, inbound: &str, sender: &str, receiver: &str) -> Result<u64>;

    /// Keeps a transport that arrived before its turn, with its bytes.
    fn inbound_hold(&mut self, a: &Arrival<'_>, now: Timestamp) -> Result<i64>;

    /// Writes a held transport's bytes to `into`, as a stream; returns its file name.
    fn inbound_held_bytes(&mut self, id: i64, into: &mut dyn std::io::Write) -> Result<String>;

    /// Refuses a held transport that cannot be imported after all (unreadable, over a
    /// limit, a store error): its row and bytes go, the refusal is noted, and its number
    /// is missing again, to be reported and requested.
    fn inbound_refuse_held(&mut self, id: i64, reason: &str, now: Timestamp) -> Result<()>;

    /// Records a request for re-transmission to deliver (one per name: asking twice for the
    /// same numbers writes it once).
    fn inbound_request(
        &mut self,
        inbound: &str,
        name: &str,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<bool>;

    /// Answers not yet delivered, oldest first (names and sizes, not their bytes).
    fn pending_answers(&mut self, inbound: &str) -> Result<Vec<Answer>>;

    /// An answer's bytes as a stream, so a receipt of any length is never held whole.
    fn answer_bytes(&mut self, id: i64) -> Result<Box<dyn std::io::Read + '_>>;

    /// Whether any answer waits for delivery (without reading the answers).
    fn answers_owed(&mut self, inbound: &str) -> Result<bool>;

    /// Marks an answer delivered.
    fn answer_delivered(&mut self, id: i64, now: Timestamp) -> Result<()>;

    /// Notes an archive refused before anything was imported.
    fn inbound_refuse(
        &mut self,
        inbound: &str,
        file_name: &str,
        sha256: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<()>;

    /// Every pair of this inbound with its numbering state.
    fn inbound_pairs(&mut self, inbound: &str) -> Result<Vec<PairView>>;

    /// Every stored version of a record, oldest first.
    fn record_versions(&mut self, record_id: &str) -> Result<Vec<VersionView>>;

    /// The transports that arrived at `inbound` (every inbound: `None`), newest first,
    /// at most `limit`.
    fn inbound_transports(
        &mut self,
        inbound: Option<&str>,
        limit: usize,
    ) -> Result<Vec<InboundTransportView>>;

    /// An arrived transport and its bytes, as they arrived (held or imported).
    fn inbound_archive(&mut self, id: i64) -> Result<(InboundTransportView, Vec<u8>)>;

    /// Starts importing a transport: refuses unless it is its pair's next number, and
    /// stores it (or takes its held row) in a transaction that [`ImportTx::finish`]
    /// commits; dropped unfinished, nothing of it stays.
    fn inbound_begin<'a>(
        &'a mut self,
        a: &Arrival<'_>,
        now: Timestamp,
    ) -> Result<Box<dyn ImportTx + 'a>>;
}

/// A transport being imported as a stream, inside its transaction.
pub trait ImportTx {
    /// What the store knows of this record, including versions added earlier in this
    /// transaction.
    fn facts(&self, record_id: &str, version: u32) -> Result<importing::RecordFacts>;

    /// Adds one record version.
    fn add(&mut self, v: &NewVersion) -> Result<()>;

    /// Writes the receipt and commits; returns the transport's id.
    fn finish(
        self: Box<Self>,
        documents: u32,
        receipt: (&str, &[u8]),
        now: Timestamp,
    ) -> Result<i64> {
        let (name, mut bytes) = receipt;
        let len = bytes.len() as u64;
        self.finish_from(documents, name, &mut bytes, len, now)
    }

    /// As [`ImportTx::finish`], with the receipt's `len` bytes read from `receipt` and
    /// written into the store piece by piece, so a receipt of any length is never held
    /// whole.
    fn finish_from(
        self: Box<Self>,
        documents: u32,
        name: &str,
        receipt: &mut dyn std::io::Read,
        len: u64,
        now: Timestamp,
    ) -> Result<i64>;
}

/// Stores an answer's `len` bytes, read from `bytes`, through SQLite's incremental blob
/// I/O, so a receipt of any length is never held whole. The caller commits.
fn put_answer_bytes(
    tx: &rusqlite::Connection,
    answer: i64,
    bytes: &mut dyn std::io::Read,
    len: u64,
) -> Result<()> {
    let what = "store an answer";
    let mut blob = archive_bytes::new_blob(tx, "inbound_answer_bytes", answer, len, what)?;
    archive_bytes::fill(&mut blob, bytes, len, what)
}

/// A transport that arrived, for the status page and `hub records view`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundTransportView {
    pub id: i64,
    pub inbound: String,
    pub sender: String,
    pub receiver: String,
    pub number: u64,
    /// `held` (waiting for an earlier number) or `imported`.
    pub state: String,
    pub file_name: String,
    pub size: u64,
    pub arrived_at: i64,
    pub imported_at: Option<i64>,
    pub records: u64,
    pub rejected: u64,
    pub documents: u64,
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

fn next_number(
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
fn insert_arrival(
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

/// The pairs' numbering state from their transports' rows (`sender, receiver, number,
/// state, arrived_at`, ordered by sender, receiver and number); one rule for every backend.
pub(crate) fn pairs_from(rows: Vec<(String, String, i64, String, i64)>) -> Result<Vec<PairView>> {
    let mut pairs: Vec<PairView> = Vec::new();
    for (sender, receiver, number, state, arrived_at) in rows {
        let number = u64::try_from(number).unwrap_or(0);
        let pair = match pairs.last_mut() {
            Some(p) if p.sender == sender && p.receiver == receiver => p,
            _ => {
                pairs.push(PairView {
                    sender,
                    receiver,
                    imported_up_to: 0,
                    held: Vec::new(),
                    missing: Vec::new(),
                    waiting_since: None,
                });
                pairs
                    .last_mut()
                    .ok_or_else(|| StoreError::Corrupt("transport pairs vanished".into()))?
            }
        };
        if state == "imported" {
            pair.imported_up_to = pair.imported_up_to.max(number);
        } else {
            pair.held.push(number);
            pair.waiting_since = Some(pair.waiting_since.map_or(arrived_at, |w| w.min(arrived_at)));
        }
    }
    for p in &mut pairs {
        if let Some(&top) = p.held.iter().max() {
            p.missing = (p.imported_up_to + 1..top)
                .filter(|n| !p.held.contains(n))
                .collect();
        }
    }
    Ok(pairs)
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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

/// A received version's body as stored, opened when sealed, as JSON (as text when it is
/// not JSON).
pub(crate) fn version_body(
    ring: Option<&crate::seal::Keyring>,
    stored: String,
    key: Option<&str>,
    id: i64,
) -> Result<serde_json::Value> {
    let body = crate::seal::open_text(
        ring,
        crate::seal::Purpose::ReceivedBody,
        key,
        stored,
        &|| format!("the body of received version #{id}"),
    )?;
    Ok(serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}
