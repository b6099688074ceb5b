//! The store's side of sending one transfer as many files (Prisme: a file per page and
//! run): `BENCH_FILES` files (default 1,000, one record of ~2 KB each) in one transfer,
//! each completed on its own as a file transport does, into a fresh SQLite file. Completing
//! a file settles its transfer by counting the transfer's records by state; the bench runs
//! that count from the index on `(transfer_id, state)` (migration 015) and, alternating,
//! from the index on `transfer_id` alone that it replaced (reading every record row),
//! `BENCH_RUNS` rounds each (default 3), and prints files/s, median and spread
//! (`cargo bench -p hub-store --bench files`). Plugin and transport costs are left out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::time::Instant;

use hub_core::time::Timestamp;
use hub_plugin_sdk::RecordMeta;
use hub_store::{
    Batch, Completion, NewAttempt, NewPayload, NewRecord, PluginStamp, SqliteStore, Store,
};

fn records(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            id: format!("p{i}"),
            kind: "posting".into(),
            content_sha256: format!("{i:064x}"),
            body: format!("{{\"id\":\"p{i}\",\"text\":\"{}\"}}", "x".repeat(2000)),
            change: hub_store::Change::Snapshot,
            meta: RecordMeta {
                batch_key: "b".into(),
                sequence_scope: None,
                supersede_key: None,
            },
        })
        .collect()
}

/// One transfer of `n` files completed one by one; returns files/s of the completions.
fn round(n: usize, old_index: bool) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hub.db");
    let mut store = SqliteStore::open(&path).unwrap();
    if old_index {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP INDEX records_by_transfer;
             CREATE INDEX records_by_transfer ON records(transfer_id);",
        )
        .unwrap();
    }
    store.enqueue("prisme", &records(n), Timestamp(1)).unwrap();
    let batch = Batch {
        batch_key: "b".into(),
        sequence_scope: None,
    };
    let queued = store.queued_records("prisme", &batch, n).unwrap();
    let seqs: Vec<i64> = queued.iter().map(|r| r.seq).collect();
    let payloads: Vec<NewPayload> = queued
        .iter()
        .map(|r| NewPayload {
            name: format!("{}.txt", r.id),
            media_type: "text/plain".into(),
            bytes: r.body.clone().into_bytes(),
            records: vec![r.seq],
            labels: vec![],
            request: None,
        })
        .collect();
    let stamp = PluginStamp {
        name: "prisme".into(),
        version: "0.1.0".into(),
        sha256: "0".repeat(64),
    };
    let id = hub_store::create_transfer_with(
        &mut store,
        "prisme",
        &batch,
        &seqs,
        &stamp,
        None,
        Timestamp(2),
        |_| Ok::<_, ()>(payloads),
    )
    .unwrap()
    .unwrap();
    let ids: Vec<i64> = store
        .transfer(id)
        .unwrap()
        .payloads
        .iter()
        .map(|p| p.id)
        .collect();
    let started = Instant::now();
    for p in ids {
        let attempt = NewAttempt {
            begun: None,
            transfer_id: id,
            payload_id: Some(p),
            started_at: Timestamp(3),
            duration_ms: 1,
            endpoint: "bench".into(),
            credential: None,
            sent: "x".into(),
            received: None,
            result: hub_core::state::AttemptResult::Delivered,
            error: None,
        };
        store
            .complete_payload(p, Completion::InPlace, &attempt, Timestamp(3))
            .unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("BENCH_FILES", 1_000);
    let runs = env("BENCH_RUNS", 3).max(1);
    let (mut new, mut old) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        new.push(round(n, false));
        old.push(round(n, true));
    }
    for (label, mut v) in [("(transfer_id, state)", new), ("transfer_id (before)", old)] {
        v.sort_by(f64::total_cmp);
        println!(
            "index {label}: {:.0} files/s (min {:.0}, max {:.0}); {n} files of one transfer, {runs} runs",
            v[v.len() / 2],
            v[0],
            v[v.len() - 1]
        );
    }
}
