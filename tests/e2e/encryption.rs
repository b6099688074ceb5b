//! Encryption at rest end to end: with `[encryption]`, a name the records carry is found
//! in neither `hub.db` nor its write-ahead log after enqueue and send, while the file the
//! receiver gets holds it and its hash; a rotation keeps the old key reading until `hub
//! rekey`; a deleted key stops exactly what it sealed, naming the key; another key under a
//! known id is refused.

use sha2::{Digest, Sha256};

use crate::common::{Site, postings};

/// A name that only the records carry.
const NAME: &str = "Kristiansen";

fn holds_name(site: &Site) -> bool {
    let mut bytes = std::fs::read(site.path("data/hub.db")).unwrap();
    bytes.extend(std::fs::read(site.path("data/hub.db-wal")).unwrap_or_default());
    bytes.windows(NAME.len()).any(|w| w == NAME.as_bytes())
}

/// The Prisme site with these `[encryption]` keys (id, byte repeated 32 times as hex in
/// `keys/<id>`), sealing under `current`.
fn site(current: &str, keys: &[(&str, u8)]) -> Site {
    let site = Site::prisme("");
    std::fs::create_dir_all(site.path("keys")).unwrap();
    set_keys(&site, current, keys);
    site
}

fn set_keys(site: &Site, current: &str, keys: &[(&str, u8)]) {
    let text = std::fs::read_to_string(site.config()).unwrap();
    let text = text.split("\n[encryption]").next().unwrap().to_string();
    let mut table = Vec::new();
    for (id, b) in keys {
        std::fs::write(
            site.path(&format!("keys/{id}")),
            hex::encode([*b; 32]) + "\n",
        )
        .unwrap();
        table.push(format!("{id} = {{ file = \"keys/{id}\" }}"));
    }
    site.write_config(&format!(
        "{text}\n[encryption]\ncurrent = \"{current}\"\nkeys = {{ {} }}\n",
        table.join(", ")
    ));
}

fn input(site: &Site, n: usize, first: usize) -> String {
    let text = postings(n, first).replace("Posting ", &format!("{NAME} "));
    let file = site.write(&format!("in{first}.ndjson"), &text);
    file.to_str().unwrap().to_string()
}

#[test]
fn with_encryption_the_name_is_in_neither_the_store_nor_its_log_but_in_the_file_sent() {
    let site = site("k1", &[("k1", 1)]);
    let file = input(&site, 3, 1);
    site.ok(&["enqueue", "prisme", &file]);
    assert!(!holds_name(&site), "the name is in the store after enqueue");
    site.ok(&["send", "prisme"]);
    assert!(!holds_name(&site), "the name is in the store after send");
    let files = site.files("out");
    assert_eq!(files.len(), 1, "{files:?}");
    let delivered = std::fs::read(site.path("out").join(&files[0])).unwrap();
    assert!(String::from_utf8_lossy(&delivered).contains(NAME));
    // The hash shown is of what the receiver got, not of the ciphertext.
    let status = site.status();
    assert_eq!(
        status["transfers"][0]["payloads"][0]["sha256"],
        hex::encode(Sha256::digest(&delivered)).as_str()
    );
    let uses: serde_json::Value =
        serde_json::from_str(&site.ok(&["rekey", "--dry-run", "--json"])).unwrap();
    assert_eq!(uses[0]["key"], "k1");
    assert_eq!(
        (uses[0]["records"].as_u64(), uses[0]["payloads"].as_u64()),
        (Some(6), Some(1))
    );
    // No key in any output.
    let key_text = hex::encode([1u8; 32]);
    assert!(!site.ok(&["check"]).contains(&key_text));
}

#[test]
fn a_rotation_reads_old_data_until_rekey_and_a_deleted_key_is_named() {
    let site = site("k1", &[("k1", 1)]);
    let first = input(&site, 2, 1);
    site.ok(&["enqueue", "prisme", &first]);
    site.ok(&["send", "prisme"]);
    let second = input(&site, 2, 10);
    site.ok(&["enqueue", "prisme", &second]);

    // The old key is gone before its queued records went: sending them fails, naming it.
    set_keys(&site, "k2", &[("k2", 2)]);
    let r = site.run(&["send", "prisme"]);
    assert_ne!(r.code(), Some(0), "{}", r.stdout());
    let said = r.stderr() + &r.stdout();
    assert!(
        said.contains("key `k1`") && said.contains("crypto-shredded"),
        "{said}"
    );

    // Rotated properly: k2 seals, k1 still reads; the queued records go out.
    set_keys(&site, "k2", &[("k1", 1), ("k2", 2)]);
    site.ok(&["send", "prisme"]);
    assert_eq!(site.files("out").len(), 2);
    let said = site.ok(&["rekey"]);
    assert!(
        said.contains("re-sealed under key `k2`") && said.contains("Store rewritten"),
        "{said}"
    );
    // k1 can go now: the first transfer is sent again from bytes re-sealed under k2.
    set_keys(&site, "k2", &[("k2", 2)]);
    let uses: serde_json::Value =
        serde_json::from_str(&site.ok(&["rekey", "--dry-run", "--json"])).unwrap();
    assert_eq!(uses.as_array().unwrap().len(), 1, "{uses}");
    assert_eq!(uses[0]["key"], "k2");
    let out = site.files("out");
    std::fs::remove_file(site.path("out").join(&out[0])).unwrap();
    site.ok(&["resend", "1", "--reason", "asked again"]);
    site.ok(&["send", "prisme"]);
    assert_eq!(site.files("out"), out);
    assert!(!holds_name(&site));
    let trail = site.ok(&["audit", "export"]);
    assert!(trail.contains("\"rekey\""), "{trail}");
}

#[test]
fn another_key_under_a_known_id_is_refused_without_quoting_it() {
    let site = site("k1", &[("k1", 1)]);
    let file = input(&site, 1, 1);
    site.ok(&["enqueue", "prisme", &file]);
    std::fs::write(site.path("keys/k1"), hex::encode([9u8; 32])).unwrap();
    let r = site.run(&["status"]);
    assert_ne!(r.code(), Some(0));
    assert!(
        r.stderr().contains("key `k1` is not the key"),
        "{}",
        r.stderr()
    );
    assert!(!r.stderr().contains(&hex::encode([9u8; 32])));
    // A key that is not 32 bytes is refused by name and source, not quoted.
    std::fs::write(site.path("keys/k1"), "too-short-secret").unwrap();
    let r = site.run(&["status"]);
    assert_ne!(r.code(), Some(0));
    assert!(
        r.stderr().contains("encryption.keys.k1") && !r.stderr().contains("too-short-secret"),
        "{}",
        r.stderr()
    );
}

/// The receiving side: a SurvNet case carrying the name arrives and is imported under the
/// receiver's key; neither its version nor the archive as it arrived shows the name in
/// `hub.db` or its log, `hub records show` opens it, and without the key it names the key.
#[test]
fn with_encryption_a_received_case_is_in_neither_the_store_nor_its_log() {
    use crate::import::{LS, arrive, case, guid, import_json, line, receiver, send, sender};
    let (ga, ls) = (sender(), receiver(""));
    std::fs::create_dir_all(ls.path("keys")).unwrap();
    set_keys(&ls, "state-2026", &[("state-2026", 9)]);
    send(&ga, &line("a", "case", &case(1, 1, LS, NAME)));
    arrive(&ga, &ls, &crate::import::zip_name(LS, 1));
    let r = import_json(&ls, &[]);
    assert_eq!(r["imported"][0]["records"], 1, "{r}");
    assert!(
        !holds_name(&ls),
        "a received name is in the receiver's store"
    );
    let shown = ls.ok(&["records", "show", &guid(1), "--json"]);
    assert!(shown.contains(NAME), "{shown}");
    // The key deleted: the version cannot be read, and the error names the key.
    let text = std::fs::read_to_string(ls.config()).unwrap();
    ls.write_config(text.split("\n[encryption]").next().unwrap());
    let out = ls.run(&["records", "show", &guid(1), "--json"]);
    assert!(
        out.code() != Some(0) && out.stderr().contains("key `state-2026`"),
        "{}",
        out.stderr()
    );
}
