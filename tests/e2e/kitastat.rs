//! The worked example `examples/plugins/kitastat` (a plugin written by following
//! `docs/plugins.md` from `hub plugin new` on) as a site runs it: its hub.toml snippet, its
//! sample records enqueued and sent to a `dir` target, the delivered file byte for byte its
//! golden file; and `hub plugin test` (with the diagnostics) and `--determinism` pass on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{HUB, Site, plugin, shared_cache};

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plugins/kitastat")
        .join(rel)
}

const FILE: &str = "KITA_12345_4711_202401_0001.csv";
/// The sample's over-occupied facility.
const OVER: &str = "2024-01-010570013";

fn golden() -> Vec<u8> {
    std::fs::read(example(&format!("tests/golden/{FILE}.expected"))).unwrap()
}

/// A site configured with the example's own hub.toml snippet, its paths pointed here.
fn site() -> Site {
    let snippet = std::fs::read_to_string(example("hub.toml")).unwrap();
    assert!(
        snippet.contains("/opt/hub/plugins/kitastat.wasm"),
        "{snippet}"
    );
    assert!(
        snippet.contains("/var/lib/hub/outbox/kitastat"),
        "{snippet}"
    );
    let snippet = snippet
        .replace(
            "/opt/hub/plugins/kitastat.wasm",
            &plugin("kitastat").display().to_string(),
        )
        .replace("/var/lib/hub/outbox/kitastat", "out");
    let site = Site {
        dir: tempfile::tempdir().unwrap(),
    };
    site.write_config(&format!(
        "version = 1\n[store]\npath = \"data/hub.db\"\n[runtime]\ncache_dir = \"{}\"\n\n{snippet}",
        shared_cache().display()
    ));
    site
}

#[test]
fn the_sample_is_delivered_byte_for_byte_as_its_golden_file() {
    let site = site();
    let records = example("tests/golden/records.ndjson");
    site.ok(&["enqueue", "kitastat", records.to_str().unwrap()]);
    let sent = site.run(&["send", "kitastat"]);
    assert_eq!(sent.code(), Some(0), "{}", sent.stderr());
    assert_eq!(site.files("out"), [FILE]);
    assert!(
        std::fs::read(site.path("out").join(FILE)).unwrap() == golden(),
        "the delivered file differs from tests/golden/{FILE}.expected"
    );
    // The warning is in the hub's log, with the plugin's name and the record.
    let log = sent.stderr();
    assert!(
        log.contains("plugin says: facility 010570013: 47 places occupied, 45 approved"),
        "{log}"
    );
    assert!(log.contains(OVER), "{log}");
    let files: serde_json::Value =
        serde_json::from_str(&site.ok(&["status", "--files", "--json"])).unwrap();
    assert_eq!(files[0]["state"], "delivered", "{files}");
}

fn plugin_test(extra: &[&str]) -> (bool, String) {
    let out = Command::new(HUB)
        .args(["plugin", "test"])
        .arg(plugin("kitastat"))
        .arg("--records")
        .arg(example("tests/golden/records.ndjson"))
        .args(["--settings", "reporter=12345"])
        .args(extra)
        .env_remove("HUB_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn plugin_test_shows_the_golden_bytes_and_the_warning_and_the_plugin_is_deterministic() {
    let (ok, out) = plugin_test(&["--json"]);
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let payload = &report["transfers"][0]["payloads"][0];
    assert_eq!(payload["name"], FILE);
    assert_eq!(
        payload["text"].as_str().unwrap().as_bytes(),
        golden().as_slice()
    );
    assert_eq!(payload["labels"]["carrier"], "4711");
    let notes = &report["diagnostics"][0];
    assert_eq!(notes["call"], "encode", "{notes}");
    assert_eq!(notes["diagnostics"][0]["level"], "warning", "{notes}");
    assert_eq!(notes["diagnostics"][0]["record"], OVER, "{notes}");

    let (ok, text) = plugin_test(&[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("-- diagnostics of encode (transfer 1)"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  warning  record {OVER}: facility 010570013: 47 places occupied, 45 approved; sent as reported"
        )),
        "{text}"
    );
    assert!(text.contains("Kinderhaus „Sonnenschein“"), "{text}");

    let (ok, text) = plugin_test(&["--determinism", "--runs", "3"]);
    assert!(ok, "{text}");
    assert!(text.contains("determinism: ok: 3 runs"), "{text}");
}
