//! Leases: work claimed by a worker until a time, in order within a scope, under a limit
//! per target, taken over when it runs out.

use std::collections::BTreeSet;

use hub_core::time::Timestamp;
use hub_store::{Completion, Store};

use crate::Backend;
use crate::support::{attempt, create, rec};

/// One transfer of one record, in `scope`.
fn transfer(store: &mut impl Store, id: &str, scope: Option<&str>) -> i64 {
    store
        .enqueue("t", &[rec(id, scope, None, "1")], Timestamp(0))
        .unwrap();
    create(store, scope).0
}

pub fn claims_keep_order_within_a_scope_and_expired_leases_are_taken_over(b: &impl Backend) {
    let mut s = b.open().unwrap();
    let t1 = transfer(&mut s, "a", Some("s"));
    let t2 = transfer(&mut s, "b", Some("s"));
    let t3 = transfer(&mut s, "c", None);
    let (now, until) = (Timestamp(1_000), Timestamp(5_000));
    assert_eq!(
        s.claim_transfer("t", "w1", until, None, now).unwrap(),
        Some(t1)
    );
    // t2 waits for t1 (same scope); t3 is free.
    assert_eq!(
        s.claim_transfer("t", "w2", until, None, now).unwrap(),
        Some(t3)
    );
    // A worker's own lease is claimable by it again; nothing is left for a third.
    assert_eq!(
        s.claim_transfer("t", "w2", until, None, now).unwrap(),
        Some(t3)
    );
    assert_eq!(s.claim_transfer("t", "w3", until, None, now).unwrap(), None);
    // (`has_work` does not apply the order within a scope: t2 counts for w3 here.)
    assert!(s.has_work("t", "w1", now).unwrap());
    assert!(!s.has_work("other", "w1", now).unwrap());
    // A limit counts the other workers' leases of the target.
    assert_eq!(
        s.claim_transfer("t", "w1", until, Some(1), now).unwrap(),
        None
    );
    assert_eq!(
        s.claim_transfer("t", "w1", until, Some(2), now).unwrap(),
        Some(t1)
    );
    // Renewing: only the holder, while it holds.
    assert!(s.renew_lease(t1, "w1", Timestamp(6_000), now).unwrap());
    assert!(!s.renew_lease(t1, "w3", Timestamp(6_000), now).unwrap());
    // w1 dies: after its lease runs out, w3 takes t1 over, and w1 may not touch it.
    let later = Timestamp(6_001);
    assert!(s.has_work("t", "w3", later).unwrap());
    assert_eq!(
        s.claim_transfer("t", "w3", Timestamp(9_000), None, later)
            .unwrap(),
        Some(t1)
    );
    assert!(!s.renew_lease(t1, "w1", Timestamp(9_000), later).unwrap());
    // Released, it is anyone's again.
    s.release_lease(t1, "w1").unwrap(); // not w1's: changes nothing
    assert!(!s.renew_lease(t1, "w1", Timestamp(9_000), later).unwrap());
    s.release_lease(t1, "w3").unwrap();
    assert!(s.renew_lease(t1, "w1", Timestamp(9_000), later).unwrap());
    // Done, t1 lets t2 go next.
    let p = s.transfer(t1).unwrap().payloads[0].id;
    s.complete_payload(p, Completion::InPlace, &attempt(t1, p), later)
        .unwrap();
    s.release_lease(t1, "w1").unwrap();
    assert_eq!(
        s.claim_transfer("t", "w3", Timestamp(9_000), None, later)
            .unwrap(),
        Some(t2)
    );
    // A lone sender frees everyone else's leases.
    assert_eq!(s.free_leases("w9").unwrap(), 2);
    assert_eq!(s.free_leases("w9").unwrap(), 0);
}

pub fn workers_claiming_at_once_never_hold_the_same_transfer<B: Backend + Sync>(b: &B) {
    const TRANSFERS: usize = 16;
    let mut s = b.open().unwrap();
    let all: BTreeSet<i64> = (0..TRANSFERS)
        .map(|i| transfer(&mut s, &format!("r{i}"), None))
        .collect();
    let claimed: Vec<Vec<i64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                scope.spawn(move || {
                    let mut s = b.open().unwrap();
                    let me = format!("w{w}");
                    let mut mine = Vec::new();
                    // Each claims until nothing is left; its own leases it holds on to
                    // by completing nothing, so it must move on: skip what it has.
                    while let Some(id) = s
                        .claim_transfer("t", &me, Timestamp(60_000), None, Timestamp(1))
                        .unwrap()
                    {
                        if mine.contains(&id) {
                            break;
                        }
                        mine.push(id);
                        // Finished with it: done, so no one else may claim it.
                        let p = s.transfer(id).unwrap().payloads[0].id;
                        s.complete_payload(p, Completion::InPlace, &attempt(id, p), Timestamp(2))
                            .unwrap();
                        s.release_lease(id, &me).unwrap();
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut seen = BTreeSet::new();
    for id in claimed.iter().flatten() {
        assert!(
            seen.insert(*id),
            "transfer #{id} claimed twice: {claimed:?}"
        );
    }
    assert_eq!(seen, all);
}

pub fn a_created_transfer_is_claimed_by_its_id_under_the_same_rules(b: &impl Backend) {
    let mut s = b.open().unwrap();
    let t1 = transfer(&mut s, "a", Some("s"));
    let t2 = transfer(&mut s, "b", Some("s"));
    let t3 = transfer(&mut s, "c", None);
    let t4 = transfer(&mut s, "d", None);
    let (now, until) = (Timestamp(1_000), Timestamp(5_000));
    // t2 waits for t1, the lower open transfer of its scope.
    assert!(!s.claim_created(t2, "w1", until, None, now).unwrap());
    assert!(s.claim_created(t1, "w1", until, None, now).unwrap());
    assert!(s.claim_created(t3, "w1", until, None, now).unwrap());
    // Held by w1: not another worker's, but w1's own again.
    assert!(!s.claim_created(t3, "w2", until, None, now).unwrap());
    assert!(s.claim_created(t3, "w1", until, None, now).unwrap());
    // The limit counts the other workers' leases: w1 holds two.
    assert!(!s.claim_created(t4, "w2", until, Some(2), now).unwrap());
    assert!(s.claim_created(t4, "w2", until, Some(3), now).unwrap());
    // An unknown transfer is never claimed.
    assert!(!s.claim_created(t4 + 100, "w1", until, None, now).unwrap());
    // Once w1's leases run out, w2 may take t3.
    assert!(
        s.claim_created(t3, "w2", Timestamp(9_000), None, Timestamp(5_001))
            .unwrap()
    );
}

/// A group of writes commits together; every write in it stays whole on its own.
pub fn a_group_of_writes_commits_together(b: &impl Backend) {
    let mut s = b.open().unwrap();
    let t1 = transfer(&mut s, "a", None);
    s.begin_group().unwrap();
    let t2 = transfer(&mut s, "b", None);
    assert!(
        s.claim_created(t2, "w1", Timestamp(5_000), None, Timestamp(1_000))
            .unwrap()
    );
    // Reads in the group see its writes.
    assert_eq!(s.transfer(t2).unwrap().payloads.len(), 1);
    s.end_group().unwrap();
    // Ending a group twice, or one never begun, does nothing.
    s.end_group().unwrap();
    drop(s);
    let mut s = b.open().unwrap();
    assert_eq!(s.open_transfers("t").unwrap(), vec![t1, t2]);
    assert!(
        !s.claim_created(t2, "w2", Timestamp(5_000), None, Timestamp(1_000))
            .unwrap()
    );
}
