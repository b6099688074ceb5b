//! Schedule looks (migration 012): which worker runs a scheduled slot. The conditional
//! upsert locks the target's row, so of two workers taking one slot exactly one wins.

use hub_core::time::Timestamp;

use super::{PgStore, pg};
use crate::Result;

impl PgStore {
    pub(super) fn looks_of(&mut self) -> Result<Vec<(String, Timestamp)>> {
        Ok(self
            .client
            .query(
                "SELECT target, looked_at FROM schedule_looks ORDER BY target",
                &[],
            )
            .map_err(pg("read schedule looks"))?
            .iter()
            .map(|r| (r.get(0), Timestamp(r.get(1))))
            .collect())
    }

    pub(super) fn first_look_of(&mut self, target: &str, at: Timestamp) -> Result<()> {
        self.client
            .execute(
                "INSERT INTO schedule_looks (target, looked_at) VALUES ($1, $2)
                 ON CONFLICT (target) DO NOTHING",
                &[&target, &at.0],
            )
            .map_err(pg("note a first look"))?;
        Ok(())
    }

    pub(super) fn take_slot_of(
        &mut self,
        target: &str,
        slot: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let changed = self
            .client
            .execute(
                "INSERT INTO schedule_looks (target, looked_at) VALUES ($1, $3)
                 ON CONFLICT (target) DO UPDATE SET looked_at = excluded.looked_at
                 WHERE schedule_looks.looked_at < $2",
                &[&target, &slot.0, &now.0],
            )
            .map_err(pg("take a schedule slot"))?;
        Ok(changed == 1)
    }
}
