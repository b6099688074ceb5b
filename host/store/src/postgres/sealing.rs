//! PostgreSQL's side of encryption at rest: the keys the store has seen, how much each
//! sealed, and re-sealing under the current key (see `crate::seal`).

use std::sync::Arc;

use hub_core::time::Timestamp;

use super::{PgStore, pg};
use crate::Result;
use crate::seal::{self, KeyUse, Keyring, Sealing};

impl Sealing for PgStore {
    fn set_keyring(&mut self, ring: Option<Arc<Keyring>>, now: Timestamp) -> Result<()> {
        if let Some(r) = &ring {
            let mut tx = self.client.transaction().map_err(pg("begin key checks"))?;
            for id in r.ids() {
                // Two workers starting at once: the first check value written wins, and
                // the other reads it back.
                tx.execute(
                    "INSERT INTO seal_keys (key_id, check_value, added_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key_id) DO NOTHING",
                    &[&id, &r.check_value(id)?, &now.0],
                )
                .map_err(pg("record key check"))?;
                let check: String = tx
                    .query_one(
                        "SELECT check_value FROM seal_keys WHERE key_id = $1",
                        &[&id],
                    )
                    .map_err(pg("read key check"))?
                    .get(0);
                r.check(id, &check).map_err(|_| seal::wrong_key(id))?;
            }
            tx.commit().map_err(pg("commit key checks"))?;
        }
        self.keyring = ring;
        Ok(())
    }

    fn key_uses(&mut self) -> Result<Vec<KeyUse>> {
        let mut uses = Vec::new();
        for &(query, records) in seal::KEY_USES {
            for row in self
                .client
                .query(query, &[])
                .map_err(pg("count key uses"))?
            {
                seal::add_use(&mut uses, row.get(0), records, row.get(1));
            }
        }
        Ok(uses)
    }

    fn reseal_batch(&mut self, from: Option<&str>, limit: usize) -> Result<(u64, u64)> {
        let ring = self.keyring.clone().ok_or_else(seal::no_current)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.client.transaction().map_err(pg("begin re-seal"))?;
        let records = tx
            .query(
                "SELECT seq, body FROM records
                 WHERE purged_at IS NULL AND body_key IS NOT DISTINCT FROM $1
                 ORDER BY seq LIMIT $2 FOR NO KEY UPDATE",
                &[&from, &limit],
            )
            .map_err(pg("read bodies to re-seal"))?;
        for row in &records {
            let seq: i64 = row.get(0);
            let body = seal::open_body(Some(&ring), from, row.get(1), seq)?;
            let (sealed, key) = seal::seal_body(Some(&ring), &body)?;
            tx.execute(
                "UPDATE records SET body = $2, body_key = $3 WHERE seq = $1",
                &[&seq, &sealed.as_ref(), &key],
            )
            .map_err(pg("re-seal a body"))?;
        }
        let payloads = tx
            .query(
                "SELECT payload_id, bytes FROM payload_bytes
                 WHERE key_id IS NOT DISTINCT FROM $1
                 ORDER BY payload_id LIMIT $2 FOR UPDATE",
                &[&from, &limit],
            )
            .map_err(pg("read bytes to re-seal"))?;
        for row in &payloads {
            let id: i64 = row.get(0);
            let bytes = seal::open_bytes(Some(&ring), from, row.get(1), id)?;
            let (sealed, key) = seal::seal_bytes(Some(&ring), &bytes)?;
            tx.execute(
                "UPDATE payload_bytes SET bytes = $2, key_id = $3 WHERE payload_id = $1",
                &[&id, &sealed.as_ref(), &key],
            )
            .map_err(pg("re-seal payload bytes"))?;
        }
        let (versions, archives) =
            super::inbound_bytes::reseal_received(&mut tx, &ring, from, limit)?;
        tx.commit().map_err(pg("commit re-seal"))?;
        Ok((
            (records.len() + versions) as u64,
            (payloads.len() + archives) as u64,
        ))
    }
}
