//! The SQLite implementation of [`Store`]: WAL, `synchronous = FULL` (a committed
//! delivery step must survive a power cut, or recovery could send a file twice), and
//! `BEGIN IMMEDIATE` for every write so two processes never interleave a transaction.

use self::cached::Cached;
use std::path::Path;

use hub_core::state::{PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};

mod attempts;
pub(crate) mod audit;
pub(crate) mod bodies;
mod by_hand;
mod cached;
mod doubt;
mod enqueue;
mod inputs;
mod lease;
mod lookup;
mod migrate;
mod outbox;
mod packed;
mod pages;
mod pause;
mod payloads;
mod retention;
mod schedule;
mod sealing;
mod states;
mod temp;
#[cfg(test)]
mod testing;
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
    /// The dictionaries delivered bodies are packed with (schema 025).
    pub(crate) bodies: bodies::Bodies,
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
        let bodies = bodies::Bodies::default();
        bodies
            .register(&conn)
            .map_err(sql("register the body packer"))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("begin migration"))?;
        migrate(&tx, MIGRATIONS)?;
        doubt::fill_content_hashes(&tx, &bodies)?;
        tx.commit().map_err(sql("commit migration"))?;
        Ok(Self {
            conn,
            head_file: None,
            keyring: None,
            grouped: false,
            bodies,
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

fn sealed_record(
    bodies: &bodies::Bodies,
    conn: &Connection,
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<SealedRecord> {
    Ok((
        StoredRecord {
            seq: r.get(0)?,
            id: r.get(1)?,
            kind: r.get(2)?,
            body: bodies.text(conn, r, 3)?,
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
        outbox::queued_batches(self, target)
    }

    fn queued_records(
        &mut self,
        target: &str,
        batch: &Batch,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        outbox::queued_records(self, target, batch, limit)
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
        outbox::create_transfer(self, target, batch, records, plugin, inputs, now, encode)
    }

    fn fail_records(&mut self, failures: &[(i64, String)], now: Timestamp) -> Result<()> {
        outbox::fail_records(self, failures, now)
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
        payloads::payload_bytes(self, payload_id)
    }

    fn send_payload(
        &mut self,
        payload_id: i64,
        send: &mut dyn FnMut(&mut dyn std::io::Read, u64) -> std::result::Result<(), ()>,
    ) -> Result<std::result::Result<(), ()>> {
        payloads::send_payload(self, payload_id, send)
    }

    fn payload_request(&mut self, payload_id: i64) -> Result<Option<hub_plugin_sdk::RequestShape>> {
        payloads::payload_request(self, payload_id)
    }

    fn payload_records(&mut self, payload_id: i64) -> Result<Vec<StoredRecord>> {
        payloads::payload_records(self, payload_id)
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
        outbox::complete_payload(self, payload_id, completion, attempt, now)
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
        outbox::reopen_for_resend(self, transfer_id, reason, now)
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
