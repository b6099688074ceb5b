//! Deliveries in doubt: held, listed, settled by a person; attempts begun before the
//! remote side is touched.

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use hub_store::{DoubtKind, NewDoubt, Settlement, Store, StoreError};

use crate::Backend;
use crate::support::{attempt, create, rec};

fn doubt() -> NewDoubt {
    NewDoubt {
        kind: DoubtKind::UnknownOutcome,
        detail: "no answer within 30 s".into(),
        expected: None,
        found: None,
    }
}

pub fn a_delivery_in_doubt_is_held_until_a_person_settles_it(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[
                rec("a", Some("s"), None, "1"),
                rec("b", Some("s"), None, "2"),
            ],
            Timestamp(0),
        )
        .unwrap();
    let (id, _) = create(&mut store, Some("s"));
    let t = store.transfer(id).unwrap();
    let (p0, p1) = (t.payloads[0].id, t.payloads[1].id);
    let d = store
        .hold(p0, &doubt(), &attempt(id, p0), Timestamp(10))
        .unwrap();
    let t = store.transfer(id).unwrap();
    assert_eq!(t.state, TransferState::InDoubt);
    assert_eq!(t.payloads[0].state, PayloadState::InDoubt);
    assert!(store.open_transfers("t").unwrap().is_empty());
    assert_eq!(store.counts(None).unwrap()[0].in_doubt, 1);
    let open = store.doubts(None, false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (
            open[0].id,
            open[0].kind,
            open[0].records,
            open[0].sequence_no
        ),
        (d, DoubtKind::UnknownOutcome, 1, Some(1))
    );
    assert_eq!(open[0].payload, "a.txt");
    assert_eq!(store.status(Some("t")).unwrap().in_doubt.len(), 1);
    // A record in doubt is not resolved by hand: the receiver is asked first.
    let err = store
        .resolve(None, "a", "anna", "x", Timestamp(11))
        .unwrap_err();
    assert!(err.to_string().contains("is in doubt"), "{err}");
    // Settling needs a reason and a transfer in doubt.
    assert!(matches!(
        store.settle(id, Settlement::NotDelivered, "anna", " ", Timestamp(12)),
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        store.settle(99, Settlement::NotDelivered, "anna", "x", Timestamp(12)),
        Err(StoreError::NotFound(_))
    ));
    // Not delivered: sent again, same number, same bytes.
    let state = store
        .settle(
            id,
            Settlement::NotDelivered,
            "anna",
            "not in the import log",
            Timestamp(12),
        )
        .unwrap();
    assert_eq!(state, TransferState::Open);
    assert_eq!(store.open_transfers("t").unwrap(), vec![id]);
    assert!(store.doubts(None, false).unwrap().is_empty());
    let all = store.doubts(Some("t"), true).unwrap();
    assert_eq!(
        (all[0].settled_by.as_deref(), all[0].settled_as.as_deref()),
        (Some("anna"), Some("not-delivered"))
    );
    assert_eq!(all[0].settled_at, Some(Timestamp(12)));
    assert!(matches!(
        store.settle(id, Settlement::Delivered, "anna", "x", Timestamp(13)),
        Err(StoreError::Refused(_))
    ));
    // Held again, then it turns out it arrived: its records are delivered.
    store
        .hold(p0, &doubt(), &attempt(id, p0), Timestamp(14))
        .unwrap();
    store
        .complete_payload(
            p1,
            hub_store::Completion::InPlace,
            &attempt(id, p1),
            Timestamp(15),
        )
        .unwrap();
    let state = store
        .settle(
            id,
            Settlement::Delivered,
            "ole",
            "Datenquelle 4711 in the portal",
            Timestamp(16),
        )
        .unwrap();
    assert_eq!(state, TransferState::Done);
    let c = &store.counts(None).unwrap()[0];
    assert_eq!((c.delivered, c.in_doubt), (2, 0));
    let log = store.attempts(Some(id)).unwrap();
    assert!(log.iter().any(|a| a.result == AttemptResult::Settled));
    let status = store.status(None).unwrap();
    assert!(status.in_doubt.is_empty());
    assert!(
        status
            .needs_check
            .iter()
            .all(|r| r.state != RecordState::InDoubt)
    );
}

pub fn a_started_attempt_is_completed_not_duplicated(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue("t", &[rec("a", None, None, "1")], Timestamp(0))
        .unwrap();
    let (id, _) = create(&mut store, None);
    let p = store.transfer(id).unwrap().payloads[0].id;
    let begun = store
        .begin_attempt(p, PayloadState::Uploading, &attempt(id, p))
        .unwrap();
    // Killed here: the log says so, and the payload's step was recorded.
    let mut after_crash = b.open().unwrap();
    let log = after_crash.attempts(Some(id)).unwrap();
    assert_eq!((log.len(), log[0].result), (1, AttemptResult::Started));
    assert_eq!(
        after_crash.attempt_stats().unwrap(),
        vec![hub_store::AttemptStats {
            target: "t".into(),
            result: "started".into(),
            count: 1,
            duration_ms: 3
        }]
    );
    assert_eq!(
        after_crash.transfer(id).unwrap().payloads[0].state,
        PayloadState::Uploading
    );
    let mut done = attempt(id, p);
    done.begun = Some(begun);
    done.error = Some("slow".into());
    assert_eq!(after_crash.log_attempt(&done).unwrap(), begun);
    let log = after_crash.attempts(Some(id)).unwrap();
    assert_eq!((log.len(), log[0].result), (1, AttemptResult::Delivered));
    assert_eq!(
        after_crash.transfer(id).unwrap().last_error.as_deref(),
        Some("slow")
    );
    // A `begun` that does not exist is written as a new entry.
    done.begun = Some(9_999);
    assert_ne!(after_crash.log_attempt(&done).unwrap(), 9_999);
    assert_eq!(after_crash.attempts(None).unwrap().len(), 2);
    // The totals `/metrics` reads are kept as the log changes (schema 018): the started
    // entry completed is counted once, as delivered, not also as started.
    assert_eq!(
        stats_of_log(&mut after_crash),
        vec![("t".into(), "delivered".into(), 2, 6)]
    );
    assert_eq!(
        after_crash.attempt_stats().unwrap(),
        stats_of_log(&mut after_crash)
            .into_iter()
            .map(
                |(target, result, count, duration_ms)| hub_store::AttemptStats {
                    target,
                    result,
                    count,
                    duration_ms
                }
            )
            .collect::<Vec<_>>()
    );
}

/// The protocol log grouped by target and result, as `attempt_stats` must say it.
fn stats_of_log(store: &mut impl hub_store::Store) -> Vec<(String, String, u64, u64)> {
    let mut by: std::collections::BTreeMap<(String, String), (u64, u64)> = Default::default();
    for a in store.attempts(None).unwrap() {
        let e = by.entry((a.target, a.result.to_string())).or_default();
        e.0 += 1;
        e.1 += a.duration_ms;
    }
    by.into_iter()
        .map(|((t, r), (n, d))| (t, r, n, d))
        .collect()
}
