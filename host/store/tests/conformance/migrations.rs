//! Migrations from one registry for both backends: from an empty database, from every
//! earlier schema (with the rows an older hub wrote), and a store from a newer hub.

use hub_core::time::Timestamp;
use hub_store::migrations::MIGRATIONS;
use hub_store::{Store, StoreError};

use crate::Backend;
use crate::support::{create, rec};

fn all() -> Vec<u32> {
    MIGRATIONS.iter().map(|m| m.id).collect()
}

pub fn an_empty_database_gets_every_migration_once(b: &impl Backend) {
    let mut store = b.open().unwrap();
    assert_eq!(b.applied(), all());
    store
        .enqueue("t", &[rec("a", Some("s"), None, "1")], Timestamp(0))
        .unwrap();
    drop(store);
    // Opening again applies nothing twice and keeps what is there.
    let mut store = b.open().unwrap();
    assert_eq!(b.applied(), all());
    assert_eq!(create(&mut store, Some("s")).1, Some(1));
}

pub fn a_store_of_every_earlier_schema_is_brought_up_to_date_with_its_data<B: Backend>(_: &B) {
    for upto in 1..MIGRATIONS.len() {
        // A fresh database per earlier schema, as an older hub left it.
        let b = B::fresh().unwrap();
        let ids: Vec<u32> = MIGRATIONS[..upto].iter().map(|m| m.id).collect();
        let mut sql = String::new();
        for m in &MIGRATIONS[..upto] {
            sql.push_str(B::dialect(m));
            sql.push('\n');
        }
        sql.push_str(&B::bookkeeping(&ids));
        // Rows in the columns of schema 001, which every later schema keeps, with the
        // ids the database gives (1 each).
        sql.push_str(
            "INSERT INTO transfers (target, batch_key, sequence_scope, sequence_no, state,
                plugin, plugin_sha256, created_at)
             VALUES ('t', 'b', 's', 1, 'done', 'prisme@0.1.0', 'ab', 0);
             INSERT INTO sequences (target, scope, last) VALUES ('t', 's', 1);
             INSERT INTO records (target, record_id, kind, body_sha256, batch_key,
                sequence_scope, state, transfer_id, enqueued_at, updated_at, body)
             VALUES ('t', 'r1', 'k', 'x', 'b', 's', 'delivered', 1, 0, 0,
                '{\"b\": 2,  \"a\":1}');",
        );
        sql.push_str(&B::count_inserted(&ids, "delivered"));
        if upto >= 4 && MIGRATIONS[upto - 1].id < 22 {
            // From 004 on, an older hub wrote the canonical hash as hex text (022 keeps
            // it as 32 bytes in SQLite): the duplicate below must still be found. From
            // 022 on it is left out, and the store computes it when it opens.
            let hash = hub_core::input::content_sha256(&serde_json::json!({"a": 1, "b": 2}));
            sql.push_str(&format!(
                "UPDATE records SET content_sha256 = '{hash}' WHERE record_id = 'r1';"
            ));
        }
        b.raw(&sql);
        let mut store = b.open().unwrap_or_else(|e| panic!("from {upto:03}: {e}"));
        assert_eq!(b.applied(), all(), "from {upto:03}");
        let t = store.transfer(1).unwrap();
        assert_eq!(t.records, 1, "from {upto:03}");
        // 008 counts what was there before its triggers.
        assert_eq!(
            store.counts(Some("t")).unwrap()[0].delivered,
            1,
            "from {upto:03}"
        );
        if upto < 3 {
            // 003 splits what the old column held.
            assert_eq!(
                (t.plugin_name.as_str(), t.plugin_version.as_str()),
                ("prisme", "0.1.0")
            );
        }
        // Rows from before 004 get their canonical identity when the store opens: the
        // same body in another spelling is a duplicate.
        let r = store
            .enqueue(
                "t",
                &[rec("r1", Some("s"), None, "{\"a\":1,\"b\":2}")],
                Timestamp(1),
            )
            .unwrap();
        assert_eq!(r.duplicates, 1, "from {upto:03}");
        // Numbering goes on after the old transfers, and new ids after the old ones.
        store
            .enqueue("t", &[rec("r2", Some("s"), None, "2")], Timestamp(1))
            .unwrap();
        let (id, n) = create(&mut store, Some("s"));
        assert_eq!((n, id > 1), (Some(2), true), "from {upto:03}");
    }
}

pub fn a_store_with_a_migration_this_hub_does_not_know_is_refused(b: &impl Backend) {
    drop(b.open().unwrap());
    b.raw("INSERT INTO schema_migrations (version) VALUES (999)");
    let err = b.open().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("migration 999 applied"), "{err}");
}
