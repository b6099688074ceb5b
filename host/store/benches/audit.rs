//! `hub audit verify` over a long trail: appends `BENCH_ENTRIES` entries (default
//! 1,000,000; a delivery's size of entry, 10,000 per transaction) to a SQLite store and
//! times verifying the whole chain, `BENCH_RUNS` times (default 3). With
//! `BENCH_STORE=path` the store is kept there, so `hub audit verify` can be timed on it
//! with the real binary (`cargo bench -p hub-store --bench audit`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::time::Instant;

use hub_core::time::Timestamp;
use hub_store::SqliteStore;
use hub_store::protection::{NewAuditEntry, Protection, verify};

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("BENCH_ENTRIES", 1_000_000);
    let runs = env("BENCH_RUNS", 3);
    let tmp = tempfile::tempdir().unwrap();
    let path = std::env::var_os("BENCH_STORE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("hub.db"));
    let mut store = SqliteStore::open(&path).unwrap();
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<NewAuditEntry> = (i..(i + 10_000).min(n))
            .map(|k| NewAuditEntry {
                at: Timestamp(1_700_000_000_000 + k as i64),
                actor: "hub".into(),
                action: "delivery".into(),
                target: Some("prisme".into()),
                subject: format!("transfer #{k} payload #{k}"),
                detail: format!(
                    "delivered: sent 522-24-{k:03}-G.txt, 1834 bytes, sha256 {:064x} to dir:/srv/prisme/out",
                    k
                ),
            })
            .collect();
        i += batch.len();
        store.audit_append(&batch).unwrap();
    }
    let appended = started.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "appended {n} entries in {:.1} s ({:.0} entries/s); store {:.0} MB",
        appended.as_secs_f64(),
        n as f64 / appended.as_secs_f64(),
        size as f64 / 1e6
    );
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let report = verify(&mut store, None).unwrap();
        let took = started.elapsed().as_secs_f64();
        assert_eq!((report.entries as usize, report.problem), (n, None));
        times.push(took);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "verify {n} entries: min {:.2} s, median {:.2} s, max {:.2} s over {runs} runs ({:.0} entries/s at the median)",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        n as f64 / times[times.len() / 2]
    );
}
