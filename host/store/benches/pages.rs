//! Reads that cost what they show, on a store of years: 1,000,000 records and 100,000
//! transfers (one file and one protocol entry each) over five targets, filled with SQL in
//! the database (the store's triggers keep their counts and labels as they would), then
//! timed through the store: the overview, the first page of transfers, a page of one
//! target's done transfers, a filtered file search (label, state and target), a page of
//! failed records and a page of the log. p50 and p99 of `BENCH_RUNS` runs each (default
//! 200), on SQLite and on PostgreSQL (skipped with the reason where it is not installed).
//!
//! `cargo bench -p hub-store --bench pages` (`BENCH_TRANSFERS=10000` for a smaller store:
//! records are ten per transfer; `BENCH_ONLY=sqlite|pg` for one backend).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::time::Instant;

use hub_core::time::Timestamp;
use hub_store::{Pages, PgOptions, PgStore, Query, SqliteStore, TargetLimits};

#[path = "fill.rs"]
mod fill;
use fill::{FILL, fill_sqlite};

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Times `f` `runs` times; prints p50 and p99 (and the worst) in milliseconds.
fn time(backend: &str, what: &str, mut f: impl FnMut() -> usize) {
    let mut ms = Vec::new();
    let mut rows = 0;
    for _ in 0..runs() {
        let t = Instant::now();
        rows = f();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q) as usize).min(ms.len() - 1)];
    println!(
        "{backend:<6} {what:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({rows} rows, {} runs)",
        at(0.50),
        at(0.99),
        ms[ms.len() - 1],
        ms.len()
    );
}

fn bench(backend: &str, store: &mut (impl Pages + ?Sized), n: i64) {
    let limits: Vec<TargetLimits> = (0..5)
        .map(|t| TargetLimits {
            target: format!("t{t}"),
            stuck_after_ms: Some(240 * 60_000),
            receipt_after_ms: None,
        })
        .collect();
    let now = Timestamp(n * 1000 + 10_000_000);
    time(backend, "overview (5 targets)", || {
        store.overview(&limits, now).unwrap().len()
    });
    time(backend, "transfers: newest page of 50", || {
        let q = Query {
            limit: 50,
            ..Query::default()
        };
        store.transfer_page(&q).unwrap().items.len()
    });
    time(backend, "transfers: page of 50, target t3, done", || {
        let q = Query {
            target: Some("t3".into()),
            state: Some("done".into()),
            limit: 50,
            ..Query::default()
        };
        store.transfer_page(&q).unwrap().items.len()
    });
    time(
        backend,
        "transfers: page of 50 in the middle (cursor)",
        || {
            let q = Query {
                before: Some(n / 2),
                limit: 50,
                ..Query::default()
            };
            store.transfer_page(&q).unwrap().items.len()
        },
    );
    time(backend, "files: page=522, delivered, target t2", || {
        let q = Query {
            target: Some("t2".into()),
            state: Some("delivered".into()),
            labels: vec![("page".into(), "522".into())],
            limit: 50,
            ..Query::default()
        };
        store.file_page(&q).unwrap().items.len()
    });
    time(backend, "files: name contains \"-24-4711\"", || {
        let q = Query {
            text: Some("-24-4711".into()),
            limit: 50,
            ..Query::default()
        };
        store.file_page(&q).unwrap().items.len()
    });
    time(backend, "records: failed, page of 50", || {
        let q = Query {
            state: Some("failed".into()),
            limit: 50,
            ..Query::default()
        };
        store.record_page(&q).unwrap().items.len()
    });
    time(backend, "log: retryable of target t1, page of 50", || {
        let q = Query {
            target: Some("t1".into()),
            state: Some("retryable".into()),
            limit: 50,
            ..Query::default()
        };
        store.log_page(&q).unwrap().items.len()
    });
}

fn sqlite(n: i64) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hub.db");
    drop(SqliteStore::open(&path).unwrap());
    let started = Instant::now();
    fill_sqlite(&path, n);
    println!(
        "sqlite: filled {n} transfers, {} records in {:.1} s ({} MB)",
        n * 10,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path).map(|m| m.len() >> 20).unwrap_or(0)
    );
    let mut store = SqliteStore::open(&path).unwrap();
    bench("sqlite", &mut store, n);
}

fn pg(n: i64) {
    let Some(cluster) = hub_testpg::cluster() else {
        println!("pg: skipped (no PostgreSQL here, see above)");
        return;
    };
    let url = cluster.database();
    let options = PgOptions {
        url: url.clone(),
        password: Some(hub_testpg::PASSWORD.into()),
        ca_file: None,
    };
    drop(PgStore::open(&options).unwrap());
    let started = Instant::now();
    let mut config: postgres::Config = url.parse().unwrap();
    config.password(hub_testpg::PASSWORD);
    let mut client = config.connect(postgres::NoTls).unwrap();
    let mut tx = client.transaction().unwrap();
    for (k, sql) in FILL.iter().enumerate() {
        let upto = if k == 3 { n * 10 } else { n };
        let series = format!("generate_series(1, {upto}::bigint) AS s(i)");
        tx.batch_execute(&sql.replace("{series}", &series)).unwrap();
    }
    tx.commit().unwrap();
    client.batch_execute("VACUUM ANALYZE").unwrap();
    println!(
        "pg:     filled {n} transfers, {} records in {:.1} s",
        n * 10,
        started.elapsed().as_secs_f64()
    );
    let mut store = PgStore::open(&options).unwrap();
    bench("pg", &mut store, n);
}

fn main() {
    let n: i64 = std::env::var("BENCH_TRANSFERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "sqlite" {
        sqlite(n);
    }
    if only.is_empty() || only == "pg" {
        pg(n);
    }
}
