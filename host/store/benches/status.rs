//! `hub status` over a long history: fills a store with `BENCH_TRANSFERS` delivered
//! transfers (default 10,000; one record, one payload and two protocol entries each,
//! as a Prisme file run makes them) and times reading the status in this process.
//! With `BENCH_STORE=path` the store is kept there, so `hub status` can be timed on it
//! with any binary (`cargo bench -p hub-store --bench status`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::time::Instant;

use hub_core::state::AttemptResult;
use hub_core::time::Timestamp;
use hub_plugin_sdk::RecordMeta;
use hub_store::{
    Batch, Completion, NewAttempt, NewPayload, NewRecord, PluginStamp, SqliteStore, Store,
};

fn main() {
    let n: usize = std::env::var("BENCH_TRANSFERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir().unwrap();
    let path = std::env::var_os("BENCH_STORE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("hub.db"));
    let mut store = SqliteStore::open(&path).unwrap();
    let stamp = PluginStamp {
        name: "prisme".into(),
        version: "0.1.0".into(),
        sha256: "00".into(),
    };
    let started = Instant::now();
    let records: Vec<NewRecord> = (0..n)
        .map(|i| {
            let body = format!(r#"{{"id":"r{i}","amount":{i}}}"#);
            NewRecord {
                id: format!("r{i}"),
                kind: "posting".into(),
                content_sha256: hub_core::input::content_sha256(
                    &serde_json::from_str(&body).unwrap(),
                ),
                body,
                change: hub_store::Change::Refuse,
                meta: RecordMeta {
                    batch_key: format!("b{i}"),
                    sequence_scope: Some("522".into()),
                    supersede_key: None,
                },
            }
        })
        .collect();
    store.enqueue("prisme", &records, Timestamp(0)).unwrap();
    for i in 0..n {
        let batch = Batch {
            batch_key: format!("b{i}"),
            sequence_scope: Some("522".into()),
        };
        let queued = store.queued_records("prisme", &batch, 10).unwrap();
        let seqs: Vec<i64> = queued.iter().map(|r| r.seq).collect();
        let id = store
            .create_transfer(
                "prisme",
                &batch,
                &seqs,
                &stamp,
                None,
                Timestamp(1),
                &mut |d| {
                    Some(vec![NewPayload {
                        name: format!("522-24-{:03}-G.txt", d.sequence.unwrap_or(0)),
                        media_type: "text/plain".into(),
                        bytes: vec![b'x'; 2048],
                        records: seqs.clone(),
                        labels: vec![("page".into(), "522".into())],
                        request: None,
                    }])
                },
            )
            .unwrap()
            .unwrap();
        let p = store.transfer(id).unwrap().payloads[0].id;
        let attempt = NewAttempt {
            begun: None,
            transfer_id: id,
            payload_id: Some(p),
            started_at: Timestamp(2),
            duration_ms: 3,
            endpoint: "sftp://loopback/522/prod/G".into(),
            credential: None,
            sent: "2048 bytes".into(),
            received: None,
            result: AttemptResult::Started,
            error: None,
        };
        let begun = store.log_attempt(&attempt).unwrap();
        store
            .complete_payload(
                p,
                Completion::InPlace,
                &NewAttempt {
                    begun: Some(begun),
                    result: AttemptResult::Delivered,
                    ..attempt
                },
                Timestamp(3),
            )
            .unwrap();
    }
    println!(
        "filled {n} transfers in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        path.display()
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let status = store.status(None).unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(status.transfers.len(), n);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "status() of {n} transfers: median {:.3} s (min {:.3}, max {:.3}, 5 runs)",
        times[2], times[0], times[4]
    );
    if std::env::var_os("BENCH_STORE").is_some() {
        std::mem::forget(tmp);
    }
}
