//! Encryption at rest: bodies and bytes sealed under a tenant's key never show their
//! plaintext in the database; a deleted key makes exactly its tenant's data unreadable;
//! a rotation keeps old keys reading and `reseal` moves everything to the new key; another
//! key under a known id is refused.

use std::sync::Arc;

use hub_core::time::Timestamp;
use hub_store::protection::Protection;
use hub_store::seal::{KeyUse, Keyring, Sealing, reseal};
use hub_store::{Store, StoreError};
use sha2::{Digest, Sha256};

use crate::Backend;
use crate::support::{batch, create, rec};

const NAME: &str = "Naja Lyberth";

fn ring(current: &str, keys: &[(&str, u8)]) -> Option<Arc<Keyring>> {
    let keys = keys
        .iter()
        .map(|(id, b)| (id.to_string(), [*b; 32]))
        .collect();
    Some(Arc::new(Keyring::new(Some(current), keys).unwrap()))
}

fn open_with<B: Backend>(b: &B, r: Option<Arc<Keyring>>) -> B::S {
    let mut store = b.open().unwrap();
    store.set_keyring(r, Timestamp(0)).unwrap();
    store
}

fn uses(store: &mut impl Sealing) -> Vec<(Option<String>, u64, u64)> {
    let mut u: Vec<_> = store
        .key_uses()
        .unwrap()
        .into_iter()
        .map(
            |KeyUse {
                 key,
                 records,
                 payloads,
             }| (key, records, payloads),
        )
        .collect();
    u.sort();
    u
}

pub fn sealed_bodies_and_bytes_hold_no_plaintext_and_open_again(b: &impl Backend) {
    let mut store = open_with(b, ring("a", &[("a", 1)]));
    let body = format!("{{\"child\":\"{NAME}\"}}");
    store
        .enqueue("t", &[rec("r1", None, None, &body)], Timestamp(0))
        .unwrap();
    let queued = store.queued_records("t", &batch(None), 10).unwrap();
    assert_eq!(queued[0].body, body, "the plugin sees the plaintext");
    let (id, _) = create(&mut store, None);
    let payload = &store.transfer(id).unwrap().payloads[0];
    // The hashes and the size are of the plaintext, as the receiver gets it.
    assert_eq!(payload.sha256, hex::encode(Sha256::digest(body.as_bytes())));
    assert_eq!(payload.size, body.len());
    assert_eq!(store.payload_bytes(payload.id).unwrap(), body.as_bytes());
    assert_eq!(store.payload_records(payload.id).unwrap()[0].body, body);
    assert_eq!(uses(&mut store), vec![(Some("a".into()), 1, 1)]);
    drop(store);
    assert!(!b.holds(NAME), "the name is in the database in plain text");
    // Without the key, nothing opens, and the error names the key.
    let mut bare = b.open().unwrap();
    let e = bare.payload_bytes(payload.id).unwrap_err().to_string();
    assert!(e.contains("key `a`") && e.contains("not configured"), "{e}");
}

pub fn a_deleted_tenant_key_shreds_that_tenant_only(b: &impl Backend) {
    let a = ring("kita", &[("kita", 1)]);
    let bb = ring("prisme", &[("prisme", 2)]);
    let body = format!("{{\"child\":\"{NAME}\"}}");
    open_with(b, a.clone())
        .enqueue("t", &[rec("r1", None, None, &body)], Timestamp(0))
        .unwrap();
    open_with(b, bb.clone())
        .enqueue(
            "u",
            &[rec("r2", None, None, "{\"posting\":1}")],
            Timestamp(0),
        )
        .unwrap();
    // The first tenant's key is deleted: its bodies are gone for good, the other's read.
    let mut store = open_with(b, bb);
    let e = store.queued_records("t", &batch(None), 10).unwrap_err();
    assert!(matches!(e, StoreError::Seal(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("key `kita`") && text.contains("crypto-shredded"),
        "{text}"
    );
    assert_eq!(
        store.queued_records("u", &batch(None), 10).unwrap()[0].body,
        "{\"posting\":1}"
    );
    // With its key, the first tenant reads its own and not the other's.
    let mut store = open_with(b, a);
    assert_eq!(
        store.queued_records("t", &batch(None), 10).unwrap()[0].body,
        body
    );
    assert!(store.queued_records("u", &batch(None), 10).is_err());
}

pub fn after_a_rotation_old_keys_read_and_rekey_moves_everything_to_the_new(b: &impl Backend) {
    // Plain before encryption, then key 2025, then 2026 with 2025 still configured.
    let mut store = b.open().unwrap();
    store
        .enqueue("t", &[rec("r0", None, None, "{\"n\":0}")], Timestamp(0))
        .unwrap();
    let (plain, _) = create(&mut store, None);
    let mut store = open_with(b, ring("k2025", &[("k2025", 5)]));
    store
        .enqueue("t", &[rec("r1", None, None, "{\"n\":1}")], Timestamp(0))
        .unwrap();
    let (id, _) = create(&mut store, None);
    let rotated = ring("k2026", &[("k2025", 5), ("k2026", 6)]);
    let mut store = open_with(b, rotated.clone());
    store
        .enqueue("t", &[rec("r2", None, None, "{\"n\":2}")], Timestamp(0))
        .unwrap();
    assert_eq!(
        uses(&mut store),
        vec![
            (None, 1, 1),
            (Some("k2025".into()), 1, 1),
            (Some("k2026".into()), 1, 0)
        ]
    );
    let payloads = [
        store.transfer(plain).unwrap().payloads.remove(0),
        store.transfer(id).unwrap().payloads.remove(0),
    ];
    assert_eq!(store.payload_bytes(payloads[0].id).unwrap(), b"{\"n\":0}");
    assert_eq!(store.payload_bytes(payloads[1].id).unwrap(), b"{\"n\":1}");

    let ring_now = rotated.unwrap();
    let done = reseal(&mut store, &ring_now, "anna", Timestamp(9), 1).unwrap();
    assert_eq!((done.records, done.payloads), (2, 2));
    assert_eq!(uses(&mut store), vec![(Some("k2026".into()), 3, 2)]);
    let trail = store.audit_page(0, 100).unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("rekey", "anna")
    );
    // The old key can go now: everything opens with the new one alone.
    let mut store = open_with(b, ring("k2026", &[("k2026", 6)]));
    assert_eq!(store.payload_bytes(payloads[0].id).unwrap(), b"{\"n\":0}");
    assert_eq!(
        store.payload_records(payloads[1].id).unwrap()[0].body,
        "{\"n\":1}"
    );
    assert_eq!(
        store.queued_records("t", &batch(None), 10).unwrap().len(),
        1
    );
}

pub fn another_key_under_a_known_id_is_refused(b: &impl Backend) {
    let mut store = open_with(b, ring("a", &[("a", 1)]));
    store
        .enqueue("t", &[rec("r1", None, None, "{\"n\":1}")], Timestamp(0))
        .unwrap();
    drop(store);
    let mut store = b.open().unwrap();
    let e = store
        .set_keyring(ring("a", &[("a", 2)]), Timestamp(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("key `a` is not the key"), "{e}");
    // Refused before it wrote anything under the wrong key.
    assert_eq!(uses(&mut store), vec![(Some("a".into()), 1, 0)]);
}

/// The receiving side is sealed as the sending side: a received version's body and an
/// arrived archive (held or imported, longer than one frame) hold no plaintext, open again
/// with the key, name the key without it, and `reseal` moves them to a new key.
pub fn received_versions_and_archives_are_sealed_and_rekeyed(b: &impl Backend) {
    use hub_store::inbound::InboundStore;
    let now = Timestamp(1_000);
    let archive = |n: u32| -> Vec<u8> {
        format!("<SAL n=\"{n}\"><Field Name=\"Name\" Value=\"{NAME}\"/></SAL>")
            .repeat(2_000)
            .into_bytes()
    };
    let (first, second) = (archive(1), archive(2));
    let mut store = open_with(b, ring("a", &[("a", 1)]));
    let held = store
        .inbound_hold(&crate::inbound::arrival("1.01.0.02.", 2, &second), now)
        .unwrap();
    let mut v = crate::inbound::version("r1", 1);
    v.body = format!("{{\"Name\":\"{NAME}\"}}");
    let mut tx = store
        .inbound_begin(&crate::inbound::arrival("1.01.0.02.", 1, &first), now)
        .unwrap();
    tx.add(&v).unwrap();
    let imported = tx.finish(0, ("receipt.xml", b"ok"), now).unwrap();
    drop(store);
    assert!(
        !b.holds(NAME),
        "a received name is in the database in plain text"
    );

    let mut store = open_with(b, ring("a", &[("a", 1)]));
    assert_eq!(store.record_versions("r1").unwrap()[0].body["Name"], NAME);
    let mut back = Vec::new();
    store.inbound_held_bytes(held, &mut back).unwrap();
    assert!(back == second, "held: {} bytes back", back.len());
    assert!(store.inbound_archive(imported).unwrap().1 == first);
    assert_eq!(uses(&mut store), vec![(Some("a".into()), 1, 2)]);

    let mut bare = b.open().unwrap();
    let e = bare.record_versions("r1").unwrap_err().to_string();
    assert!(
        e.contains("key `a`") && e.contains("received version"),
        "{e}"
    );
    let e = bare
        .inbound_held_bytes(held, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("key `a`") && e.contains("received transport"),
        "{e}"
    );

    let rotated = ring("b", &[("a", 1), ("b", 2)]).unwrap();
    let mut store = open_with(b, Some(rotated.clone()));
    let done = reseal(&mut store, &rotated, "anna", Timestamp(9), 1).unwrap();
    assert_eq!((done.records, done.payloads), (1, 2));
    assert_eq!(uses(&mut store), vec![(Some("b".into()), 1, 2)]);
    let mut store = open_with(b, ring("b", &[("b", 2)]));
    assert_eq!(store.record_versions("r1").unwrap()[0].body["Name"], NAME);
    let mut back = Vec::new();
    store.inbound_held_bytes(held, &mut back).unwrap();
    assert!(
        back == second,
        "held after rekey: {} bytes back",
        back.len()
    );
    drop(store);
    assert!(!b.holds(NAME), "plaintext after the rekey");
}
