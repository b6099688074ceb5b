//! A rejected or failed record sent again on request: a new queued record with the same
//! body, the old one complete (its transfer done), audited; refused where sending again
//! would be wrong.

use hub_core::state::{RecordState, TransferState};
use hub_core::time::Timestamp;
use hub_plugin_sdk::OutcomeStatus;
use hub_store::by_hand::Requeuing;
use hub_store::protection::Protection;
use hub_store::{Completion, RecordOutcome, Store};

use crate::Backend;
use crate::support::{attempt, batch, create, rec};

pub fn a_rejected_record_is_queued_again_once_and_its_transfer_completes(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[
                rec("ok", None, None, r#"{"n":1}"#),
                rec("bad", None, None, r#"{"n":2}"#),
            ],
            Timestamp(0),
        )
        .unwrap();
    let (id, _) = create(&mut store, None);
    let t = store.transfer(id).unwrap();
    let mut state = TransferState::Open;
    for (p, status) in t
        .payloads
        .iter()
        .zip([OutcomeStatus::Delivered, OutcomeStatus::Rejected])
    {
        let seq = store.payload_records(p.id).unwrap()[0].seq;
        state = store
            .complete_payload(
                p.id,
                Completion::Outcomes(&[RecordOutcome {
                    seq,
                    status,
                    messages: vec!["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN".into()],
                }]),
                &attempt(id, p.id),
                Timestamp(5),
            )
            .unwrap();
    }
    assert_eq!(state, TransferState::NeedsCheck);
    let old_seq = store.records_by_id("t", "bad").unwrap()[0].seq;
    // The latest outcome is on the record: nothing is kept beside it yet.
    assert_eq!(b.outcomes(), vec![]);

    let err = store
        .requeue(None, "ok", "anna", "again", Timestamp(6))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "record ok is delivered; only rejected or failed records can be requeued"
    );
    assert!(
        store
            .requeue(None, "bad", "anna", "  ", Timestamp(6))
            .is_err()
    );

    // Another connection (a worker, the API) sees the same.
    let mut other = b.open().unwrap();
    let r = other
        .requeue(
            None,
            "bad",
            "anna",
            "child added to master data",
            Timestamp(7),
        )
        .unwrap();
    assert_eq!(r.record.seq, old_seq);
    assert_eq!(r.record.state, RecordState::Resolved);
    assert_eq!(
        r.record.messages,
        vec!["queued again as a new record by anna: child added to master data"]
    );
    assert_eq!(r.transfer_done, Some(id));
    assert!(r.queued > old_seq);
    assert_eq!(store.transfer(id).unwrap().state, TransferState::Done);

    // The new record is the old one's body, queued at the end of the outbox.
    let queued = store.queued_records("t", &batch(None), 10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (
            queued[0].seq,
            queued[0].id.as_str(),
            queued[0].body.as_str()
        ),
        (r.queued, "bad", r#"{"n":2}"#)
    );
    let status = store.status(None).unwrap();
    assert!(status.needs_check.is_empty());
    assert_eq!(status.targets[0].queued, 1);
    // The inserted record is counted as the others are.
    assert_eq!(crate::pages::kept(&mut store), crate::pages::counted(b));
    // The receiver's answer the resolution replaced on the record is kept beside it.
    assert_eq!(
        b.outcomes(),
        vec![(
            old_seq,
            Some(id),
            "rejected".to_string(),
            r#"["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]"#.to_string()
        )]
    );

    // Once: the newest is now queued, not rejected.
    assert_eq!(
        store
            .requeue(None, "bad", "ben", "again", Timestamp(8))
            .unwrap_err()
            .to_string(),
        "record bad is queued; only rejected or failed records can be requeued"
    );
    let trail = store.audit_page(0, 100).unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.actor.as_str(),
            last.subject.clone()
        ),
        ("requeue", "anna", format!("record bad (#{old_seq})"))
    );
    assert_eq!(trail.iter().filter(|e| e.action == "requeue").count(), 1);
}

pub fn a_requeue_is_refused_when_the_source_sent_a_newer_record(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue("t", &[rec("c", None, None, r#"{"v":1}"#)], Timestamp(0))
        .unwrap();
    let seq = store.queued_records("t", &batch(None), 10).unwrap()[0].seq;
    store
        .fail_records(&[(seq, "field v: out of range".into())], Timestamp(1))
        .unwrap();
    store
        .enqueue("t", &[rec("c", None, None, r#"{"v":2}"#)], Timestamp(2))
        .unwrap();
    let newer = store.queued_records("t", &batch(None), 10).unwrap()[0].seq;
    assert_eq!(
        store
            .requeue(Some("t"), "c", "anna", "fixed", Timestamp(3))
            .unwrap_err()
            .to_string(),
        format!(
            "record c has a newer record #{newer} (queued); only the newest is sent again: \
             resolve this one"
        )
    );
    // Nothing changed: still failed, one queued.
    let all = store.records_by_id("t", "c").unwrap();
    assert_eq!(
        all.iter().map(|r| r.state).collect::<Vec<_>>(),
        vec![RecordState::Failed, RecordState::Queued]
    );
    assert!(
        store
            .audit_page(0, 10)
            .unwrap()
            .iter()
            .all(|e| e.action != "requeue")
    );
}

/// An input added in chunks: the ids of earlier lines are known, nothing is visible (to
/// another connection either) before `finish`, and a dropped one leaves nothing.
pub fn an_input_streamed_in_chunks_is_queued_all_or_nothing(b: &impl Backend) {
    use hub_store::enqueueing::BeginEnqueue;
    let mut store = b.open().unwrap();
    {
        let mut s = store.begin_enqueue("t", Timestamp(1)).unwrap();
        assert_eq!(s.first_line("a", 1).unwrap(), None);
        assert_eq!(s.first_line("b", 2).unwrap(), None);
        assert_eq!(s.first_line("a", 7).unwrap(), Some(1));
        assert!(
            s.add(&[rec("a", None, None, r#"{"n":1}"#)])
                .unwrap()
                .is_empty()
        );
        assert!(
            s.add(&[rec("b", None, None, r#"{"n":2}"#)])
                .unwrap()
                .is_empty()
        );
        // Dropped unfinished.
    }
    assert!(
        store
            .queued_records("t", &batch(None), 10)
            .unwrap()
            .is_empty()
    );
    let mut s = store.begin_enqueue("t", Timestamp(2)).unwrap();
    // A new input: the ids of the dropped one are forgotten.
    assert_eq!(s.first_line("a", 3).unwrap(), None);
    s.add(&[rec("a", None, None, r#"{"n":1}"#)]).unwrap();
    s.add(&[
        rec("b", None, None, r#"{"n":2}"#),
        rec("a", None, None, r#"{"n":1}"#),
    ])
    .unwrap();
    let report = s.finish().unwrap();
    assert_eq!((report.queued, report.duplicates), (2, 1));
    let mut other = b.open().unwrap();
    let ids: Vec<String> = other
        .queued_records("t", &batch(None), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}
