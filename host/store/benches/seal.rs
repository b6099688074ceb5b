//! The cost of encryption at rest on the store's side of enqueue and send: `BENCH_RECORDS`
//! Kita-sized records (default 20,000; ~400 bytes of JSON each) enqueued in calls of 1,000,
//! then sent as transfers of 1,000 records with one payload of all their bodies (the store
//! work of a send: read the queued records, create the transfer, read the payload's bytes
//! back, complete it), into a fresh SQLite file, without and with a keyring; `BENCH_RUNS`
//! rounds (default 3), median and spread printed (`cargo bench -p hub-store --bench seal`).
//! Plugin and transport costs are the same either way and are left out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::sync::Arc;
use std::time::Instant;

use hub_core::time::Timestamp;
use hub_plugin_sdk::RecordMeta;
use hub_store::seal::{Keyring, Sealing};
use hub_store::{
    Batch, Completion, NewAttempt, NewPayload, NewRecord, PluginStamp, SqliteStore, Store,
};

fn records(n: usize, from: usize) -> Vec<NewRecord> {
    (from..from + n)
        .map(|i| {
            let body = format!(
                "{{\"id\":\"c{i}\",\"kind\":\"child\",\"first_name\":\"Naja\",\"last_name\":\"Lyberth{i}\",\
                 \"birth_date\":\"2021-03-{:02}\",\"institution\":\"0956-12\",\"start\":\"2024-08-01\",\
                 \"guardians\":[{{\"name\":\"Aviaja Lyberth\",\"street\":\"Aqqusinersuaq 14\",\"postcode\":\"3900\",\
                 \"city\":\"Nuuk\",\"phone\":\"+299 32 11 {:02}\"}}],\"hours\":35,\"notes\":\"\"}}",
                i % 28 + 1,
                i % 100
            );
            NewRecord {
                id: format!("c{i}"),
                kind: "child".into(),
                content_sha256: format!("{i:064x}"),
                body,
                change: hub_store::Change::Snapshot,
                meta: RecordMeta {
                    batch_key: "b".into(),
                    sequence_scope: None,
                    supersede_key: None,
                },
            }
        })
        .collect()
}

/// Enqueue and send of `n` records; returns (enqueue records/s, send records/s).
fn round(n: usize, ring: Option<Arc<Keyring>>) -> (f64, f64) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&tmp.path().join("hub.db")).unwrap();
    store.set_keyring(ring, Timestamp(0)).unwrap();
    let started = Instant::now();
    for from in (0..n).step_by(1000) {
        store
            .enqueue("kita", &records(1000.min(n - from), from), Timestamp(1))
            .unwrap();
    }
    let enqueue = n as f64 / started.elapsed().as_secs_f64();
    let batch = Batch {
        batch_key: "b".into(),
        sequence_scope: None,
    };
    let stamp = PluginStamp {
        name: "kitaplaner".into(),
        version: "0.1.0".into(),
        sha256: "0".repeat(64),
    };
    let started = Instant::now();
    loop {
        let queued = store.queued_records("kita", &batch, 1000).unwrap();
        if queued.is_empty() {
            break;
        }
        let seqs: Vec<i64> = queued.iter().map(|r| r.seq).collect();
        let mut bytes = Vec::new();
        for r in &queued {
            bytes.extend_from_slice(r.body.as_bytes());
            bytes.push(b'\n');
        }
        let payload = NewPayload {
            name: "kita.ndjson".into(),
            media_type: "application/x-ndjson".into(),
            bytes,
            records: seqs.clone(),
            labels: vec![],
            request: None,
        };
        let id = hub_store::create_transfer_with(
            &mut store,
            "kita",
            &batch,
            &seqs,
            &stamp,
            None,
            Timestamp(2),
            |_| Ok::<_, ()>(vec![payload]),
        )
        .unwrap()
        .unwrap();
        let p = store.transfer(id).unwrap().payloads.remove(0);
        assert!(!store.payload_bytes(p.id).unwrap().is_empty());
        let attempt = NewAttempt {
            begun: None,
            transfer_id: id,
            payload_id: Some(p.id),
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
            .complete_payload(p.id, Completion::InPlace, &attempt, Timestamp(3))
            .unwrap();
    }
    (enqueue, n as f64 / started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("BENCH_RECORDS", 20_000);
    let runs = env("BENCH_RUNS", 3).max(1);
    let ring = Arc::new(Keyring::new(Some("k1"), vec![("k1".into(), [7; 32])]).unwrap());
    for (label, r) in [("plain", None), ("sealed", Some(ring))] {
        let (mut e, mut s) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (a, b) = round(n, r.clone());
            e.push(a);
            s.push(b);
        }
        let (e, s) = (median(e), median(s));
        println!(
            "{label:>6}: enqueue {:.0} records/s (min {:.0}, max {:.0}); send {:.0} records/s (min {:.0}, max {:.0}); {n} records, {runs} runs",
            e.1, e.0, e.2, s.1, s.0, s.2
        );
    }
}
