//! A record's identity is its id plus its canonical JSON (RFC 8785): the same record in
//! another spelling is a duplicate; the same id with another body means what the plugin
//! declares for its kind.

use crate::common::{Site, postings};
use crate::kitaplaner::{children, enqueue, pki, site as kita_site};
use hub_test_kitaplaner_server::server::{self, Behaviour};

/// The same JSON object with its keys in reverse order and other whitespace.
fn respelled(line: &str) -> String {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
    let parts: Vec<String> = v
        .iter()
        .rev()
        .map(|(k, v)| format!("  {} :\t{}", serde_json::to_string(k).unwrap(), v))
        .collect();
    format!("{{ {} }}", parts.join(" ,"))
}

fn enqueue_json(site: &Site, target: &str, text: &str) -> serde_json::Value {
    let f = site.write("again.ndjson", text);
    serde_json::from_str(&site.ok(&["enqueue", target, f.to_str().unwrap(), "--json"])).unwrap()
}

#[test]
fn a_respelled_record_is_a_duplicate_and_a_changed_posting_is_refused_naming_its_file() {
    let site = Site::prisme("");
    let text = postings(1, 1);
    let first = enqueue_json(&site, "prisme", &text);
    assert_eq!(first["queued"], 2);
    let again: String = text.lines().map(|l| respelled(l) + "\n").collect();
    assert_ne!(again, text);
    let r = enqueue_json(&site, "prisme", &again);
    assert_eq!(
        (r["queued"].clone(), r["duplicates"].clone()),
        (0.into(), 2.into()),
        "{r}"
    );
    site.ok(&["send", "prisme"]);
    // Sent: the same again is still a duplicate, and no second G file appears.
    let r = enqueue_json(&site, "prisme", &again);
    assert_eq!(r["duplicates"], 2, "{r}");
    site.ok(&["send", "prisme"]);
    assert_eq!(site.files("out"), ["sermersooq/test/G/522-24-001-G.txt"]);
    // The same id with another amount would be a second booking: refused, all or nothing.
    let changed = text.replacen("\"amount_ore\":1001", "\"amount_ore\":1999", 1);
    let f = site.write("changed.ndjson", &format!("{changed}{}", postings(1, 7)));
    let out = site.run(&["enqueue", "prisme", f.to_str().unwrap()]);
    assert_ne!(out.code(), Some(0));
    let err = out.stderr();
    assert!(err.contains("line 1"), "{err}");
    assert!(err.contains("record p1d"), "{err}");
    assert!(err.contains("transfer #1"), "{err}");
    assert!(err.contains("522-24-001-G.txt"), "{err}");
    assert!(err.contains("its own id"), "{err}");
    assert_eq!(
        site.status()["targets"][0]["queued"],
        0,
        "something was queued"
    );
}

#[test]
fn a_changed_child_is_sent_again_as_the_newer_snapshot() {
    let srv = server::start(pki(), Behaviour::default());
    let site = kita_site(&srv, &pki().client);
    let text = children(2);
    enqueue(&site, &text);
    site.ok(&["send", "kita"]);
    assert_eq!(srv.records().len(), 2);
    // Respelled: a duplicate, nothing sent.
    let again: String = text.lines().map(|l| respelled(l) + "\n").collect();
    let r = enqueue_json(&site, "kita", &again);
    assert_eq!(r["duplicates"], 2, "{r}");
    // The group changed: the newer state goes to Kita-Planer.
    let first = text.lines().next().unwrap().replace("Seesterne", "Wale");
    let r = enqueue_json(&site, "kita", &format!("{first}\n"));
    assert_eq!(
        (r["queued"].clone(), r["changed"].clone()),
        (1.into(), 1.into()),
        "{r}"
    );
    site.ok(&["send", "kita"]);
    let records = srv.records();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["VER_GRUPPE"], "Wale");
}

#[test]
fn a_changed_rki_case_is_queued_as_its_next_version() {
    let site = Site::prisme(&format!(
        r#"
[plugins.rki]
path = "{}"

[[target]]
name = "rki"
plugin = "rki"
transport = {{ type = "dir", path = "rki-out" }}
[target.settings]
sender = "1.01.0.02."
role = "health-office"
"#,
        crate::common::plugin("rki").display()
    ));
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    let text = std::fs::read_to_string(&examples).unwrap();
    let case = text
        .lines()
        .find(|l| l.contains("\"sal-2025-0007\""))
        .unwrap();
    enqueue_json(&site, "rki", &format!("{case}\n"));
    site.ok(&["send", "rki"]);
    let next = case
        .replace("\"version_no\": 1", "\"version_no\": 2")
        .replace("2025-03-03T09:00:00", "2025-03-04T10:00:00");
    assert_ne!(next, case);
    let r = enqueue_json(&site, "rki", &format!("{next}\n"));
    assert_eq!(
        (r["queued"].clone(), r["changed"].clone()),
        (1.into(), 0.into()),
        "{r}"
    );
    site.ok(&["send", "rki"]);
    assert_eq!(
        site.files("rki-out")
            .iter()
            .filter(|f| f.ends_with(".xml"))
            .count(),
        2,
        "{:?}",
        site.files("rki-out")
    );
}
