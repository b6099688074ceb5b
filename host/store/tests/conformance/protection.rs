//! Data protection and proof: retention purges bodies and bytes but keeps hashes and the
//! log; the audit trail records outcomes and actions as a chain that names the first
//! entry altered or missing, and a trail cut short against the head kept outside.

use hub_core::state::TransferState;
use hub_core::time::Timestamp;
use hub_store::protection::{NewAuditEntry, Protection, Retention, read_head_file, verify};
use hub_store::{Completion, Settlement, Store, StoreError};
use sha2::{Digest, Sha256};

use crate::Backend;
use crate::support::{attempt, create, rec};

const DAY: i64 = 86_400_000;
const NAME: &str = "Mads Kristiansen";

fn policy(days: u32) -> Vec<Retention> {
    vec![Retention {
        target: "t".into(),
        keep_days: days,
    }]
}

fn actions(store: &mut impl Protection) -> Vec<String> {
    store
        .audit_page(0, 1000)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

pub fn a_purge_keeps_hashes_and_the_log_and_refuses_a_resend(b: &impl Backend) {
    let mut store = b.open().unwrap();
    let body = format!("{{\"name\":\"{NAME}\"}}");
    store
        .enqueue(
            "t",
            &[
                rec("a", Some("s"), None, &body),
                rec("b", Some("s"), None, "{\"n\":2}"),
            ],
            Timestamp(0),
        )
        .unwrap();
    let (id, _) = create(&mut store, Some("s"));
    let payloads = store.transfer(id).unwrap().payloads;
    for p in &payloads {
        store
            .complete_payload(
                p.id,
                Completion::InPlace,
                &attempt(id, p.id),
                Timestamp(DAY),
            )
            .unwrap();
    }
    // Sent again on request while the bytes are there: same bytes, then done again.
    store
        .reopen_for_resend(id, "asked by the receiver (by anna)", Timestamp(DAY))
        .unwrap();
    for p in &payloads {
        store
            .complete_payload(
                p.id,
                Completion::InPlace,
                &attempt(id, p.id),
                Timestamp(DAY),
            )
            .unwrap();
    }
    assert_eq!(store.transfer(id).unwrap().state, TransferState::Done);
    // Another record, still queued: never purged, whatever its age.
    store
        .enqueue("t", &[rec("c", Some("s"), None, "{\"n\":3}")], Timestamp(0))
        .unwrap();

    // Within the retention: nothing goes.
    let within = store
        .purge(&policy(30), "anna", Timestamp(10 * DAY), true)
        .unwrap();
    assert_eq!((within[0].records, within[0].payloads), (0, 0));
    // After it: a dry run counts, changes nothing.
    let later = Timestamp(40 * DAY);
    let dry = store.purge(&policy(30), "anna", later, true).unwrap();
    assert_eq!((dry[0].records, dry[0].payloads), (2, 2));
    assert_eq!(
        store.payload_bytes(payloads[0].id).unwrap(),
        body.as_bytes()
    );
    let done = store.purge(&policy(30), "anna", later, false).unwrap();
    assert_eq!(done, dry);
    assert_eq!(done[0].bytes, 2 * (body.len() + 7) as u64);
    // Again: nothing left to purge.
    let again = store.purge(&policy(30), "anna", later, false).unwrap();
    assert_eq!((again[0].records, again[0].payloads), (0, 0));

    // What stays: the transfer, its payloads' names, sizes and hashes, the log.
    let t = store.transfer(id).unwrap();
    assert_eq!((t.state, t.payloads.len()), (TransferState::Done, 2));
    assert_eq!(
        t.payloads[0].sha256,
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    assert_eq!(t.payloads[0].size, body.len());
    assert_eq!(t.payloads[0].purged_at, Some(later));
    assert_eq!(store.attempts(Some(id)).unwrap().len(), 5);
    // What went: the bytes and the bodies, each refusal saying why.
    let err = store.payload_bytes(payloads[0].id).unwrap_err();
    assert!(
        matches!(err, StoreError::Refused(_)) && err.to_string().contains("purged"),
        "{err}"
    );
    let err = store.reopen_for_resend(id, "again", later).unwrap_err();
    assert!(err.to_string().contains("cannot be sent again"), "{err}");
    assert!(
        store.payload_records(payloads[0].id).unwrap()[0]
            .body
            .is_empty()
    );
    // The record's identity stays: the same record again is a duplicate, not new work.
    let report = store
        .enqueue("t", &[rec("a", Some("s"), None, &body)], later)
        .unwrap();
    assert_eq!((report.queued, report.duplicates), (0, 1));
    let queued = store
        .queued_records("t", &crate::support::batch(Some("s")), 10)
        .unwrap();
    assert_eq!(queued[0].body, "{\"n\":3}");

    // Compaction runs on either backend and the trail records every step.
    store.compact().unwrap();
    let actions = actions(&mut store);
    for expected in ["plugin-change", "delivery", "resend", "purge"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
    assert_eq!(actions.iter().filter(|a| *a == "delivery").count(), 4);
    let report = verify(&mut store, None).unwrap();
    assert_eq!(
        (report.problem, report.entries),
        (None, actions.len() as u64)
    );
}

pub fn settlements_and_resolutions_are_in_the_trail_with_who_and_why(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[
                rec("a", None, None, "{}"),
                rec("b", None, None, "{\"b\":1}"),
            ],
            Timestamp(0),
        )
        .unwrap();
    let (id, _) = create(&mut store, None);
    let p = store.transfer(id).unwrap().payloads;
    let doubt = hub_store::NewDoubt {
        kind: hub_store::DoubtKind::UnknownOutcome,
        detail: "no answer".into(),
        expected: None,
        found: None,
    };
    store
        .hold(p[0].id, &doubt, &attempt(id, p[0].id), Timestamp(1))
        .unwrap();
    store
        .settle(
            id,
            Settlement::NotDelivered,
            "anna",
            "not in the import log",
            Timestamp(2),
        )
        .unwrap();
    let b_seq = store.payload_records(p[1].id).unwrap()[0].seq;
    store
        .complete_payload(
            p[1].id,
            Completion::Outcomes(&[hub_store::RecordOutcome {
                seq: b_seq,
                status: hub_plugin_sdk::OutcomeStatus::Rejected,
                messages: vec!["no".into()],
            }]),
            &attempt(id, p[1].id),
            Timestamp(3),
        )
        .unwrap();
    store
        .resolve(Some("t"), "b", "berit", "booked by hand", Timestamp(4))
        .unwrap();
    let entries = store.audit_page(0, 100).unwrap();
    let settle = entries.iter().find(|e| e.action == "settle").unwrap();
    assert_eq!(
        (
            settle.actor.as_str(),
            settle.subject.as_str(),
            settle.detail.as_str()
        ),
        (
            "anna",
            format!("transfer #{id}").as_str(),
            "not-delivered: not in the import log"
        )
    );
    let resolve = entries.iter().find(|e| e.action == "resolve").unwrap();
    assert_eq!(
        (resolve.actor.as_str(), resolve.detail.as_str()),
        ("berit", "booked by hand")
    );
    let held = entries.iter().find(|e| e.action == "delivery").unwrap();
    assert!(
        held.detail.starts_with("delivered: sent x to dir:/tmp/x"),
        "{}",
        held.detail
    );
    assert_eq!(verify(&mut store, None).unwrap().problem, None);
}

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        at: Timestamp(i as i64),
        actor: "anna".into(),
        action: "certificate".into(),
        target: None,
        subject: format!("entry {i}"),
        detail: "seen".into(),
    }
}

pub fn the_audit_trail_names_the_first_altered_or_missing_entry(b: &impl Backend) {
    let mut store = b.open().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let head_file = dir.path().join("audit-head");
    store.set_audit_head_file(Some(head_file.clone()));
    let entries: Vec<NewAuditEntry> = (1..=6).map(entry).collect();
    let head = store.audit_append(&entries).unwrap().unwrap();
    assert_eq!(head.id, 6);
    // The head went out to the file.
    assert_eq!(read_head_file(&head_file).unwrap(), Some(head.clone()));
    let ok = verify(&mut store, Some(&head)).unwrap();
    assert_eq!(
        (ok.problem, ok.entries, ok.head),
        (None, 6, Some(head.clone()))
    );
    b.raw("CREATE TABLE audit_copy AS SELECT * FROM audit");
    let restore = "DELETE FROM audit; INSERT INTO audit SELECT * FROM audit_copy";

    // One row altered.
    b.raw("UPDATE audit SET detail = 'not seen' WHERE id = 3");
    let bad = verify(&mut store, Some(&head)).unwrap().problem.unwrap();
    assert_eq!(bad.entry, 3, "{}", bad.what);
    assert!(bad.what.contains("altered"), "{}", bad.what);
    b.raw(restore);
    assert_eq!(verify(&mut store, Some(&head)).unwrap().problem, None);

    // One row altered and its own hash recomputed: the next entry's link names it.
    let forged = {
        let e = store.audit_page(3, 1).unwrap().remove(0);
        let mut n = entry(4);
        n.detail = "forged".into();
        hub_store::audit::link(&e.prev, &hub_store::audit::canonical(4, &n))
    };
    b.raw(&format!(
        "UPDATE audit SET detail = 'forged', hash = '{forged}' WHERE id = 4"
    ));
    let bad = verify(&mut store, Some(&head)).unwrap().problem.unwrap();
    assert_eq!(bad.entry, 4, "{}", bad.what);
    b.raw(restore);

    // One row deleted.
    b.raw("DELETE FROM audit WHERE id = 2");
    let bad = verify(&mut store, Some(&head)).unwrap().problem.unwrap();
    assert_eq!(bad.entry, 2, "{}", bad.what);
    assert!(bad.what.contains("missing"), "{}", bad.what);
    b.raw(restore);

    // The tail cut off: a valid chain on its own, caught only against the head file.
    b.raw("DELETE FROM audit WHERE id >= 5");
    assert_eq!(verify(&mut store, None).unwrap().problem, None);
    let bad = verify(&mut store, Some(&head)).unwrap().problem.unwrap();
    assert_eq!(bad.entry, 5, "{}", bad.what);
    assert!(bad.what.contains("cut short"), "{}", bad.what);
    // Cut off and appended to again: the head file's entry is now another one.
    store.audit_append(&[entry(9), entry(10)]).unwrap();
    let bad = verify(&mut store, Some(&head)).unwrap().problem.unwrap();
    assert_eq!(bad.entry, 6, "{}", bad.what);
}

/// SQLite only: after a purge and its compaction, the name is in neither the database file
/// nor its write-ahead log; before, it was (so this test can fail).
#[test]
fn a_purged_name_leaves_the_sqlite_file_and_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let mut store = hub_store::SqliteStore::open(&path).unwrap();
    let bodies: Vec<String> = (0..100)
        .map(|i| {
            format!(
                "{{\"child\":\"{NAME} {i}\",\"pad\":\"{}\"}}",
                "x".repeat(300)
            )
        })
        .collect();
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| rec(&format!("r{i}"), Some("s"), None, b))
        .collect();
    store.enqueue("t", &records, Timestamp(0)).unwrap();
    let (id, _) = create(&mut store, Some("s"));
    for p in store.transfer(id).unwrap().payloads {
        store
            .complete_payload(
                p.id,
                Completion::InPlace,
                &attempt(id, p.id),
                Timestamp(DAY),
            )
            .unwrap();
    }
    let files = || {
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(dir.path().join("hub.db-wal")).unwrap_or_default());
        bytes
    };
    let holds = |bytes: &[u8]| bytes.windows(NAME.len()).any(|w| w == NAME.as_bytes());
    assert!(
        holds(&files()),
        "the name should be stored before the purge"
    );
    let purged = store
        .purge(&policy(30), "anna", Timestamp(40 * DAY), false)
        .unwrap();
    assert_eq!((purged[0].records, purged[0].payloads), (100, 100));
    let compacted = store.compact().unwrap();
    assert!(compacted.wal_emptied);
    assert!(compacted.after < compacted.before, "{compacted:?}");
    assert!(
        !holds(&files()),
        "the name is still in the database or its log"
    );
    // What remains still shows the transfer with its hashes.
    let t = store.transfer(id).unwrap();
    assert_eq!(t.payloads.len(), 100);
    assert_eq!(
        t.payloads[7].sha256,
        hex::encode(Sha256::digest(bodies[7].as_bytes()))
    );
}

/// The receiver's answer in the protocol log and the outcome messages may quote a record:
/// a purge takes them with the body; results, times and hashes stay.
pub fn a_purge_takes_the_answers_and_outcome_messages_that_quote_a_record(b: &impl Backend) {
    let mut store = b.open().unwrap();
    store
        .enqueue(
            "t",
            &[rec(
                "a",
                Some("s"),
                None,
                &format!("{{\"name\":\"{NAME}\"}}"),
            )],
            Timestamp(0),
        )
        .unwrap();
    let (id, _) = create(&mut store, Some("s"));
    let payload = store.transfer(id).unwrap().payloads[0].id;
    let seq = store.payload_records(payload).unwrap()[0].seq;
    let mut answered = attempt(id, payload);
    answered.received = Some(format!("200: imported {NAME}"));
    store
        .complete_payload(
            payload,
            Completion::Outcomes(&[hub_store::RecordOutcome {
                seq,
                status: hub_plugin_sdk::OutcomeStatus::Delivered,
                messages: vec![format!("child {NAME} imported")],
            }]),
            &answered,
            Timestamp(DAY),
        )
        .unwrap();
    fn quoted(store: &mut impl Store, id: i64) -> bool {
        let log = store.attempts(Some(id)).unwrap();
        let records = store.records_by_id("t", "a").unwrap();
        log.iter()
            .any(|a| a.received.as_deref().is_some_and(|r| r.contains(NAME)))
            || records
                .iter()
                .any(|r| r.messages.iter().any(|m| m.contains(NAME)))
    }
    assert!(quoted(&mut store, id));
    store
        .purge(&policy(30), "anna", Timestamp(40 * DAY), false)
        .unwrap();
    assert!(
        !quoted(&mut store, id),
        "the answer or a message still quotes the record"
    );
    let log = store.attempts(Some(id)).unwrap();
    assert_eq!(log.last().unwrap().result.to_string(), "delivered");
}
