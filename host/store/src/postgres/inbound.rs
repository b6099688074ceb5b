//! The receiving side on PostgreSQL: [`InboundStore`] and a transport imported as a stream
//! (`inbound_begin`, [`ImportTx`]), with the same guarantees as SQLite's: a
//! transport is imported only as its pair's next number, checked inside the importing
//! transaction under the pair's lock, so two workers never import the same number or one
//! out of order.

use hub_core::time::Timestamp;
use postgres::GenericClient;

use super::inbound_bytes::{ByteaReader, copy_bytes_in, read_archive};
use super::{PgStore, pg};
use std::cell::RefCell;

use crate::inbound::{
    Answer, Arrival, ImportTx, InboundStore, InboundTransportView, KnownTransport, NewVersion,
    PairView, RecordFacts, VersionView, pairs_from, to_i64, version_body,
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
