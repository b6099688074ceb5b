//! `hub audit reencode`: a past transfer of each built-in target encoded again byte for
//! byte from what the store recorded; a changed plugin file, a changed record body or
//! changed recorded inputs are refused with the payload and the reason named; a purged
//! transfer is said to be beyond re-encoding.

use std::path::Path;

use hub_test_kitaplaner_server::server::{self, Behaviour};

use crate::common::{Site, plugin, postings};
use crate::kitaplaner::{children, enqueue, pki, site as kita_site};

fn examples(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .display()
        .to_string()
}

/// `hub audit reencode <id> --json`, parsed, with whether it exited 0.
fn reencode(site: &Site, id: u64) -> (bool, serde_json::Value) {
    let r = site.run(&["audit", "reencode", &id.to_string(), "--json"]);
    let v = serde_json::from_str(&r.stdout())
        .unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout(), r.stderr()));
    (r.0.status.success(), v)
}

/// Transfer ids and targets, from `hub status --json`.
fn transfers(site: &Site) -> Vec<(u64, String)> {
    site.status()["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().unwrap(),
                t["target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_transfer_of_each_built_in_target_is_encoded_again_byte_for_byte() {
    let srv = server::start(pki(), Behaviour::default());
    let site = kita_site(&srv, &pki().client);
    let mut text = std::fs::read_to_string(site.config()).unwrap();
    text.push_str(&format!(
        r#"
[plugins.rki]
path = "{}"

[[target]]
name = "rki"
plugin = "rki"
utc_offset_minutes = 60
package = "zip"
transport = {{ type = "dir", path = "rki-out" }}
[target.settings]
sender = "1.01.0.02."
role = "health-office"
"#,
        plugin("rki").display()
    ));
    site.write_config(&text);
    enqueue(&site, &children(3));
    site.ok(&["enqueue", "prisme", &examples("prisme-postings.ndjson")]);
    site.ok(&["enqueue", "rki", &examples("rki-cases.ndjson")]);
    for target in ["kita", "prisme", "rki"] {
        site.ok(&["send", target]);
    }
    let all = transfers(&site);
    for target in ["kita", "prisme", "rki"] {
        assert!(
            all.iter().any(|(_, t)| t == target),
            "no {target} transfer: {all:?}"
        );
    }
    for (id, target) in &all {
        let (ok, r) = reencode(&site, *id);
        assert!(ok, "{target} transfer #{id}: {r}");
        assert_eq!(r["verdict"], "reproduced", "{r}");
        assert_eq!(r["findings"], serde_json::json!([]), "{r}");
        let payloads = r["payloads"].as_array().unwrap();
        assert!(!payloads.is_empty(), "{r}");
        for p in payloads {
            assert_eq!(p["same"], true, "{p}");
            assert_eq!(p["sent_sha256"], p["now_sha256"], "{p}");
        }
    }
    // The human form says so in one line.
    let out = site.ok(&["audit", "reencode", &format!("#{}", all[0].0)]);
    assert!(out.contains("reproduced byte for byte"), "{out}");
}

#[test]
fn a_changed_plugin_body_or_recorded_input_is_never_claimed_byte_identical() {
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    site.ok(&["send", "prisme"]);
    let id = transfers(&site)[0].0;
    assert!(reencode(&site, id).0);
    let db = rusqlite::Connection::open(site.path("data/hub.db")).unwrap();

    // A record body changed after it was sent: its enqueue hash and the payload say so.
    db.execute(
        "UPDATE records SET body = replace(body, 'Posting 1', 'Posting 9') WHERE record_id = 'p1d'",
        [],
    )
    .unwrap();
    let r = site.run(&["audit", "reencode", &id.to_string()]);
    assert_eq!(r.code(), Some(1), "{}", r.stdout());
    let out = r.stdout();
    assert!(out.contains("DIFFERS: differs from byte offset"), "{out}");
    assert!(
        out.contains("why: record p1d (#1) does not have the body it was enqueued with"),
        "{out}"
    );
    assert!(out.contains("NOT reproduced"), "{out}");
    db.execute(
        "UPDATE records SET body = replace(body, 'Posting 9', 'Posting 1') WHERE record_id = 'p1d'",
        [],
    )
    .unwrap();
    assert!(reencode(&site, id).0, "the body restored");

    // A recorded input changed (the organisation unit in the settings): other bytes.
    db.execute(
        "UPDATE transfers SET encode_inputs = replace(encode_inputs, '\"0956\"', '\"0957\"')",
        [],
    )
    .unwrap();
    let (ok, r) = reencode(&site, id);
    assert!(!ok, "{r}");
    assert_eq!(r["verdict"], "not-reproduced", "{r}");
    assert_eq!(r["payloads"][0]["same"], false, "{r}");
    db.execute(
        "UPDATE transfers SET encode_inputs = replace(encode_inputs, '\"0957\"', '\"0956\"')",
        [],
    )
    .unwrap();

    // Another plugin file (the same code plus a custom section): the same bytes come out,
    // but they prove nothing about the file that made them.
    let mut wasm = std::fs::read(plugin("prisme")).unwrap();
    wasm.extend_from_slice(&[0x00, 0x04, 0x01, b'x', b'y', b'z']);
    let copy = site.path("prisme-changed.wasm");
    std::fs::write(&copy, &wasm).unwrap();
    let text = std::fs::read_to_string(site.config()).unwrap().replacen(
        &plugin("prisme").display().to_string(),
        &copy.display().to_string(),
        1,
    );
    site.write_config(&text);
    let r = site.run(&["audit", "reencode", &id.to_string()]);
    assert_eq!(r.code(), Some(1), "{}", r.stdout());
    let out = r.stdout();
    assert!(out.contains(": same bytes"), "{out}");
    assert!(
        out.contains("why: the plugin loaded now is prisme@"),
        "{out}"
    );
    assert!(
        out.contains("not the one that encoded the transfer"),
        "{out}"
    );
    assert!(out.contains("NOT reproduced"), "{out}");
}

#[test]
fn a_purged_transfer_cannot_be_re_encoded_and_says_so() {
    let site = Site::prisme("");
    let text = std::fs::read_to_string(site.config()).unwrap().replacen(
        "transport = { type = \"dir\", path = \"out\" }",
        "transport = { type = \"dir\", path = \"out\" }\nretention_days = 30",
        1,
    );
    site.write_config(&text);
    let input = site.write("in.ndjson", &postings(1, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    site.ok(&["send", "prisme"]);
    let id = transfers(&site)[0].0;
    let out = site
        .cmd(&["purge"])
        .env("HUB_NOW", "2024-04-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = site.run(&["audit", "reencode", &id.to_string()]);
    assert_eq!(r.code(), Some(1), "{}", r.stdout());
    let out = r.stdout();
    assert!(out.contains("CANNOT re-encode transfer #"), "{out}");
    assert!(out.contains("purged on 2024-04-01"), "{out}");
    assert!(out.contains("not encoded again (sent: sha256 "), "{out}");
}
