//! Leases: several workers on one store claim transfers without sharing one, take over a
//! dead worker's transfer when its lease runs out, deliver each sequence scope in order
//! and respect a target's limit of concurrent deliveries. Written against `dyn Store`
//! so every backend runs the same checks.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use hub_core::time::Timestamp;
use hub_plugin_sdk::RecordMeta;
use hub_store::{Batch, NewPayload, NewRecord, PluginStamp, SqliteStore, Store};

fn rec(id: &str, batch: &str, scope: Option<&str>) -> NewRecord {
    let body = format!(r#"{{"id":"{id}"}}"#);
    NewRecord {
        id: id.into(),
        kind: "k".into(),
        content_sha256: hub_core::input::content_sha256(&serde_json::from_str(&body).unwrap()),
        body,
        change: hub_store::Change::Snapshot,
        meta: RecordMeta {
            batch_key: batch.into(),
            sequence_scope: scope.map(Into::into),
            supersede_key: None,
        },
    }
}

/// Queues one record and makes a transfer of it; returns the transfer's id.
fn transfer(store: &mut dyn Store, id: &str, batch: &str, scope: Option<&str>) -> i64 {
    store
        .enqueue("t", &[rec(id, batch, scope)], Timestamp(0))
        .unwrap();
    let b = Batch {
        batch_key: batch.into(),
        sequence_scope: scope.map(Into::into),
    };
    let queued = store.queued_records("t", &b, 10).unwrap();
    let seqs: Vec<i64> = queued.iter().map(|r| r.seq).collect();
    let stamp = PluginStamp {
        name: "test".into(),
        version: "0".into(),
        sha256: "00".into(),
    };
    store
        .create_transfer("t", &b, &seqs, &stamp, Timestamp(1), &mut |_| {
            Some(vec![NewPayload {
                name: format!("{id}.txt"),
                media_type: "text/plain".into(),
                bytes: id.as_bytes().to_vec(),
                records: seqs.clone(),
                labels: Vec::new(),
            }])
        })
        .unwrap()
        .unwrap()
}

const T0: Timestamp = Timestamp(1_000_000);
const LEASE: i64 = 60_000;

fn until(now: Timestamp) -> Timestamp {
    Timestamp(now.0 + LEASE)
}

pub fn workers_never_share_a_transfer_and_scopes_go_in_order(store: &mut dyn Store) {
    let s1 = transfer(store, "a", "b1", Some("s"));
    let s2 = transfer(store, "b", "b1", Some("s"));
    let free = transfer(store, "c", "b2", None);
    let a = store.claim_transfer("t", "A", until(T0), None, T0).unwrap();
    assert_eq!(a, Some(s1));
    // Number 2 of scope `s` waits for number 1; the unscoped transfer is free.
    let b = store.claim_transfer("t", "B", until(T0), None, T0).unwrap();
    assert_eq!(b, Some(free));
    assert_eq!(
        store.claim_transfer("t", "C", until(T0), None, T0).unwrap(),
        None
    );
    // Asking again, a worker gets back what it holds, not a second transfer.
    assert_eq!(
        store.claim_transfer("t", "A", until(T0), None, T0).unwrap(),
        Some(s1)
    );
    let _ = s2;
}

pub fn a_dead_workers_transfer_is_taken_over_when_its_lease_runs_out(store: &mut dyn Store) {
    let id = transfer(store, "a", "b1", Some("s"));
    assert_eq!(
        store.claim_transfer("t", "A", until(T0), None, T0).unwrap(),
        Some(id)
    );
    let later = Timestamp(T0.0 + LEASE - 1);
    assert_eq!(
        store
            .claim_transfer("t", "B", until(later), None, later)
            .unwrap(),
        None
    );
    let expired = Timestamp(T0.0 + LEASE + 1);
    assert_eq!(
        store
            .claim_transfer("t", "B", until(expired), None, expired)
            .unwrap(),
        Some(id)
    );
    // A comes back (it was only slow): its lease is gone and it must stop.
    assert!(!store.renew_lease(id, "A", until(expired), expired).unwrap());
    assert!(store.renew_lease(id, "B", until(expired), expired).unwrap());
}

pub fn a_target_limit_holds_across_workers_and_release_frees(store: &mut dyn Store) {
    let x = transfer(store, "x", "bx", None);
    let y = transfer(store, "y", "by", None);
    assert_eq!(
        store
            .claim_transfer("t", "A", until(T0), Some(1), T0)
            .unwrap(),
        Some(x)
    );
    assert_eq!(
        store
            .claim_transfer("t", "B", until(T0), Some(1), T0)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .claim_transfer("t", "B", until(T0), Some(2), T0)
            .unwrap(),
        Some(y)
    );
    store.release_lease(y, "B").unwrap();
    // Releasing someone else's lease does nothing.
    store.release_lease(x, "B").unwrap();
    assert_eq!(
        store
            .claim_transfer("t", "C", until(T0), Some(2), T0)
            .unwrap(),
        Some(y)
    );
}

pub fn the_one_sender_frees_a_killed_runs_leases(store: &mut dyn Store) {
    let id = transfer(store, "a", "b1", Some("s"));
    assert_eq!(
        store
            .claim_transfer("t", "dead", until(T0), None, T0)
            .unwrap(),
        Some(id)
    );
    assert_eq!(
        store
            .claim_transfer("t", "new", until(T0), None, T0)
            .unwrap(),
        None
    );
    assert_eq!(store.free_leases("new").unwrap(), 1);
    assert_eq!(
        store
            .claim_transfer("t", "new", until(T0), None, T0)
            .unwrap(),
        Some(id)
    );
    // Its own lease stays.
    assert_eq!(store.free_leases("new").unwrap(), 0);
    assert_eq!(
        store
            .claim_transfer("t", "other", until(T0), None, T0)
            .unwrap(),
        None
    );
}

pub fn has_work_sees_queued_records_and_claimable_transfers_only(store: &mut dyn Store) {
    assert!(!store.has_work("t", "A", T0).unwrap());
    store
        .enqueue("t", &[rec("q", "bq", None)], Timestamp(0))
        .unwrap();
    assert!(store.has_work("t", "A", T0).unwrap());
    assert!(!store.has_work("other", "A", T0).unwrap());
    // Turn the queued record into a transfer that B holds: nothing left for A.
    let b = Batch {
        batch_key: "bq".into(),
        sequence_scope: None,
    };
    let seqs: Vec<i64> = store
        .queued_records("t", &b, 10)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    let stamp = PluginStamp {
        name: "test".into(),
        version: "0".into(),
        sha256: "00".into(),
    };
    let id = store
        .create_transfer("t", &b, &seqs, &stamp, Timestamp(1), &mut |_| {
            Some(vec![NewPayload {
                name: "q.txt".into(),
                media_type: "text/plain".into(),
                bytes: b"q".to_vec(),
                records: seqs.clone(),
                labels: Vec::new(),
            }])
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        store.claim_transfer("t", "B", until(T0), None, T0).unwrap(),
        Some(id)
    );
    assert!(!store.has_work("t", "A", T0).unwrap());
    assert!(store.has_work("t", "B", T0).unwrap());
    // B's lease runs out: A has work again.
    let later = Timestamp(T0.0 + LEASE + 1);
    assert!(store.has_work("t", "A", later).unwrap());
}

fn sqlite() -> Box<dyn Store> {
    Box::new(SqliteStore::in_memory().unwrap())
}

#[test]
fn sqlite_workers_never_share_a_transfer_and_scopes_go_in_order() {
    workers_never_share_a_transfer_and_scopes_go_in_order(sqlite().as_mut());
}

#[test]
fn sqlite_a_dead_workers_transfer_is_taken_over_when_its_lease_runs_out() {
    a_dead_workers_transfer_is_taken_over_when_its_lease_runs_out(sqlite().as_mut());
}

#[test]
fn sqlite_a_target_limit_holds_across_workers_and_release_frees() {
    a_target_limit_holds_across_workers_and_release_frees(sqlite().as_mut());
}

#[test]
fn sqlite_the_one_sender_frees_a_killed_runs_leases() {
    the_one_sender_frees_a_killed_runs_leases(sqlite().as_mut());
}

#[test]
fn sqlite_has_work_sees_queued_records_and_claimable_transfers_only() {
    has_work_sees_queued_records_and_claimable_transfers_only(sqlite().as_mut());
}
