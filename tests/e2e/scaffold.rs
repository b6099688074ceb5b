//! A third party's path: `hub plugin new` writes a crate outside the workspace, its own
//! golden test passes (`cargo test`), `hub plugin build` makes a component of it without
//! wasm-tools, and `hub plugin test` runs that component in the hub's sandbox with the
//! same fixed context, so its payload is byte for byte the golden file.
//!
//! Cost: the crate compiles into `<target>/scaffold`, kept between runs, offline against
//! the hub's own Cargo.lock; a warm run rebuilds only the scaffolded crate.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::HUB;

/// A target directory for scaffolded crates beside this build's, so their dependencies
/// compile once and stay.
fn scaffold_target() -> PathBuf {
    Path::new(HUB).ancestors().nth(2).unwrap().join("scaffold")
}

fn hub(args: &[&str]) -> std::process::Output {
    Command::new(HUB)
        .args(args)
        .env("CARGO", env!("CARGO"))
        .env("CARGO_TARGET_DIR", scaffold_target())
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("HUB_CONFIG")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = hub(args);
    assert!(
        out.status.success(),
        "hub {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_scaffolded_plugin_passes_its_golden_test_builds_and_runs_in_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-target");
    let d = dir.to_str().unwrap();

    let bad = hub(&["plugin", "new", "Acme", "--dir", d]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("plugin name `Acme`"));

    ok(&["plugin", "new", "acme-target", "--dir", d]);
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/lib.rs",
        "tests/golden.rs",
        "tests/golden/records.ndjson",
        "tests/golden/acme-target-000001.txt.expected",
        "wit/hub-plugin.wit",
    ] {
        assert!(dir.join(f).exists(), "{f} was not written");
    }
    let again = hub(&["plugin", "new", "acme-target", "--dir", d]);
    assert!(
        !again.status.success(),
        "an existing crate must not be overwritten"
    );

    // Its own tests, natively (golden file, receipt, errors naming record and field).
    let test = Command::new(env!("CARGO"))
        .args(["test", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", scaffold_target())
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "cargo test in the scaffolded crate failed:\n{}\n{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );

    // The README's one build command.
    let wasm = tmp.path().join("acme-target.wasm");
    let built: serde_json::Value = serde_json::from_str(&ok(&[
        "plugin",
        "build",
        d,
        "--out",
        wasm.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(built["name"], "acme-target");
    assert_eq!(built["version"], "0.1.0");
    assert!(wasm.exists());

    // In the sandbox, with the golden test's records, settings and receipt.
    let golden = dir.join("tests/golden");
    let (records, receipt) = (golden.join("records.ndjson"), golden.join("receipt.txt"));
    let args = [
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        "--records",
        records.to_str().unwrap(),
        "--settings",
        "customer=4711",
        "--response",
        receipt.to_str().unwrap(),
    ];
    let report: serde_json::Value =
        serde_json::from_str(&ok(&[&args[..], &["--json"]].concat())).unwrap();
    assert_eq!(report["describe"]["name"], "acme-target");
    assert_eq!(report["describe"]["delivery"], "file-drop-with-receipt");
    assert_eq!(report["sha256"], built["sha256"]);
    assert!(
        report["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ok"] == true)
    );
    let payload = &report["transfers"][0]["payloads"][0];
    assert_eq!(payload["name"], "acme-target-000001.txt");
    assert_eq!(payload["labels"]["number"], "1");
    let expected = std::fs::read_to_string(golden.join("acme-target-000001.txt.expected")).unwrap();
    assert_eq!(payload["text"].as_str().unwrap(), expected);
    let outcomes: Vec<(String, String)> = payload["outcomes"]["Ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["record"].as_str().unwrap().into(),
                o["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("item-1".to_string(), "delivered".to_string()),
            ("item-2".to_string(), "rejected".to_string()),
            // The receipt does not mention it: `hub receipt` rejects it, and so does the
            // test, which runs the same pipeline.
            ("item-3".to_string(), "rejected".to_string())
        ]
    );
    let human = ok(&args);
    assert!(
        human.contains("== acme-target-000001.txt (text/plain, 223 bytes, 3 record(s), number=1)"),
        "{human}"
    );
    assert!(
        human.contains("item-3 rejected the receipt does not mention this record"),
        "{human}"
    );
    // Its diagnostic, which `hub send` would only log.
    assert!(
        human.contains(
            "-- diagnostics of encode (transfer 1)\n  warning  record item-3: amount is 0\n"
        ),
        "{human}"
    );

    // A bad record: named with its field, and the exit code says so.
    let bad = tmp.path().join("bad.ndjson");
    std::fs::write(
        &bad,
        "{\"id\":\"x1\",\"kind\":\"item\",\"amount\":\"12\"}\n",
    )
    .unwrap();
    let out = hub(&[
        "plugin",
        "test",
        wasm.to_str().unwrap(),
        "--records",
        bad.to_str().unwrap(),
        "--settings",
        "customer=4711",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("record x1: field amount: must be a whole number, found a string"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn plugin_build_leaves_no_component_behind_when_the_hub_would_refuse_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("importer.wasm");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/plugins/importer");
    let r = hub(&[
        "plugin",
        "build",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("imports what the hub does not provide"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "a refused component was left at {}",
        out.display()
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
