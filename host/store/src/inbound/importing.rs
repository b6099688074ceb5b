//! One transport imported as a stream: `inbound_begin` opens the
//! transaction and checks the number, the importer adds each record version as it reads
//! it (asking first what the store knows of the record), and [`Importing::finish`]
//! writes the receipt and commits. Dropped unfinished, nothing of it stays.

use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Arrival, ImportTx, NewVersion, insert_arrival, next_number, to_i64};
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

/// A transport being imported, inside its transaction.
pub struct Importing<'a> {
    tx: rusqlite::Transaction<'a>,
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
            None => insert_arrival(&tx, a, "held", now)?,
        };
        Ok(Importing {
            tx,
            id,
            records: 0,
            rejected: 0,
        })
    }
}

impl ImportTx for Importing<'_> {
    fn facts(&self, record_id: &str, version: u32) -> Result<RecordFacts> {
        let owner: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT t.sender FROM record_versions v JOIN inbound_transports t ON t.id = v.transport
                 WHERE v.record_id = ?1 AND v.result = 'imported' ORDER BY v.id LIMIT 1",
            )
            .and_then(|mut s| s.query_row(params![record_id], |r| r.get(0)).optional())
            .map_err(sql("look up a record's owner"))?;
        let mut facts = RecordFacts {
            owner,
            ..RecordFacts::default()
        };
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT transport, result FROM record_versions WHERE record_id = ?1 AND version = ?2",
            )
            .map_err(sql("look up a record version"))?;
        let rows = stmt
            .query_map(params![record_id, version], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql("look up a record version"))?;
        for row in rows {
            let (transport, result) = row.map_err(sql("look up a record version"))?;
            facts.in_this_transport |= transport == self.id;
            facts.version_imported |= result == "imported";
        }
        Ok(facts)
    }

    fn add(&mut self, v: &NewVersion) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO record_versions
                 (transport, record_id, version, kind, action, file, result, code, message, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
                    v.body
                ])
            })
            .map_err(sql("store a record version"))?;
        self.records += 1;
        self.rejected += i64::from(!v.imported);
        Ok(())
    }

    /// Marks the transport imported, stores its receipt, and commits it all.
    fn finish(
        self: Box<Self>,
        documents: u32,
        receipt: (&str, &[u8]),
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
                "INSERT INTO inbound_answers (inbound, transport, kind, name, bytes, state, created_at)
                 SELECT inbound, id, 'receipt', ?2, ?3, 'pending', ?4 FROM inbound_transports WHERE id = ?1",
                params![this.id, receipt.0, receipt.1, now.0],
            )
            .map_err(sql("store a receipt"))?;
        this.tx.commit().map_err(sql("commit an import"))?;
        Ok(this.id)
    }
}
