//! The backends under test and what the suite needs of each beyond the traits.

use std::sync::Arc;

use hub_store::inbound::InboundStore;
use hub_store::{PgOptions, PgStore, Result, SqliteStore, Store};

/// A store backend: a fresh, empty store, opened as often as a test needs.
pub trait Backend: Sized {
    type S: Store
        + InboundStore
        + hub_store::Pages
        + hub_store::protection::Protection
        + hub_store::seal::Sealing
        + hub_store::pause::Pausing
        + hub_store::by_hand::Requeuing
        + Send
        + std::fmt::Debug;
    /// A fresh store; `None` when the backend is not available here (skipped, with the
    /// reason printed; in CI a missing backend fails instead).
    fn fresh() -> Option<Self>;
    /// Opens the store (again): a new connection, migrations applied.
    fn open(&self) -> Result<Self::S>;
    /// Runs SQL on the raw database without opening it as a store (the schema as an
    /// older hub left it).
    fn raw(&self, sql: &str);
    /// The migrations recorded as applied.
    fn applied(&self) -> Vec<u32>;
    /// This backend's SQL of a migration.
    fn dialect(m: &hub_store::migrations::Migration) -> &'static str;
    /// SQL recording `ids` as applied, as the runner does.
    fn bookkeeping(ids: &[u32]) -> String;
    /// SQL a hub at schema `ids` ran after inserting one record in `state` of target `t`
    /// to count it, where no trigger does (SQLite from 023 on).
    fn count_inserted(ids: &[u32], state: &str) -> String;
    /// Records per target and state, counted from the records themselves (what the kept
    /// counts must agree with).
    fn group_by_state(&self) -> Vec<(String, String, i64)>;
    /// The earlier outcomes kept beside records: (record_seq, transfer_id, state,
    /// messages), oldest first.
    fn outcomes(&self) -> Vec<(i64, Option<i64>, String, String)>;
    /// Whether `needle` is anywhere in what the database keeps of bodies and bytes
    /// (SQLite: the file and its write-ahead log, byte for byte).
    fn holds(&self, needle: &str) -> bool;
}

/// SQLite on a real file in a temporary folder.
pub struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("hub.db")
    }
}

impl Backend for Sqlite {
    type S = SqliteStore;
    fn holds(&self, needle: &str) -> bool {
        let mut bytes = std::fs::read(self.path()).unwrap();
        bytes.extend(std::fs::read(self.path().with_extension("db-wal")).unwrap_or_default());
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }
    fn fresh() -> Option<Self> {
        Some(Sqlite {
            dir: tempfile::tempdir().unwrap(),
        })
    }
    fn open(&self) -> Result<SqliteStore> {
        SqliteStore::open(&self.path())
    }
    fn raw(&self, sql: &str) {
        rusqlite::Connection::open(self.path())
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
    fn applied(&self) -> Vec<u32> {
        let conn = rusqlite::Connection::open(self.path()).unwrap();
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
    fn dialect(m: &hub_store::migrations::Migration) -> &'static str {
        m.sqlite
    }
    fn count_inserted(ids: &[u32], state: &str) -> String {
        if ids.contains(&23) {
            format!("INSERT INTO record_counts (target, state, n) VALUES ('t', '{state}', 1);")
        } else {
            String::new()
        }
    }
    fn bookkeeping(ids: &[u32]) -> String {
        let mut sql = "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);\n".to_string();
        for id in ids {
            sql.push_str(&format!(
                "INSERT INTO schema_migrations (version) VALUES ({id});\n"
            ));
        }
        sql.push_str(&format!(
            "PRAGMA user_version = {};\n",
            ids.iter().max().unwrap_or(&0)
        ));
        sql
    }
    fn group_by_state(&self) -> Vec<(String, String, i64)> {
        let conn = rusqlite::Connection::open(self.path()).unwrap();
        let mut stmt = conn
            .prepare("SELECT target, state, count(*) FROM records GROUP BY target, state")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
    fn outcomes(&self) -> Vec<(i64, Option<i64>, String, String)> {
        let conn = rusqlite::Connection::open(self.path()).unwrap();
        let mut stmt = conn
            .prepare("SELECT record_seq, transfer_id, state, messages FROM outcomes ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
}

/// PostgreSQL: a new database in the test run's private cluster.
pub struct Pg {
    pub cluster: Arc<hub_testpg::Cluster>,
    pub url: String,
}

impl Pg {
    pub fn options(&self) -> PgOptions {
        PgOptions {
            url: self.url.clone(),
            password: Some(hub_testpg::PASSWORD.into()),
            ca_file: None,
        }
    }

    fn client(&self) -> postgres::Client {
        let mut config: postgres::Config = self.url.parse().unwrap();
        config.password(hub_testpg::PASSWORD);
        config.connect(postgres::NoTls).unwrap()
    }
}

impl Backend for Pg {
    type S = PgStore;
    fn holds(&self, needle: &str) -> bool {
        let row = self
            .client()
            .query_one(
                "SELECT (SELECT count(*) FROM records WHERE strpos(body, $1) > 0)
                      + (SELECT count(*) FROM payload_bytes
                         WHERE position(convert_to($1, 'UTF8') IN bytes) > 0)
                      + (SELECT count(*) FROM record_versions WHERE strpos(body, $1) > 0)
                      + (SELECT count(*) FROM inbound_bytes
                         WHERE position(convert_to($1, 'UTF8') IN bytes) > 0)",
                &[&needle],
            )
            .unwrap();
        row.get::<_, i64>(0) > 0
    }
    fn fresh() -> Option<Self> {
        let cluster = hub_testpg::cluster()?;
        let url = cluster.database();
        Some(Pg { cluster, url })
    }
    fn open(&self) -> Result<PgStore> {
        PgStore::open(&self.options())
    }
    fn raw(&self, sql: &str) {
        self.client().batch_execute(sql).unwrap();
    }
    fn applied(&self) -> Vec<u32> {
        self.client()
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| u32::try_from(r.get::<_, i64>(0)).unwrap())
            .collect()
    }
    fn dialect(m: &hub_store::migrations::Migration) -> &'static str {
        m.postgres
    }
    fn count_inserted(_: &[u32], _: &str) -> String {
        String::new()
    }
    fn bookkeeping(ids: &[u32]) -> String {
        let mut sql = "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY);\n".to_string();
        for id in ids {
            sql.push_str(&format!(
                "INSERT INTO schema_migrations (version) VALUES ({id});\n"
            ));
        }
        sql
    }
    fn group_by_state(&self) -> Vec<(String, String, i64)> {
        self.client()
            .query(
                "SELECT target, state, count(*) FROM records GROUP BY target, state",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }
    fn outcomes(&self) -> Vec<(i64, Option<i64>, String, String)> {
        self.client()
            .query(
                "SELECT record_seq, transfer_id, state, messages FROM outcomes ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }
}
