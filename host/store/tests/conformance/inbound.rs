//! The receiving side: a transport imported as a stream inside one transaction, what the
//! store knows of a record while its versions arrive, held transports, answers.

use hub_core::time::Timestamp;
use hub_store::inbound::{Arrival, Bytes, InboundStore, NewVersion, RecordFacts};

use crate::Backend;

pub fn arrival<'a>(sender: &'a str, number: u64, bytes: &'a [u8]) -> Arrival<'a> {
    Arrival {
        inbound: "in",
        sender,
        receiver: "1.01.",
        number,
        transport_guid: "{T}",
        file_name: "t.zip",
        sha256: "ab",
        bytes: Bytes::Memory(bytes),
    }
}

pub fn version(record: &str, n: u32) -> NewVersion {
    NewVersion {
        record_id: record.into(),
        version: n,
        kind: "SAL".into(),
        action: None,
        file: "t.xml".into(),
        imported: true,
        code: None,
        message: None,
        body: "{\"x\":1}".into(),
    }
}

pub fn an_import_is_all_or_nothing_and_knows_owners_and_versions(b: &impl Backend) {
    let mut s = b.open().unwrap();
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
    let mut rejected = version("{A}", 2);
    rejected.imported = false;
    rejected.code = Some("E1".into());
    i.add(&rejected).unwrap();
    i.finish(2, ("r.xml", b"<Receipt/>"), now).unwrap();
    let versions = s.record_versions("{A}").unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        (
            versions[0].transport_number,
            versions[0].body.clone(),
            versions[1].result.as_str()
        ),
        (1, serde_json::json!({"x": 1}), "rejected")
    );
    assert!(s.answers_owed("in").unwrap());
    let known = s
        .inbound_known("in", "1.01.0.02.", "1.01.", 1)
        .unwrap()
        .unwrap();
    assert_eq!(
        (known.state.as_str(), known.imported_at),
        ("imported", Some(1_000))
    );
    assert_eq!(s.inbound_next("in", "1.01.0.02.", "1.01.").unwrap(), 2);

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

pub fn a_held_transport_refused_after_all_leaves_its_number_missing(b: &impl Backend) {
    let mut s = b.open().unwrap();
    let now = Timestamp(1_000);
    let id = s
        .inbound_hold(&arrival("1.01.0.02.", 2, b"held"), now)
        .unwrap();
    s.inbound_hold(&arrival("1.01.0.02.", 3, b"held too"), Timestamp(900))
        .unwrap();
    let mut back = Vec::new();
    assert_eq!(s.inbound_held_bytes(id, &mut back).unwrap(), "t.zip");
    assert_eq!(back, b"held");
    let p = &s.inbound_pairs("in").unwrap()[0];
    assert_eq!((p.held.clone(), p.missing.clone()), (vec![2, 3], vec![1]));
    assert_eq!(p.waiting_since, Some(900));
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
    // Number 1 arrives; the held number 3 still waits for 2.
    s.inbound_begin(&arrival("1.01.0.02.", 1, b"one"), now)
        .unwrap()
        .finish(0, ("r1.xml", b"<R/>"), now)
        .unwrap();
    let p = &s.inbound_pairs("in").unwrap()[0];
    assert_eq!(
        (p.imported_up_to, p.held.clone(), p.missing.clone()),
        (1, vec![3], vec![2])
    );
}

pub fn answers_are_owed_until_delivered_and_requests_are_written_once(b: &impl Backend) {
    let mut s = b.open().unwrap();
    let now = Timestamp(5);
    assert!(!s.answers_owed("in").unwrap());
    assert!(
        s.inbound_request("in", "req-2.xml", b"<Ask/>", now)
            .unwrap()
    );
    assert!(
        !s.inbound_request("in", "req-2.xml", b"<Ask/>", now)
            .unwrap()
    );
    s.inbound_begin(&arrival("1.01.0.02.", 1, b"one"), now)
        .unwrap()
        .finish(0, ("r1.xml", b"<R/>"), now)
        .unwrap();
    let owed = s.pending_answers("in").unwrap();
    // Listed by name and size; their bytes come as a stream.
    let listed: Vec<(String, u64, Vec<u8>)> = owed
        .iter()
        .map(|a| (a.name.clone(), a.size, read_answer(&mut s, a.id)))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("req-2.xml".to_string(), 6, b"<Ask/>".to_vec()),
            ("r1.xml".to_string(), 4, b"<R/>".to_vec())
        ]
    );
    for a in &owed {
        s.answer_delivered(a.id, now).unwrap();
    }
    assert!(!s.answers_owed("in").unwrap());
    assert!(s.pending_answers("in").unwrap().is_empty());
    s.inbound_refuse("in", "junk.zip", "cd", "not a zip", now)
        .unwrap();
}

fn read_answer(s: &mut impl InboundStore, id: i64) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut s.answer_bytes(id).unwrap(), &mut bytes).unwrap();
    bytes
}

pub fn a_receipt_streamed_into_the_store_must_be_as_long_as_announced(b: &impl Backend) {
    let mut s = b.open().unwrap();
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
    // A long receipt (over one read chunk) goes in and comes out the same.
    let long: Vec<u8> = (0..300_000u32).flat_map(|n| n.to_le_bytes()).collect();
    let i = s
        .inbound_begin(&arrival("1.01.0.02.", 1, b"x"), now)
        .unwrap();
    i.finish_from(0, "r.xml", &mut &long[..], long.len() as u64, now)
        .unwrap();
    let answer = &s.pending_answers("in").unwrap()[0];
    assert_eq!(answer.size, long.len() as u64);
    let id = answer.id;
    let back = read_answer(&mut s, id);
    assert!(back == long, "{} bytes back of {}", back.len(), long.len());
}

pub fn arrived_transports_are_listed_newest_first_with_their_bytes(b: &impl Backend) {
    let mut s = b.open().unwrap();
    let now = Timestamp(7);
    s.inbound_begin(&arrival("1.01.0.02.", 1, b"first"), now)
        .unwrap()
        .finish(0, ("r1.xml", b"<R/>"), now)
        .unwrap();
    s.inbound_hold(&arrival("1.01.0.02.", 3, b"third"), now)
        .unwrap();
    let all = s.inbound_transports(None, 10).unwrap();
    assert_eq!(
        all.iter()
            .map(|t| (t.number, t.state.as_str()))
            .collect::<Vec<_>>(),
        [(3, "held"), (1, "imported")]
    );
    assert_eq!(s.inbound_transports(Some("other"), 10).unwrap().len(), 0);
    assert_eq!(s.inbound_transports(Some("in"), 1).unwrap().len(), 1);
    let (view, bytes) = s.inbound_archive(all[1].id).unwrap();
    assert_eq!((view.number, bytes.as_slice()), (1, b"first".as_slice()));
    assert!(s.inbound_archive(9_999).is_err());
}

/// A held transport read from its file and written back as a stream, several pieces long
/// on both sides, comes back byte for byte; the file's length taken when it was hashed
/// counts, not what was appended after.
pub fn a_held_transport_streams_in_and_out_of_its_file(b: &impl Backend) {
    use std::io::Write;
    let mut s = b.open().unwrap();
    let content: Vec<u8> = (0..800_000u32).flat_map(|n| n.to_le_bytes()).collect();
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(&content).unwrap();
    let len = content.len() as u64;
    f.write_all(b"appended later").unwrap();
    let mut a = arrival("1.01.0.02.", 2, b"");
    a.bytes = Bytes::File(&f, len);
    let id = s.inbound_hold(&a, Timestamp(1_000)).unwrap();
    let mut back = Vec::new();
    s.inbound_held_bytes(id, &mut back).unwrap();
    assert!(
        back == content,
        "{} bytes back of {}",
        back.len(),
        content.len()
    );
    let listed = s.inbound_transports(Some("in"), 10).unwrap();
    assert_eq!(listed[0].size, len);
}
