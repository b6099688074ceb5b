//! SQLite's side of [`Enqueueing`]: one write transaction per input; the ids seen so far
//! in a temporary table (in the temp database: not in the WAL, bounded by its cache).

use hub_core::state::RecordState;
use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, count_added, doubt, hash_value, set_record_state, sql};
use crate::enqueueing::{BeginEnqueue, Enqueueing};
use crate::{EnqueueReport, NewRecord, Result, StoreError};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

impl BeginEnqueue for SqliteStore {
    fn begin_enqueue(&mut self, target: &str, now: Timestamp) -> Result<Box<dyn Enqueueing + '_>> {
        let ring = self.keyring.clone();
        let bodies = self.bodies.clone();
        let tx = self.write()?;
        bodies.prepare(&tx, target, now)?;
        Ok(Box::new(SqliteEnqueue {
            tx,
            ring,
            bodies,
            target: target.to_string(),
            now,
            report: EnqueueReport::default(),
            refused: false,
            ids_ready: false,
        }))
    }
}

struct SqliteEnqueue<'a> {
    tx: super::Write<'a>,
    ring: Option<std::sync::Arc<crate::seal::Keyring>>,
    /// Bodies are written packed once the target has a dictionary (`bodies.rs`).
    bodies: super::bodies::Bodies,
    target: String,
    now: Timestamp,
    report: EnqueueReport,
    /// A record was refused: nothing more is added, and `finish` refuses.
    refused: bool,
    /// The table of this input's ids exists and is empty.
    ids_ready: bool,
}

impl Enqueueing for SqliteEnqueue<'_> {
    fn first_line(&mut self, id: &str, line: usize) -> Result<Option<usize>> {
        if !self.ids_ready {
            self.tx
                .execute_batch(
                    "CREATE TEMP TABLE IF NOT EXISTS enqueue_lines (
                         id TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
                     DELETE FROM temp.enqueue_lines;",
                )
                .map_err(sql("prepare the input's ids"))?;
            self.ids_ready = true;
        }
        let line = i64::try_from(line).unwrap_or(i64::MAX);
        let added = self
            .tx
            .prepare_cached(
                "INSERT INTO temp.enqueue_lines (id, line) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![id, line]))
            .map_err(sql("note an input id"))?;
        if added > 0 {
            return Ok(None);
        }
        let first: Option<i64> = self
            .tx
            .prepare_cached("SELECT line FROM temp.enqueue_lines WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(sql("read an input id"))?;
        Ok(first.and_then(|l| usize::try_from(l).ok()))
    }

    fn add(&mut self, records: &[NewRecord]) -> Result<Vec<(usize, String)>> {
        let (tx, target, now) = (&self.tx, self.target.as_str(), self.now);
        // A new target's first large input trains its dictionary on its own first
        // records (written as text), and the rest go in packed.
        self.bodies.prepare(tx, target, now)?;
        let queued_before = self.report.queued;
        let mut older = tx
            .prepare_cached(
                "SELECT seq FROM records WHERE target = ?1 AND supersede_key = ?2 AND state = 'queued'",
            )
            .map_err(sql("prepare supersede lookup"))?;
        let mut refused = Vec::new();
        let mut pending: Vec<Row<'_>> = Vec::with_capacity(ROWS);
        for (i, r) in records.iter().enumerate() {
            match doubt::changed_body(tx, target, r)? {
                None => {
                    self.report.duplicates += 1;
                    continue;
                }
                Some(doubt::Earlier::None) => {}
                Some(doubt::Earlier::Delivered) => self.report.changed += 1,
                Some(doubt::Earlier::Refused(why)) => {
                    refused.push((i, why));
                    self.refused = true;
                    continue;
                }
            }
            if self.refused {
                continue;
            }
            if let Some(key) = &r.meta.supersede_key {
                // The older record may be one of those still waiting to be written.
                insert(tx, target, now, &mut pending)?;
                let seqs: Vec<i64> = older
                    .query_map(params![target, key], |row| row.get(0))
                    .map_err(sql("find superseded"))?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(sql("find superseded"))?;
                for seq in seqs {
                    set_record_state(
                        tx,
                        seq,
                        RecordState::Superseded,
                        &[format!("superseded by record {} before it was sent", r.id)],
                        now,
                    )?;
                    self.report.superseded += 1;
                }
            }
            // The hashes are of the plaintext; only the stored text is sealed.
            let (body, key) = crate::seal::seal_body(self.ring.as_deref(), &r.body)?;
            let body = match key {
                None => match self.bodies.pack(target, &body) {
                    Some(packed) => Stored::Packed(packed),
                    None => Stored::Text(body),
                },
                Some(_) => Stored::Text(body),
            };
            pending.push(Row {
                record: r,
                body,
                key,
                body_sha256: Sha256::digest(r.body.as_bytes()).into(),
                content_sha256: hash_value(&r.content_sha256),
            });
            if pending.len() == ROWS {
                insert(tx, target, now, &mut pending)?;
            }
            self.report.queued += 1;
        }
        insert(tx, target, now, &mut pending)?;
        self.bodies
            .added(target, self.report.queued - queued_before);
        Ok(refused)
    }

    fn finish(self: Box<Self>) -> Result<EnqueueReport> {
        if self.refused {
            // All or nothing: the transaction is dropped, nothing was queued.
            return Err(StoreError::Refused(
                "records were refused; nothing was queued".into(),
            ));
        }
        self.tx.commit().map_err(sql("commit enqueue"))?;
        Ok(self.report)
    }
}

/// Records written per INSERT statement: each statement pays once for what SQLite does
/// per statement (its journal of the pages it changes and its setup); one row per statement spent ~15% of an enqueue there.
const ROWS: usize = 64;

/// A body as it is written: text (plain or sealed), or packed.
enum Stored<'a> {
    Text(std::borrow::Cow<'a, str>),
    Packed(Vec<u8>),
}

impl rusqlite::ToSql for Stored<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Stored::Text(t) => t.to_sql(),
            Stored::Packed(b) => b.to_sql(),
        }
    }
}

/// A record waiting to be written, in input order.
struct Row<'a> {
    record: &'a NewRecord,
    body: Stored<'a>,
    key: Option<&'a str>,
    body_sha256: [u8; 32],
    content_sha256: super::Hash<'a>,
}

/// Writes the waiting records in input order: whole statements of [`ROWS`], the rest one
/// by one (statements of each shape are compiled once).
fn insert(
    tx: &rusqlite::Connection,
    target: &str,
    now: Timestamp,
    pending: &mut Vec<Row<'_>>,
) -> Result<()> {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)";
    const HEAD: &str = "INSERT INTO records (target, record_id, kind, body, body_sha256,
        batch_key, sequence_scope, supersede_key, state, enqueued_at, updated_at,
        content_sha256, body_key) VALUES ";
    static ONE: LazyLock<String> = LazyLock::new(|| format!("{HEAD}{ROW}"));
    static MANY: LazyLock<String> =
        LazyLock::new(|| format!("{HEAD}{}", vec![ROW; ROWS].join(", ")));
    let (whole, rest) = pending.split_at(pending.len() - pending.len() % ROWS);
    let statements = whole.chunks(ROWS).chain(rest.chunks(1));
    for rows in statements {
        let text = if rows.len() == ROWS { &MANY } else { &ONE };
        let mut stmt = tx.prepare_cached(text).map_err(sql("prepare insert"))?;
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(rows.len() * 12);
        for row in rows {
            let r = row.record;
            values.extend([
                &target as &dyn rusqlite::ToSql,
                &r.id,
                &r.kind,
                &row.body,
                &row.body_sha256,
                &r.meta.batch_key,
                &r.meta.sequence_scope,
                &r.meta.supersede_key,
                &now.0,
                &now.0,
                &row.content_sha256,
                &row.key,
            ]);
        }
        stmt.execute(values.as_slice())
            .map_err(sql("insert record"))?;
    }
    count_added(tx, target, RecordState::Queued, pending.len())?;
    pending.clear();
    Ok(())
}
