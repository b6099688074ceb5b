//! The schema's migrations, run in order at open; see [`super::MIGRATIONS`].

use rusqlite::Connection;

use super::cached::Cached;
use super::sql;
use crate::{Result, StoreError};

/// Brings the schema up to date in the caller's transaction; see [`super::MIGRATIONS`].
pub(super) fn migrate(tx: &Connection, migrations: &[(u32, &str)]) -> Result<()> {
    let version: u32 = tx
        .one("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql("read schema version"))?;
    let tracked: bool = tx
        .one(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql("read schema version"))?
        > 0;
    if !tracked {
        tx.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
            .map_err(sql("create schema_migrations"))?;
        // Stores from before the table counted migrations 1..=n in `user_version`.
        for n in 1..=version {
            tx.run("INSERT INTO schema_migrations (version) VALUES (?1)", [n])
                .map_err(sql("record schema version"))?;
        }
    }
    let applied: Vec<u32> = {
        let mut stmt = tx
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .map_err(sql("read schema versions"))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(sql("read schema versions"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(sql("read schema versions"))?
    };
    if let Some(unknown) = applied
        .iter()
        .find(|n| !migrations.iter().any(|(m, _)| m == *n))
    {
        return Err(StoreError::Corrupt(format!(
            "schema migration {unknown:03} applied, this hub knows {}",
            migrations
                .iter()
                .map(|(n, _)| format!("{n:03}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut highest = applied.iter().copied().max().unwrap_or(0);
    for (n, migration) in migrations {
        if applied.contains(n) {
            continue;
        }
        tx.execute_batch(migration).map_err(sql("migrate schema"))?;
        tx.run("INSERT INTO schema_migrations (version) VALUES (?1)", [n])
            .map_err(sql("record schema version"))?;
        highest = highest.max(*n);
    }
    tx.pragma_update(None, "user_version", highest)
        .map_err(sql("set schema version"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{MIGRATIONS, SqliteStore};
    use super::*;
    use crate::Store;

    fn applied(conn: &Connection) -> Vec<u32> {
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn user_version(conn: &Connection) -> u32 {
        conn.one("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_store_from_before_the_migrations_table_gets_the_later_ones_and_keeps_its_transfers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        {
            // As the old runner left it: 001 applied, user_version 1, one transfer.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0].1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.run(
                "INSERT INTO transfers (target, batch_key, state, plugin, plugin_sha256, created_at)
                 VALUES ('t', '', 'done', 'prisme@0.1.0', 'ab', 0)",
                [],
            )
            .unwrap();
            conn.run(
                "INSERT INTO records (target, record_id, kind, body_sha256, batch_key, state,
                    enqueued_at, updated_at, body)
                 VALUES ('t', 'r1', 'k', 'x', 'b', 'delivered', 0, 0, '{\"b\": 2,  \"a\":1}')",
                [],
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        // Rows from before 004 get their canonical identity when the store opens.
        let hash: String = store
            .conn
            .one(
                "SELECT hex(content_sha256) FROM records WHERE record_id = 'r1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let same = serde_json::json!({"a": 1, "b": 2});
        assert_eq!(
            hash,
            hub_core::input::content_sha256(&same).to_uppercase(),
            "the hash kept as 32 bytes (schema 022)"
        );
        let t = store.transfer(1).unwrap();
        assert_eq!(
            (t.plugin_name.as_str(), t.plugin_version.as_str()),
            ("prisme", "0.1.0")
        );
        let all: Vec<u32> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(applied(&store.conn), all);
        assert_eq!(user_version(&store.conn), *all.last().unwrap());
        // Opening again applies nothing twice.
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(applied(&store.conn), all);
    }

    #[test]
    fn a_migration_merged_in_later_below_the_highest_still_runs() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first: &[(u32, &str)] = &[(1, "CREATE TABLE a (x)"), (3, "CREATE TABLE c (x)")];
        let tx = conn.transaction().unwrap();
        migrate(&tx, first).unwrap();
        tx.commit().unwrap();
        let later: &[(u32, &str)] = &[
            (1, "CREATE TABLE a (x)"),
            (2, "CREATE TABLE b (x)"),
            (3, "CREATE TABLE c (x)"),
        ];
        let tx = conn.transaction().unwrap();
        migrate(&tx, later).unwrap();
        tx.commit().unwrap();
        assert_eq!(applied(&conn), vec![1, 2, 3]);
        conn.run("INSERT INTO b (x) VALUES (1)", []).unwrap();
        assert_eq!(user_version(&conn), 3);
        // A hub that does not know migration 3 refuses the store.
        let tx = conn.transaction().unwrap();
        let err = migrate(&tx, &later[..2]).unwrap_err();
        assert!(err.to_string().contains("migration 003 applied"), "{err}");
    }
}
