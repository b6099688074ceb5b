//! The receiving side on PostgreSQL: [`InboundStore`] and a transport imported as a stream
//! (`inbound_begin`, [`ImportTx`]), with the same guarantees as SQLite's: a
//! transport is imported only as its pair's next number, checked inside the importing
//! transaction under the pair's lock, so two workers never import the same number or one
//! out of order.

use hub_core::time::Timestamp;
use postgres::GenericClient;

use super::{PgStore, pg};
use std::cell::RefCell;

use crate::inbound::{
    Answer, Arrival, Bytes, ImportTx, InboundStore, InboundTransportView, KnownTransport,
    NewVersion, PairView, RecordFacts, VersionView, pairs_from, to_i64, version_body,
};
use crate::seal::{self, Keyring, Purpose};
use crate::{Result, StoreError};

/// Advisory-lock class of a sender/receiver pair's imports.
const PAIR_LOCK: i32 = 72_613;

fn next_number(
    c: &mut impl GenericClient,
    inbound: &str,
    sender: &str,
    receiver: &str,
) -> Result<u64> {
    let max: Option<i64> = c
        .query_one(
            "SELECT max(number) FROM inbound_transports
             WHERE inbound = $1 AND sender = $2 AND receiver = $3 AND state = 'imported'",
            &[&inbound, &sender, &receiver],
        )
        .map_err(pg("read the next transport number"))?
        .get(0);
    Ok(u64::try_from(max.unwrap_or(0)).unwrap_or(0) + 1)
}

/// Stores an arriving transport's row and its bytes; the caller commits.
fn insert_arrival(
    tx: &mut impl GenericClient,
    ring: Option<&Keyring>,
    a: &Arrival<'_>,
    state: &str,
    now: Timestamp,
) -> Result<i64> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO inbound_transports
             (inbound, sender, receiver, number, transport_guid, file_name, sha256, size, state,
              arrived_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &a.inbound,
                &a.sender,
                &a.receiver,
                &to_i64(a.number),
                &a.transport_guid,
                &a.file_name,
                &a.sha256,
                &to_i64(a.bytes.size()),
                &state,
                &now.0,
            ],
        )
        .map_err(pg("store an arriving transport"))?
        .get(0);
    let key = copy_bytes_in(tx, ring, id, a.bytes)?;
    if key.is_some() {
        tx.execute(
            "UPDATE inbound_transports SET bytes_key = $2 WHERE id = $1",
            &[&id, &key],
        )
        .map_err(pg("keep a transport's bytes"))?;
    }
    Ok(id)
}

/// Streams a transport's bytes into `inbound_bytes` with a binary `COPY`: one row whose
/// length is known beforehand, written piece by piece, so the hub never holds the value
/// whole (PostgreSQL assembles it on its side). Sealed under `ring`'s current key when
/// there is one; returns that key's id.
fn copy_bytes_in<'r>(
    tx: &mut impl GenericClient,
    ring: Option<&'r Keyring>,
    id: i64,
    bytes: Bytes<'_>,
) -> Result<Option<&'r str>> {
    let ring = ring.filter(|r| r.current().is_some());
    let stored = match ring {
        Some(_) => seal::sealed_len(bytes.size()),
        None => bytes.size(),
    };
    use std::io::Write;
    let what = "keep a transport's bytes";
    let io = |source| StoreError::Io {
        context: what,
        source,
    };
    let len = i32::try_from(stored).map_err(|_| {
        StoreError::Refused(format!(
            "{what}: {stored} bytes, more than PostgreSQL takes in one value"
        ))
    })?;
    let mut w = tx
        .copy_in("COPY inbound_bytes (transport, bytes) FROM STDIN (FORMAT binary)")
        .map_err(pg(what))?;
    // Header (signature, flags, extension length), one tuple of two fields, trailer.
    w.write_all(b"PGCOPY\n\xff\r\n\0").map_err(io)?;
    w.write_all(&[0u8; 8]).map_err(io)?;
    w.write_all(&2i16.to_be_bytes()).map_err(io)?;
    w.write_all(&8i32.to_be_bytes()).map_err(io)?;
    w.write_all(&id.to_be_bytes()).map_err(io)?;
    w.write_all(&len.to_be_bytes()).map_err(io)?;
    let key = match ring {
        Some(r) => r.seal_stream(
            Purpose::ReceivedArchive,
            &mut bytes.reader(),
            bytes.size(),
            &mut w,
            &|| format!("received transport #{id}"),
        )?,
        None => {
            let copied = std::io::copy(&mut bytes.reader(), &mut w).map_err(io)?;
            if copied != bytes.size() {
                return Err(StoreError::Refused(format!(
                    "{what}: {copied} bytes, {} were announced",
                    bytes.size()
                )));
            }
            None
        }
    };
    w.write_all(&(-1i16).to_be_bytes()).map_err(io)?;
    w.finish().map_err(pg(what))?;
    Ok(key)
}

/// As SQLite's `reseal_received`: re-seals up to `limit` received bodies and arrived
/// archives sealed under `from` under the current key, in the caller's transaction.
pub(super) fn reseal_received(
    tx: &mut postgres::Transaction<'_>,
    ring: &Keyring,
    from: Option<&str>,
    limit: i64,
) -> Result<(usize, usize)> {
    let versions = tx
        .query(
            "SELECT id, body FROM record_versions WHERE body_key IS NOT DISTINCT FROM $1
             ORDER BY id LIMIT $2 FOR UPDATE",
            &[&from, &limit],
        )
        .map_err(pg("read received bodies to re-seal"))?;
    for row in &versions {
        let id: i64 = row.get(0);
        let body = seal::open_text(Some(ring), Purpose::ReceivedBody, from, row.get(1), &|| {
            format!("the body of received version #{id}")
        })?;
        let (sealed, key) = seal::seal_text(Some(ring), Purpose::ReceivedBody, &body)?;
        tx.execute(
            "UPDATE record_versions SET body = $2, body_key = $3 WHERE id = $1",
            &[&id, &sealed.as_ref(), &key],
        )
        .map_err(pg("re-seal a received body"))?;
    }
    let archives: Vec<i64> = tx
        .query(
            "SELECT t.id FROM inbound_transports t JOIN inbound_bytes b ON b.transport = t.id
             WHERE t.bytes_key IS NOT DISTINCT FROM $1 ORDER BY t.id LIMIT $2 FOR UPDATE OF t",
            &[&from, &limit],
        )
        .map_err(pg("read archives to re-seal"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &archives {
        let mut plain = Vec::new();
        read_archive(tx, Some(ring), *id, &mut plain)?;
        tx.execute("DELETE FROM inbound_bytes WHERE transport = $1", &[id])
            .map_err(pg("re-seal an archive"))?;
        let key = copy_bytes_in(tx, Some(ring), *id, Bytes::Memory(&plain))?;
        tx.execute(
            "UPDATE inbound_transports SET bytes_key = $2 WHERE id = $1",
            &[id, &key],
        )
        .map_err(pg("re-seal an archive"))?;
    }
    Ok((versions.len(), archives.len()))
}

/// Writes transport `id`'s bytes, opened when sealed, to `into`, a megabyte at a time;
/// returns its file name.
fn read_archive(
    client: &mut impl GenericClient,
    ring: Option<&Keyring>,
    id: i64,
    into: &mut dyn std::io::Write,
) -> Result<String> {
    let what = "read an arrived transport's bytes";
    let row = client
        .query_opt(
            "SELECT t.file_name, t.bytes_key, octet_length(b.bytes) FROM inbound_transports t
             JOIN inbound_bytes b ON b.transport = t.id WHERE t.id = $1",
            &[&id],
        )
        .map_err(pg(what))?
        .ok_or_else(|| StoreError::NotFound(format!("no bytes of received transport {id}")))?;
    let (name, key, len): (String, Option<String>, i32) = (row.get(0), row.get(1), row.get(2));
    let mut r = ByteaReader::new(
        client,
        "SELECT substring(bytes FROM $2::int4 FOR $3::int4) FROM inbound_bytes
         WHERE transport = $1",
        id,
    );
    match key {
        Some(key) => {
            let name_it = || format!("received transport #{id}");
            let ring = ring.ok_or_else(|| seal::SealError::KeyMissing {
                what: name_it(),
                key: key.clone(),
            })?;
            let len = u64::try_from(len).unwrap_or(0);
            seal::open_stream(
                ring,
                &key,
                Purpose::ReceivedArchive,
                &mut r,
                len,
                into,
                &name_it,
            )?;
        }
        None => {
            std::io::copy(&mut r, into).map_err(|source| StoreError::Io {
                context: what,
                source,
            })?;
        }
    }
    Ok(name)
}

impl InboundStore for PgStore {
    fn inbound_begin<'a>(
        &'a mut self,
        a: &Arrival<'_>,
        now: Timestamp,
    ) -> Result<Box<dyn ImportTx + 'a>> {
        Ok(Box::new(self.begin_import(a, now)?))
    }

    fn inbound_known(
        &mut self,
        inbound: &str,
        sender: &str,
        receiver: &str,
        number: u64,
    ) -> Result<Option<KnownTransport>> {
        Ok(self
            .client
            .query_opt(
                "SELECT id, state, sha256, file_name, arrived_at, imported_at
                 FROM inbound_transports
                 WHERE inbound = $1 AND sender = $2 AND receiver = $3 AND number = $4",
                &[&inbound, &sender, &receiver, &to_i64(number)],
            )
            .map_err(pg("look up a transport"))?
            .map(|r| KnownTransport {
                id: r.get(0),
                state: r.get(1),
                sha256: r.get(2),
                file_name: r.get(3),
                arrived_at: r.get(4),
                imported_at: r.get(5),
            }))
    }

    fn inbound_next(&mut self, inbound: &str, sender: &str, receiver: &str) -> Result<u64> {
        next_number(&mut self.client, inbound, sender, receiver)
    }

    fn inbound_hold(&mut self, a: &Arrival<'_>, now: Timestamp) -> Result<i64> {
        let ring = self.keyring.clone();
        let mut tx = self.client.transaction().map_err(pg("begin hold"))?;
        let id = insert_arrival(&mut tx, ring.as_deref(), a, "held", now)?;
        tx.commit().map_err(pg("commit a held transport"))?;
        Ok(id)
    }

    fn inbound_held_bytes(&mut self, id: i64, into: &mut dyn std::io::Write) -> Result<String> {
        let ring = self.keyring.clone();
        read_archive(&mut self.client, ring.as_deref(), id, into)
    }

    fn inbound_refuse_held(&mut self, id: i64, reason: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.client.transaction().map_err(pg("begin refusal"))?;
        let n = tx
            .execute(
                "INSERT INTO inbound_refused (inbound, file_name, sha256, reason, at)
                 SELECT inbound, file_name, sha256, $2, $3 FROM inbound_transports
                 WHERE id = $1 AND state = 'held'",
                &[&id, &reason, &now.0],
            )
            .map_err(pg("note a refused held transport"))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no held transport #{id}")));
        }
        tx.execute("DELETE FROM inbound_bytes WHERE transport = $1", &[&id])
            .map_err(pg("drop a refused transport's bytes"))?;
        tx.execute("DELETE FROM inbound_transports WHERE id = $1", &[&id])
            .map_err(pg("drop a refused held transport"))?;
        tx.commit().map_err(pg("commit a refused held transport"))
    }

    fn inbound_request(
        &mut self,
        inbound: &str,
        name: &str,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<bool> {
        let n = self
            .client
            .execute(
                "INSERT INTO inbound_answers (inbound, kind, name, bytes, state, created_at)
                 VALUES ($1, 'request', $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
                &[&inbound, &name, &bytes, &now.0],
            )
            .map_err(pg("store a re-transmission request"))?;
        Ok(n > 0)
    }

    fn pending_answers(&mut self, inbound: &str) -> Result<Vec<Answer>> {
        Ok(self
            .client
            .query(
                "SELECT id, name, octet_length(bytes) FROM inbound_answers
                 WHERE inbound = $1 AND state = 'pending' ORDER BY id",
                &[&inbound],
            )
            .map_err(pg("read pending answers"))?
            .iter()
            .map(|r| Answer {
                id: r.get(0),
                name: r.get(1),
                size: u64::try_from(r.get::<_, i32>(2)).unwrap_or(0),
            })
            .collect())
    }

    fn answer_bytes(&mut self, id: i64) -> Result<Box<dyn std::io::Read + '_>> {
        Ok(Box::new(ByteaReader::new(
            &mut self.client,
            "SELECT substring(bytes FROM $2::int4 FOR $3::int4) FROM inbound_answers
             WHERE id = $1",
            id,
        )))
    }

    fn answers_owed(&mut self, inbound: &str) -> Result<bool> {
        Ok(!self
            .client
            .query(
                "SELECT 1 FROM inbound_answers WHERE inbound = $1 AND state = 'pending' LIMIT 1",
                &[&inbound],
            )
            .map_err(pg("look for pending answers"))?
            .is_empty())
    }

    fn answer_delivered(&mut self, id: i64, now: Timestamp) -> Result<()> {
        self.client
            .execute(
                "UPDATE inbound_answers SET state = 'delivered', delivered_at = $2 WHERE id = $1",
                &[&id, &now.0],
            )
            .map_err(pg("mark an answer delivered"))?;
        Ok(())
    }

    fn inbound_refuse(
        &mut self,
        inbound: &str,
        file_name: &str,
        sha256: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.client
            .execute(
                "INSERT INTO inbound_refused (inbound, file_name, sha256, reason, at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&inbound, &file_name, &sha256, &reason, &now.0],
            )
            .map_err(pg("note a refused archive"))?;
        Ok(())
    }

    fn inbound_pairs(&mut self, inbound: &str) -> Result<Vec<PairView>> {
        let rows = self
            .client
            .query(
                "SELECT sender, receiver, number, state, arrived_at FROM inbound_transports
                 WHERE inbound = $1 ORDER BY sender, receiver, number",
                &[&inbound],
            )
            .map_err(pg("read transport pairs"))?;
        pairs_from(
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect(),
        )
    }

    fn inbound_transports(
        &mut self,
        inbound: Option<&str>,
        limit: usize,
    ) -> Result<Vec<InboundTransportView>> {
        Ok(self
            .client
            .query(
                &format!(
                    "{TRANSPORT_VIEW} WHERE $1::text IS NULL OR inbound = $1
                     ORDER BY id DESC LIMIT $2"
                ),
                &[&inbound, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(pg("list arrived transports"))?
            .iter()
            .map(transport_view)
            .collect())
    }

    fn inbound_archive(&mut self, id: i64) -> Result<(InboundTransportView, Vec<u8>)> {
        let view = self
            .client
            .query_opt(&format!("{TRANSPORT_VIEW} WHERE id = $1"), &[&id])
            .map_err(pg("read an arrived transport"))?
            .map(|r| transport_view(&r))
            .ok_or_else(|| {
                StoreError::NotFound(format!("received transport {id} does not exist"))
            })?;
        let mut bytes = Vec::new();
        let ring = self.keyring.clone();
        read_archive(&mut self.client, ring.as_deref(), id, &mut bytes)?;
        Ok((view, bytes))
    }

    fn record_versions(&mut self, record_id: &str) -> Result<Vec<VersionView>> {
        let rows = self
            .client
            .query(
                "SELECT v.record_id, v.version, v.kind, v.action, v.result, v.code, v.message,
                        t.inbound, t.sender, t.number, v.file, t.imported_at, v.body,
                        v.body_key, v.id
                 FROM record_versions v JOIN inbound_transports t ON t.id = v.transport
                 WHERE v.record_id = $1 ORDER BY v.version, v.id",
                &[&record_id],
            )
            .map_err(pg("read record versions"))?;
        let ring = self.keyring.as_deref();
        rows.iter()
            .map(|r| {
                let key: Option<String> = r.get(13);
                Ok(VersionView {
                    record_id: r.get(0),
                    version: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                    kind: r.get(2),
                    action: r.get(3),
                    result: r.get(4),
                    code: r.get(5),
                    message: r.get(6),
                    inbound: r.get(7),
                    sender: r.get(8),
                    transport_number: u64::try_from(r.get::<_, i64>(9)).unwrap_or(0),
                    file: r.get(10),
                    imported_at: r.get(11),
                    body: version_body(ring, r.get(12), key.as_deref(), r.get(14))?,
                })
            })
            .collect()
    }
}

/// A transport being imported, inside its transaction. (The driver's queries need the
/// transaction mutably; [`ImportTx::facts`] reads through a shared reference.)
pub(crate) struct PgImporting<'a> {
    tx: RefCell<postgres::Transaction<'a>>,
    /// The tenant's keys: bodies are sealed under the current one.
    ring: Option<std::sync::Arc<Keyring>>,
    id: i64,
    records: i64,
    rejected: i64,
}

impl PgStore {
    /// Starts importing a transport: refuses unless it is its pair's next number, and
    /// stores it (or takes its held row) in a transaction that [`ImportTx::finish`]
    /// commits. The pair stays locked until then.
    fn begin_import(&mut self, a: &Arrival<'_>, now: Timestamp) -> Result<PgImporting<'_>> {
        let ring = self.keyring.clone();
        let mut tx = self.client.transaction().map_err(pg("begin import"))?;
        let pair = format!("{}\u{1f}{}\u{1f}{}", a.inbound, a.sender, a.receiver);
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&PAIR_LOCK, &pair],
        )
        .map_err(pg("lock the transport pair"))?;
        let next = next_number(&mut tx, a.inbound, a.sender, a.receiver)?;
        if a.number != next {
            return Err(StoreError::Refused(format!(
                "transport {} from {} is not the next to import (that is {next})",
                a.number, a.sender
            )));
        }
        let held: Option<i64> = tx
            .query_opt(
                "SELECT id FROM inbound_transports
                 WHERE inbound = $1 AND sender = $2 AND receiver = $3 AND number = $4
                   AND state = 'held'",
                &[&a.inbound, &a.sender, &a.receiver, &to_i64(a.number)],
            )
            .map_err(pg("look up a held transport"))?
            .map(|r| r.get(0));
        // A transport that waited its turn already has its row and bytes.
        let id = match held {
            Some(id) => id,
            None => insert_arrival(&mut tx, ring.as_deref(), a, "held", now)?,
        };
        Ok(PgImporting {
            tx: RefCell::new(tx),
            ring,
            id,
            records: 0,
            rejected: 0,
        })
    }
}

impl ImportTx for PgImporting<'_> {
    fn facts(&self, record_id: &str, version: u32) -> Result<RecordFacts> {
        let mut tx = self.tx.borrow_mut();
        let owner: Option<String> = tx
            .query_opt(
                "SELECT t.sender FROM record_versions v
                 JOIN inbound_transports t ON t.id = v.transport
                 WHERE v.record_id = $1 AND v.result = 'imported' ORDER BY v.id LIMIT 1",
                &[&record_id],
            )
            .map_err(pg("look up a record's owner"))?
            .map(|r| r.get(0));
        let mut facts = RecordFacts {
            owner,
            ..RecordFacts::default()
        };
        let rows = tx
            .query(
                "SELECT transport, result FROM record_versions
                 WHERE record_id = $1 AND version = $2",
                &[&record_id, &i64::from(version)],
            )
            .map_err(pg("look up a record version"))?;
        for r in &rows {
            facts.in_this_transport |= r.get::<_, i64>(0) == self.id;
            facts.version_imported |= r.get::<_, &str>(1) == "imported";
        }
        Ok(facts)
    }

    fn add(&mut self, v: &NewVersion) -> Result<()> {
        let (body, key) = seal::seal_text(self.ring.as_deref(), Purpose::ReceivedBody, &v.body)?;
        self.tx
            .get_mut()
            .execute(
                "INSERT INTO record_versions
                 (transport, record_id, version, kind, action, file, result, code, message, body,
                  body_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &self.id,
                    &v.record_id,
                    &i64::from(v.version),
                    &v.kind,
                    &v.action,
                    &v.file,
                    &if v.imported { "imported" } else { "rejected" },
                    &v.code,
                    &v.message,
                    &body,
                    &key,
                ],
            )
            .map_err(pg("store a record version"))?;
        self.records += 1;
        self.rejected += i64::from(!v.imported);
        Ok(())
    }

    fn finish_from(
        self: Box<Self>,
        documents: u32,
        name: &str,
        receipt: &mut dyn std::io::Read,
        len: u64,
        now: Timestamp,
    ) -> Result<i64> {
        // Whole in memory here (one bytea parameter); SQLite streams it (see Noticed).
        let mut bytes = Vec::new();
        receipt
            .read_to_end(&mut bytes)
            .map_err(|source| crate::StoreError::Io {
                context: "read a receipt",
                source,
            })?;
        if bytes.len() as u64 != len {
            return Err(crate::StoreError::Refused(format!(
                "the answer was {} bytes, {len} were announced",
                bytes.len()
            )));
        }
        let receipt = (name, bytes.as_slice());
        let this = *self;
        let mut tx = this.tx.into_inner();
        tx.execute(
            "UPDATE inbound_transports SET state = 'imported', imported_at = $2,
                 records = $3, rejected = $4, documents = $5 WHERE id = $1",
            &[
                &this.id,
                &now.0,
                &this.records,
                &this.rejected,
                &i64::from(documents),
            ],
        )
        .map_err(pg("import a transport"))?;
        tx.execute(
            "INSERT INTO inbound_answers (inbound, transport, kind, name, bytes, state,
                    created_at)
                 SELECT inbound, id, 'receipt', $2, $3, 'pending', $4
                 FROM inbound_transports WHERE id = $1",
            &[&this.id, &receipt.0, &receipt.1, &now.0],
        )
        .map_err(pg("store a receipt"))?;
        tx.commit().map_err(pg("commit an import"))?;
        Ok(this.id)
    }
}

/// A `bytea` read from PostgreSQL a megabyte at a time (`substring` of the value, by the
/// query given), so a long receipt or a held transport is never held whole.
struct ByteaReader<'a, C> {
    client: &'a mut C,
    /// Takes the row's id, the 1-based start and the length.
    query: &'static str,
    id: i64,
    /// 1-based position of the next chunk in the value.
    at: i64,
    chunk: Vec<u8>,
    used: usize,
    done: bool,
}

const ANSWER_CHUNK: i32 = 1 << 20;

impl<'a, C: GenericClient> ByteaReader<'a, C> {
    fn new(client: &'a mut C, query: &'static str, id: i64) -> Self {
        ByteaReader {
            client,
            query,
            id,
            at: 0,
            chunk: Vec::new(),
            used: 0,
            done: false,
        }
    }
}

impl<C: GenericClient> std::io::Read for ByteaReader<'_, C> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.used == self.chunk.len() && !self.done {
            let row = self
                .client
                .query_opt(
                    self.query,
                    &[
                        &self.id,
                        &i32::try_from(self.at + 1).unwrap_or(i32::MAX),
                        &ANSWER_CHUNK,
                    ],
                )
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such row"))?;
            self.chunk = row.get(0);
            self.used = 0;
            self.at += self.chunk.len() as i64;
            self.done = self.chunk.len() < ANSWER_CHUNK as usize;
        }
        let n = buf.len().min(self.chunk.len() - self.used);
        buf[..n].copy_from_slice(&self.chunk[self.used..self.used + n]);
        self.used += n;
        Ok(n)
    }
}

/// The columns of an [`InboundTransportView`], as in SQLite's `inbound.rs`.
const TRANSPORT_VIEW: &str = "SELECT id, inbound, sender, receiver, number, state, file_name, \
     size, arrived_at, imported_at, records, rejected, documents FROM inbound_transports";

fn transport_view(r: &postgres::Row) -> InboundTransportView {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    InboundTransportView {
        id: r.get(0),
        inbound: r.get(1),
        sender: r.get(2),
        receiver: r.get(3),
        number: n(r.get(4)),
        state: r.get(5),
        file_name: r.get(6),
        size: n(r.get(7)),
        arrived_at: r.get(8),
        imported_at: r.get(9),
        records: n(r.get(10)),
        rejected: n(r.get(11)),
        documents: n(r.get(12)),
    }
}
