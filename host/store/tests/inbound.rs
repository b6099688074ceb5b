//! The receiving side's store: a transport imported as a stream inside one transaction,
//! what the store knows of a record while its versions arrive, and a held transport
//! refused after all.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use hub_core::time::Timestamp;
use hub_store::SqliteStore;
use hub_store::inbound::{Arrival, InboundStore, NewVersion, RecordFacts};

fn arrival<'a>(sender: &'a str, number: u64, bytes: &'a [u8]) -> Arrival<'a> {
    Arrival {
        inbound: "in",
        sender,
        receiver: "1.01.",
        number,
        transport_guid: "{T}",
        file_name: "t.zip",
        sha256: "ab",
        bytes,
    }
}

fn version(record: &str, n: u32) -> NewVersion {
    NewVersion {
        record_id: record.into(),
        version: n,
        kind: "SAL".into(),
        action: None,
        file: "t.xml".into(),
        imported: true,
        code: None,
        message: None,
        body: "{}".into(),
    }
}

#[test]
fn an_import_is_all_or_nothing_and_knows_owners_and_versions() {
    let mut s = SqliteStore::in_memory().unwrap();
    let now = Timestamp(1_000);
    // Dropped before finishing: nothing stays, and the number is still the next.
    {
        let mut i = s
            .inbound_begin(&arrival("1.01.0.02.", 1, b"x"), now)
            .unwrap();
        i.add(&version("{A}", 1)).unwrap();
    }
    assert_eq!(s.inbound_next("in", "1.01.0.02.", "1.01.").unwrap(), 1);
    assert!(s.record_versions("{A}").unwrap().is_empty());
    // A later number is refused.
    assert!(
        s.inbound_begin(&arrival("1.01.0.02.", 2, b"x"), now)
            .is_err()
    );

    let mut i = s
        .inbound_begin(&arrival("1.01.0.02.", 1, b"x"), now)
        .unwrap();
    assert_eq!(i.facts("{A}", 1).unwrap(), RecordFacts::default());
    i.add(&version("{A}", 1)).unwrap();
    // Seen within the same transaction.
    assert_eq!(
        i.facts("{A}", 1).unwrap(),
        RecordFacts {
            owner: Some("1.01.0.02.".into()),
            version_imported: true,
            in_this_transport: true
        }
    );
    i.finish(0, ("r.xml", b"<Receipt/>"), now).unwrap();
    assert_eq!(s.record_versions("{A}").unwrap().len(), 1);
    assert!(s.answers_owed("in").unwrap());
    // The receipt is listed by name and size, and its bytes come as a stream.
    let pending = s.pending_answers("in").unwrap();
    assert_eq!((pending[0].name.as_str(), pending[0].size), ("r.xml", 10));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut s.answer_bytes(pending[0].id).unwrap(), &mut bytes).unwrap();
    assert_eq!(bytes, b"<Receipt/>");

    // Another sender's transport sees the owner and the version, not as its own.
    let i = s
        .inbound_begin(&arrival("1.01.0.03.", 1, b"y"), now)
        .unwrap();
    assert_eq!(
        i.facts("{A}", 1).unwrap(),
        RecordFacts {
            owner: Some("1.01.0.02.".into()),
            version_imported: true,
            in_this_transport: false
        }
    );
}

#[test]
fn a_held_transport_refused_after_all_leaves_its_number_missing() {
    let mut s = SqliteStore::in_memory().unwrap();
    let now = Timestamp(1_000);
    let id = s
        .inbound_hold(&arrival("1.01.0.02.", 2, b"held"), now)
        .unwrap();
    s.inbound_hold(&arrival("1.01.0.02.", 3, b"held too"), now)
        .unwrap();
    let p = &s.inbound_pairs("in").unwrap()[0];
    assert_eq!((p.held.clone(), p.missing.clone()), (vec![2, 3], vec![1]));
    s.inbound_refuse_held(id, "over a limit", now).unwrap();
    let p = &s.inbound_pairs("in").unwrap()[0];
    assert_eq!((p.held.clone(), p.missing.clone()), (vec![3], vec![1, 2]));
    assert!(
        s.inbound_known("in", "1.01.0.02.", "1.01.", 2)
            .unwrap()
            .is_none()
    );
    // Only a held one can be refused so.
    assert!(s.inbound_refuse_held(id, "again", now).is_err());
}

#[test]
fn a_receipt_streamed_into_the_store_must_be_as_long_as_announced() {
    let mut s = SqliteStore::in_memory().unwrap();
    let now = Timestamp(1_000);
    let i = s
        .inbound_begin(&arrival("1.01.0.02.", 1, b"x"), now)
        .unwrap();
    let e = i
        .finish_from(0, "r.xml", &mut &b"<Receipt/>"[..], 11, now)
        .unwrap_err();
    assert!(e.to_string().contains("10 bytes, 11"), "{e}");
    // Rolled back: nothing imported, nothing owed.
    assert_eq!(s.inbound_next("in", "1.01.0.02.", "1.01.").unwrap(), 1);
    assert!(!s.answers_owed("in").unwrap());
    // A long receipt goes in piece by piece and comes out the same.
    let long: Vec<u8> = (0..300_000u32).flat_map(|n| n.to_le_bytes()).collect();
    let i = s
        .inbound_begin(&arrival("1.01.0.02.", 1, b"x"), now)
        .unwrap();
    i.finish_from(0, "r.xml", &mut &long[..], long.len() as u64, now)
        .unwrap();
    let id = s.pending_answers("in").unwrap()[0].id;
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut s.answer_bytes(id).unwrap(), &mut back).unwrap();
    assert!(back == long, "{} bytes back of {}", back.len(), long.len());
}
