//! PostgreSQL's side of [`Pausing`], as SQLite's.

use hub_core::time::Timestamp;

use super::{PgStore, audit, pg};
use crate::Result;
use crate::pause::{Pause, Pausing, entry};

impl Pausing for PgStore {
    fn pause_target(
        &mut self,
        target: &str,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.client.transaction().map_err(pg("begin pause"))?;
        let n = tx
            .execute(
                "INSERT INTO target_pauses (target, since, by, reason) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (target) DO NOTHING",
                &[&target, &now.0, &by, &reason],
            )
            .map_err(pg("pause a target"))?;
        if n > 0 {
            audit::append(&mut tx, &entry(target, by, Some(reason), now))?;
        }
        tx.commit().map_err(pg("commit a pause"))?;
        if n > 0 {
            self.publish_head();
        }
        Ok(n > 0)
    }

    fn resume_target(&mut self, target: &str, by: &str, now: Timestamp) -> Result<bool> {
        let mut tx = self.client.transaction().map_err(pg("begin resume"))?;
        let n = tx
            .execute("DELETE FROM target_pauses WHERE target = $1", &[&target])
            .map_err(pg("resume a target"))?;
        if n > 0 {
            audit::append(&mut tx, &entry(target, by, None, now))?;
        }
        tx.commit().map_err(pg("commit a resume"))?;
        if n > 0 {
            self.publish_head();
        }
        Ok(n > 0)
    }

    fn paused_targets(&mut self) -> Result<Vec<Pause>> {
        Ok(self
            .client
            .query(
                "SELECT target, since, by, reason FROM target_pauses ORDER BY target",
                &[],
            )
            .map_err(pg("read paused targets"))?
            .iter()
            .map(|r| Pause {
                target: r.get(0),
                since: Timestamp(r.get(1)),
                by: r.get(2),
                reason: r.get(3),
            })
            .collect())
    }
}
