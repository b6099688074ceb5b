//! The outbox: a record's life, numbering, duplicates, supersede, changed bodies,
//! resolutions, receipts and re-sending.

use hub_core::state::{PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use hub_plugin_sdk::OutcomeStatus;
use hub_store::{Change, Completion, RecordOutcome, Store, StoreError};

use crate::Backend;
use crate::support::{INPUTS, attempt, batch, create, rec, try_create};

pub fn a_transfer_lives_from_enqueue_to_done_and_survives_a_reopen(b: &impl Backend) {
    let mut store = b.open().unwrap();
    let report = store
        .enqueue(
            "t",
            &[
                rec("a", Some("s"), None, "{\"a\":1}"),
                rec("b", Some("s"), None, "{}"),
            ],
            Timestamp(1_000),
        )
        .unwrap();
    assert_eq!(report.queued, 2);
    let (id, seq) = create(&mut store, Some("s"));
    assert_eq!(seq, Some(1));
    // Reopen: everything was committed.
    drop(store);
    let mut store = b.open().unwrap();
    let t = store.transfer(id).unwrap();
    assert_eq!(
        (t.state, t.records, t.payloads.len()),
        (TransferState::Open, 2, 2)
    );
    assert_eq!(
        (t.plugin.as_str(), t.plugin_name.as_str(), t.created_at),
        ("test@0.1.0", "test", Timestamp(2_000))
    );
    assert_eq!(t.payloads[0].labels, vec![("id".into(), "a".into())]);
    assert_eq!(t.payloads[0].size, 7);
    assert_eq!(store.open_transfers("t").unwrap(), vec![id]);
    assert_eq!(store.payload_bytes(t.payloads[0].id).unwrap(), b"{\"a\":1}");
    assert_eq!(store.payload_records(t.payloads[1].id).unwrap()[0].id, "b");
    store
        .set_payload_state(t.payloads[0].id, PayloadState::Uploaded)
        .unwrap();
    assert_eq!(
        store.transfer(id).unwrap().payloads[0].state,
        PayloadState::Uploaded
    );
    let s = store
        .complete_payload(
            t.payloads[0].id,
            Completion::InPlace,
            &attempt(id, t.payloads[0].id),
            Timestamp(3_000),
        )
        .unwrap();
    assert_eq!(s, TransferState::Open);
    let s = store
        .complete_payload(
            t.payloads[1].id,
            Completion::InPlace,
            &attempt(id, t.payloads[1].id),
            Timestamp(4_000),
        )
        .unwrap();
    assert_eq!(s, TransferState::Done);
    let t = store.transfer(id).unwrap();
    assert_eq!(t.done_at, Some(Timestamp(4_000)));
    assert_eq!(t.attempts, 2);
    let status = store.status(None).unwrap();
    assert_eq!(status.targets[0].delivered, 2);
    assert_eq!(status.targets[0].queued, 0);
    assert_eq!(status.transfers.len(), 1);
    assert_eq!(store.counts(Some("t")).unwrap()[0].delivered, 2);
    assert!(store.counts(Some("other")).unwrap().is_empty());
    assert!(store.open_transfers("t").unwrap().is_empty());
    let log = store.attempts(Some(id)).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].payload.as_deref(), Some("a.txt"));
    assert_eq!(log[0].plugin.name, "test");
    assert_eq!(store.attempts(None).unwrap().len(), 2);
    assert!(matches!(store.transfer(99), Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.payload_bytes(99),
        Err(StoreError::NotFound(_))
    ));
}

pub fn numbers_are_gapless_and_a_failed_encode_uses_none(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue("t", &[rec("a", Some("s"), None, "1")], Timestamp(0))
        .unwrap();
    assert_eq!(create(&mut store, Some("s")).1, Some(1));
    store
        .enqueue("t", &[rec("b", Some("s"), None, "2")], Timestamp(0))
        .unwrap();
    let queued = store.queued_records("t", &batch(Some("s")), 10).unwrap();
    assert_eq!(
        try_create(&mut store, Some("s"), &queued, true).unwrap(),
        None
    );
    // Nothing was written: the record is still queued and number 2 is still free.
    assert_eq!(
        store
            .queued_records("t", &batch(Some("s")), 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.status(None).unwrap().transfers.len(), 1);
    assert_eq!(create(&mut store, Some("s")).1, Some(2));
    // Another scope counts on its own; no scope, no number.
    store
        .enqueue(
            "t",
            &[
                rec("c", Some("other"), None, "3"),
                rec("d", None, None, "4"),
            ],
            Timestamp(0),
        )
        .unwrap();
    assert_eq!(create(&mut store, Some("other")).1, Some(1));
    assert_eq!(create(&mut store, None).1, None);
    // Another connection continues the count.
    let mut again = b.open().unwrap();
    again
        .enqueue("t", &[rec("e", Some("s"), None, "5")], Timestamp(0))
        .unwrap();
    assert_eq!(create(&mut again, Some("s")).1, Some(3));
}

pub fn duplicates_are_skipped_and_snapshots_supersede_queued_records_only(b: &impl Backend) {
    let mut store = b.open().unwrap();
    let r = store
        .enqueue(
            "t",
            &[rec("a", None, Some("child-1"), "{\"v\":1}")],
            Timestamp(0),
        )
        .unwrap();
    assert_eq!(r.queued, 1);
    // The same line again, in another spelling, is a duplicate, not a second record.
    let r = store
        .enqueue(
            "t",
            &[rec("a", None, Some("child-1"), "{ \"v\": 1.0 }")],
            Timestamp(0),
        )
        .unwrap();
    assert_eq!((r.queued, r.duplicates), (0, 1));
    // A newer snapshot replaces the queued one.
    let r = store
        .enqueue(
            "t",
            &[rec("a2", None, Some("child-1"), "{\"v\":2}")],
            Timestamp(0),
        )
        .unwrap();
    assert_eq!((r.queued, r.superseded), (1, 1));
    let (id, _) = create(&mut store, None);
    assert_eq!(store.transfer(id).unwrap().records, 1);
    // Once in flight, a newer snapshot does not touch it.
    let r = store
        .enqueue(
            "t",
            &[rec("a3", None, Some("child-1"), "{\"v\":3}")],
            Timestamp(0),
        )
        .unwrap();
    assert_eq!((r.queued, r.superseded), (1, 0));
    let c = &store.status(None).unwrap().targets[0];
    assert_eq!((c.queued, c.in_flight, c.superseded), (1, 1, 1));
    // Within one input too: the older snapshot may still be among the rows the store
    // writes together (many records a statement), and is superseded all the same.
    let mut input: Vec<_> = (0..70)
        .map(|i| rec(&format!("m{i}"), None, None, &format!("{{\"m\":{i}}}")))
        .collect();
    input.insert(10, rec("c1", None, Some("child-9"), "{\"v\":1}"));
    input.push(rec("c2", None, Some("child-9"), "{\"v\":2}"));
    let r = store.enqueue("t", &input, Timestamp(1)).unwrap();
    assert_eq!((r.queued, r.superseded), (72, 1));
    let states: Vec<_> = ["c1", "c2", "m69"]
        .iter()
        .map(|id| store.records_by_id("t", id).unwrap()[0].state)
        .collect();
    assert_eq!(
        states,
        [
            RecordState::Superseded,
            RecordState::Queued,
            RecordState::Queued
        ]
    );
    // In input order: the records' numbers follow their lines.
    let seqs: Vec<i64> = ["m0", "c1", "m10", "m69", "c2"]
        .iter()
        .map(|id| store.records_by_id("t", id).unwrap()[0].seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

pub fn a_changed_body_is_refused_or_queued_as_the_plugin_declares(b: &impl Backend) {
    let mut store = b.open().unwrap();
    let refuse = |id: &str, body: &str| {
        let mut r = rec(id, None, None, body);
        r.change = Change::Refuse;
        r
    };
    store
        .enqueue("t", &[refuse("p1", "{\"amount\":1}")], Timestamp(0))
        .unwrap();
    let (id, _) = create(&mut store, None);
    // A changed posting is refused, naming where the earlier one went; all or nothing.
    let err = store
        .enqueue(
            "t",
            &[
                refuse("p2", "{\"amount\":5}"),
                refuse("p1", "{\"amount\":2}"),
            ],
            Timestamp(0),
        )
        .unwrap_err();
    let StoreError::RecordsRefused(refused) = err else {
        panic!("{err}")
    };
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, 1);
    assert!(
        refused[0]
            .1
            .contains(&format!("in transfer #{id} (p1.txt)")),
        "{}",
        refused[0].1
    );
    assert!(store.queued_batches("t").unwrap().is_empty());
    // A changed snapshot after delivery goes out again, counted as changed.
    let t = store.transfer(id).unwrap();
    store
        .complete_payload(
            t.payloads[0].id,
            Completion::InPlace,
            &attempt(id, t.payloads[0].id),
            Timestamp(1),
        )
        .unwrap();
    let r = store
        .enqueue(
            "t",
            &[rec("p1", None, None, "{\"amount\":3}")],
            Timestamp(2),
        )
        .unwrap();
    assert_eq!((r.queued, r.changed), (1, 1));
    assert_eq!(store.queued_batches("t").unwrap(), vec![batch(None)]);
}

pub fn rejected_records_need_checking_until_resolved_by_hand(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[rec("ok", None, None, "1"), rec("bad", None, None, "2")],
            Timestamp(0),
        )
        .unwrap();
    let (id, _) = create(&mut store, None);
    let t = store.transfer(id).unwrap();
    let records = store.payload_records(t.payloads[0].id).unwrap();
    let bad = store.payload_records(t.payloads[1].id).unwrap();
    store
        .complete_payload(
            t.payloads[0].id,
            Completion::Outcomes(&[RecordOutcome {
                seq: records[0].seq,
                status: OutcomeStatus::Delivered,
                messages: vec![],
            }]),
            &attempt(id, t.payloads[0].id),
            Timestamp(5),
        )
        .unwrap();
    let state = store
        .complete_payload(
            t.payloads[1].id,
            Completion::Outcomes(&[RecordOutcome {
                seq: bad[0].seq,
                status: OutcomeStatus::Rejected,
                messages: vec!["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN".into()],
            }]),
            &attempt(id, t.payloads[1].id),
            Timestamp(6),
        )
        .unwrap();
    assert_eq!(state, TransferState::NeedsCheck);
    let status = store.status(None).unwrap();
    assert_eq!(status.needs_check.len(), 1);
    assert_eq!(status.needs_check[0].id, "bad");
    assert_eq!(status.needs_check[0].state, RecordState::Rejected);
    assert_eq!(
        status.needs_check[0].messages,
        vec!["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]
    );
    assert_eq!(store.transfer(id).unwrap().done_at, None);

    let err = store
        .resolve(None, "ok", "anna", "checked", Timestamp(7))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "record ok is delivered; only rejected or failed records can be resolved"
    );
    assert!(
        store
            .resolve(None, "bad", "anna", " ", Timestamp(7))
            .is_err()
    );
    let res = store
        .resolve(
            None,
            "bad",
            "anna",
            "entered in the portal by hand",
            Timestamp(7),
        )
        .unwrap();
    assert_eq!(res.record.state, RecordState::Resolved);
    assert_eq!(res.transfer_done, Some(id));
    let t = store.transfer(id).unwrap();
    assert_eq!(
        (t.state, t.done_at),
        (TransferState::Done, Some(Timestamp(7)))
    );
    assert!(store.status(None).unwrap().needs_check.is_empty());
    assert_eq!(
        store
            .resolve(None, "nope", "anna", "x", Timestamp(8))
            .unwrap_err()
            .to_string(),
        "no record nope"
    );
}

pub fn failed_records_leave_the_queue_with_their_reason(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue("t", &[rec("a", None, None, "1")], Timestamp(0))
        .unwrap();
    let seq = store.queued_records("t", &batch(None), 10).unwrap()[0].seq;
    store
        .fail_records(
            &[(seq, "field amount_ore: not a number".into())],
            Timestamp(1),
        )
        .unwrap();
    let status = store.status(Some("t")).unwrap();
    assert_eq!(status.targets[0].failed, 1);
    assert_eq!(
        status.needs_check[0].messages,
        vec!["field amount_ore: not a number"]
    );
    let res = store
        .resolve(
            Some("t"),
            "a",
            "ole",
            "corrected in the source and sent again",
            Timestamp(2),
        )
        .unwrap();
    assert_eq!(res.transfer_done, None);
}

pub fn a_receipt_completes_a_sent_transfer(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[
                rec("c1", Some("s"), None, "1"),
                rec("c2", Some("s"), None, "2"),
            ],
            Timestamp(0),
        )
        .unwrap();
    let (id, _) = create(&mut store, Some("s"));
    let t = store.transfer(id).unwrap();
    for p in &t.payloads {
        store
            .complete_payload(
                p.id,
                Completion::AwaitingReceipt,
                &attempt(id, p.id),
                Timestamp(1),
            )
            .unwrap();
    }
    assert_eq!(store.transfer(id).unwrap().state, TransferState::Sent);
    assert_eq!(store.sent_transfers("t").unwrap(), vec![id]);
    assert_eq!(store.counts(None).unwrap()[0].in_flight, 2);
    // The receipt: one accepted, one refused.
    for (p, status) in t
        .payloads
        .iter()
        .zip([OutcomeStatus::Delivered, OutcomeStatus::Rejected])
    {
        let seq = store.payload_records(p.id).unwrap()[0].seq;
        store
            .complete_payload(
                p.id,
                Completion::Outcomes(&[RecordOutcome {
                    seq,
                    status,
                    messages: vec!["from the receipt".into()],
                }]),
                &attempt(id, p.id),
                Timestamp(2),
            )
            .unwrap();
    }
    assert_eq!(store.transfer(id).unwrap().state, TransferState::NeedsCheck);
    assert!(store.sent_transfers("t").unwrap().is_empty());
    let c = &store.counts(None).unwrap()[0];
    assert_eq!((c.delivered, c.failed), (1, 1));
}

pub fn a_delivered_transfer_is_sent_again_on_request_and_looks_are_recorded(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue("t", &[rec("a", Some("s"), None, "1")], Timestamp(0))
        .unwrap();
    let (id, _) = create(&mut store, Some("s"));
    // Not delivered yet: nothing to send again.
    assert!(matches!(
        store.reopen_for_resend(id, "asked", Timestamp(1)),
        Err(StoreError::Refused(_))
    ));
    let p = store.transfer(id).unwrap().payloads[0].clone();
    store
        .complete_payload(p.id, Completion::InPlace, &attempt(id, p.id), Timestamp(1))
        .unwrap();
    let unclaimed = store.unclaimed_payloads("t").unwrap();
    assert_eq!(unclaimed.len(), 1);
    store.mark_checked(p.id, false, Timestamp(2)).unwrap();
    let seen = &store.unclaimed_payloads("t").unwrap()[0];
    assert_eq!((seen.checked_at, seen.gone_at), (Some(Timestamp(2)), None));
    store.mark_checked(p.id, true, Timestamp(3)).unwrap();
    store.mark_checked(p.id, true, Timestamp(4)).unwrap();
    assert!(store.unclaimed_payloads("t").unwrap().is_empty());
    assert_eq!(
        store.transfer(id).unwrap().payloads[0].gone_at,
        Some(Timestamp(3))
    );
    // Sent again on request: same number, same bytes, the reason in the log.
    store
        .reopen_for_resend(id, "requested by 1.01.", Timestamp(5))
        .unwrap();
    let t = store.transfer(id).unwrap();
    assert_eq!(
        (t.state, t.sequence_no, t.done_at),
        (TransferState::Open, Some(1), None)
    );
    assert_eq!(t.payloads[0].state, PayloadState::Pending);
    assert_eq!(store.payload_bytes(p.id).unwrap(), b"1");
    assert_eq!(
        t.last_error.as_deref(),
        Some("to be sent again on request: requested by 1.01.")
    );
    assert!(matches!(
        store.reopen_for_resend(77, "x", Timestamp(5)),
        Err(StoreError::NotFound(_))
    ));
}

pub fn a_record_already_in_a_transfer_cannot_go_into_another(b: &impl Backend) {
    let mut first = b.open().unwrap();
    let mut second = b.open().unwrap();
    first
        .enqueue(
            "t",
            &[
                rec("a", Some("s"), None, "1"),
                rec("b", Some("s"), None, "2"),
            ],
            Timestamp(0),
        )
        .unwrap();
    // Both workers read the same queue; the first creates, the second is refused and
    // nothing of its attempt stays (no number used).
    let seen = second.queued_records("t", &batch(Some("s")), 10).unwrap();
    create(&mut first, Some("s"));
    let err = try_create(&mut second, Some("s"), &seen, false).unwrap_err();
    assert!(
        err.to_string()
            .contains("is no longer queued (it is in-transfer)"),
        "{err}"
    );
    second
        .enqueue("t", &[rec("c", Some("s"), None, "3")], Timestamp(0))
        .unwrap();
    assert_eq!(create(&mut second, Some("s")).1, Some(2));
}

/// `hub audit reencode` reads back what a transfer was encoded from: the inputs as given,
/// and each record once (even when several payloads carry it) with its enqueue hash; a
/// purged body is empty with its hash and purge time kept.
pub fn a_transfer_keeps_what_it_was_encoded_from(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[
                rec("a", None, None, "{\"a\":1}"),
                rec("b", None, None, "{\"b\":2}"),
            ],
            Timestamp(1_000),
        )
        .unwrap();
    let (id, _) = create(&mut store, None);
    drop(store);
    let mut store = b.open().unwrap();
    let got = store.recorded_inputs(id).unwrap();
    assert_eq!(got.context.as_deref(), Some(INPUTS));
    let ids: Vec<&str> = got.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(got.records[0].body, "{\"a\":1}");
    assert_eq!(
        got.records[0].body_sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"{\"a\":1}"))
    );
    assert_eq!(got.records[0].purged_at, None);
    assert!(matches!(
        store.recorded_inputs(id + 100),
        Err(StoreError::NotFound(_))
    ));
}
