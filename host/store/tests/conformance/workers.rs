//! Several workers on one store, through the `Store` trait alone: claims keep workers
//! apart and scopes in order, a dead worker's transfer is taken over when its lease runs
//! out, a target's limit holds across workers, `has_work` sees only what a worker could
//! do, and retry times and scheduled slots are shared.

use hub_core::time::Timestamp;
use hub_plugin_sdk::RecordMeta;
use hub_store::{Batch, NewPayload, NewRecord, PluginStamp, Store};

use crate::Backend;

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
        .create_transfer("t", &b, &seqs, &stamp, None, Timestamp(1), &mut |_| {
            Some(vec![NewPayload {
                name: format!("{id}.txt"),
                media_type: "text/plain".into(),
                bytes: id.as_bytes().to_vec(),
                records: seqs.clone(),
                labels: Vec::new(),
                request: None,
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

pub fn workers_never_share_a_transfer_and_scopes_go_in_order(b: &impl Backend) {
    let mut opened = b.open().unwrap();
    let store: &mut dyn Store = &mut opened;
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

pub fn a_dead_workers_transfer_is_taken_over_when_its_lease_runs_out(b: &impl Backend) {
    let mut opened = b.open().unwrap();
    let store: &mut dyn Store = &mut opened;
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

pub fn a_target_limit_holds_across_workers_and_release_frees(b: &impl Backend) {
    let mut opened = b.open().unwrap();
    let store: &mut dyn Store = &mut opened;
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

pub fn the_one_sender_frees_a_killed_runs_leases(b: &impl Backend) {
    let mut opened = b.open().unwrap();
    let store: &mut dyn Store = &mut opened;
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

pub fn has_work_sees_queued_records_and_claimable_transfers_only(b: &impl Backend) {
    let mut opened = b.open().unwrap();
    let store: &mut dyn Store = &mut opened;
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
        .create_transfer("t", &b, &seqs, &stamp, None, Timestamp(1), &mut |_| {
            Some(vec![NewPayload {
                name: "q.txt".into(),
                media_type: "text/plain".into(),
                bytes: b"q".to_vec(),
                records: seqs.clone(),
                labels: Vec::new(),
                request: None,
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
    // Numbers 1 and 2 of one scope, B holding number 1: number 2 waits, so A has nothing.
    let s1 = transfer(store, "s1", "bs", Some("s"));
    let s2 = transfer(store, "s2", "bs", Some("s"));
    assert!(s1 < s2);
    store.release_lease(id, "B").unwrap();
    store
        .claim_transfer("t", "A", until(later), None, later)
        .unwrap();
    assert_eq!(
        store
            .claim_transfer("t", "B", until(later), None, later)
            .unwrap(),
        Some(s1)
    );
    assert!(
        !store.has_work("t", "C", later).unwrap(),
        "a transfer behind a lower number held by another worker is no work"
    );
}

pub fn a_targets_backoff_is_shared_and_cleared_by_a_good_send(b: &impl Backend) {
    let mut opened = b.open().unwrap();
    let store: &mut dyn Store = &mut opened;
    assert!(store.backoffs().unwrap().is_empty());
    store.set_backoff("t", Some((1, Timestamp(5_000)))).unwrap();
    store.set_backoff("t", Some((2, Timestamp(9_000)))).unwrap();
    store.set_backoff("u", Some((1, Timestamp(7_000)))).unwrap();
    let all = store.backoffs().unwrap();
    assert_eq!(
        all.iter()
            .map(|b| (b.target.as_str(), b.failures, b.next_at))
            .collect::<Vec<_>>(),
        [("t", 2, Timestamp(9_000)), ("u", 1, Timestamp(7_000))]
    );
    store.set_backoff("t", None).unwrap();
    assert_eq!(store.backoffs().unwrap().len(), 1);
}

/// Every worker sees a scheduled slot fall due; the store gives it to one of them, and a
/// worker starting later does not move the last look back or forward.
pub fn a_scheduled_slot_is_taken_by_one_worker_only(b: &impl Backend) {
    let (mut one, mut two) = (b.open().unwrap(), b.open().unwrap());
    let (one, two): (&mut dyn Store, &mut dyn Store) = (&mut one, &mut two);
    assert!(one.schedule_looks().unwrap().is_empty());
    one.first_look("t", Timestamp(1_000)).unwrap();
    two.first_look("t", Timestamp(5_000)).unwrap();
    assert_eq!(
        two.schedule_looks().unwrap(),
        [("t".to_string(), Timestamp(1_000))]
    );
    // The slot at one minute: both see it due, one takes it.
    assert!(
        one.take_slot("t", Timestamp(60_000), Timestamp(60_010))
            .unwrap()
    );
    assert!(
        !two.take_slot("t", Timestamp(60_000), Timestamp(60_020))
            .unwrap()
    );
    // The next slot goes to whoever looks first.
    assert!(
        two.take_slot("t", Timestamp(120_000), Timestamp(120_005))
            .unwrap()
    );
    assert!(
        !one.take_slot("t", Timestamp(120_000), Timestamp(120_006))
            .unwrap()
    );
    // A target never looked at: its slot is taken too.
    assert!(
        one.take_slot("u", Timestamp(60_000), Timestamp(60_001))
            .unwrap()
    );
    assert_eq!(
        one.schedule_looks().unwrap(),
        [
            ("t".to_string(), Timestamp(120_005)),
            ("u".to_string(), Timestamp(60_001))
        ]
    );
}
