//! PostgreSQL's side of [`Enqueueing`], as SQLite's: one transaction under the target's
//! enqueue lock; the ids seen so far in a temporary table dropped at commit.

use hub_core::state::RecordState;
use hub_core::time::Timestamp;
use postgres::{Statement, Transaction};

use super::outbox::ENQUEUE_LOCK;
use super::{PgStore, doubt, lease, pg, set_record_state};
use crate::enqueueing::{BeginEnqueue, Enqueueing};
use crate::sqlite::sha256_hex;
use crate::{EnqueueReport, NewRecord, Result, StoreError};

impl BeginEnqueue for PgStore {
    fn begin_enqueue(&mut self, target: &str, now: Timestamp) -> Result<Box<dyn Enqueueing + '_>> {
        let ring = self.keyring.clone();
        let mut tx = self.client.transaction().map_err(pg("begin enqueue"))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&ENQUEUE_LOCK, &target],
        )
        .map_err(pg("lock the target's outbox"))?;
        let dup = tx
            .prepare(
                "SELECT 1 FROM records WHERE target = $1 AND record_id = $2
                   AND content_sha256 = $3 LIMIT 1",
            )
            .map_err(pg("prepare duplicate check"))?;
        // Locked: a transfer being created at the same time either took the record first
        // (then it is no longer queued here) or finds it superseded.
        let older = tx
            .prepare(
                "SELECT seq FROM records WHERE target = $1 AND supersede_key = $2
                   AND state = 'queued' ORDER BY seq FOR NO KEY UPDATE",
            )
            .map_err(pg("prepare supersede lookup"))?;
        let insert = tx
            .prepare(
                "INSERT INTO records (target, record_id, kind, body, body_sha256, batch_key,
                    sequence_scope, supersede_key, state, enqueued_at, updated_at, content_sha256,
                    body_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9, $10, $11)",
            )
            .map_err(pg("prepare insert"))?;
        Ok(Box::new(PgEnqueue {
            tx,
            ring,
            target: target.to_string(),
            now,
            dup,
            older,
            insert,
            report: EnqueueReport::default(),
            refused: false,
            ids: None,
        }))
    }
}

struct PgEnqueue<'a> {
    tx: Transaction<'a>,
    ring: Option<std::sync::Arc<crate::seal::Keyring>>,
    target: String,
    now: Timestamp,
    dup: Statement,
    older: Statement,
    insert: Statement,
    report: EnqueueReport,
    /// A record was refused: nothing more is added, and `finish` refuses.
    refused: bool,
    /// The statement noting an input id, once its table exists.
    ids: Option<Statement>,
}

impl Enqueueing for PgEnqueue<'_> {
    fn first_line(&mut self, id: &str, line: usize) -> Result<Option<usize>> {
        let stmt = match &self.ids {
            Some(s) => s.clone(),
            None => {
                self.tx
                    .batch_execute(
                        "CREATE TEMP TABLE IF NOT EXISTS enqueue_lines (
                             id text PRIMARY KEY, line bigint NOT NULL) ON COMMIT DELETE ROWS;
                         DELETE FROM enqueue_lines;",
                    )
                    .map_err(pg("prepare the input's ids"))?;
                let s = self
                    .tx
                    .prepare(
                        "WITH added AS (
                             INSERT INTO enqueue_lines (id, line) VALUES ($1, $2)
                             ON CONFLICT (id) DO NOTHING RETURNING line)
                         SELECT line, true FROM added
                         UNION ALL SELECT line, false FROM enqueue_lines WHERE id = $1",
                    )
                    .map_err(pg("prepare the input's ids"))?;
                self.ids = Some(s.clone());
                s
            }
        };
        let line = i64::try_from(line).unwrap_or(i64::MAX);
        let rows = self
            .tx
            .query(&stmt, &[&id, &line])
            .map_err(pg("note an input id"))?;
        // Added now: this is its first line. Else the line it was noted on.
        if rows.iter().any(|r| r.get::<_, bool>(1)) {
            return Ok(None);
        }
        Ok(rows
            .first()
            .and_then(|r| usize::try_from(r.get::<_, i64>(0)).ok()))
    }

    fn add(&mut self, records: &[NewRecord]) -> Result<Vec<(usize, String)>> {
        let target = self.target.clone();
        let now = self.now;
        let mut refused = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if !self
                .tx
                .query(&self.dup, &[&target, &r.id, &r.content_sha256])
                .map_err(pg("check duplicate"))?
                .is_empty()
            {
                self.report.duplicates += 1;
                continue;
            }
            match doubt::changed_body(&mut self.tx, &target, r)? {
                crate::identity::Earlier::None => {}
                crate::identity::Earlier::Delivered => self.report.changed += 1,
                crate::identity::Earlier::Refused(why) => {
                    refused.push((i, why));
                    self.refused = true;
                    continue;
                }
            }
            if self.refused {
                continue;
            }
            if let Some(key) = &r.meta.supersede_key {
                let seqs: Vec<i64> = self
                    .tx
                    .query(&self.older, &[&target, key])
                    .map_err(pg("find superseded"))?
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                for seq in seqs {
                    set_record_state(
                        &mut self.tx,
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
            self.tx
                .execute(
                    &self.insert,
                    &[
                        &target,
                        &r.id,
                        &r.kind,
                        &body,
                        &sha256_hex(r.body.as_bytes()),
                        &r.meta.batch_key,
                        &r.meta.sequence_scope,
                        &r.meta.supersede_key,
                        &now.0,
                        &r.content_sha256,
                        &key,
                    ],
                )
                .map_err(pg("insert record"))?;
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
        let mut this = *self;
        if this.report.queued > 0 {
            // Wakes the other workers waiting for work on this target.
            lease::notify(&mut this.tx, &this.target)?;
        }
        this.tx.commit().map_err(pg("commit enqueue"))?;
        Ok(this.report)
    }
}
