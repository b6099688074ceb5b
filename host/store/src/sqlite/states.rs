//! Record and transfer states: every change of a record's state goes through
//! [`set_record_state`] or [`set_records_state`], every transfer's through
//! [`settle_transfer`]; the per-target counts the overview reads come from here too.

use hub_core::state::{RecordState, TransferState};
use hub_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::{messages_json, parse_state, sql};
use crate::{Counts, Result};

/// The SQL that keeps a record's previous outcome before a new one replaces it (`?1`: the
/// records, as `json_each` reads them). The latest outcome is on the record itself
/// (state, messages, transfer, time), so `outcomes` holds only those it replaced, and
/// only those that said something: a state the record reached as the outcome of a step
/// (not `queued` or `in-transfer`), or messages. A record delivered once writes no row
/// there (schema 023: a row per delivered record repeated the record's own columns, 46
/// bytes a record with its index).
pub(crate) const KEEP_PREVIOUS_OUTCOME: &str =
    "INSERT INTO outcomes (record_seq, transfer_id, state, messages, at)
     SELECT seq, transfer_id, state, messages, updated_at FROM records
     WHERE seq IN (SELECT value FROM json_each(?1))
       AND (state NOT IN ('queued', 'in-transfer') OR messages <> '[]')";

pub(super) fn set_record_state(
    tx: &Connection,
    seq: i64,
    state: RecordState,
    messages: &[String],
    now: Timestamp,
) -> Result<()> {
    set_records_state(tx, &[seq], state, messages, now)
}

/// An outcome's state and messages: records alike in both move in one statement.
pub(super) type Alike<'a> = (RecordState, &'a [String]);

/// Gives records the same state and messages: two statements for all of them (the
/// records as a JSON array read by `json_each`), not two per record.
pub(super) fn set_records_state(
    tx: &Connection,
    seqs: &[i64],
    state: RecordState,
    messages: &[String],
    now: Timestamp,
) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    let list = serde_json::to_string(seqs).unwrap_or_else(|_| "[]".into());
    let m = messages_json(messages);
    tx.prepare_cached(KEEP_PREVIOUS_OUTCOME)
        .and_then(|mut s| s.execute([&list]))
        .map_err(sql("keep the previous outcome"))?;
    // A delivered body is packed as its row is written anyway (`bodies.rs`).
    tx.prepare_cached(if state == RecordState::Delivered {
        "UPDATE records SET state = ?2, messages = ?3, updated_at = ?4,
                body = CASE WHEN body_key IS NULL AND typeof(body) = 'text'
                            THEN hub_pack(target, body) ELSE body END
         WHERE seq IN (SELECT value FROM json_each(?1))"
    } else {
        "UPDATE records SET state = ?2, messages = ?3, updated_at = ?4
         WHERE seq IN (SELECT value FROM json_each(?1))"
    })
    .and_then(|mut s| s.execute(params![list, state.as_str(), m, now.0]))
    .map_err(sql("update records"))?;
    Ok(())
}

/// Counts records a statement inserted (all in one state) in `record_counts`: one
/// upsert per statement. Updates and deletes are counted by triggers (migration 008);
/// inserts are not since schema 023, because the trigger's upsert per row doubled the
/// cost of an INSERT into `records` (100,000 rows in a Python sqlite3 loop: 4.2-4.5 s
/// with it, 2.1-2.2 s without). Every INSERT into `records` calls this.
pub(super) fn count_added(
    tx: &Connection,
    target: &str,
    state: RecordState,
    n: usize,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO record_counts (target, state, n) VALUES (?1, ?2, ?3)
         ON CONFLICT (target, state) DO UPDATE SET n = n + excluded.n",
    )
    .and_then(|mut s| s.execute(params![target, state.as_str(), n as i64]))
    .map_err(sql("count records"))?;
    Ok(())
}

/// Recomputes a transfer's state from its payloads and records; sets "done on" once.
pub(super) fn settle_transfer(
    tx: &Connection,
    transfer_id: i64,
    now: Timestamp,
) -> Result<TransferState> {
    // Whether, not how many: each question is a probe of an index on (transfer_id,
    // state) (migrations 015 and 021), so settling after each file of a large transfer
    // does not read the transfer's other rows. `<` and `>` 'delivered': every other state.
    let (undelivered, in_doubt, in_transfer, needing): (bool, bool, bool, bool) = tx
        .prepare_cached(
            "SELECT
                EXISTS (SELECT 1 FROM payloads WHERE transfer_id = ?1 AND state < 'delivered')
                 OR EXISTS (SELECT 1 FROM payloads WHERE transfer_id = ?1 AND state > 'delivered'),
                EXISTS (SELECT 1 FROM payloads WHERE transfer_id = ?1 AND state = 'in-doubt'),
                EXISTS (SELECT 1 FROM records WHERE transfer_id = ?1 AND state = 'in-transfer'),
                EXISTS (SELECT 1 FROM records WHERE transfer_id = ?1 AND state IN ('rejected', 'failed'))",
        )
        .and_then(|mut s| {
            s.query_row([transfer_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
        })
        .map_err(sql("settle transfer"))?;
    let state = if in_doubt {
        TransferState::InDoubt
    } else if undelivered {
        TransferState::Open
    } else if in_transfer {
        TransferState::Sent
    } else if needing {
        TransferState::NeedsCheck
    } else {
        TransferState::Done
    };
    tx.prepare_cached(
        "UPDATE transfers SET state = ?2,
            done_at = CASE WHEN ?2 = 'done' THEN coalesce(done_at, ?3) ELSE NULL END
         WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![transfer_id, state.as_str(), now.0]))
    .map_err(sql("update transfer"))?;
    if state != TransferState::Open {
        // Nothing left to deliver: the lease goes in this commit, and the worker's
        // release afterwards writes nothing (one commit less per transfer).
        tx.prepare_cached("DELETE FROM leases WHERE transfer_id = ?1")
            .and_then(|mut s| s.execute([transfer_id]))
            .map_err(sql("release lease"))?;
    }
    Ok(state)
}

/// Records per target and state, from the counts kept by migration 008's triggers and
/// [`count_added`] (a handful of rows, whatever the history).
pub(super) fn load_counts(conn: &Connection, target: Option<&str>) -> Result<Vec<Counts>> {
    let mut out: Vec<Counts> = Vec::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT target, state, n FROM record_counts
             WHERE (?1 IS NULL OR target = ?1) AND n <> 0 ORDER BY target",
        )
        .map_err(sql("prepare counts"))?;
    let rows = stmt
        .query_map([target], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(sql("count records"))?;
    for row in rows {
        let (t, state, n) = row.map_err(sql("count records"))?;
        if out.last().map(|c| c.target.as_str()) != Some(t.as_str()) {
            out.push(Counts {
                target: t.clone(),
                ..Counts::default()
            });
        }
        let Some(c) = out.last_mut() else {
            continue;
        };
        let n = n as usize;
        match parse_state(&state, RecordState::parse)? {
            RecordState::Queued => c.queued += n,
            RecordState::InTransfer => c.in_flight += n,
            RecordState::InDoubt => c.in_doubt += n,
            RecordState::Delivered => c.delivered += n,
            RecordState::Rejected => {
                c.failed += n;
                c.rejected += n;
            }
            RecordState::Failed => c.failed += n,
            RecordState::Resolved => c.resolved += n,
            RecordState::Superseded => c.superseded += n,
        }
    }
    Ok(out)
}
