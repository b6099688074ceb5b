//! The store of years the console benchmarks read: 1,000,000 records and 100,000
//! transfers (one file and one protocol entry each) over five targets `t0`..`t4`, filled
//! with SQL in the database so the store's triggers keep their counts and labels as they
//! would (SQLite's records are counted after the fill, as the store counts its inserts). Shared by `hub-store`'s `pages` bench and `hub`'s `console` bench.

#![allow(dead_code)] // each bench uses what it needs
#![allow(clippy::unwrap_used)] // a benchmark fails loudly

/// The fill, in SQL both dialects read: `{n}` is the number of transfers, `{series}` a
/// table of integers `i` from 1 to `{n}` (or to `{n} * 10` for records).
pub const FILL: &[&str] = &[
    "INSERT INTO transfers (id, target, batch_key, sequence_scope, sequence_no, state, plugin,
        plugin_sha256, created_at, done_at, plugin_name, plugin_version)
     SELECT i, 't' || (i % 5), 'b', 's' || (i % 50), i,
        CASE WHEN i % 1000 = 0 THEN 'open' WHEN i % 997 = 0 THEN 'in-doubt'
             WHEN i % 991 = 0 THEN 'needs-check' ELSE 'done' END,
        'prisme@0.1.0', '00', i * 1000,
        CASE WHEN i % 1000 = 0 OR i % 997 = 0 OR i % 991 = 0 THEN NULL ELSE i * 1000 + 500 END,
        'prisme', '0.1.0'
     FROM {series}",
    "INSERT INTO payloads (id, transfer_id, idx, name, media_type, size, sha256, state,
        delivered_at, labels, checked_at, gone_at)
     SELECT i, i, 0, (500 + i % 50) || '-24-' || i || '-G.txt', 'text/plain', 2048, 'ab',
        CASE WHEN i % 1000 = 0 THEN 'pending' ELSE 'delivered' END,
        CASE WHEN i % 1000 = 0 THEN NULL ELSE i * 1000 + 400 END,
        '[[\"page\",\"' || (500 + i % 50) || '\"],[\"year\",\"24\"]]',
        i * 1000 + 600, CASE WHEN i % 50 = 0 THEN NULL ELSE i * 1000 + 600 END
     FROM {series}",
    "INSERT INTO attempts (id, transfer_id, payload_id, started_at, duration_ms, endpoint,
        credential, sent, received, result, error)
     SELECT i, i, i, i * 1000 + 100, 5, 'sftp://prisme.example/' || (500 + i % 50), NULL,
        '2048 bytes', NULL, CASE WHEN i % 100 = 0 THEN 'retryable' ELSE 'delivered' END,
        CASE WHEN i % 100 = 0 THEN 'connection reset' ELSE NULL END
     FROM {series}",
    "INSERT INTO records (seq, target, record_id, kind, body_sha256, batch_key, sequence_scope,
        state, transfer_id, messages, enqueued_at, updated_at, body, content_sha256)
     SELECT i, 't' || (((i - 1) / 10 + 1) % 5), 'r' || i, 'posting', 'x', 'b', 's',
        CASE WHEN i % 1000 = 1 THEN 'failed' WHEN i % 1000 = 2 THEN 'rejected'
             WHEN i % 10000 = 3 THEN 'queued' ELSE 'delivered' END,
        (i - 1) / 10 + 1, '[]', i * 100, i * 100 + 50, '{}', 'y'
     FROM {series}",
];

/// Fills the SQLite store at `path` (already created by the hub, so migrated) with `n`
/// transfers and `n * 10` records, then analyzes it.
pub fn fill_sqlite(path: &std::path::Path, n: i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for (k, sql) in FILL.iter().enumerate() {
        let upto = if k == 3 { n * 10 } else { n };
        let series = format!(
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {upto})
              SELECT i FROM s)"
        );
        conn.execute_batch(&sql.replace("{series}", &series))
            .unwrap();
    }
    // SQLite counts inserted records where they are inserted (schema 023), not by trigger.
    conn.execute_batch(
        "INSERT INTO record_counts (target, state, n)
             SELECT target, state, count(*) FROM records GROUP BY target, state
             ON CONFLICT (target, state) DO UPDATE SET n = excluded.n;
         COMMIT; ANALYZE;",
    )
    .unwrap();
}
