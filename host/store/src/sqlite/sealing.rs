//! SQLite's side of encryption at rest: the keys the store has seen, how much each
//! sealed, and re-sealing under the current key (see `crate::seal`).

use super::cached::Cached;
use std::sync::Arc;

use hub_core::time::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, sql};
use crate::Result;
use crate::seal::{self, KeyUse, Keyring, Sealing};

impl Sealing for SqliteStore {
    fn set_keyring(&mut self, ring: Option<Arc<Keyring>>, now: Timestamp) -> Result<()> {
        if let Some(r) = &ring {
            let tx = self.write()?;
            for id in r.ids() {
                let known: Option<String> = tx
                    .one(
                        "SELECT check_value FROM seal_keys WHERE key_id = ?1",
                        [id],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(sql("read key check"))?;
                match known {
                    Some(check) => r.check(id, &check).map_err(|_| seal::wrong_key(id))?,
                    None => {
                        tx.run(
                            "INSERT INTO seal_keys (key_id, check_value, added_at) VALUES (?1, ?2, ?3)",
                            params![id, r.check_value(id)?, now.0],
                        )
                        .map_err(sql("record key check"))?;
                    }
                }
            }
            tx.commit().map_err(sql("commit key checks"))?;
        }
        self.keyring = ring;
        Ok(())
    }

    fn key_uses(&mut self) -> Result<Vec<KeyUse>> {
        let mut uses: Vec<KeyUse> = Vec::new();
        for &(query, records) in seal::KEY_USES {
            let mut stmt = self.conn.prepare(query).map_err(sql("prepare key uses"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(sql("count key uses"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql("count key uses"))?;
            for (key, n) in rows {
                seal::add_use(&mut uses, key, records, n);
            }
        }
        Ok(uses)
    }

    fn reseal_batch(&mut self, from: Option<&str>, limit: usize) -> Result<(u64, u64)> {
        let ring = self.keyring.clone().ok_or_else(seal::no_current)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let bodies = self.bodies.clone();
        let tx = self.write()?;
        let records: Vec<(i64, String)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT seq, body FROM records
                     WHERE purged_at IS NULL AND body_key IS ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(sql("prepare re-seal"))?;
            stmt.query_map(params![from, limit], |r| {
                Ok((r.get(0)?, bodies.text(&tx, r, 1)?))
            })
            .map_err(sql("read bodies to re-seal"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("read bodies to re-seal"))?
        };
        for (seq, stored) in &records {
            let body = seal::open_body(Some(&ring), from, stored.clone(), *seq)?;
            let (sealed, key) = seal::seal_body(Some(&ring), &body)?;
            tx.run(
                "UPDATE records SET body = ?2, body_key = ?3 WHERE seq = ?1",
                params![seq, sealed, key],
            )
            .map_err(sql("re-seal a body"))?;
        }
        let payloads: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT payload_id, bytes FROM payload_bytes
                     WHERE key_id IS ?1 ORDER BY payload_id LIMIT ?2",
                )
                .map_err(sql("prepare re-seal"))?;
            stmt.query_map(params![from, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql("read bytes to re-seal"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(sql("read bytes to re-seal"))?
        };
        for (id, stored) in payloads.iter().cloned() {
            let bytes = seal::open_bytes(Some(&ring), from, stored, id)?;
            let (sealed, key) = seal::seal_bytes(Some(&ring), &bytes)?;
            tx.run(
                "UPDATE payload_bytes SET bytes = ?2, key_id = ?3 WHERE payload_id = ?1",
                params![id, sealed, key],
            )
            .map_err(sql("re-seal payload bytes"))?;
        }
        let (versions, archives) = crate::inbound::reseal_received(&tx, &ring, from, limit)?;
        tx.commit().map_err(sql("commit re-seal"))?;
        Ok((
            (records.len() + versions) as u64,
            (payloads.len() + archives) as u64,
        ))
    }
}
