//! Reads for `hub serve`'s API that the pipeline does not need: a record by its source id.

use rusqlite::params;

use super::{SqliteStore, ViewRow, row_to_view, sql, view_row};
use crate::{AttemptStats, RecordView, Result};

impl SqliteStore {
    pub(super) fn lookup_records(&mut self, target: &str, id: &str) -> Result<Vec<RecordView>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, target, record_id, kind, state, transfer_id, messages, updated_at
                 FROM records WHERE target = ?1 AND record_id = ?2 ORDER BY seq",
            )
            .map_err(sql("prepare record lookup"))?;
        let rows = stmt
            .query_map(params![target, id], view_row)
            .map_err(sql("look up record"))?;
        let rows: Vec<ViewRow> = rows
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("look up record"))?;
        rows.into_iter().map(row_to_view).collect()
    }

    pub(super) fn lookup_attempt_stats(&mut self) -> Result<Vec<AttemptStats>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                // Kept by triggers (schema 018), not grouped from the log each time.
                "SELECT target, result, n, duration_ms FROM attempt_counts
                 WHERE n <> 0 ORDER BY target, result",
            )
            .map_err(sql("prepare attempt stats"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(AttemptStats {
                    target: r.get(0)?,
                    result: r.get(1)?,
                    count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    duration_ms: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                })
            })
            .map_err(sql("read attempt stats"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("read attempt stats"))
    }
}
