//! Reads that cost what they show: pages with filters and a cursor, and the overview
//! from kept counts (migration 008).

use hub_core::state::{PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use hub_plugin_sdk::OutcomeStatus;
use hub_store::{
    Completion, DoubtKind, NewDoubt, Pages, Query, RecordOutcome, Settlement, Store, StoreError,
    TargetLimits,
};

use crate::Backend;
use crate::support::{attempt, create, rec};

/// The kept counts, as `(target, state, n)`, sorted, without zeros.
pub(crate) fn kept(store: &mut impl Store) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for c in store.counts(None).unwrap() {
        for (state, n) in [
            ("queued", c.queued),
            ("in-transfer", c.in_flight),
            ("in-doubt", c.in_doubt),
            ("delivered", c.delivered),
            ("failed", c.failed),
            ("resolved", c.resolved),
            ("superseded", c.superseded),
        ] {
            if n > 0 {
                out.push((c.target.clone(), state.to_string(), n as i64));
            }
        }
    }
    out.sort();
    out
}

/// The same counted from the records themselves.
pub(crate) fn counted<B: Backend>(b: &B) -> Vec<(String, String, i64)> {
    let mut out: Vec<(String, String, i64)> = b
        .group_by_state()
        .into_iter()
        .map(|(t, s, n)| {
            // `counts` folds rejected into failed.
            let s = if s == "rejected" { "failed".into() } else { s };
            (t, s, n)
        })
        .collect();
    out.sort();
    // Folding rejected into failed may leave two rows of one key.
    out.dedup_by(|a, b| {
        if a.0 == b.0 && a.1 == b.1 {
            b.2 += a.2;
            true
        } else {
            false
        }
    });
    out
}

pub fn kept_counts_follow_every_change_of_state_and_survive_a_reopen<B: Backend>(b: &B) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[
                rec("a", Some("s"), None, "1"),
                rec("b", Some("s"), None, "2"),
                rec("c", Some("s"), Some("k"), "3"),
            ],
            Timestamp(0),
        )
        .unwrap();
    // A newer snapshot supersedes c; another target counts on its own.
    store
        .enqueue("t", &[rec("c2", Some("s"), Some("k"), "4")], Timestamp(1))
        .unwrap();
    store
        .enqueue("u", &[rec("x", None, None, "5")], Timestamp(1))
        .unwrap();
    assert_eq!(kept(&mut store), counted(b));
    let (id, _) = create(&mut store, Some("s"));
    assert_eq!(kept(&mut store), counted(b));
    let t = store.transfer(id).unwrap();
    // a delivered, b rejected, c2 held in doubt then settled as delivered.
    let seq = |p: usize, s: &mut B::S| s.payload_records(t.payloads[p].id).unwrap()[0].seq;
    let (sa, sb) = (seq(0, &mut store), seq(1, &mut store));
    for (p, s, status) in [
        (0, sa, OutcomeStatus::Delivered),
        (1, sb, OutcomeStatus::Rejected),
    ] {
        store
            .complete_payload(
                t.payloads[p].id,
                Completion::Outcomes(&[RecordOutcome {
                    seq: s,
                    status,
                    messages: vec!["m".into()],
                }]),
                &attempt(id, t.payloads[p].id),
                Timestamp(2),
            )
            .unwrap();
    }
    let doubt = NewDoubt {
        kind: DoubtKind::UnknownOutcome,
        detail: "no answer".into(),
        expected: None,
        found: None,
    };
    store
        .hold(
            t.payloads[2].id,
            &doubt,
            &attempt(id, t.payloads[2].id),
            Timestamp(3),
        )
        .unwrap();
    assert_eq!(kept(&mut store), counted(b));
    // Rejected records are among those that need a person, and counted apart too.
    let c = &store.counts(Some("t")).unwrap()[0];
    assert_eq!((c.failed, c.rejected), (1, 1));
    store
        .settle(id, Settlement::Delivered, "anna", "seen", Timestamp(4))
        .unwrap();
    store
        .resolve(Some("t"), "b", "anna", "booked by hand", Timestamp(5))
        .unwrap();
    let expected = vec![
        ("t".to_string(), "delivered".to_string(), 2),
        ("t".into(), "resolved".into(), 1),
        ("t".into(), "superseded".into(), 1),
        ("u".into(), "queued".into(), 1),
    ];
    assert_eq!(kept(&mut store), expected);
    assert_eq!(counted(b), expected);
    drop(store);
    let mut store = b.open().unwrap();
    assert_eq!(kept(&mut store), expected);
    // The overview: every target with records, and a configured one without any.
    let limits = [TargetLimits {
        target: "idle".into(),
        ..TargetLimits::default()
    }];
    let o = store.overview(&limits, Timestamp(10)).unwrap();
    let names: Vec<&str> = o.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(names, ["idle", "t", "u"]);
    assert_eq!((o[0].records.queued, o[0].records.delivered), (0, 0));
    assert_eq!((o[1].records.delivered, o[1].records.resolved), (2, 1));
    assert_eq!(o[1].last_done_at, Some(Timestamp(5)));
    assert_eq!(o[2].oldest_queued_at, Some(Timestamp(1)));
    assert_eq!(o[1].oldest_queued_at, None);
}

pub fn the_overview_counts_open_transfers_and_what_waits_too_long(b: &impl Backend) {
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
    let o = store.overview(&[], Timestamp(0)).unwrap();
    assert_eq!((o[0].open_transfers, o[0].records.in_flight), (1, 2));
    let t = store.transfer(id).unwrap();
    // Two files in place, seen still there 5 and 50 minutes after delivery.
    for (p, checked) in t.payloads.iter().zip([300_000, 3_000_000]) {
        store
            .complete_payload(
                p.id,
                Completion::AwaitingReceipt,
                &attempt(id, p.id),
                Timestamp(0),
            )
            .unwrap();
        store.mark_checked(p.id, false, Timestamp(checked)).unwrap();
    }
    let limits = [TargetLimits {
        target: "t".into(),
        stuck_after_ms: Some(600_000),
        receipt_after_ms: Some(3_600_000),
    }];
    let o = store.overview(&limits, Timestamp(3_599_999)).unwrap();
    assert_eq!(
        (
            o[0].open_transfers,
            o[0].sent_transfers,
            o[0].files_on_receiver,
            o[0].stuck_files,
            o[0].missing_receipts
        ),
        (0, 1, 2, 1, 0)
    );
    let o = store.overview(&limits, Timestamp(3_600_000)).unwrap();
    assert_eq!(o[0].missing_receipts, 1);
    // Taken away: no longer on the receiver.
    store
        .mark_checked(t.payloads[1].id, true, Timestamp(3_600_000))
        .unwrap();
    let o = store.overview(&limits, Timestamp(3_600_000)).unwrap();
    assert_eq!((o[0].files_on_receiver, o[0].stuck_files), (1, 0));
}

/// Seven transfers of one record each (ids a0..a6, created at 2,000 ms), the first
/// three delivered.
fn seven(store: &mut impl Store) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..7 {
        store
            .enqueue(
                "t",
                &[rec(&format!("a{i}"), Some("s"), None, &i.to_string())],
                Timestamp(i),
            )
            .unwrap();
        ids.push(create(store, Some("s")).0);
    }
    for &id in &ids[..3] {
        let p = store.transfer(id).unwrap().payloads[0].id;
        store
            .complete_payload(p, Completion::InPlace, &attempt(id, p), Timestamp(3_000))
            .unwrap();
    }
    ids
}

pub fn pages_go_newest_first_and_continue_from_their_cursor(b: &impl Backend) {
    let mut store = b.open().unwrap();
    let ids = seven(&mut store);
    let q = |before| Query {
        before,
        limit: 3,
        ..Query::default()
    };
    let one = store.transfer_page(&q(None)).unwrap();
    let got: Vec<i64> = one.items.iter().map(|t| t.id).collect();
    assert_eq!(got, [ids[6], ids[5], ids[4]]);
    assert_eq!(one.items[0].payloads.len(), 1);
    assert_eq!(one.next, Some(ids[4]));
    let two = store.transfer_page(&q(one.next)).unwrap();
    assert_eq!(two.items[0].id, ids[3]);
    let three = store.transfer_page(&q(two.next)).unwrap();
    let got: Vec<i64> = three.items.iter().map(|t| t.id).collect();
    assert_eq!((got, three.next), (vec![ids[0]], None));
    // Files, records and the log page the same way.
    let files = store.file_page(&q(None)).unwrap();
    assert_eq!(files.items.len(), 3);
    assert_eq!(files.items[0].payload.name, "a6.txt");
    assert_eq!(files.items[0].target, "t");
    let files = store.file_page(&q(files.next)).unwrap();
    assert_eq!(files.items[0].payload.name, "a3.txt");
    let records = store.record_page(&q(None)).unwrap();
    let got: Vec<&str> = records.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got, ["a6", "a5", "a4"]);
    let log = store.log_page(&q(None)).unwrap();
    assert_eq!((log.items.len(), log.next), (3, None));
    assert_eq!(log.items[0].transfer_id, ids[2]);
}

pub fn pages_filter_by_target_state_label_time_and_text(b: &impl Backend) {
    let mut store = b.open().unwrap();
    let ids = seven(&mut store);
    store
        .enqueue("other", &[rec("z", None, None, "9")], Timestamp(0))
        .unwrap();
    let page = |store: &mut _, q: Query| -> Vec<i64> {
        Pages::transfer_page(store, &q)
            .unwrap()
            .items
            .iter()
            .map(|t| t.id)
            .collect()
    };
    let done = page(
        &mut store,
        Query {
            state: Some("done".into()),
            target: Some("t".into()),
            ..Query::default()
        },
    );
    assert_eq!(done, [ids[2], ids[1], ids[0]]);
    let by_label = page(
        &mut store,
        Query {
            labels: vec![("id".into(), "a4".into())],
            ..Query::default()
        },
    );
    assert_eq!(by_label, [ids[4]]);
    let by_text = page(
        &mut store,
        Query {
            text: Some("A5.TX".into()),
            ..Query::default()
        },
    );
    assert_eq!(by_text, [ids[5]]);
    // `%` and `_` are taken literally.
    assert!(
        page(
            &mut store,
            Query {
                text: Some("a_".into()),
                ..Query::default()
            },
        )
        .is_empty()
    );
    assert!(
        page(
            &mut store,
            Query {
                since: Some(Timestamp(2_001)),
                ..Query::default()
            },
        )
        .is_empty()
    );
    assert!(
        page(
            &mut store,
            Query {
                target: Some("other".into()),
                ..Query::default()
            },
        )
        .is_empty()
    );
    // Files by label and state.
    let files = store
        .file_page(&Query {
            labels: vec![("id".into(), "a1".into())],
            state: Some("delivered".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(files.items.len(), 1);
    assert_eq!(files.items[0].payload.state, PayloadState::Delivered);
    assert!(store.has_label("id").unwrap());
    assert!(!store.has_label("pge").unwrap());
    let pending = store
        .file_page(&Query {
            state: Some("pending".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(pending.items.len(), 4);
    // Records by state and target; the log by result and text.
    let queued = store
        .record_page(&Query {
            state: Some("queued".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(queued.items.len(), 1);
    assert_eq!(
        (queued.items[0].id.as_str(), queued.items[0].state),
        ("z", RecordState::Queued)
    );
    let log = store
        .log_page(&Query {
            transfer: Some(ids[1]),
            text: Some("DIR:".into()),
            state: Some("delivered".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(log.items.len(), 1);
    // An unknown state is refused, naming the known ones.
    let err = store
        .transfer_page(&Query {
            state: Some("finished".into()),
            ..Query::default()
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Refused(_)), "{err}");
    assert!(err.to_string().contains("done"), "{err}");
    assert_eq!(store.transfer(ids[0]).unwrap().state, TransferState::Done);
}
