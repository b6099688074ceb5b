//! `hub plugin test --determinism` through the real binary: every built-in plugin (the
//! Python one included) encodes the same bytes in fresh sandboxes, and a WASI plugin that
//! writes the clock or a random number into its payload is caught, with the payload and
//! the first differing byte named.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{HUB, plugin, plugin_dir};

fn examples(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// `hub plugin test <wasm> --records <file> --determinism [--settings …] [extra]`.
/// Whether it passed, its stdout, and its stderr.
fn determinism(
    wasm: &Path,
    records: &Path,
    settings: &[&str],
    extra: &[&str],
) -> (bool, String, String) {
    let mut c = Command::new(HUB);
    c.args(["plugin", "test"])
        .arg(wasm)
        .arg("--records")
        .arg(records)
        .arg("--determinism")
        .args(extra)
        .env_remove("HUB_CONFIG")
        .stdin(Stdio::null());
    if !settings.is_empty() {
        c.arg("--settings").args(settings);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_check(wasm: &Path, records: &Path, settings: &[&str]) -> serde_json::Value {
    let (ok, out, err) = determinism(wasm, records, settings, &["--json", "--runs", "3"]);
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let d = &report["determinism"];
    assert!(ok, "{}: {d}", wasm.display());
    assert_eq!(d["difference"], serde_json::Value::Null, "{d}");
    assert_eq!(d["runs"], 3, "{d}");
    assert!(d["payloads"].as_u64().unwrap() >= 1, "{d}");
    d.clone()
}

#[test]
fn every_built_in_rust_plugin_gives_the_same_bytes_in_fresh_sandboxes() {
    let d = json_check(
        &plugin("prisme"),
        &examples("prisme-postings.ndjson"),
        &[
            "municipality=sermersooq",
            "environment=test",
            "organisation_unit=0956",
        ],
    );
    assert_eq!(d["varied_wasi"], false, "{d}");
    json_check(
        &plugin("rki"),
        &examples("rki-cases.ndjson"),
        &["sender=1.01.0.02.", "role=health-office"],
    );
    // A request target: compared without an answer, the request bodies are still made.
    json_check(
        &plugin("kitaplaner"),
        &examples("kitaplaner-children.ndjson"),
        &["benutzer_id=forcare-central", "traeger=T-4711"],
    );
}

#[test]
fn the_python_plugin_gives_the_same_bytes_with_other_clocks_and_seeds() {
    let wasm = plugin_dir().join("csvdrop.wasm");
    assert!(wasm.exists(), "{} is missing", wasm.display());
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("rows.ndjson");
    std::fs::write(
        &records,
        concat!(
            r#"{"id":"k1","kind":"row","name":"Kita Sonnenschein","fee":0.10,"active":true}"#,
            "\n",
            r#"{"id":"k2","kind":"row","name":"Müller; Söhne","fee":-3,"active":null}"#,
            "\n",
        ),
    )
    .unwrap();
    let d = json_check(
        &wasm,
        &records,
        &[
            "columns=name,fee,active",
            "delimiter=semicolon",
            "prefix=kitas",
        ],
    );
    assert_eq!(d["varied_wasi"], true, "{d}");
}

#[test]
fn a_plugin_writing_the_clock_or_randomness_fails_naming_payload_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let wasi = plugin("test-wasi");
    // The same WASI plugin passes when it leaves clock and randomness alone.
    let ok = tmp.path().join("ok.ndjson");
    std::fs::write(&ok, "{\"id\":\"r1\",\"kind\":\"ok\"}\n").unwrap();
    let d = json_check(&wasi, &ok, &[]);
    assert_eq!(d["varied_wasi"], true, "{d}");

    for (kind, offset) in [("random", "6"), ("clock", "13")] {
        let records = tmp.path().join(format!("{kind}.ndjson"));
        std::fs::write(
            &records,
            format!("{{\"id\":\"{kind}-1\",\"kind\":\"{kind}\"}}\n"),
        )
        .unwrap();
        let (ok, out, err) = determinism(&wasi, &records, &[], &[]);
        assert!(!ok, "{kind}: passed: {out} {err}");
        let line = out
            .lines()
            .find(|l| l.starts_with("determinism: FAILED"))
            .unwrap_or_else(|| panic!("{kind}: no verdict in {out} {err}"));
        assert!(
            line.contains(&format!(
                "plugin test-wasi is not deterministic: payload `{kind}-1.txt` (transfer 1) \
                 differs at byte offset {offset} between run 1 and run 2"
            )),
            "{line}"
        );
    }
}
