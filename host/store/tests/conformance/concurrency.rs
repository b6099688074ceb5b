//! Several workers, each with its own connection, creating transfers from one queue.

use std::collections::BTreeMap;

use hub_core::time::Timestamp;
use hub_store::{Store, StoreError};

use crate::Backend;
use crate::support::{batch, rec, try_create};

const WORKERS: usize = 4;
const PER_SCOPE: usize = 60;
const SCOPES: [&str; 2] = ["s1", "s2"];

pub fn four_workers_put_every_record_into_exactly_one_transfer_numbered_gaplessly<
    B: Backend + Sync,
>(
    b: &B,
) {
    let mut store = b.open().unwrap();
    for scope in SCOPES {
        let records: Vec<_> = (0..PER_SCOPE)
            .map(|i| rec(&format!("{scope}-{i}"), Some(scope), None, &i.to_string()))
            .collect();
        store.enqueue("t", &records, Timestamp(0)).unwrap();
    }
    let refused: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                s.spawn(move || {
                    let mut store = b.open().unwrap();
                    let mut refused = 0;
                    loop {
                        let batches = store.queued_batches("t").unwrap();
                        let Some(next) = batches.get(w % batches.len().max(1)) else {
                            return refused;
                        };
                        let scope = next.sequence_scope.clone();
                        let queued = store
                            .queued_records("t", &batch(scope.as_deref()), 3)
                            .unwrap();
                        match try_create(&mut store, scope.as_deref(), &queued, false) {
                            Ok(Some(_)) => {}
                            // Another worker took some of them first: read again.
                            Err(StoreError::Taken(_)) => refused += 1,
                            other => panic!("worker {w}: {other:?}"),
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    eprintln!("{WORKERS} workers: {refused} creations refused and retried");
    let status = store.status(None).unwrap();
    assert_eq!(status.targets[0].queued, 0);
    assert_eq!(status.targets[0].in_flight, PER_SCOPE * SCOPES.len());
    // Every record in exactly one payload of one transfer.
    let mut carried: BTreeMap<i64, usize> = BTreeMap::new();
    let mut numbers: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in &status.transfers {
        numbers
            .entry(t.sequence_scope.clone().unwrap())
            .or_default()
            .push(t.sequence_no.unwrap());
        let mut in_transfer = 0;
        for p in &t.payloads {
            for r in store.payload_records(p.id).unwrap() {
                *carried.entry(r.seq).or_default() += 1;
                in_transfer += 1;
            }
        }
        assert_eq!(in_transfer, t.records, "transfer #{}", t.id);
    }
    assert_eq!(carried.len(), PER_SCOPE * SCOPES.len());
    assert!(carried.values().all(|n| *n == 1), "{carried:?}");
    // Numbers 1..n in each scope: no gap, none twice.
    for scope in SCOPES {
        let mut n = numbers.remove(scope).unwrap();
        n.sort_unstable();
        assert_eq!(n, (1..=n.len() as u64).collect::<Vec<_>>(), "scope {scope}");
    }
}
