//! Mutation tests of Kita-Planer's answers (a small, deterministic fuzzer, as
//! `plugins/rki/tests/mutations.rs`): a valid per-record answer cut, flipped, duplicated
//! and spliced with hostile pieces, then read by `interpret` as the host would call it.
//! Whatever the server sends: no panic; outcomes only for records of the payload, at
//! most one each; every message short and free of control characters.
//! `HUB_MUTATIONS=<n>` runs more cases (the default takes about a second).

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use hub_plugin_kitaplaner::{KitaPlaner, examples};
use hub_plugin_sdk::mutate::{Rng, cases, mutate};
use hub_plugin_sdk::*;
use serde_json::{Value, json};

fn ctx() -> Context {
    Context {
        target: "kitaplaner-test".into(),
        settings: examples::settings(),
        batch_key: "010570012".into(),
        transfer_id: 42,
        ..Default::default()
    }
}

/// A valid answer: record 0 imported, 1 refused with two messages, 2 imported with a
/// warning, the rest imported.
fn answer(records: &[Record]) -> Vec<u8> {
    let entries: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            let (status, meldungen) = match i {
                1 => (
                    2,
                    json!(["VER_VERTRAG_AB fehlt", "KIND_GEBURTSDATUM ungültig"]),
                ),
                2 => (1, json!(["Hinweis: Adresse geprüft"])),
                _ => (0, json!([])),
            };
            json!({"KIND_ID_EXTERN": v["KIND_ID_EXTERN"], "KITA_ID_EXTERN": v["KITA_ID_EXTERN"],
                   "status": status, "meldungen": meldungen})
        })
        .collect();
    json!({
        "status": 0, "nachricht": "ok", "fehlermeldung": null,
        "anzahlDatensaetze": records.len(), "datenquelleId": 98123, "erledigtAm": "01.08.2024",
        "datensaetze": entries,
    })
    .to_string()
    .into_bytes()
}

fn pieces() -> Vec<Vec<u8>> {
    vec![
        b"\x00".to_vec(),
        b"\x1b[31m".to_vec(),
        b"\\u001b[31m".to_vec(),
        b"\\u0000".to_vec(),
        b"\xff\xfe".to_vec(),
        b"null".to_vec(),
        b"-1".to_vec(),
        b"1e999".to_vec(),
        b"99999999999999999999999".to_vec(),
        b"\"status\":3".to_vec(),
        b"\"meldungen\":\"x\"".to_vec(),
        b"\"datensaetze\":{}".to_vec(),
        b"[".repeat(5_000),
        format!("\"{}\"", "m".repeat(100_000)).into_bytes(),
        format!("\"{}\"", "\\u202e".repeat(200)).into_bytes(),
        b"}".to_vec(),
        b",".to_vec(),
    ]
}

fn short_and_plain(s: &str) -> bool {
    s.chars().count() <= 2_000 && !s.chars().any(char::is_control)
}

#[test]
fn mutated_answers_never_panic_and_name_only_records_of_the_payload() {
    let cases = cases(2_000);
    let records = examples::records(5);
    let valid = answer(&records);
    let pieces = pieces();
    let statuses = [200, 200, 200, 207, 400, 409, 422, 500, 503];
    for case in 0..cases {
        let mut rng = Rng::case(0xD1B5_4A32_D192_ED03, case);
        let mut body = valid.clone();
        mutate(&mut rng, &mut body, &pieces, 256, false);
        let response = Response {
            status: Some(statuses[rng.below(statuses.len())]),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        };
        match KitaPlaner::interpret(&ctx(), "datenquelle-42.json", &records, &response) {
            Ok(outcomes) => {
                let mut seen = std::collections::HashSet::new();
                for o in &outcomes {
                    assert!(
                        records.iter().any(|r| r.id == o.record_id),
                        "case {case}: outcome for a record not sent: {:?}",
                        o.record_id
                    );
                    assert!(seen.insert(o.record_id.clone()), "case {case}: twice");
                    for m in &o.messages {
                        assert!(short_and_plain(m), "case {case}: {m:?}");
                    }
                }
            }
            Err(InterpretError::Malformed(m) | InterpretError::Failed { message: m, .. }) => {
                assert!(short_and_plain(&m), "case {case}: {m:?}");
            }
        }
    }
}
