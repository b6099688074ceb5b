//! `hub plugin test` shows what a plugin noted (contract 0.2 diagnostics) per call, with
//! level, record and message, in its text and in `--json`: the contract 0.2 test plugin
//! warns about an `n` above its limit when encoding, and about a record the answer does
//! not mention when interpreting.

use std::process::{Command, Stdio};

use crate::common::{HUB, plugin};

fn plugin_test(dir: &std::path::Path, json: bool) -> (Option<i32>, String) {
    let records = dir.join("records.ndjson");
    std::fs::write(
        &records,
        "{\"id\":\"a\",\"kind\":\"item\",\"n\":3}\n{\"id\":\"b\",\"kind\":\"item\",\"n\":50}\n",
    )
    .unwrap();
    let answer = dir.join("answer.txt");
    std::fs::write(&answer, "a OK\n").unwrap();
    let mut c = Command::new(HUB);
    c.args(["plugin", "test"])
        .arg(plugin("test-contract2"))
        .arg("--records")
        .arg(&records)
        .args(["--settings", "prefix=P"])
        .arg("--response")
        .arg(&answer)
        .args(["--status", "200"])
        .env_remove("HUB_CONFIG")
        .stdin(Stdio::null());
    if json {
        c.arg("--json");
    }
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn plugin_test_shows_each_calls_diagnostics() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, text) = plugin_test(tmp.path(), false);
    assert_eq!(code, Some(0), "{text}");
    let encode = text
        .find("\n-- diagnostics of encode (transfer 1)\n  warning  record b: n = 50 is above the limit 10\n  info     2 records\n")
        .unwrap_or_else(|| panic!("no encode diagnostics in:\n{text}"));
    let interpret = text
        .find("\n-- diagnostics of interpret of items-000001.txt (transfer 1)\n  warning  record b: not in the answer\n")
        .unwrap_or_else(|| panic!("no interpret diagnostics in:\n{text}"));
    assert!(encode < interpret, "{text}");
    // The pipeline encodes the first transfer twice (its determinism check): shown once.
    assert_eq!(text.matches("diagnostics of encode").count(), 1, "{text}");

    let (code, json) = plugin_test(tmp.path(), true);
    assert_eq!(code, Some(0), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["diagnostics"],
        serde_json::json!([
            {"call": "encode", "transfer": 1, "payload": null, "diagnostics": [
                {"level": "warning", "record": "b", "message": "n = 50 is above the limit 10"},
                {"level": "info", "record": null, "message": "2 records"}
            ]},
            {"call": "interpret", "transfer": 1, "payload": "items-000001.txt", "diagnostics": [
                {"level": "warning", "record": "b", "message": "not in the answer"}
            ]}
        ])
    );
}
