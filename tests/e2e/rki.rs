//! RKI transports on the sending side: files in place, then the receipt completes them.

use hub_plugin_rki::{Receipt, ReceiptResult, parse_transport, write_receipt};

use crate::common::{Site, plugin};

fn site() -> Site {
    Site::prisme(&format!(
        r#"
[plugins.rki]
path = "{}"

[[target]]
name = "rki"
plugin = "rki"
utc_offset_minutes = 60
receipt_after_minutes = 60
transport = {{ type = "dir", path = "rki-out" }}
[target.settings]
sender = "1.01.0.02."
role = "health-office"
"#,
        plugin("rki").display()
    ))
}

#[test]
fn a_receipt_gives_each_record_its_outcome_and_completes_the_transport() {
    let site = site();
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    site.ok(&["enqueue", "rki", examples.to_str().unwrap()]);
    site.ok(&["send", "rki"]);
    let status = site.status();
    let t = &status["transfers"][0];
    assert_eq!(t["state"], "sent", "{t}");
    assert_eq!(status["targets"][0]["in_flight"], 4);

    // A receipt for a transport we never sent changes nothing.
    let xml = std::fs::read(site.path("rki-out/RKI_1.01.0.02._1.01._00000001.xml")).unwrap();
    let parsed = parse_transport(&xml).unwrap();
    let mut wrong = Receipt::imported(&parsed);
    wrong.transport_number = 7;
    let wrong_file = site.path("wrong.xml");
    std::fs::write(&wrong_file, write_receipt(&wrong)).unwrap();
    let r = site.run(&["receipt", "rki", wrong_file.to_str().unwrap()]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains("answers no transfer waiting for one"),
        "{}",
        r.stderr()
    );
    assert_eq!(site.status()["targets"][0]["in_flight"], 4);

    // Not yet answered after more than an hour: reported.
    let late = site
        .cmd(&["status"])
        .env("HUB_NOW", "2024-02-01T14:00:00Z")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&late.stdout).contains("Transports still without a receipt"));

    // The receiver imported all but one, which it rejects with a code.
    let mut receipt = Receipt::imported(&parsed);
    receipt.records[0].result = ReceiptResult::Rejected;
    receipt.records[0].code = Some("EDITOR_NOT_OWNER".into());
    let file = site.path("receipt.xml");
    std::fs::write(&file, write_receipt(&receipt)).unwrap();
    let out = site.ok(&["receipt", "rki", file.to_str().unwrap()]);
    assert!(out.contains("receipt for transfer #1 (number 1)"), "{out}");
    assert!(out.contains("1 rejected; transfer needs-check"), "{out}");
    let status = site.status();
    assert_eq!(status["targets"][0]["in_flight"], 0);
    assert_eq!(status["targets"][0]["failed"], 1);
    let msgs = status["needs_check"][0]["messages"].to_string();
    assert!(msgs.contains("EDITOR_NOT_OWNER"), "{msgs}");
    assert_eq!(status["no_receipt"], serde_json::json!([]));
    // The same receipt again answers nothing (the transport is no longer waiting).
    let r = site.run(&["receipt", "rki", file.to_str().unwrap()]);
    assert!(
        r.stderr().contains("no transfer is waiting for a receipt"),
        "{}",
        r.stderr()
    );
}

#[test]
fn with_package_zip_a_transport_is_one_archive_and_its_receipt_completes_it() {
    let site = site();
    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&text.replace(
        "receipt_after_minutes = 60",
        "receipt_after_minutes = 60\npackage = \"zip\"",
    ));
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    site.ok(&["enqueue", "rki", examples.to_str().unwrap()]);
    site.ok(&["send", "rki"]);
    assert_eq!(
        site.files("rki-out"),
        vec!["RKI_1.01.0.02._1.01._00000001.zip"]
    );
    let bytes = std::fs::read(site.path("rki-out/RKI_1.01.0.02._1.01._00000001.zip")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "RKI_1.01.0.02._1.01._00000001.xml",
            "RKI_1.01.0.02._12345678_001.txt"
        ]
    );
    let mut xml = Vec::new();
    std::io::Read::read_to_end(
        &mut archive
            .by_name("RKI_1.01.0.02._1.01._00000001.xml")
            .unwrap(),
        &mut xml,
    )
    .unwrap();
    let parsed = parse_transport(&xml).unwrap();
    assert_eq!(parsed.transport_number, 1);
    let file = site.path("receipt.xml");
    std::fs::write(&file, write_receipt(&Receipt::imported(&parsed))).unwrap();
    let out = site.ok(&["receipt", "rki", file.to_str().unwrap()]);
    assert!(out.contains("0 rejected; transfer done"), "{out}");
    assert_eq!(site.status()["targets"][0]["delivered"], 4);
}

#[test]
fn a_transport_is_sent_again_byte_for_byte_on_request() {
    let site = site();
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    site.ok(&["enqueue", "rki", examples.to_str().unwrap()]);
    site.ok(&["send", "rki"]);
    let path = site.path("rki-out/RKI_1.01.0.02._1.01._00000001.xml");
    let first = std::fs::read(&path).unwrap();
    // The receiver took the transport, lost it, and asks for it again.
    for f in site.files("rki-out") {
        std::fs::remove_file(site.path(&format!("rki-out/{f}"))).unwrap();
    }
    let r = site.run(&["resend", "#1", "--reason", ""]);
    assert_eq!(r.code(), Some(1));
    let out = site.ok(&[
        "resend",
        "#1",
        "--reason",
        "re-transmission requested by 1.01.",
        "--as",
        "ole",
    ]);
    assert!(out.contains("transfer #1 sent again"), "{out}");
    assert_eq!(std::fs::read(&path).unwrap(), first, "not the same bytes");
    let log = site.ok(&["log", "--transfer", "1"]);
    assert!(
        log.contains("re-transmission requested by 1.01. (by ole)"),
        "{log}"
    );
    // Still numbered 1: a resend is the same transport, not a new one.
    let status = site.status();
    assert_eq!(status["transfers"].as_array().unwrap().len(), 1);
    assert_eq!(status["transfers"][0]["sequence_no"], 1);
    // While its files are still on the receiver, a resend replaces nothing and says so.
    let r = site.run(&["resend", "1", "--reason", "again"]);
    assert!(
        r.stderr().contains("never replaces a delivered file"),
        "{}",
        r.stderr()
    );
    let r = site.run(&["resend", "99", "--reason", "x"]);
    assert!(
        r.stderr().contains("transfer #99 does not exist"),
        "{}",
        r.stderr()
    );
}

#[test]
fn with_package_zip_over_sftp_in_the_plain_layout_the_archive_arrives_and_waits_for_its_receipt() {
    let server = hub_test_ssh_server::SshServer::start("sermersooq").expect("sshd");
    let site = site();
    let text = std::fs::read_to_string(site.config()).unwrap();
    // The test user may write only below /sermersooq in the chroot: that is the root here.
    site.write_config(
        &text
            .replace(
                "receipt_after_minutes = 60",
                "receipt_after_minutes = 60\npackage = \"zip\"",
            )
            .replace(
                "transport = { type = \"dir\", path = \"rki-out\" }",
                &format!(
                    "transport = {{ type = \"sftp\", host = \"127.0.0.1\", port = {}, user = \"{}\", key_file = \"{}\", host_key = \"{}\", layout = \"plain\", root = \"/sermersooq\", timeout_ms = 10000 }}",
                    server.port,
                    server.user,
                    server.client_key.display(),
                    server.host_key
                ),
            ),
    );
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    site.ok(&["enqueue", "rki", examples.to_str().unwrap()]);
    let out = site.ok(&["send", "rki"]);

    let remote = server.root().join("sermersooq");
    let mut names: Vec<String> = std::fs::read_dir(&remote)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The zip at the top of the root, no temporary file left (prod and test: Prisme's tree).
    assert_eq!(
        names,
        ["RKI_1.01.0.02._1.01._00000001.zip", "prod", "test"],
        "{out}\n{}",
        server.logs()
    );
    let bytes = std::fs::read(remote.join("RKI_1.01.0.02._1.01._00000001.zip")).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut xml = Vec::new();
    std::io::Read::read_to_end(
        &mut archive
            .by_name("RKI_1.01.0.02._1.01._00000001.xml")
            .unwrap(),
        &mut xml,
    )
    .unwrap();
    let parsed = parse_transport(&xml).unwrap();
    assert_eq!(parsed.transport_number, 1);

    // Delivered, and waiting for the receiving office's receipt.
    let status = site.status();
    let t = &status["transfers"][0];
    assert_eq!(t["state"], "sent", "{t}");
    assert_eq!(status["targets"][0]["in_flight"], 4);
    let file = site.path("receipt.xml");
    std::fs::write(&file, write_receipt(&Receipt::imported(&parsed))).unwrap();
    let out = site.ok(&["receipt", "rki", file.to_str().unwrap()]);
    assert!(out.contains("0 rejected; transfer done"), "{out}");
}

/// The example case `sal-2025-0007` under `id`, as version `version` of its GUID.
fn sal_version(id: &str, version: u32) -> String {
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    let text = std::fs::read_to_string(examples).unwrap();
    let case = text
        .lines()
        .find(|l| l.contains("\"sal-2025-0007\""))
        .unwrap();
    let out = case
        .replace("\"sal-2025-0007\"", &format!("\"{id}\""))
        .replace("\"version_no\": 1", &format!("\"version_no\": {version}"))
        .replace(
            "\"changed_at\": \"2025-03-03T09:00:00\"",
            &format!("\"changed_at\": \"2025-03-0{}T09:00:00\"", 2 + version),
        );
    assert!(out.contains(&format!("\"version_no\": {version}")));
    out
}

/// The records each transport file under `rki-out` carries, as (GUID, version), by number.
fn transports(site: &Site) -> Vec<(u64, Vec<(String, u32)>)> {
    let mut out: Vec<(u64, Vec<(String, u32)>)> = site
        .files("rki-out")
        .iter()
        .filter(|f| f.ends_with(".xml"))
        .map(|f| {
            let xml = std::fs::read(site.path(&format!("rki-out/{f}"))).unwrap();
            let t = parse_transport(&xml).unwrap();
            let records = t
                .records
                .iter()
                .map(|r| (r.guid_record.clone(), r.version_no))
                .collect();
            (t.transport_number, records)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_later_version_of_a_guid_in_the_forming_transport_waits_for_the_next_one() {
    let site = site();
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    let text = std::fs::read_to_string(examples).unwrap();
    let inv = text
        .lines()
        .find(|l| l.contains("\"inv-2025-0012\""))
        .unwrap();
    // Versions 1 and 2 of one GUID under their own ids, and another case behind them.
    let f = site.write(
        "cases.ndjson",
        &format!(
            "{}\n{}\n{inv}\n",
            sal_version("sal-7-v1", 1),
            sal_version("sal-7-v2", 2)
        ),
    );
    site.ok(&["enqueue", "rki", f.to_str().unwrap()]);
    let out = site.ok(&["send", "rki"]);
    let status = site.status();
    assert_eq!(status["targets"][0]["failed"], 0, "{out}\n{status}");
    assert_eq!(status["targets"][0]["queued"], 0, "{status}");
    let sal = "{A1B2C3D4-0000-4000-8000-000000000007}".to_string();
    let inv_guid = "{A1B2C3D4-0000-4000-8000-000000000012}".to_string();
    // Version 1 in transport 1; version 2 in transport 2, and the case queued behind it
    // does not overtake it.
    assert_eq!(
        transports(&site),
        vec![
            (1, vec![(sal.clone(), 1)]),
            (2, vec![(sal.clone(), 2), (inv_guid, 2)]),
        ]
    );
    // A third version enqueued later goes in the next transport, without anyone acting.
    let f = site.write("v3.ndjson", &format!("{}\n", sal_version("sal-7-v3", 3)));
    site.ok(&["enqueue", "rki", f.to_str().unwrap()]);
    site.ok(&["send", "rki"]);
    assert_eq!(transports(&site)[2], (3, vec![(sal, 3)]));
    assert_eq!(site.status()["targets"][0]["failed"], 0);
}

/// The RKI plugin as built against contract 0.1.1 (before `batching`), kept byte for byte.
fn rki_0_1_1() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/contract-0.1.1/rki.wasm")
}

#[test]
fn a_plugin_built_for_contract_0_1_1_loads_and_sends_as_it_did() {
    let site = site();
    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&text.replace(
        &crate::common::plugin("rki").display().to_string(),
        &rki_0_1_1().display().to_string(),
    ));
    let plugins = site.ok(&["plugins", "--json"]);
    assert!(plugins.contains("contract-0.1.1"), "{plugins}");
    // Its transports go out and their receipts complete them, as before.
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rki-cases.ndjson");
    site.ok(&["enqueue", "rki", examples.to_str().unwrap()]);
    site.ok(&["send", "rki"]);
    let xml = std::fs::read(site.path("rki-out/RKI_1.01.0.02._1.01._00000001.xml")).unwrap();
    let parsed = parse_transport(&xml).unwrap();
    let file = site.path("receipt.xml");
    std::fs::write(&file, write_receipt(&Receipt::imported(&parsed))).unwrap();
    let out = site.ok(&["receipt", "rki", file.to_str().unwrap()]);
    assert!(out.contains("0 rejected; transfer done"), "{out}");
    // It declares no once-per-transfer keys, so a later version queued with an earlier
    // one meets the plugin's own refusal, as it did in a 0.1.1 hub: the hub does not
    // guess what a plugin did not declare.
    let f = site.write(
        "versions.ndjson",
        &format!(
            "{}\n{}\n",
            sal_version("sal-7-v1", 1),
            sal_version("sal-7-v2", 2)
        ),
    );
    site.ok(&["enqueue", "rki", f.to_str().unwrap()]);
    assert_eq!(site.run(&["send", "rki"]).code(), Some(1));
    let status = site.status();
    assert_eq!(status["targets"][0]["failed"], 1, "{status}");
    let msgs = status["needs_check"][0]["messages"].to_string();
    assert!(msgs.contains("send it in a later transport"), "{msgs}");
}
