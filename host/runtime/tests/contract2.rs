//! Each part contract 0.2 added, through a plugin that uses them all
//! (`tests/plugins/contract2`), in the sandbox: typed settings and settings errors naming
//! the setting, error codes, diagnostics beside results, and the outcomes retry-later and
//! unknown.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use hub_plugin_sdk::{
    Context, DiagnosticLevel, ErrorCode, OutcomeStatus, Record, Response, SettingError,
    SettingType, Settings,
};
use hub_runtime::{Limits, Line, Plugin, Runtime};

fn plugin() -> Plugin {
    let dir = std::env::var_os("HUB_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"));
    let path = dir.join("test-contract2.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask plugins`",
        path.display()
    );
    Runtime::new(Limits::default(), None)
        .unwrap()
        .load("contract2", &path, None)
        .unwrap()
}

fn settings(limit: &str) -> Settings {
    Settings::from_pairs([("prefix", "P"), ("limit", limit)])
}

#[test]
fn typed_settings_and_errors_that_name_the_setting() {
    let p = plugin();
    assert_eq!(p.contract(), Line::V0_2);
    let limit = &p.info().settings[1];
    assert_eq!(limit.setting_type, SettingType::Integer);
    // A typed default comes back as its canonical text.
    assert_eq!(limit.default_value.as_deref(), Some("10"));
    assert_eq!(p.check_settings(&settings("5")).unwrap(), Ok(()));
    assert_eq!(
        p.check_settings(&settings("0")).unwrap(),
        Err(vec![SettingError::new("limit", "must be above 0, found 0")])
    );
}

#[test]
fn record_errors_carry_their_code() {
    let p = plugin();
    let records = [
        Record::new("ok", "item", r#"{"n": 1}"#),
        Record::new("gone", "item", r#"{}"#),
        Record::new("text", "item", r#"{"n": "x"}"#),
        Record::new("neg", "item", r#"{"n": -1}"#),
        Record::new("junk", "item", "not json"),
    ];
    let answers = p.validate(&settings("10"), &records).unwrap();
    assert!(answers[0].is_ok());
    let codes: Vec<(Option<String>, ErrorCode)> = answers[1..]
        .iter()
        .map(|a| {
            let e = a.clone().unwrap_err();
            (e.field, e.code)
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (Some("n".into()), ErrorCode::Missing),
            (Some("n".into()), ErrorCode::Malformed),
            (Some("n".into()), ErrorCode::OutOfRange),
            (None, ErrorCode::Malformed),
        ]
    );
}

#[test]
fn diagnostics_come_back_beside_the_payloads() {
    let p = plugin();
    let ctx = Context::sample(settings("10"));
    let records = [
        Record::new("a", "item", r#"{"n": 3}"#),
        Record::new("b", "item", r#"{"n": 50}"#),
    ];
    let (payloads, notes) = p.encode_noting(&ctx, &records).unwrap();
    let payloads = payloads.unwrap();
    assert_eq!(payloads[0].bytes, b"P a 3\nP b 50\n");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0].level, DiagnosticLevel::Warning);
    assert_eq!(notes[0].record_id.as_deref(), Some("b"));
    assert_eq!(notes[0].message, "n = 50 is above the limit 10");
    assert_eq!(notes[1].level, DiagnosticLevel::Info);
    // Nothing is left over for the next call: each runs in a fresh sandbox.
    let (_, again) = p.encode_noting(&ctx, &records[..1]).unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
}

/// A writer the test reads back: what the log got.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn diagnostics_are_written_to_the_log_with_the_plugins_name() {
    let p = plugin();
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let ctx = Context::sample(settings("10"));
    let records = [Record::new("b", "item", r#"{"n": 50}"#)];
    tracing::subscriber::with_default(subscriber, || p.encode(&ctx, &records).unwrap().unwrap());
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let warning = text
        .lines()
        .find(|l| l.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning in {text:?}"));
    assert!(
        warning.contains("plugin says: n = 50 is above the limit 10"),
        "{warning}"
    );
    assert!(warning.contains("plugin=contract2"), "{warning}");
    assert!(
        warning.contains("record=\"b\"") || warning.contains("record=b"),
        "{warning}"
    );
}

#[test]
fn retry_later_and_unknown_outcomes_cross_the_boundary() {
    let p = plugin();
    let ctx = Context::sample(settings("10"));
    let records: Vec<Record> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|id| Record::new(id, "item", r#"{"n": 1}"#))
        .collect();
    let response = Response {
        status: Some(200),
        headers: vec![],
        body: b"a OK\nb NO\nc LATER\nd ?\n".to_vec(),
    };
    let (outcomes, notes) = p
        .interpret_noting(&ctx, "items-000001.txt", &records, &response)
        .unwrap();
    let statuses: Vec<OutcomeStatus> = outcomes.unwrap().iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        vec![
            OutcomeStatus::Delivered,
            OutcomeStatus::Rejected,
            OutcomeStatus::RetryLater,
            OutcomeStatus::Unknown,
            OutcomeStatus::Rejected,
        ]
    );
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].record_id.as_deref(), Some("e"));
}
