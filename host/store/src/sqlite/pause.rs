//! SQLite's side of [`Pausing`].

use super::cached::Cached;
use hub_core::time::Timestamp;
use rusqlite::params;

use super::{SqliteStore, audit, sql};
use crate::Result;
use crate::pause::{Pause, Pausing, entry};

impl Pausing for SqliteStore {
    fn pause_target(
        &mut self,
        target: &str,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let tx = self.write()?;
        let n = tx
            .run(
                "INSERT INTO target_pauses (target, since, by, reason) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (target) DO NOTHING",
                params![target, now.0, by, reason],
            )
            .map_err(sql("pause a target"))?;
        if n > 0 {
            audit::append(&tx, &entry(target, by, Some(reason), now))?;
        }
        tx.commit().map_err(sql("commit a pause"))?;
        if n > 0 {
            self.publish_head();
        }
        Ok(n > 0)
    }

    fn resume_target(&mut self, target: &str, by: &str, now: Timestamp) -> Result<bool> {
        let tx = self.write()?;
        let n = tx
            .run(
                "DELETE FROM target_pauses WHERE target = ?1",
                params![target],
            )
            .map_err(sql("resume a target"))?;
        if n > 0 {
            audit::append(&tx, &entry(target, by, None, now))?;
        }
        tx.commit().map_err(sql("commit a resume"))?;
        if n > 0 {
            self.publish_head();
        }
        Ok(n > 0)
    }

    fn paused_targets(&mut self) -> Result<Vec<Pause>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT target, since, by, reason FROM target_pauses ORDER BY target")
            .map_err(sql("read paused targets"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Pause {
                    target: r.get(0)?,
                    since: Timestamp(r.get(1)?),
                    by: r.get(2)?,
                    reason: r.get(3)?,
                })
            })
            .map_err(sql("read paused targets"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("read paused targets"))
    }
}
