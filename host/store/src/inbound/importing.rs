//! One transport imported as a stream: `inbound_begin` opens the
//! transaction and checks the number, the importer adds each record version as it reads
//! it (asking first what the store knows of the record), and [`Importing::finish`]
//! writes the receipt and commits. Dropped unfinished, nothing of it stays.

use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::sqlite::{insert_arrival, next_number, put_answer_bytes};
use super::{Arrival, ImportTx, NewVersion, to_i64};
use crate::sqlite::sql;
use crate::{Result, SqliteStore, StoreError};

/// What the store knows of a record when one of its versions arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFacts {
    /// The sender of its first imported version: the record's owner.
    pub owner: Option<String>,
    /// This version number was imported before (from any sender).
    pub version_imported: bool,
    /// This version number came earlier in the same transport.
    pub in_this_transport: bool,
}

/// The page cache while importing, as SQLite's `cache_size` (negative: KiB).
const IMPORT_CACHE_KIB: i64 = -32 * 1024;

/// A transport being imported, inside its transaction.
pub struct Importing<'a> {
    tx: crate::sqlite::Write<'a>,
    /// The tenant's keys: bodies are sealed under the current one.
    ring: Option<std::sync::Arc<crate::seal::Keyring>>,
    id: i64,
    records: i64,
    rejected: i64,
}

impl SqliteStore {
    /// Starts importing a transport: refuses unless it is its pair's next number, and
    /// stores it (or takes its held row) in a transaction that [`Importing::finish`]
    /// commits.
    pub(crate) fn begin_import(
        &mut self,
        a: &Arrival<'_>,
        now: Timestamp,
    ) -> Result<Importing<'_>> {
        // One transport is one transaction, however many records it has: SQLite spills
        // what does not fit its page cache to the WAL as it goes, so memory stays at the
        // cache's size. 32 MiB (default 2 MiB) keeps the pages being filled in memory
        // instead of writing them out again and again.
        self.conn
            .pragma_update(None, "cache_size", IMPORT_CACHE_KIB)
            .map_err(sql("size the page cache"))?;
        let ring = self.keyring.clone();
        let tx = self.write()?;
        let next = next_number(&tx, a.inbound, a.sender, a.receiver)?;
        if a.number != next {
            return Err(StoreError::Refused(format!(
                "transport {} from {} is not the next to import (that is {next})",
                a.number, a.sender
            )));
        }
        let held: Option<i64> = tx
            .query_row(
                "SELECT id FROM inbound_transports
                 WHERE inbound = ?1 AND sender = ?2 AND receiver = ?3 AND number = ?4 AND state = 'held'",
                params![a.inbound, a.sender, a.receiver, to_i64(a.number)],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("look up a held transport"))?;
        // A transport that waited its turn already has its row and bytes.
        let id = match held {
            Some(id) => id,
            None => insert_arrival(&tx, ring.as_deref(), a, "held", now)?,
        };
        Ok(Importing {
            tx,
            ring,
            id,
            records: 0,
            rejected: 0,
        })
    }
}

impl ImportTx for Importing<'_> {
    fn facts(&self, record_id: &str, version: u32) -> Result<RecordFacts> {
        // One look through the record's index entries (a record has few versions): the
        // owner is the sender of its first imported version. No ORDER BY, which made
        // SQLite build a sorter for every record.
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT v.id, v.version, v.transport, v.result = 'imported', t.sender
                 FROM record_versions v JOIN inbound_transports t ON t.id = v.transport
                 WHERE v.record_id = ?1",
            )
            .map_err(sql("look up a record"))?;
        let mut rows = stmt
            .query(params![record_id])
            .map_err(sql("look up a record"))?;
        let mut facts = RecordFacts::default();
        let mut first_imported: Option<i64> = None;
        while let Some(row) = rows.next().map_err(sql("look up a record"))? {
            let read = || -> rusqlite::Result<(i64, u32, i64, bool)> {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            };
            let (id, v, transport, imported) = read().map_err(sql("look up a record"))?;
            if v == version {
                facts.in_this_transport |= transport == self.id;
                facts.version_imported |= imported;
            }
            if imported && first_imported.is_none_or(|f| id < f) {
                first_imported = Some(id);
                facts.owner = Some(row.get(4).map_err(sql("look up a record's owner"))?);
            }
        }
        Ok(facts)
    }

    fn add(&mut self, v: &NewVersion) -> Result<()> {
        let (body, key) = crate::seal::seal_text(
            self.ring.as_deref(),
            crate::seal::Purpose::ReceivedBody,
            &v.body,
        )?;
        self.tx
            .prepare_cached(
                "INSERT INTO record_versions
                 (transport, record_id, version, kind, action, file, result, code, message, body,
                  body_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    self.id,
                    v.record_id,
                    v.version,
                    v.kind,
                    v.action,
                    v.file,
                    if v.imported { "imported" } else { "rejected" },
                    v.code,
                    v.message,
                    body,
                    key
                ])
            })
            .map_err(sql("store a record version"))?;
        self.records += 1;
        self.rejected += i64::from(!v.imported);
        Ok(())
    }

    /// Marks the transport imported, stores its receipt piece by piece, and commits it
    /// all.
    fn finish_from(
        self: Box<Self>,
        documents: u32,
        name: &str,
        receipt: &mut dyn std::io::Read,
        len: u64,
        now: Timestamp,
    ) -> Result<i64> {
        let this = *self;
        this.tx
            .execute(
                "UPDATE inbound_transports SET state = 'imported', imported_at = ?2,
                 records = ?3, rejected = ?4, documents = ?5 WHERE id = ?1",
                params![this.id, now.0, this.records, this.rejected, documents],
            )
            .map_err(sql("import a transport"))?;
        this.tx
            .execute(
                "INSERT INTO inbound_answers (inbound, transport, kind, name, state, created_at)
                 SELECT inbound, id, 'receipt', ?2, 'pending', ?3 FROM inbound_transports WHERE id = ?1",
                params![this.id, name, now.0],
            )
            .map_err(sql("store a receipt"))?;
        let answer = this.tx.last_insert_rowid();
        put_answer_bytes(&this.tx, answer, receipt, len)?;
        this.tx.commit().map_err(sql("commit an import"))?;
        Ok(this.id)
    }
}
