//! SQLite's side of [`Enqueueing`]: one write transaction per input; the ids seen so far
//! in a temporary table (in the temp database: not in the WAL, bounded by its cache).

use hub_core::state::RecordState;
use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, doubt, hash_value, set_record_state, sql};
use crate::enqueueing::{BeginEnqueue, Enqueueing};
use crate::{EnqueueReport, NewRecord, Result, StoreError};
use sha2::{Digest, Sha256};

impl BeginEnqueue for SqliteStore {
    fn begin_enqueue(&mut self, target: &str, now: Timestamp) -> Result<Box<dyn Enqueueing + '_>> {
        let ring = self.keyring.clone();
        let tx = self.write()?;
        Ok(Box::new(SqliteEnqueue {
            tx,
            ring,
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
        let mut older = tx
            .prepare_cached(
                "SELECT seq FROM records WHERE target = ?1 AND supersede_key = ?2 AND state = 'queued'",
            )
            .map_err(sql("prepare supersede lookup"))?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO records (target, record_id, kind, body, body_sha256, batch_key,
                    sequence_scope, supersede_key, state, enqueued_at, updated_at, content_sha256,
                    body_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?9, ?10, ?11)",
            )
            .map_err(sql("prepare insert"))?;
        let mut refused = Vec::new();
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
                        None,
                        &[format!("superseded by record {} before it was sent", r.id)],
                        now,
                    )?;
                    self.report.superseded += 1;
                }
            }
            // The hashes are of the plaintext; only the stored text is sealed.
            let (body, key) = crate::seal::seal_body(self.ring.as_deref(), &r.body)?;
            insert
                .execute(params![
                    target,
                    r.id,
                    r.kind,
                    body,
                    &Sha256::digest(r.body.as_bytes())[..],
                    r.meta.batch_key,
                    r.meta.sequence_scope,
                    r.meta.supersede_key,
                    now.0,
                    hash_value(&r.content_sha256),
                    key
                ])
                .map_err(sql("insert record"))?;
            self.report.queued += 1;
        }
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
