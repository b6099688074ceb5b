//! [`Pages`] on PostgreSQL: the statements of `query.rs`, and the overview from the
//! counts migration 008 keeps (as deltas, folded here) and from indexes over what is
//! still open.

use std::collections::BTreeMap;

use hub_core::time::Timestamp;
use postgres::types::ToSql;

use super::reads::attempt_row;
use super::{PgStore, VIEW_COLUMNS, pg, row_to_view, view};
use crate::query::{self, Dialect, Param, Sql};
use crate::views::{
    FileRow, Page, Pages, Query, TargetLimits, TargetSummary, paged, with_configured,
};
use crate::{Attempt, RecordView, Result, Transfer};

/// Delta rows of `record_counts` beyond which the overview folds them into one row per
/// target and state: reading stays a few hundred rows, and folding is rare.
const FOLD_AT: i64 = 512;

fn params(s: &Sql) -> Vec<&(dyn ToSql + Sync)> {
    s.params
        .iter()
        .map(|p| match p {
            Param::Int(i) => i as &(dyn ToSql + Sync),
            Param::Text(t) => t as &(dyn ToSql + Sync),
        })
        .collect()
}

impl PgStore {
    fn page_rows(&mut self, s: &Sql) -> Result<Vec<postgres::Row>> {
        self.client
            .query(&s.text, &params(s))
            .map_err(pg("read page"))
    }

    /// The transfers of `ids` (with their payloads), in the order of `ids`.
    fn transfers_of(&mut self, ids: &[i64]) -> Result<Vec<Transfer>> {
        let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let mut by_id: BTreeMap<i64, Transfer> =
            view::transfers(&mut self.client, view::Which::Ids(&json))?
                .into_iter()
                .map(|t| (t.id, t))
                .collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Folds the count deltas into one row per target and state. Safe beside writers and
    /// other folders: a delta not yet committed is not deleted, and a row another folder
    /// deleted first is skipped by this one.
    fn fold_counts(&mut self) -> Result<()> {
        self.fold(
            "record_counts",
            "WITH gone AS (DELETE FROM record_counts RETURNING target, state, n)
             INSERT INTO record_counts (target, state, n)
             SELECT target, state, sum(n)::bigint FROM gone GROUP BY target, state
             HAVING sum(n) <> 0",
        )
    }

    /// [`Self::fold_counts`] for the protocol log's totals (schema 018).
    pub(super) fn fold_attempt_counts(&mut self) -> Result<()> {
        self.fold(
            "attempt_counts",
            "WITH gone AS (DELETE FROM attempt_counts RETURNING target, result, n, duration_ms)
             INSERT INTO attempt_counts (target, result, n, duration_ms)
             SELECT target, result, sum(n)::bigint, sum(duration_ms)::bigint FROM gone
             GROUP BY target, result HAVING sum(n) <> 0",
        )
    }

    /// Runs `fold` once `table` has more than [`FOLD_AT`] delta rows.
    fn fold(&mut self, table: &str, fold: &str) -> Result<()> {
        let rows: i64 = self
            .client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .map_err(pg("count count rows"))?
            .get(0);
        if rows > FOLD_AT {
            self.client.batch_execute(fold).map_err(pg("fold counts"))?;
        }
        Ok(())
    }
}

impl Pages for PgStore {
    fn overview(&mut self, limits: &[TargetLimits], now: Timestamp) -> Result<Vec<TargetSummary>> {
        self.fold_counts()?;
        let mut out: Vec<TargetSummary> = self
            .load_counts(None)?
            .into_iter()
            .map(|c| TargetSummary {
                target: c.target.clone(),
                records: c,
                ..TargetSummary::default()
            })
            .collect();
        out = with_configured(out, limits);
        let rows = self
            .client
            .query(
                "SELECT target, state, count(*) FROM transfers
                 WHERE state IN ('open', 'in-doubt', 'sent', 'needs-check')
                 GROUP BY target, state",
                &[],
            )
            .map_err(pg("count open transfers"))?;
        for r in &rows {
            let target: String = r.get(0);
            if let Some(s) = out.iter_mut().find(|s| s.target == target) {
                crate::views::add_transfers(s, r.get(1), r.get(2));
            }
        }
        for s in &mut out {
            if s.records.queued > 0 {
                s.oldest_queued_at = self
                    .client
                    .query_opt(
                        "SELECT enqueued_at FROM records WHERE target = $1 AND state = 'queued'
                         ORDER BY seq LIMIT 1",
                        &[&s.target],
                    )
                    .map_err(pg("read oldest queued"))?
                    .map(|r| Timestamp(r.get(0)));
            }
            s.last_done_at = self
                .client
                .query_one(
                    "SELECT max(done_at) FROM transfers WHERE target = $1 AND done_at IS NOT NULL",
                    &[&s.target],
                )
                .map_err(pg("read last done"))?
                .get::<_, Option<i64>>(0)
                .map(Timestamp);
        }
        let files: Vec<(String, Option<i64>, i64)> = self
            .client
            .query(
                "SELECT t.target, p.delivered_at, p.checked_at FROM payloads p
                 JOIN transfers t ON t.id = p.transfer_id
                 WHERE p.state = 'delivered' AND p.gone_at IS NULL AND p.checked_at IS NOT NULL",
                &[],
            )
            .map_err(pg("read files on the receiver"))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let sent: Vec<(String, Option<i64>)> = self
            .client
            .query(
                "SELECT t.target, max(p.delivered_at) FROM transfers t
                 JOIN payloads p ON p.transfer_id = t.id
                 WHERE t.state = 'sent' GROUP BY t.id, t.target",
                &[],
            )
            .map_err(pg("read sent transfers"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        crate::views::add_waiting(&mut out, limits, &files, &sent, now);
        Ok(out)
    }

    fn transfer_page(&mut self, q: &Query) -> Result<Page<Transfer>> {
        let s = query::transfer_ids(Dialect::Postgres, q)?;
        let ids: Vec<i64> = self.page_rows(&s)?.iter().map(|r| r.get(0)).collect();
        let items = self.transfers_of(&ids)?;
        Ok(paged(items, q.page_size(), |t| t.id))
    }

    fn file_page(&mut self, q: &Query) -> Result<Page<FileRow>> {
        let s = query::file_ids(Dialect::Postgres, q)?;
        let ids: Vec<i64> = self.page_rows(&s)?.iter().map(|r| r.get(0)).collect();
        let transfers: Vec<i64> = self
            .client
            .query(
                "SELECT DISTINCT transfer_id FROM payloads WHERE id = ANY($1)",
                &[&ids],
            )
            .map_err(pg("read files"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let items = crate::views::files_in_order(self.transfers_of(&transfers)?, &ids);
        Ok(paged(items, q.page_size(), |f| f.payload.id))
    }

    fn record_page(&mut self, q: &Query) -> Result<Page<RecordView>> {
        let columns = VIEW_COLUMNS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let s = query::records(Dialect::Postgres, q, &columns)?;
        let items = self
            .page_rows(&s)?
            .iter()
            .map(row_to_view)
            .collect::<Result<Vec<_>>>()?;
        Ok(paged(items, q.page_size(), |r| r.seq))
    }

    fn log_page(&mut self, q: &Query) -> Result<Page<Attempt>> {
        let s = query::log(Dialect::Postgres, q)?;
        let items = self
            .page_rows(&s)?
            .iter()
            .map(attempt_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(paged(items, q.page_size(), |a| a.id))
    }

    fn has_label(&mut self, key: &str) -> Result<bool> {
        Ok(self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM payload_labels WHERE key = $1)",
                &[&key],
            )
            .map_err(pg("look for a label"))?
            .get(0))
    }
}
