//! The SQLite implementation of [`Store`]: WAL, `synchronous = FULL` (a committed
//! delivery step must survive a power cut, or recovery could send a file twice), and
//! `BEGIN IMMEDIATE` for every write so two processes never interleave a transaction.

use self::cached::Cached;
use std::path::Path;

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};

mod attempts;
pub(crate) mod audit;
mod by_hand;
mod cached;
mod doubt;
mod enqueue;
mod inputs;
mod lease;
mod lookup;
mod migrate;
mod packed;
mod pages;
mod pause;
mod retention;
mod schedule;
mod sealing;
mod states;
mod temp;
mod view;

pub(crate) use attempts::{attempt_row, attempts_from};
use attempts::{insert_attempt, write_attempt};
use migrate::migrate;
use states::{
    Alike, count_added, load_counts, set_record_state, set_records_state, settle_transfer,
};

use crate::{
    Attempt, Backoff, Batch, Completion, Counts, Doubt, NewAttempt, NewDoubt, NewPayload, Payload,
    PluginStamp, RecordView, Resolution, Result, Settlement, Status, Store, StoreError,
    StoredRecord, Transfer, TransferDraft,
};

/// Migrations by number, ascending. Numbers may have gaps (a migration numbered on another
/// branch may not be here yet): each runs once, in order, and is recorded in
/// `schema_migrations`, so one merged in later still runs. `PRAGMA user_version` holds the
/// highest applied number, which makes an older hub refuse a store it cannot read.
/// The list itself is `crate::migrations`, shared with PostgreSQL.
const MIGRATIONS: &[(u32, &str)] = &crate::migrations::SQLITE;

/// The page cache of every connection, as SQLite's `cache_size` (negative: KiB); an
/// import raises its own while it runs.
const PAGE_CACHE_KIB: i64 = -16 * 1024;

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    pub(crate) conn: Connection,
    /// `[audit] head_file`: where the audit trail's head is written after each append.
    pub(crate) head_file: Option<std::path::PathBuf>,
    /// The tenant's keys: bodies and bytes are sealed under the current one.
    pub(crate) keyring: Option<std::sync::Arc<crate::seal::Keyring>>,
    /// A group of writes is open ([`Store::begin_group`]).
    pub(crate) grouped: bool,
}

pub(crate) fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

pub(crate) fn parse_state<T>(s: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown state `{s}`")))
}

pub(crate) fn messages_json(m: &[String]) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_messages(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: format!("cannot create its folder: {e}"),
            })?;
        }
        // Before the process's first connection, or it cannot take.
        temp::journals_in_memory();
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::init(conn)
    }

    /// An in-memory store (tests, `--dry-run`).
    pub fn in_memory() -> Result<Self> {
        temp::journals_in_memory();
        Self::init(Connection::open_in_memory().map_err(sql("open in memory"))?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql("set busy timeout"))?;
        conn.set_prepared_statement_cache_capacity(cached::CAPACITY);
        // Plans that do not depend on the values bound (the query planner stability
        // guarantee). Without it SQLite marks a parameter whose value could change a plan
        // (an equality before an ORDER BY the index gives, a partial index) and compiles
        // the cached statement again after every new binding: the next queued records of
        // a batch were parsed and planned once per transfer, 5–7% of a send's CPU.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(sql("set the query planner stability guarantee"))?;
        // Only a new file takes it (an existing one keeps the size it was made with).
        // SQLite's 4 KiB: a delivery commits a few rows across ~25 pages (the records,
        // their indexes, the transfer, the protocol log), and every touched page goes to
        // the WAL whole. 16 KiB pages wrote 0.9 MB a POST and took 8.5 s for 1,000 Kita
        // POSTs against 4.5 s with 4 KiB (6.7 s with 8 KiB); bulk imports gained ~10%
        // from them (42,000 against 38,000 records/s at 1,000,000), not worth the main path.
        conn.pragma_update(None, "page_size", 4096)
            .map_err(sql("set the page size"))?;
        // A page cache of 16 MiB (SQLite's default is 2 MiB): the console's reads walk
        // the same index pages again and again, and each one not cached is a pread.
        conn.pragma_update(None, "cache_size", PAGE_CACHE_KIB)
            .map_err(sql("size the page cache"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql("enable foreign keys"))?;
        temp::configure(&conn)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("begin migration"))?;
        migrate(&tx, MIGRATIONS)?;
        doubt::fill_content_hashes(&tx)?;
        tx.commit().map_err(sql("commit migration"))?;
        Ok(Self {
            conn,
            head_file: None,
            keyring: None,
            grouped: false,
        })
    }

    /// A write: its own `BEGIN IMMEDIATE` transaction, or, inside a group
    /// ([`Store::begin_group`]), a savepoint the group's commit makes durable.
    pub(crate) fn write(&mut self) -> Result<Write<'_>> {
        if self.grouped {
            return self
                .conn
                .savepoint()
                .map(Write::Grouped)
                .map_err(sql("begin"));
        }
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map(Write::Own)
            .map_err(sql("begin"))
    }
}

/// One write's transaction: dropped without [`Write::commit`], it is rolled back.
pub(crate) enum Write<'a> {
    Own(Transaction<'a>),
    Grouped(rusqlite::Savepoint<'a>),
}

impl Write<'_> {
    /// Commits the write (inside a group: into the group, which commits it to disk).
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        match self {
            Write::Own(tx) => tx.commit(),
            Write::Grouped(sp) => sp.commit(),
        }
    }
}

impl std::ops::Deref for Write<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Write::Own(tx) => tx,
            Write::Grouped(sp) => sp,
        }
    }
}

fn record_view(tx: &Connection, seq: i64) -> Result<RecordView> {
    tx.one(
        "SELECT seq, target, record_id, kind, state, transfer_id, messages, updated_at
         FROM records WHERE seq = ?1",
        [seq],
        view_row,
    )
    .map_err(sql("read record"))
    .and_then(row_to_view)
}

type ViewRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    i64,
);

/// Reads the columns `seq, target, record_id, kind, state, transfer_id, messages,
/// updated_at` of a `records` row, in that order.
pub(crate) fn view_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ViewRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn row_to_view(
    (seq, target, id, kind, state, transfer_id, messages, updated_at): ViewRow,
) -> Result<RecordView> {
    Ok(RecordView {
        seq,
        target,
        id,
        kind,
        state: parse_state(&state, RecordState::parse)?,
        transfer_id,
        messages: parse_messages(&messages),
        updated_at: Timestamp(updated_at),
    })
}

/// A record row (seq, id, kind, stored body, key id) as read, before its body is opened.
type SealedRecord = crate::seal::SealedRecord;

fn sealed_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<SealedRecord> {
    Ok((
        StoredRecord {
            seq: r.get(0)?,
            id: r.get(1)?,
            kind: r.get(2)?,
            body: r.get(3)?,
        },
        r.get(4)?,
    ))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A record's hash as the records table keeps it (schema 022): 32 bytes, half the size of
/// its hex; text that is not a hash stays text.
pub(crate) enum Hash<'a> {
    Bytes([u8; 32]),
    Text(&'a str),
}

pub(crate) fn hash_value(hex_text: &str) -> Hash<'_> {
    let mut bytes = [0; 32];
    match hex::decode_to_slice(hex_text, &mut bytes) {
        Ok(()) => Hash::Bytes(bytes),
        Err(_) => Hash::Text(hex_text),
    }
}

impl rusqlite::ToSql for Hash<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Hash::Bytes(b) => b.to_sql(),
            Hash::Text(t) => t.to_sql(),
        }
    }
}

impl Store for SqliteStore {
    fn queued_batches(&mut self, target: &str) -> Result<Vec<Batch>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT batch_key, sequence_scope FROM records
                 WHERE target = ?1 AND state = 'queued'
                 GROUP BY batch_key, sequence_scope ORDER BY min(seq)",
            )
            .map_err(sql("prepare batches"))?;
        let rows = stmt
            .query_map([target], |r| {
                Ok(Batch {
                    batch_key: r.get(0)?,
                    sequence_scope: r.get(1)?,
                })
            })
            .map_err(sql("list batches"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("list batches"))
    }

    fn queued_records(
        &mut self,
        target: &str,
        batch: &Batch,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, record_id, kind, body, body_key FROM records
                 WHERE target = ?1 AND state = 'queued' AND batch_key = ?2
                   AND sequence_scope IS ?3
                 ORDER BY seq LIMIT ?4",
            )
            .map_err(sql("prepare queued records"))?;
        let rows = stmt
            .query_map(
                params![
                    target,
                    batch.batch_key,
                    batch.sequence_scope,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                sealed_record,
            )
            .map_err(sql("list queued records"))?;
        let rows = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("list queued records"))?;
        Ok(crate::seal::open_records(self.keyring.as_deref(), rows)?)
    }

    fn create_transfer(
        &mut self,
        target: &str,
        batch: &Batch,
        records: &[i64],
        plugin: &PluginStamp,
        inputs: Option<&str>,
        now: Timestamp,
        encode: &mut dyn FnMut(TransferDraft) -> Option<Vec<NewPayload>>,
    ) -> Result<Option<i64>> {
        let ring = self.keyring.clone();
        let tx = self.write()?;
        // The records as one JSON array: each set-based statement below reads it with
        // `json_each`, one statement for the whole transfer instead of one per record.
        let seqs = serde_json::to_string(records).unwrap_or_else(|_| "[]".into());
        // Only records still queued may go in: a concurrent send may have taken them.
        let queued: i64 = tx
            .one(
                "SELECT count(*) FROM records WHERE seq IN (SELECT value FROM json_each(?1))
                   AND target = ?2 AND state = 'queued'",
                params![seqs, target],
                |r| r.get(0),
            )
            .map_err(sql("check records"))?;
        let all_queued = usize::try_from(queued).is_ok_and(|n| n == records.len());
        // Only when one is not: which one, for the error.
        for seq in records.iter().filter(|_| !all_queued) {
            let state: Option<String> = tx
                .one(
                    "SELECT state FROM records WHERE seq = ?1 AND target = ?2",
                    params![seq, target],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("check record"))?;
            if state.as_deref() != Some("queued") {
                return Err(StoreError::Taken(format!(
                    "record #{seq} is no longer queued (it is {})",
                    state.unwrap_or_else(|| "missing".into())
                )));
            }
        }
        let sequence = match &batch.sequence_scope {
            Some(scope) => {
                let last: i64 = tx
                    .one(
                        "SELECT last FROM sequences WHERE target = ?1 AND scope = ?2",
                        params![target, scope],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql("read sequence"))?
                    .unwrap_or(0);
                let next = last + 1;
                tx.run(
                    "INSERT INTO sequences (target, scope, last) VALUES (?1, ?2, ?3)
                     ON CONFLICT (target, scope) DO UPDATE SET last = excluded.last",
                    params![target, scope, next],
                )
                .map_err(sql("advance sequence"))?;
                Some(u64::try_from(next).unwrap_or(0))
            }
            None => None,
        };
        tx.run(
            "INSERT INTO transfers (target, batch_key, sequence_scope, sequence_no, state, plugin,
                plugin_sha256, created_at, plugin_name, plugin_version, encode_inputs)
             VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                target,
                batch.batch_key,
                batch.sequence_scope,
                sequence.map(|s| s as i64),
                format!("{}@{}", plugin.name, plugin.version),
                plugin.sha256,
                now.0,
                plugin.name,
                plugin.version,
                inputs
            ],
        )
        .map_err(sql("insert transfer"))?;
        let id = tx.last_insert_rowid();
        audit::plugin(&tx, target, id, plugin, now)?;
        // Dropping the transaction rolls back the number and the transfer row.
        let Some(payloads) = encode(TransferDraft { id, sequence }) else {
            return Ok(None);
        };
        for (idx, p) in payloads.iter().enumerate() {
            tx.run(
                "INSERT INTO payloads (transfer_id, idx, name, media_type, size, sha256, state, labels,
                                       request)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
                params![
                    id,
                    idx as i64,
                    p.name,
                    p.media_type,
                    p.bytes.len() as i64,
                    sha256_hex(&p.bytes),
                    serde_json::to_string(&p.labels).unwrap_or_else(|_| "[]".into()),
                    crate::request_json(p)
                ],
            )
            .map_err(sql("insert payload"))?;
            let payload_id = tx.last_insert_rowid();
            let (packed, codec) = packed::pack(&p.bytes);
            let (bytes, key) = crate::seal::seal_bytes(ring.as_deref(), &packed)?;
            tx.run(
                "INSERT INTO payload_bytes (payload_id, bytes, key_id, codec)
                 VALUES (?1, ?2, ?3, ?4)",
                params![payload_id, bytes, key, codec],
            )
            .map_err(sql("insert payload bytes"))?;
            let linked = serde_json::to_string(&p.records).unwrap_or_else(|_| "[]".into());
            tx.run(
                "INSERT OR IGNORE INTO payload_records (payload_id, record_seq)
                 SELECT ?1, value FROM json_each(?2)",
                params![payload_id, linked],
            )
            .map_err(sql("link payload records"))?;
        }
        tx.run(
            "UPDATE records SET state = 'in-transfer', transfer_id = ?2, updated_at = ?3
             WHERE seq IN (SELECT value FROM json_each(?1))",
            params![seqs, id, now.0],
        )
        .map_err(sql("move records into transfer"))?;
        tx.commit().map_err(sql("commit transfer"))?;
        self.publish_head();
        Ok(Some(id))
    }

    fn fail_records(&mut self, failures: &[(i64, String)], now: Timestamp) -> Result<()> {
        let tx = self.write()?;
        for (seq, message) in failures {
            set_record_state(
                &tx,
                *seq,
                RecordState::Failed,
                std::slice::from_ref(message),
                now,
            )?;
        }
        tx.commit().map_err(sql("commit failures"))
    }

    fn open_transfers(&mut self, target: &str) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM transfers WHERE target = ?1 AND state = 'open' ORDER BY id",
            )
            .map_err(sql("prepare open transfers"))?;
        let rows = stmt
            .query_map([target], |r| r.get(0))
            .map_err(sql("list open transfers"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("list open transfers"))
    }

    fn claim_transfer(
        &mut self,
        target: &str,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        lease::claim(self, target, worker, until, limit, now)
    }

    fn renew_lease(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        lease::renew(self, transfer_id, worker, until, now)
    }

    fn claim_created(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<bool> {
        lease::claim_created(self, transfer_id, worker, until, limit, now)
    }

    fn begin_group(&mut self) -> Result<()> {
        if !self.grouped {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(sql("begin a group of writes"))?;
            self.grouped = true;
        }
        Ok(())
    }

    fn end_group(&mut self) -> Result<()> {
        if self.grouped {
            // Not grouped any more whatever the commit says: a failed COMMIT leaves no
            // transaction open (SQLite rolls back), and the next write begins its own.
            self.grouped = false;
            if let Err(e) = self.conn.execute_batch("COMMIT") {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(sql("commit a group of writes")(e));
            }
        }
        Ok(())
    }

    fn release_lease(&mut self, transfer_id: i64, worker: &str) -> Result<()> {
        lease::release(self, transfer_id, worker)
    }

    fn has_work(&mut self, target: &str, worker: &str, now: Timestamp) -> Result<bool> {
        lease::has_work(self, target, worker, now)
    }

    fn backoffs(&mut self) -> Result<Vec<Backoff>> {
        lease::backoffs(self)
    }

    fn set_backoff(&mut self, target: &str, backoff: Option<(u32, Timestamp)>) -> Result<()> {
        lease::set_backoff(self, target, backoff)
    }

    fn schedule_looks(&mut self) -> Result<Vec<(String, Timestamp)>> {
        schedule::looks(self)
    }

    fn first_look(&mut self, target: &str, at: Timestamp) -> Result<()> {
        schedule::first_look(self, target, at)
    }

    fn take_slot(&mut self, target: &str, slot: Timestamp, now: Timestamp) -> Result<bool> {
        schedule::take_slot(self, target, slot, now)
    }

    fn free_leases(&mut self, worker: &str) -> Result<usize> {
        lease::free(self, worker)
    }

    fn sent_transfers(&mut self, target: &str) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM transfers WHERE target = ?1 AND state = 'sent' ORDER BY id",
            )
            .map_err(sql("prepare sent transfers"))?;
        let rows = stmt
            .query_map([target], |r| r.get(0))
            .map_err(sql("list sent transfers"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("list sent transfers"))
    }

    fn transfer(&mut self, id: i64) -> Result<Transfer> {
        view::transfer(&self.conn, id)
    }

    fn payload_bytes(&mut self, payload_id: i64) -> Result<Vec<u8>> {
        let (bytes, key, codec, size): (Vec<u8>, Option<String>, Option<String>, i64) = self
            .conn
            .one(
                "SELECT b.bytes, b.key_id, b.codec, p.size FROM payload_bytes b
                 JOIN payloads p ON p.id = b.payload_id WHERE b.payload_id = ?1",
                [payload_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(sql("read payload"))?
            .ok_or_else(|| retention::missing_bytes(&self.conn, payload_id))?;
        let opened =
            crate::seal::open_bytes(self.keyring.as_deref(), key.as_deref(), bytes, payload_id)?;
        packed::unpack(codec.as_deref(), opened, size.max(0) as u64, payload_id)
    }

    fn send_payload(
        &mut self,
        payload_id: i64,
        send: &mut dyn FnMut(&mut dyn std::io::Read, u64) -> std::result::Result<(), ()>,
    ) -> Result<std::result::Result<(), ()>> {
        let found: Option<(bool, Option<String>, i64, String)> = self
            .conn
            .one(
                "SELECT b.key_id IS NOT NULL, b.codec, p.size, p.sha256 FROM payload_bytes b
                 JOIN payloads p ON p.id = b.payload_id WHERE b.payload_id = ?1",
                [payload_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(sql("read payload"))?;
        let Some((false, codec, size, sha256)) = found else {
            // Sealed bytes are opened whole (one authenticated box); a missing row gets
            // its explanation there.
            let bytes = self.payload_bytes(payload_id)?;
            return Ok(send(&mut bytes.as_slice(), bytes.len() as u64));
        };
        // The row's rowid is its payload_id (INTEGER PRIMARY KEY). The handle holds a
        // read transaction while it is open; in WAL the writer is not held up by it.
        let blob = self
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
        let fault = packed::Fault::default();
        let reader = packed::reader(codec.as_deref(), blob, size, payload_id)?;
        let mut reader = packed::Watched::new(reader, size, sha256, payload_id, fault.clone());
        let sent = send(&mut reader, size);
        // A fault in the stored bytes is the store's error, not the connection's: another
        // try would send the same damaged bytes again.
        if let Some(why) = fault.take() {
            return Err(StoreError::Corrupt(why));
        }
        Ok(sent)
    }

    fn payload_request(&mut self, payload_id: i64) -> Result<Option<hub_plugin_sdk::RequestShape>> {
        let text: Option<String> = self
            .conn
            .one(
                "SELECT request FROM payloads WHERE id = ?1",
                [payload_id],
                |r| r.get(0),
            )
            .map_err(sql("read payload request"))?;
        crate::parse_request(payload_id, text)
    }

    fn payload_records(&mut self, payload_id: i64) -> Result<Vec<StoredRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.seq, r.record_id, r.kind, r.body, r.body_key FROM payload_records pr
                 JOIN records r ON r.seq = pr.record_seq
                 WHERE pr.payload_id = ?1 ORDER BY r.seq",
            )
            .map_err(sql("prepare payload records"))?;
        let rows = stmt
            .query_map([payload_id], sealed_record)
            .map_err(sql("list payload records"))?;
        let rows = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("list payload records"))?;
        Ok(crate::seal::open_records(self.keyring.as_deref(), rows)?)
    }

    fn recorded_inputs(&mut self, transfer_id: i64) -> Result<crate::RecordedInputs> {
        inputs::recorded(self, transfer_id)
    }

    fn set_payload_state(&mut self, payload_id: i64, state: PayloadState) -> Result<()> {
        let tx = self.write()?;
        tx.run(
            "UPDATE payloads SET state = ?2 WHERE id = ?1",
            params![payload_id, state.as_str()],
        )
        .map_err(sql("update payload"))?;
        tx.commit().map_err(sql("commit payload state"))
    }

    fn log_attempt(&mut self, attempt: &NewAttempt) -> Result<i64> {
        let tx = self.write()?;
        let id = write_attempt(&tx, attempt)?;
        tx.commit().map_err(sql("commit attempt"))?;
        self.publish_head();
        Ok(id)
    }

    fn begin_attempt(
        &mut self,
        payload_id: i64,
        state: PayloadState,
        attempt: &NewAttempt,
    ) -> Result<i64> {
        self.begin_attempt_tx(payload_id, state, attempt)
    }

    fn hold(
        &mut self,
        payload_id: i64,
        doubt: &NewDoubt,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<i64> {
        let id = self.hold_tx(payload_id, doubt, attempt, now)?;
        self.publish_head();
        Ok(id)
    }

    fn doubts(&mut self, target: Option<&str>, settled: bool) -> Result<Vec<Doubt>> {
        self.doubts_of(target, settled)
    }

    fn settle(
        &mut self,
        transfer_id: i64,
        settlement: Settlement,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<TransferState> {
        let state = self.settle_tx(transfer_id, settlement, who, reason, now)?;
        self.publish_head();
        Ok(state)
    }

    fn complete_payload(
        &mut self,
        payload_id: i64,
        completion: Completion<'_>,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<TransferState> {
        let tx = self.write()?;
        let transfer_id: i64 = tx
            .one(
                "SELECT transfer_id FROM payloads WHERE id = ?1",
                [payload_id],
                |r| r.get(0),
            )
            .map_err(sql("find payload"))?;
        tx.run(
            "UPDATE payloads SET state = 'delivered', delivered_at = coalesce(delivered_at, ?2)
             WHERE id = ?1",
            params![payload_id, now.0],
        )
        .map_err(sql("mark payload delivered"))?;
        write_attempt(&tx, attempt)?;
        match completion {
            Completion::AwaitingReceipt => {}
            Completion::Outcomes(outcomes) => {
                // Records with the same outcome move together (usually all delivered).
                let mut alike: Vec<(Alike<'_>, Vec<i64>)> = Vec::new();
                for o in outcomes {
                    let key = (o.record_state(), o.messages.as_slice());
                    match alike.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, seqs)) => seqs.push(o.seq),
                        None => alike.push((key, vec![o.seq])),
                    }
                }
                for ((state, messages), seqs) in alike {
                    set_records_state(&tx, &seqs, state, messages, now)?;
                }
            }
            Completion::InPlace => {
                // Records whose every payload is now in place are delivered.
                let seqs: Vec<i64> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT pr.record_seq FROM payload_records pr
                             JOIN records r ON r.seq = pr.record_seq
                             WHERE pr.payload_id = ?1 AND r.state = 'in-transfer'
                               AND NOT EXISTS (
                                 SELECT 1 FROM payload_records pr2
                                 JOIN payloads p2 ON p2.id = pr2.payload_id
                                 WHERE pr2.record_seq = pr.record_seq AND p2.state != 'delivered')",
                        )
                        .map_err(sql("prepare delivered records"))?;
                    let rows = stmt
                        .query_map([payload_id], |r| r.get(0))
                        .map_err(sql("find delivered records"))?;
                    rows.collect::<rusqlite::Result<_>>()
                        .map_err(sql("find delivered records"))?
                };
                set_records_state(&tx, &seqs, RecordState::Delivered, &[], now)?;
            }
        }
        let state = settle_transfer(&tx, transfer_id, now)?;
        tx.commit().map_err(sql("commit delivery"))?;
        self.publish_head();
        Ok(state)
    }

    fn resolve(
        &mut self,
        target: Option<&str>,
        record_id: &str,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Resolution> {
        self.resolve_by_hand(target, record_id, who, reason, now)
    }

    fn records_by_id(&mut self, target: &str, id: &str) -> Result<Vec<RecordView>> {
        self.lookup_records(target, id)
    }

    fn attempt_stats(&mut self) -> Result<Vec<crate::AttemptStats>> {
        self.lookup_attempt_stats()
    }

    fn counts(&mut self, target: Option<&str>) -> Result<Vec<Counts>> {
        load_counts(&self.conn, target)
    }

    fn status(&mut self, target: Option<&str>) -> Result<Status> {
        let mut status = Status {
            targets: load_counts(&self.conn, target)?,
            ..Status::default()
        };
        status.transfers = view::transfers(&self.conn, view::Which::Target(target))?;
        status.in_doubt = self.doubts_of(target, false)?;
        let mut stmt = self
            .conn
            .prepare_cached(concat!(
                "SELECT seq, target, record_id, kind, state, transfer_id, messages, updated_at
                 FROM records WHERE (?1 IS NULL OR target = ?1) AND state IN ('rejected', 'failed')
                   AND ",
                few_states!(),
                " ORDER BY seq"
            ))
            .map_err(sql("prepare records to check"))?;
        let rows = stmt
            .query_map([target], view_row)
            .map_err(sql("list records to check"))?;
        for row in rows {
            status
                .needs_check
                .push(row_to_view(row.map_err(sql("list records to check"))?)?);
        }
        Ok(status)
    }

    fn reopen_for_resend(&mut self, transfer_id: i64, reason: &str, now: Timestamp) -> Result<()> {
        let tx = self.write()?;
        let state: Option<String> = tx
            .one(
                "SELECT state FROM transfers WHERE id = ?1",
                [transfer_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read transfer"))?;
        match state.as_deref() {
            None => {
                return Err(StoreError::NotFound(format!(
                    "transfer #{transfer_id} does not exist"
                )));
            }
            Some("open") => {
                return Err(StoreError::Refused(format!(
                    "transfer #{transfer_id} is not delivered yet; `hub send` finishes it"
                )));
            }
            Some("in-doubt") => {
                return Err(StoreError::Refused(format!(
                    "transfer #{transfer_id} is in doubt; ask the receiver and settle it \
                     (`hub doubt settle {transfer_id} --not-delivered` sends it again)"
                )));
            }
            Some(_) => {}
        }
        retention::refuse_if_purged(&tx, transfer_id)?;
        tx.run(
            "UPDATE payloads SET state = 'pending', delivered_at = NULL, checked_at = NULL,
                gone_at = NULL WHERE transfer_id = ?1",
            [transfer_id],
        )
        .map_err(sql("reopen payloads"))?;
        tx.run(
            "UPDATE transfers SET state = 'open', done_at = NULL WHERE id = ?1",
            [transfer_id],
        )
        .map_err(sql("reopen transfer"))?;
        insert_attempt(
            &tx,
            &NewAttempt {
                begun: None,
                transfer_id,
                payload_id: None,
                started_at: now,
                duration_ms: 0,
                endpoint: "hub resend".into(),
                credential: None,
                sent: "the transfer's payloads, unchanged".into(),
                received: None,
                result: AttemptResult::Retryable,
                error: Some(format!("to be sent again on request: {reason}")),
            },
        )?;
        audit::resend(&tx, transfer_id, reason, now)?;
        tx.commit().map_err(sql("commit reopen"))?;
        self.publish_head();
        Ok(())
    }

    fn unclaimed_payloads(&mut self, target: &str) -> Result<Vec<Payload>> {
        self.unclaimed(target)
    }

    fn mark_checked(&mut self, payload_id: i64, gone: bool, now: Timestamp) -> Result<()> {
        let tx = self.write()?;
        tx.run(
            "UPDATE payloads SET checked_at = ?2,
                gone_at = CASE WHEN ?3 THEN coalesce(gone_at, ?2) ELSE gone_at END
             WHERE id = ?1",
            params![payload_id, now.0, gone],
        )
        .map_err(sql("record a look at the receiver"))?;
        tx.commit().map_err(sql("commit look"))
    }

    fn attempts(&mut self, transfer: Option<i64>) -> Result<Vec<Attempt>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.transfer_id, t.target, p.name, a.started_at, a.duration_ms,
                        a.endpoint, a.credential, a.sent, a.received, a.result, a.error,
                        t.plugin_name, t.plugin_version, t.plugin_sha256
                 FROM attempts a JOIN transfers t ON t.id = a.transfer_id
                 LEFT JOIN payloads p ON p.id = a.payload_id
                 WHERE ?1 IS NULL OR a.transfer_id = ?1 ORDER BY a.id",
            )
            .map_err(sql("prepare protocol log"))?;
        let rows = stmt
            .query_map([transfer], attempt_row)
            .map_err(sql("read protocol log"))?;
        let out = attempts_from(rows)?;
        Ok(out)
    }
}

impl SqliteStore {
    fn unclaimed(&mut self, target: &str) -> Result<Vec<Payload>> {
        Ok(view::transfers(&self.conn, view::Which::Unclaimed(target))?
            .into_iter()
            .flat_map(|t| t.payloads)
            .filter(|p| p.state == PayloadState::Delivered && p.gone_at.is_none())
            .collect())
    }
}
