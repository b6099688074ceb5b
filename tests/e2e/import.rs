//! The receiving side of SurvNet: a health office's hub sends transports (zipped), a state
//! office's hub imports them with `hub import`, strictly in order, and answers with
//! receipts that the sender imports. Two sites, two stores, real files between them.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Site, plugin, run_and_kill};

pub(crate) const GA: &str = "1.01.0.02.";
pub(crate) const LS: &str = "1.01.";

/// A health office sending to its state office, one zip per transport.
pub(crate) fn sender() -> Site {
    Site::prisme(&format!(
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
sender = "{GA}"
role = "health-office"
"#,
        plugin("rki").display()
    ))
}

/// The state office, reading its inbox and answering into `answers/`.
pub(crate) fn receiver(extra: &str) -> Site {
    Site::prisme(&format!(
        r#"
[[inbound]]
name = "from-ga"
format = "survnet"
inbox = "inbox"
utc_offset_minutes = 60
answers = {{ type = "dir", path = "answers" }}
{extra}
[inbound.settings]
sender = "{LS}"
role = "state-office"
"#
    ))
}

pub(crate) fn guid(n: u32) -> String {
    format!("{{A1B2C3D4-0000-4000-8000-{n:012}}}")
}

/// A case body as the source sends it: strings and full timestamps, so what comes out
/// of the receiver must equal it key for key.
pub(crate) fn case(n: u32, version: u32, receiver: &str, value: &str) -> Value {
    json!({
        "category": "SAL",
        "guid": guid(n),
        "version_no": version,
        "schema": "11",
        "owner": GA,
        "version_editor": GA,
        "token": format!("SAL-{n}"),
        "changed_at": "2025-03-03T09:00:00.000",
        "reporting_date": "2025-03-01T00:00:00.000",
        "reporting_county": "1002000",
        "receiver": receiver,
        "groups": [{"name": "Exposure", "fields": [
            {"name": "ExposurePlace", "value": value},
            {"name": "Note", "value": "Grüße ÄÖÜß 'single' \"double\" a\r\nb\ttab"}
        ]}],
        "fields": [{"name": "Sex", "value": "F"}],
        "addressees": [{"code_site": receiver, "implicit": true, "explicit": false}],
        "track": [{"guid": format!("{{B0000000-0000-4000-8000-{n:012}}}"), "action": "1",
                   "tracked_at": "2025-03-03T09:00:00.000", "code_site": GA,
                   "version_no_site": version, "software": "hub"}]
    })
}

pub(crate) fn line(id: &str, kind: &str, body: &Value) -> String {
    let mut b = body.clone();
    b["id"] = json!(id);
    b["kind"] = json!(kind);
    format!("{b}\n")
}

pub(crate) fn retract(n: u32, version: u32) -> Value {
    json!({
        "action": "retract", "category": "SAL", "guid": guid(n), "version_no": version,
        "schema": "11", "owner": GA, "version_editor": GA,
        "changed_at": "2025-03-04T10:00:00.000", "receiver": LS,
        "addressees": [{"code_site": LS, "implicit": true, "explicit": false}]
    })
}

/// Queues `ndjson` at the sender and sends it: one new transport.
pub(crate) fn send(site: &Site, ndjson: &str) {
    let f = site.write("in.ndjson", ndjson);
    site.ok(&["enqueue", "rki", f.to_str().unwrap()]);
    site.ok(&["send", "rki"]);
}

pub(crate) fn zip_name(receiver: &str, n: u64) -> String {
    format!("RKI_{GA}_{receiver}_{n:08}.zip")
}

/// Copies a sent transport into the receiver's inbox.
pub(crate) fn arrive(from: &Site, to: &Site, name: &str) {
    std::fs::create_dir_all(to.path("inbox")).unwrap();
    std::fs::copy(
        from.path(&format!("rki-out/{name}")),
        to.path(&format!("inbox/{name}")),
    )
    .unwrap();
}

pub(crate) fn import_json(site: &Site, args: &[&str]) -> Value {
    let mut all = vec!["import", "from-ga", "--json"];
    all.extend_from_slice(args);
    let r = site.run(&all);
    serde_json::from_str(&r.stdout()).unwrap_or_else(|e| panic!("{e}: {}", r.stderr()))
}

pub(crate) fn versions(site: &Site, g: &str) -> Value {
    serde_json::from_str(&site.ok(&["records", "show", g, "--json"])).unwrap()
}

/// Reads one entry of a zip with the zip crate (not through the hub).
pub(crate) fn entry(zip: &Path, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(zip).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut out).unwrap();
    out
}

#[test]
fn two_records_and_an_action_round_trip_with_every_field_intact() {
    let (ga, ls) = (sender(), receiver(""));
    let tricky = "Kita \"Sonnenschein\" & Hort <Süd>\nGruppe Bären > 3 ' ;";
    let (a, b) = (
        case(1, 1, LS, tricky),
        case(2, 3, LS, "<![CDATA[x]]> &amp; literal"),
    );
    let action = retract(7, 4);
    send(
        &ga,
        &(line("a", "case", &a) + &line("b", "case", &b) + &line("r", "action", &action)),
    );
    let sent = ga.path(&format!("rki-out/{}", zip_name(LS, 1)));

    // An independent XML parser reads what the sender wrote.
    let xml = entry(&sent, &format!("RKI_{GA}_{LS}_00000001.xml"));
    let text = std::str::from_utf8(&xml).expect("UTF-8 as declared");
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
    let doc = roxmltree::Document::parse(text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Transport");
    assert_eq!(root.attribute("CodeSiteSender"), Some(GA));
    assert_eq!(root.attribute("CodeSiteReceiver"), Some(LS));
    assert_eq!(root.attribute("TransportNumber"), Some("1"));
    let value = |g: &str, field: &str| -> String {
        let rec = root
            .children()
            .find(|n| n.attribute("GuidRecord") == Some(g))
            .unwrap();
        rec.descendants()
            .find(|n| n.tag_name().name() == "Field" && n.attribute("Name") == Some(field))
            .and_then(|n| n.attribute("Value"))
            .unwrap()
            .to_string()
    };
    assert_eq!(value(&guid(1), "ExposurePlace"), tricky);
    assert_eq!(
        value(&guid(2), "Note"),
        "Grüße ÄÖÜß 'single' \"double\" a\r\nb\ttab"
    );

    // The state office imports it.
    arrive(&ga, &ls, &zip_name(LS, 1));
    let r = import_json(&ls, &[]);
    assert_eq!(r["imported"][0]["number"], 1, "{r}");
    assert_eq!(r["imported"][0]["records"], 3, "{r}");
    assert_eq!(r["imported"][0]["rejected"], 0, "{r}");
    assert!(
        ls.files("inbox").is_empty(),
        "the inbox keeps imported files"
    );

    // Every field as sent, for both cases; the action is a version of its record.
    for (g, body) in [(guid(1), &a), (guid(2), &b)] {
        let v = versions(&ls, &g);
        assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
        assert_eq!(&v[0]["body"], body, "record {g}");
        assert_eq!(v[0]["result"], "imported");
        assert_eq!(v[0]["action"], Value::Null);
    }
    let v = versions(&ls, &guid(7));
    assert_eq!(v[0]["version"], 4);
    assert_eq!(v[0]["action"], "retract", "{v}");
    let human = ls.ok(&["records", "show", &guid(7)]);
    assert!(
        human.contains("retract") && human.contains("1 (from-ga)"),
        "{human}"
    );

    // The receipt goes back, and completes the sender's transport.
    let receipt = ls.path(&format!("answers/RKI_{LS}_{GA}_00000001_RECEIPT.xml"));
    let doc_text = std::fs::read_to_string(&receipt).unwrap();
    let doc = roxmltree::Document::parse(&doc_text).unwrap();
    let results: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("Result"))
        .collect();
    assert_eq!(results, ["Imported", "Imported", "Imported"]);
    let out = ga.ok(&["receipt", "rki", receipt.to_str().unwrap()]);
    assert!(
        out.contains("3 record(s) delivered, 0 rejected; transfer done"),
        "{out}"
    );
}

#[test]
fn transports_are_numbered_per_pair_and_imported_strictly_in_order() {
    let (ga, ls) = (sender(), receiver(""));
    send(&ga, &line("a1", "case", &case(1, 1, LS, "first")));
    send(&ga, &line("a2", "action", &retract(1, 2)));
    send(&ga, &line("c1", "case", &case(3, 1, LS, "third")));
    send(&ga, &line("o1", "case", &case(4, 1, "1.02.", "other pair")));
    assert_eq!(
        ga.files("rki-out"),
        [
            zip_name(LS, 1),
            zip_name(LS, 2),
            zip_name(LS, 3),
            zip_name("1.02.", 1)
        ]
    );

    // 1 arrives and is imported; 3 arrives early and is held; the gap is reported.
    arrive(&ga, &ls, &zip_name(LS, 1));
    assert_eq!(import_json(&ls, &[])["imported"][0]["number"], 1);
    arrive(&ga, &ls, &zip_name(LS, 3));
    let out = ls.ok(&["import", "from-ga"]);
    assert!(
        out.contains("transport 3 from 1.01.0.02. held: waiting for 2"),
        "{out}"
    );
    assert!(
        out.contains("GAP: from 1.01.0.02. to 1.01.: imported up to 1, held 3, missing 2"),
        "{out}"
    );
    assert_eq!(versions(&ls, &guid(3)), json!([]));

    // The request for re-transmission names the missing number, once.
    let r = import_json(&ls, &["--request-missing"]);
    let name = format!("RKI_{LS}_{GA}_RETRANSMIT_00000002-00000002.xml");
    assert_eq!(r["requests"], json!([name]), "{r}");
    let text = std::fs::read_to_string(ls.path(&format!("answers/{name}"))).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let asked: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("TransportNumber"))
        .collect();
    assert_eq!(asked, ["2"]);
    assert_eq!(
        import_json(&ls, &["--request-missing"])["requests"],
        json!([])
    );

    // 2 arrives: 2 and then the held 3 are imported, in that order.
    arrive(&ga, &ls, &zip_name(LS, 2));
    let r = import_json(&ls, &[]);
    let order: Vec<u64> = r["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [2, 3], "{r}");
    assert_eq!(r["pairs"][0]["imported_up_to"], 3, "{r}");
    assert_eq!(r["pairs"][0]["missing"], json!([]), "{r}");

    // The record's versions, each with the action that made it.
    let v = versions(&ls, &guid(1));
    let made: Vec<(u64, Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["version"].as_u64().unwrap(), x["action"].clone()))
        .collect();
    assert_eq!(made, [(1, Value::Null), (2, json!("retract"))]);
    assert_eq!(versions(&ls, &guid(3))[0]["transport_number"], 3);

    // A duplicate of an imported transport is recognised and skipped.
    arrive(&ga, &ls, &zip_name(LS, 1));
    let r = import_json(&ls, &[]);
    assert_eq!(r["files"][0]["outcome"], "duplicate", "{r}");
    assert_eq!(r["imported"], json!([]));
    assert_eq!(versions(&ls, &guid(1)).as_array().unwrap().len(), 2);

    // A transport for another office is refused, and set aside with the reason.
    arrive(&ga, &ls, &zip_name("1.02.", 1));
    let r = ls.run(&["import", "from-ga"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stdout()
            .contains("is addressed to 1.02., not to this office (1.01.)"),
        "{}",
        r.stdout()
    );
    let aside = ls.files("inbox/refused");
    assert_eq!(
        aside,
        [
            zip_name("1.02.", 1),
            format!("{}.reason.txt", zip_name("1.02.", 1))
        ]
    );

    // One receipt per imported transport.
    let receipts: Vec<String> = ls
        .files("answers")
        .into_iter()
        .filter(|f| f.ends_with("_RECEIPT.xml"))
        .collect();
    assert_eq!(receipts.len(), 3, "{receipts:?}");
}

#[test]
fn an_action_in_the_wrong_direction_is_rejected_in_the_receipt() {
    let (ga, ls) = (sender(), receiver(""));
    // A health office's version whose newest Track entry is a release: only the RKI may
    // release, so the state office rejects it (and imports the other record).
    let mut bad = case(5, 2, LS, "x");
    bad["track"][0]["action"] = json!("PLACEHOLDER-RELEASE");
    send(
        &ga,
        &(line("bad", "case", &bad) + &line("ok", "case", &case(6, 1, LS, "fine"))),
    );
    arrive(&ga, &ls, &zip_name(LS, 1));
    let r = import_json(&ls, &[]);
    assert_eq!(r["imported"][0]["rejected"], 1, "{r}");
    let v = versions(&ls, &guid(5));
    assert_eq!(v[0]["result"], "rejected");
    assert_eq!(v[0]["code"], "WRONG_DIRECTION");
    assert!(
        v[0]["message"]
            .as_str()
            .unwrap()
            .contains("action `release` is only sent from the RKI"),
        "{v}"
    );
    // The sender learns it from the receipt: one delivered, one rejected with the code.
    let receipt = ls.path(&format!("answers/RKI_{LS}_{GA}_00000001_RECEIPT.xml"));
    let out = ga.ok(&["receipt", "rki", receipt.to_str().unwrap()]);
    assert!(out.contains("1 record(s) delivered, 1 rejected"), "{out}");
    let status = ga.status();
    assert!(
        status["needs_check"][0]["messages"]
            .to_string()
            .contains("WRONG_DIRECTION"),
        "{status}"
    );
}

pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn hostile_archives_are_refused_and_nothing_is_imported_from_them() {
    let ga = sender();
    let ls = receiver("limits = { max_unpacked_mb = 2, max_archive_mb = 1 }");
    send(&ga, &line("a", "case", &case(1, 1, LS, "good")));
    let good = std::fs::read(ga.path(&format!("rki-out/{}", zip_name(LS, 1)))).unwrap();
    let xml_name = format!("RKI_{GA}_{LS}_00000001.xml");
    let real_xml = entry(&ga.path(&format!("rki-out/{}", zip_name(LS, 1))), &xml_name);
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    let zeros = vec![b' '; 3 << 20];
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "a-traversal.zip",
            zip_of(&[(&format!("../{xml_name}"), &real_xml)]),
        ),
        ("b-bomb.zip", zip_of(&[(&xml_name, &zeros)])),
        (
            "c-malformed.zip",
            zip_of(&[(&xml_name, b"<Transport GuidTransport=\"x\"><SAL")]),
        ),
        ("d-not-a-zip.zip", b"PK\x03\x04 truncated".to_vec()),
        (
            "e-stranger.zip",
            zip_of(&[(&xml_name, &real_xml), ("run.sh", b"rm -rf /")]),
        ),
        ("f-huge.zip", vec![b'x'; (1 << 20) + 1]),
    ];
    for (name, bytes) in &hostile {
        std::fs::write(ls.path(&format!("inbox/{name}")), bytes).unwrap();
    }
    assert!(
        std::fs::metadata(ls.path("inbox/b-bomb.zip"))
            .unwrap()
            .len()
            < 64 << 10
    );
    let r = ls.run(&["import", "from-ga", "--json"]);
    assert_eq!(r.code(), Some(1));
    let report: Value = serde_json::from_str(&r.stdout()).unwrap();
    let reasons: Vec<String> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["outcome"], "refused", "{f}");
            format!(
                "{}: {}",
                f["file"].as_str().unwrap(),
                f["reason"].as_str().unwrap()
            )
        })
        .collect();
    let expect = [
        ("a-traversal.zip", "unsafe path segment `..`"),
        ("b-bomb.zip", "more than the limit of 2 MiB"),
        ("c-malformed.zip", &format!("`{xml_name}`:")),
        ("d-not-a-zip.zip", "not a readable zip archive"),
        ("e-stranger.zip", "`run.sh` does not start with RKI_"),
        ("f-huge.zip", "more than the limit of 1 MiB"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
    for ((file, why), got) in expect.iter().zip(&reasons) {
        assert!(
            got.starts_with(file) && got.contains(why),
            "{file}: expected `{why}` in {got}"
        );
    }
    assert_eq!(report["imported"], json!([]));
    assert_eq!(report["pairs"], json!([]));
    assert_eq!(versions(&ls, &guid(1)), json!([]));
    assert_eq!(
        ls.files("inbox/refused").len(),
        12,
        "{:?}",
        ls.files("inbox/refused")
    );
    assert!(ls.files("answers").is_empty());

    // The real transport 1 still imports as number 1 afterwards.
    std::fs::write(ls.path(&format!("inbox/{}", zip_name(LS, 1))), good).unwrap();
    assert_eq!(import_json(&ls, &[])["imported"][0]["number"], 1);
}

#[test]
fn kill_9_between_numbering_and_delivery_neither_skips_nor_reuses_a_number() {
    let ga = sender();
    let f = ga.write("a.ndjson", &line("a", "case", &case(1, 1, LS, "x")));
    ga.ok(&["enqueue", "rki", f.to_str().unwrap()]);
    // Numbered and committed, killed before the archive is written.
    run_and_kill(&ga, &["send", "rki"], "uploading");
    assert!(ga.files("rki-out").is_empty());
    ga.ok(&["send", "rki"]);
    send(&ga, &line("b", "case", &case(2, 1, LS, "y")));
    assert_eq!(ga.files("rki-out"), [zip_name(LS, 1), zip_name(LS, 2)]);
    let status = ga.status();
    let numbers: Vec<u64> = status["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["sequence_no"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers.len(), 2);
    assert!(numbers.contains(&1) && numbers.contains(&2), "{numbers:?}");

    // Killed after the import committed but before the inbox file left, and again
    // between writing a receipt and putting it in place: the next run completes both,
    // importing once and answering once.
    let ls = receiver("");
    arrive(&ga, &ls, &zip_name(LS, 1));
    run_and_kill(&ls, &["import", "from-ga"], "import-committed");
    assert_eq!(ls.files("inbox"), [zip_name(LS, 1)]);
    arrive(&ga, &ls, &zip_name(LS, 2));
    run_and_kill(&ls, &["import", "from-ga"], "answer-in-temp");
    let r = import_json(&ls, &[]);
    assert_eq!(r["pairs"][0]["imported_up_to"], 2, "{r}");
    assert!(ls.files("inbox").is_empty());
    assert_eq!(versions(&ls, &guid(1)).as_array().unwrap().len(), 1);
    assert_eq!(
        ls.files("answers"),
        [
            format!("RKI_{LS}_{GA}_00000001_RECEIPT.xml"),
            format!("RKI_{LS}_{GA}_00000002_RECEIPT.xml")
        ]
    );
}

#[test]
fn hub_serve_imports_what_arrives_in_the_inbox_and_answers_it() {
    use std::io::{BufRead, BufReader};
    let (ga, ls) = (sender(), receiver(""));
    send(&ga, &line("a", "case", &case(1, 1, LS, "watched")));
    let mut child = ls
        .cmd(&["serve"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut started = String::new();
    while !started.contains("watching") {
        started = lines.next().unwrap().unwrap();
    }
    assert!(started.ends_with("for inbound from-ga"), "{started}");
    // Arrives as a sender writes it: hidden while being written, then renamed.
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    let name = zip_name(LS, 1);
    let hidden = ls.path(&format!("inbox/.{name}.part"));
    std::fs::copy(ga.path(&format!("rki-out/{name}")), &hidden).unwrap();
    std::fs::rename(&hidden, ls.path(&format!("inbox/{name}"))).unwrap();
    let receipt = format!("RKI_{LS}_{GA}_00000001_RECEIPT.xml");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ls.files("answers").contains(&receipt) {
        assert!(
            std::time::Instant::now() < deadline,
            "no receipt within 20 s; answers: {:?}",
            ls.files("answers")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    assert!(ls.files("inbox").is_empty());
    assert_eq!(versions(&ls, &guid(1))[0]["result"], "imported");
}
