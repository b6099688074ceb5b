//! [`Pages`] on SQLite: the statements of `query.rs`, and the overview from the counts
//! migration 008 keeps and from indexes over what is still open.

use super::cached::Cached;
use std::collections::BTreeMap;

use hub_core::time::Timestamp;
use rusqlite::{Connection, ToSql, types::ToSqlOutput};

use super::{
    SqliteStore, attempt_row, attempts_from, load_counts, row_to_view, sql, view, view_row,
};
use crate::query::{self, Dialect, Param, Sql};
use crate::views::{
    FileRow, Page, Pages, Query, TargetLimits, TargetSummary, paged, with_configured,
};
use crate::{Attempt, RecordView, Result, Transfer};

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Int(i) => i.to_sql(),
            Param::Text(t) => t.to_sql(),
        }
    }
}

fn ids(conn: &Connection, s: &Sql) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(&s.text).map_err(sql("prepare page"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(&s.params), |r| r.get(0))
        .map_err(sql("read page"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(sql("read page"))
}

/// The transfers of `ids` (with their payloads), in the order of `ids`.
fn transfers_of(conn: &Connection, ids: &[i64]) -> Result<Vec<Transfer>> {
    let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut by_id: BTreeMap<i64, Transfer> = view::transfers(conn, view::Which::Ids(&json))?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

impl Pages for SqliteStore {
    fn overview(&mut self, limits: &[TargetLimits], now: Timestamp) -> Result<Vec<TargetSummary>> {
        let conn = &self.conn;
        let mut out: Vec<TargetSummary> = load_counts(conn, None)?
            .into_iter()
            .map(|c| TargetSummary {
                target: c.target.clone(),
                records: c,
                ..TargetSummary::default()
            })
            .collect();
        out = with_configured(out, limits);
        let mut stmt = conn
            .prepare_cached(
                // By state first: the open states are few rows whatever the history
                // (measured: with statistics the planner preferred walking all of
                // (target, state), 17 ms at 100,000 transfers).
                "SELECT target, state, count(*) FROM transfers INDEXED BY transfers_by_state_id
                 WHERE state IN ('open', 'in-doubt', 'sent', 'needs-check')
                 GROUP BY target, state",
            )
            .map_err(sql("prepare open transfers"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(sql("count open transfers"))?;
        for row in rows {
            let (target, state, n) = row.map_err(sql("count open transfers"))?;
            if let Some(s) = out.iter_mut().find(|s| s.target == target) {
                crate::views::add_transfers(s, &state, n);
            }
        }
        for s in &mut out {
            if s.records.queued > 0 {
                s.oldest_queued_at = conn
                    .one(
                        "SELECT enqueued_at FROM records WHERE target = ?1 AND state = 'queued'
                         ORDER BY seq LIMIT 1",
                        [&s.target],
                        |r| r.get(0),
                    )
                    .map(Timestamp)
                    .ok();
            }
            s.last_done_at = conn
                .one(
                    "SELECT max(done_at) FROM transfers WHERE target = ?1 AND done_at IS NOT NULL",
                    [&s.target],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .map_err(sql("read last done"))?
                .map(Timestamp);
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT t.target, p.delivered_at, p.checked_at FROM payloads p
                 JOIN transfers t ON t.id = p.transfer_id
                 WHERE p.state = 'delivered' AND p.gone_at IS NULL AND p.checked_at IS NOT NULL",
            )
            .map_err(sql("prepare files on the receiver"))?;
        let files = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(sql("read files on the receiver"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("read files on the receiver"))?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT t.target, max(p.delivered_at) FROM transfers t
                 JOIN payloads p ON p.transfer_id = t.id
                 WHERE t.state = 'sent' GROUP BY t.id, t.target",
            )
            .map_err(sql("prepare sent transfers"))?;
        let sent = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .map_err(sql("read sent transfers"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("read sent transfers"))?;
        crate::views::add_waiting(&mut out, limits, &files, &sent, now);
        Ok(out)
    }

    fn transfer_page(&mut self, q: &Query) -> Result<Page<Transfer>> {
        let ids = ids(&self.conn, &query::transfer_ids(Dialect::Sqlite, q)?)?;
        let items = transfers_of(&self.conn, &ids)?;
        Ok(paged(items, q.page_size(), |t| t.id))
    }

    fn file_page(&mut self, q: &Query) -> Result<Page<FileRow>> {
        let ids = ids(&self.conn, &query::file_ids(Dialect::Sqlite, q)?)?;
        let mut transfers: Vec<i64> = Vec::new();
        let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        self.conn
            .prepare_cached(
                "SELECT DISTINCT transfer_id FROM payloads WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(sql("prepare files"))?
            .query_map([&json], |r| r.get(0))
            .map_err(sql("read files"))?
            .try_for_each(|t| {
                transfers.push(t?);
                Ok(())
            })
            .map_err(sql("read files"))?;
        let items = crate::views::files_in_order(transfers_of(&self.conn, &transfers)?, &ids);
        Ok(paged(items, q.page_size(), |f| f.payload.id))
    }

    fn record_page(&mut self, q: &Query) -> Result<Page<RecordView>> {
        let s = query::records(
            Dialect::Sqlite,
            q,
            "r.seq, r.target, r.record_id, r.kind, r.state, r.transfer_id, r.messages, r.updated_at",
        )?;
        let mut stmt = self
            .conn
            .prepare_cached(&s.text)
            .map_err(sql("prepare records"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(&s.params), view_row)
            .map_err(sql("read records"))?;
        let mut items = Vec::new();
        for row in rows {
            items.push(row_to_view(row.map_err(sql("read records"))?)?);
        }
        Ok(paged(items, q.page_size(), |r| r.seq))
    }

    fn log_page(&mut self, q: &Query) -> Result<Page<Attempt>> {
        let s = query::log(Dialect::Sqlite, q)?;
        let mut stmt = self
            .conn
            .prepare_cached(&s.text)
            .map_err(sql("prepare protocol log"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(&s.params), attempt_row)
            .map_err(sql("read protocol log"))?;
        let items = attempts_from(rows)?;
        Ok(paged(items, q.page_size(), |a| a.id))
    }

    fn has_label(&mut self, key: &str) -> Result<bool> {
        self.conn
            .one(
                "SELECT EXISTS (SELECT 1 FROM payload_labels WHERE key = ?1)",
                [key],
                |r| r.get(0),
            )
            .map_err(sql("look for a label"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// SQLite's plan for a query as the store runs it, one line per step.
    fn plan(store: &SqliteStore, s: &query::Sql) -> String {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", s.text))
            .unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(&s.params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }

    /// A page of records in a state few records are in, across targets, reads the
    /// partial index (schema 024); one in a state most are in reads the table newest
    /// first, which finds them at once.
    #[test]
    fn records_by_state_without_a_target_use_the_partial_index_where_it_holds_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hub.db")).unwrap();
        let cols = "r.seq";
        for st in query::FEW_STATES {
            let q = Query {
                state: Some(st.as_str().into()),
                ..Query::default()
            };
            let p = plan(&store, &query::records(Dialect::Sqlite, &q, cols).unwrap());
            assert!(p.contains("records_by_state_seq"), "{st}: {p}");
            assert!(!p.contains("TEMP B-TREE"), "{st}: {p}");
        }
        let q = Query {
            state: Some("delivered".into()),
            ..Query::default()
        };
        let p = plan(&store, &query::records(Dialect::Sqlite, &q, cols).unwrap());
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }
}
