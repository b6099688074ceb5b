//! Golden-file tests, native: the sample records in `tests/golden/records.ndjson`,
//! encoded in the fixed context that `hub plugin test` uses too (`Context::sample`: number
//! 1, 2024-02-01 12:00 UTC), must give exactly the bytes of `tests/golden/<payload
//! name>.expected`. After an intended change: `UPDATE_GOLDEN=1 cargo test`, then review
//! the diff of the .expected files.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use hub_plugin_kitastat::Kitastat;
use hub_plugin_sdk::*;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// The sample records, as the hub passes them: the whole NDJSON line is the body.
fn records() -> Vec<Record> {
    std::fs::read_to_string(golden("records.ndjson"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Record::new(v["id"].as_str().unwrap(), v["kind"].as_str().unwrap(), line)
        })
        .collect()
}

fn settings() -> Settings {
    // As the host passes them: every setting, defaults filled in.
    Settings::from_pairs([
        ("reporter", "12345"),
        ("warn_above", "250"),
        ("test", "false"),
    ])
}

#[test]
fn sample_records_encode_to_the_golden_files() {
    let ctx = Context::sample(settings());
    let records = records();
    for r in &records {
        Kitastat::validate(&ctx.settings, r).unwrap();
    }
    let payloads = Kitastat::encode(&ctx, &records).unwrap();
    assert!(!payloads.is_empty());
    for p in &payloads {
        let file = golden(&format!("{}.expected", p.name.replace('/', "_")));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&file, &p.bytes).unwrap();
        }
        let expected = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", file.display()));
        assert_eq!(
            String::from_utf8_lossy(&p.bytes),
            String::from_utf8_lossy(&expected),
            "payload {} differs from {}",
            p.name,
            file.display()
        );
        assert_eq!(p.bytes, expected);
    }
}

#[test]
fn the_sample_is_one_file_with_a_warning_for_the_over_occupied_facility() {
    let ctx = Context::sample(settings());
    let records = records();
    let metas: Vec<_> = records
        .iter()
        .map(|r| Kitastat::validate(&ctx.settings, r).unwrap())
        .collect();
    // One carrier and month: one batch, one file, numbered 1 in `hub plugin test` too.
    assert!(
        metas.iter().all(|m| (&m.batch_key, &m.sequence_scope)
            == (&metas[0].batch_key, &metas[0].sequence_scope)),
        "{metas:?}"
    );
    diag::take();
    let payloads = Kitastat::encode(&ctx, &records).unwrap();
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0].name, "KITA_12345_4711_202401_0001.csv");
    let notes = diag::take();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0].level, DiagnosticLevel::Warning);
    assert_eq!(notes[0].record_id.as_deref(), Some("2024-01-010570013"));
    assert_eq!(
        notes[1].message,
        "KITA_12345_4711_202401_0001.csv: 4 facilities, 205 places approved, 203 occupied"
    );
}

#[test]
fn errors_name_the_record_and_the_field() {
    let s = settings();
    let bad = Record::new("r9", "places", r#"{"month": "2024-01", "carrier": "4711"}"#);
    let e = Kitastat::validate(&s, &bad).unwrap_err();
    assert_eq!(
        (e.record_id.as_str(), e.field.as_deref(), e.code),
        ("r9", Some("facility"), ErrorCode::Missing)
    );
    assert_eq!(e.to_string(), "record r9: field facility: is required");
    let e = Kitastat::check_settings(&Settings::from_pairs([
        ("reporter", "x"),
        ("warn_above", "250"),
        ("test", "false"),
    ]))
    .unwrap_err();
    assert_eq!(e.name, "reporter", "{e}");
}
