//! A transfer's full life in the SQLite store, on a real database file.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
use hub_plugin_sdk::{OutcomeStatus, RecordMeta};
use hub_store::{
    Batch, Completion, NewAttempt, NewPayload, NewRecord, PluginStamp, RecordOutcome, SqliteStore,
    Store,
};

fn rec(id: &str, scope: Option<&str>, supersede: Option<&str>, body: &str) -> NewRecord {
    NewRecord {
        id: id.into(),
        kind: "k".into(),
        body: body.into(),
        content_sha256: hub_core::input::content_sha256(&serde_json::from_str(body).unwrap()),
        change: hub_store::Change::Snapshot,
        meta: RecordMeta {
            batch_key: "b".into(),
            sequence_scope: scope.map(Into::into),
            supersede_key: supersede.map(Into::into),
        },
    }
}

fn stamp() -> PluginStamp {
    PluginStamp {
        name: "test".into(),
        version: "0.1.0".into(),
        sha256: "00".into(),
    }
}

fn attempt(transfer_id: i64, payload_id: i64) -> NewAttempt {
    NewAttempt {
        begun: None,
        transfer_id,
        payload_id: Some(payload_id),
        started_at: Timestamp(1_000),
        duration_ms: 3,
        endpoint: "dir:/tmp/x".into(),
        credential: None,
        sent: "x".into(),
        received: None,
        result: AttemptResult::Delivered,
        error: None,
    }
}

fn batch(scope: Option<&str>) -> Batch {
    Batch {
        batch_key: "b".into(),
        sequence_scope: scope.map(Into::into),
    }
}

/// Creates a transfer with one payload per record.
fn create(store: &mut SqliteStore, scope: Option<&str>) -> (i64, Option<u64>) {
    let queued = store.queued_records("t", &batch(scope), 100).unwrap();
    let seqs: Vec<i64> = queued.iter().map(|r| r.seq).collect();
    let mut seen = None;
    let id = hub_store::create_transfer_with(
        store,
        "t",
        &batch(scope),
        &seqs,
        &stamp(),
        Timestamp(2_000),
        |draft| {
            seen = draft.sequence;
            Ok::<_, String>(
                queued
                    .iter()
                    .map(|r| NewPayload {
                        name: format!("{}.txt", r.id),
                        media_type: "text/plain".into(),
                        bytes: r.body.as_bytes().to_vec(),
                        records: vec![r.seq],
                        labels: vec![("id".into(), r.id.clone())],
                    })
                    .collect(),
            )
        },
    )
    .unwrap()
    .unwrap();
    (id, seen)
}

#[test]
fn a_transfer_lives_from_enqueue_to_done_on_a_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let mut store = SqliteStore::open(&path).unwrap();
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
    let mut store = SqliteStore::open(&path).unwrap();
    let t = store.transfer(id).unwrap();
    assert_eq!(
        (t.state, t.records, t.payloads.len()),
        (TransferState::Open, 2, 2)
    );
    assert_eq!(store.open_transfers("t").unwrap(), vec![id]);
    assert_eq!(store.payload_bytes(t.payloads[0].id).unwrap(), b"{\"a\":1}");
    store
        .set_payload_state(t.payloads[0].id, PayloadState::Uploaded)
        .unwrap();
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
    assert!(store.open_transfers("t").unwrap().is_empty());
    assert_eq!(store.attempts(Some(id)).unwrap().len(), 2);
}

#[test]
fn numbers_are_gapless_and_a_failed_encode_uses_none() {
    let mut store = SqliteStore::in_memory().unwrap();
    store
        .enqueue("t", &[rec("a", Some("s"), None, "1")], Timestamp(0))
        .unwrap();
    assert_eq!(create(&mut store, Some("s")).1, Some(1));
    store
        .enqueue("t", &[rec("b", Some("s"), None, "2")], Timestamp(0))
        .unwrap();
    let queued = store.queued_records("t", &batch(Some("s")), 10).unwrap();
    let seqs: Vec<i64> = queued.iter().map(|r| r.seq).collect();
    let failed = hub_store::create_transfer_with(
        &mut store,
        "t",
        &batch(Some("s")),
        &seqs,
        &stamp(),
        Timestamp(0),
        |draft| {
            assert_eq!(draft.sequence, Some(2));
            Err::<Vec<NewPayload>, _>("plugin said no")
        },
    )
    .unwrap();
    assert_eq!(failed, Err("plugin said no"));
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
    // Another scope counts on its own.
    store
        .enqueue("t", &[rec("c", Some("other"), None, "3")], Timestamp(0))
        .unwrap();
    assert_eq!(create(&mut store, Some("other")).1, Some(1));
}

#[test]
fn duplicates_are_skipped_and_snapshots_supersede_queued_records_only() {
    let mut store = SqliteStore::in_memory().unwrap();
    let r = store
        .enqueue(
            "t",
            &[rec("a", None, Some("child-1"), "{\"v\":1}")],
            Timestamp(0),
        )
        .unwrap();
    assert_eq!(r.queued, 1);
    // The same line again is a duplicate, not a second record.
    let r = store
        .enqueue(
            "t",
            &[rec("a", None, Some("child-1"), "{\"v\":1}")],
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
}

#[test]
fn rejected_records_need_checking_until_resolved_by_hand() {
    let mut store = SqliteStore::in_memory().unwrap();
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

#[test]
fn failed_records_leave_the_queue_with_their_reason() {
    let mut store = SqliteStore::in_memory().unwrap();
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
