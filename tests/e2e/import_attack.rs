//! The receiving side under attack: a zip bomb within the limits, a held transport that
//! cannot be imported after all, a monstrous value, a store that fails mid-file, senders
//! who may not send or may not edit, a DOCTYPE, a file named `refused`, and control
//! characters in names. Each bad file is refused and set aside; the others go on.

use std::io::Write;

use serde_json::{Value, json};

use crate::common::Site;
use crate::import::{
    GA, LS, arrive, case, entry, guid, import_json, line, receiver, send, sender, versions,
    zip_name,
};

/// Zips `head`, then `len` bytes of `fill`, then `tail`, as one entry, streaming: the
/// archive is small, whatever it unpacks to, and nothing that big is ever in memory.
fn zip_stream(name: &str, head: &[u8], fill: u8, len: u64, tail: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(head).unwrap();
    let chunk = vec![fill; 1 << 20];
    let mut left = len;
    while left > 0 {
        let k = usize::try_from(left.min(chunk.len() as u64)).unwrap();
        w.write_all(&chunk[..k]).unwrap();
        left -= k as u64;
    }
    w.write_all(tail).unwrap();
    w.finish().unwrap().into_inner()
}

fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
    zip_stream(name, bytes, b' ', 0, b"")
}

/// The transport XML GA sent as number `n`, split around the text `PLACEHOLDER`.
fn around_placeholder(ga: &Site, n: u64) -> (String, String, String) {
    let xml_name = format!("RKI_{GA}_{LS}_{n:08}.xml");
    let xml = entry(&ga.path(&format!("rki-out/{}", zip_name(LS, n))), &xml_name);
    let text = String::from_utf8(xml).unwrap();
    let (head, tail) = text.split_once("PLACEHOLDER").unwrap();
    (xml_name, head.to_string(), tail.to_string())
}

/// The store's own file, for what the CLI does not show.
fn store(site: &Site) -> rusqlite::Connection {
    rusqlite::Connection::open(site.path("data/hub.db")).unwrap()
}

fn refused_reason_lengths(site: &Site) -> Vec<i64> {
    let db = store(site);
    let mut stmt = db
        .prepare("SELECT length(reason) FROM inbound_refused ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_bomb_within_the_default_limits_is_refused_and_the_file_after_it_imported() {
    let (ga, ls) = (sender(), receiver(""));
    send(&ga, &line("a", "case", &case(1, 1, LS, "PLACEHOLDER")));
    // 1.5 GB of one value, well under the default 2,048 MiB unpacked: the same header
    // as the real transport 1, so only its size is wrong.
    let (xml_name, head, tail) = around_placeholder(&ga, 1);
    let bomb = zip_stream(
        &xml_name,
        head.as_bytes(),
        b'a',
        1_500_000_000,
        tail.as_bytes(),
    );
    assert!(bomb.len() < 4 << 20, "{}", bomb.len());
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    std::fs::write(ls.path("inbox/A-bomb.zip"), &bomb).unwrap();
    arrive(&ga, &ls, &zip_name(LS, 1));

    let r = ls.run(&["import", "from-ga", "--json"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    let report: Value = serde_json::from_str(&r.stdout()).unwrap();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{report}");
    assert_eq!(files[0]["file"], "A-bomb.zip");
    assert_eq!(files[0]["outcome"], "refused");
    let reason = files[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("record 1 ({A1B2C3D4-0000-4000-8000-000000000001})")
            && reason.contains("field `ExposurePlace`")
            && reason.contains("more than the limit of 4 MiB per record"),
        "{reason}"
    );
    assert!(reason.len() < 1024, "{reason}");
    assert_eq!(files[1]["outcome"], "imported", "{report}");
    assert_eq!(report["imported"][0]["number"], 1);
    let v = versions(&ls, &guid(1));
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v[0]["body"]["groups"][0]["fields"][0]["value"],
        "PLACEHOLDER"
    );
    assert_eq!(
        ls.files("inbox/refused"),
        ["A-bomb.zip", "A-bomb.zip.reason.txt"]
    );
    assert!(ls.files("inbox").iter().all(|f| f.starts_with("refused/")));
}

#[test]
fn a_store_error_in_the_middle_of_a_file_rolls_it_back_and_the_run_goes_on() {
    let (ga, ls) = (sender(), receiver(""));
    send(
        &ga,
        &(line("a", "case", &case(1, 1, LS, "one")) + &line("b", "case", &case(2, 1, LS, "two"))),
    );
    arrive(&ga, &ls, &zip_name(LS, 1));
    import_json(&ls, &[]); // the store exists, transport 1 is in
    // Transport 2 carries two records; the store will fail on the second, as it did on a
    // value too big for SQLite ("string or blob too big", error 18). Transport 3 follows.
    send(
        &ga,
        &(line("d", "case", &case(4, 1, LS, "four")) + &line("e", "case", &case(5, 1, LS, "five"))),
    );
    send(&ga, &line("c", "case", &case(3, 1, LS, "three")));
    store(&ls)
        .execute_batch(&format!(
            "CREATE TRIGGER fail BEFORE INSERT ON record_versions WHEN NEW.record_id = '{}'
             BEGIN SELECT RAISE(ABORT, 'string or blob too big'); END;",
            guid(5)
        ))
        .unwrap();
    arrive(&ga, &ls, &zip_name(LS, 2));
    arrive(&ga, &ls, &zip_name(LS, 3));
    let r = import_json(&ls, &[]);
    let files = r["files"].as_array().unwrap();
    assert_eq!(files[0]["file"], zip_name(LS, 2), "{r}");
    assert_eq!(files[0]["outcome"], "refused", "{r}");
    let reason = files[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the store failed while importing it (rolled back)")
            && reason.contains("string or blob too big"),
        "{reason}"
    );
    // Rolled back: nothing of transport 2, not even the record before the failing one.
    assert_eq!(versions(&ls, &guid(4)), json!([]));
    // The next file was looked at: transport 3 waits for the refused 2.
    assert_eq!(files[1]["outcome"], "held", "{r}");
    assert_eq!(r["pairs"][0]["missing"], json!([2]), "{r}");
    assert_eq!(
        ls.files("inbox/refused"),
        [zip_name(LS, 2), format!("{}.reason.txt", zip_name(LS, 2))]
    );
}

#[test]
fn a_held_transport_that_cannot_be_imported_is_refused_its_gap_reported_and_requestable() {
    let ga = sender();
    let ls = receiver("limits = { max_value_kb = 1024 }");
    send(&ga, &line("a", "case", &case(1, 1, LS, "first")));
    send(&ga, &line("b", "case", &case(2, 1, LS, "PLACEHOLDER")));
    send(&ga, &line("c", "case", &case(3, 1, LS, "third")));
    // Number 2 arrives first with a 200 KB value (within the limits then): held.
    let (xml_name, head, tail) = around_placeholder(&ga, 2);
    let big = zip_stream(&xml_name, head.as_bytes(), b'b', 200_000, tail.as_bytes());
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    std::fs::write(ls.path(&format!("inbox/{}", zip_name(LS, 2))), &big).unwrap();
    arrive(&ga, &ls, &zip_name(LS, 3));
    let r = import_json(&ls, &[]);
    assert_eq!(r["pairs"][0]["held"], json!([2, 3]), "{r}");
    assert_eq!(r["pairs"][0]["missing"], json!([1]), "{r}");

    // The office tightens its limits; when number 1 comes, the held 2 cannot be imported.
    let config = std::fs::read_to_string(ls.config()).unwrap();
    ls.write_config(&config.replace("max_value_kb = 1024", "max_value_kb = 64"));
    arrive(&ga, &ls, &zip_name(LS, 1));
    let r = ls.run(&["import", "from-ga"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    let out = r.stdout();
    // The arriving file's outcome first, then the held one refused after it.
    let imported_at = out.find("transport 1 from 1.01.0.02. imported");
    let refused_at = out.find(&format!("{}: refused", zip_name(LS, 2)));
    assert!(
        imported_at.is_some() && refused_at.is_some() && imported_at < refused_at,
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: refused, nothing imported: held transport 2 from 1.01.0.02. could not be imported", zip_name(LS, 2)))
            && out.contains("record 1 ({A1B2C3D4-0000-4000-8000-000000000002}): <Field Name=\"ExposurePlace\"> attribute Value: a value of 200000 bytes, more than the limit of 64 KiB per value"),
        "{out}"
    );
    assert!(
        out.contains("GAP: from 1.01.0.02. to 1.01.: imported up to 1, held 3, missing 2"),
        "{out}"
    );
    assert_eq!(versions(&ls, &guid(2)), json!([]));
    // Set aside like any refused file, with its bytes as they arrived.
    let aside = ls.path(&format!("inbox/refused/{}", zip_name(LS, 2)));
    assert_eq!(std::fs::read(&aside).unwrap(), big);
    let why = std::fs::read_to_string(format!("{}.reason.txt", aside.display())).unwrap();
    assert!(
        why.contains("more than the limit of 64 KiB per value"),
        "{why}"
    );

    // `hub status` shows the pair waiting, for what and since when.
    let status = ls.status();
    let w = &status["waiting"][0];
    assert_eq!(
        (&w["inbound"], &w["held"], &w["missing"]),
        (&json!("from-ga"), &json!([3]), &json!([2])),
        "{status}"
    );
    assert!(
        w["waiting_since"]
            .as_str()
            .unwrap()
            .starts_with("2024-02-01"),
        "{w}"
    );
    let text = ls.ok(&["status"]);
    assert!(
        text.contains("from-ga: from 1.01.0.02. to 1.01.: imported up to 1, held 3, missing 2, waiting since 2024-02-01"),
        "{text}"
    );

    // It can be asked for again …
    let r = import_json(&ls, &["--request-missing"]);
    let name = format!("RKI_{LS}_{GA}_RETRANSMIT_00000002-00000002.xml");
    assert_eq!(r["requests"], json!([name]), "{r}");
    assert!(ls.path(&format!("answers/{name}")).exists());

    // … and once it is sent again, 2 and the held 3 import in order.
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
    assert_eq!(versions(&ls, &guid(2))[0]["result"], "imported");
}

#[test]
fn a_300_mb_value_is_refused_with_a_reason_under_1_kb_everywhere() {
    // Limits raised so far that the value itself is read: only excerpts of it may reach
    // the reason, the store, the .reason.txt and stderr.
    let ga = sender();
    let ls = receiver("limits = { max_value_kb = 409600, max_record_kb = 409600 }");
    send(&ga, &line("a", "case", &case(1, 1, LS, "PLACEHOLDER")));
    let xml_name = format!("RKI_{GA}_{LS}_00000001.xml");
    let xml = entry(&ga.path(&format!("rki-out/{}", zip_name(LS, 1))), &xml_name);
    let text = String::from_utf8(xml).unwrap();
    // The 300 MB go into VersionNo, which must be a number, with an escape sequence after.
    let (pre, post) = text.split_once("VersionNo=\"1\"").unwrap();
    let hostile = zip_stream(
        &xml_name,
        format!("{pre}VersionNo=\"1").as_bytes(),
        b'9',
        300_000_000,
        format!("\x1b[31m\"{post}").as_bytes(),
    );
    assert!(hostile.len() < 1 << 20, "{}", hostile.len());
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    std::fs::write(ls.path("inbox/big-value.zip"), &hostile).unwrap();
    let r = ls.run(&["import", "from-ga"]);
    assert_eq!(r.code(), Some(1));
    let (out, err) = (r.stdout(), r.stderr());
    assert!(out.contains("big-value.zip: refused"), "{out}");
    assert!(out.contains("is not a number"), "{out}");
    assert!(out.len() < 1024, "stdout {} bytes", out.len());
    assert!(
        err.len() < 2048,
        "stderr {} bytes: {}",
        err.len(),
        &err[..err.len().min(2048)]
    );
    assert!(!out.contains('\x1b') && !err.contains('\x1b'));
    let stored = refused_reason_lengths(&ls);
    assert_eq!(stored.len(), 1);
    assert!(stored[0] < 1024, "{stored:?}");
    let note = std::fs::metadata(ls.path("inbox/refused/big-value.zip.reason.txt")).unwrap();
    assert!(note.len() < 1024, "{}", note.len());
}

/// GA's transport `n` as if another site had sent it as its number `as_number`.
fn as_site(ga: &Site, n: u64, site: &str, as_number: u64) -> (String, Vec<u8>) {
    let xml_name = format!("RKI_{GA}_{LS}_{n:08}.xml");
    let xml = entry(&ga.path(&format!("rki-out/{}", zip_name(LS, n))), &xml_name);
    let text = String::from_utf8(xml).unwrap().replace(GA, site).replace(
        &format!("TransportNumber=\"{n}\""),
        &format!("TransportNumber=\"{as_number}\""),
    );
    let name = format!("RKI_{site}_{LS}_{as_number:08}");
    (
        format!("{name}.zip"),
        zip_of(&format!("{name}.xml"), text.as_bytes()),
    )
}

#[test]
fn senders_not_allowed_are_refused_by_name_and_a_non_owner_edit_is_rejected() {
    let ga = sender();
    send(
        &ga,
        &line("a", "case", &case(1, 3, LS, "owner's version 3")),
    );
    send(&ga, &line("b", "case", &case(1, 4, LS, "someone else's 4")));

    // By default: the RKI and this state's sites. Another state's office is refused.
    let ls = receiver("");
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    let (name, bytes) = as_site(&ga, 1, "1.02.0.01.", 1);
    std::fs::write(ls.path(&format!("inbox/{name}")), bytes).unwrap();
    let r = import_json(&ls, &[]);
    assert_eq!(r["files"][0]["outcome"], "refused", "{r}");
    assert!(
        r["files"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("sender 1.02.0.01. may not send to inbound from-ga (allowed: 1., 1.01.*"),
        "{r}"
    );

    // GA owns record 1 (it sent it first); another health office of the same state may
    // send, but not a version of GA's record: rejected in its receipt, and GA's own next
    // version still imports.
    arrive(&ga, &ls, &zip_name(LS, 1));
    assert_eq!(import_json(&ls, &[])["imported"][0]["number"], 1);
    let other = "1.01.0.03.";
    let (name, bytes) = as_site(&ga, 2, other, 1);
    std::fs::write(ls.path(&format!("inbox/{name}")), bytes).unwrap();
    let r = import_json(&ls, &[]);
    assert_eq!(r["imported"][0]["sender"], other, "{r}");
    assert_eq!(r["imported"][0]["rejected"], 1, "{r}");
    let v = versions(&ls, &guid(1));
    assert_eq!(v[1]["code"], "NOT_OWNER", "{v}");
    assert!(
        v[1]["message"].as_str().unwrap().contains(
            "belongs to 1.01.0.02. (its first sender); 1.01.0.03. neither owns it nor may edit it"
        ),
        "{v}"
    );
    let receipt =
        std::fs::read_to_string(ls.path(&format!("answers/RKI_{LS}_{other}_00000001_RECEIPT.xml")))
            .unwrap();
    assert!(
        receipt.contains("Result=\"Rejected\" Code=\"NOT_OWNER\""),
        "{receipt}"
    );
    arrive(&ga, &ls, &zip_name(LS, 2));
    let r = import_json(&ls, &[]);
    assert_eq!(r["imported"][0]["rejected"], 0, "{r}");

    // An explicit list: only what it names.
    let strict = receiver(&format!("senders = [\"{GA}\"]"));
    std::fs::create_dir_all(strict.path("inbox")).unwrap();
    let (name, bytes) = as_site(&ga, 1, other, 1);
    std::fs::write(strict.path(&format!("inbox/{name}")), bytes).unwrap();
    arrive(&ga, &strict, &zip_name(LS, 1));
    let r = import_json(&strict, &[]);
    assert_eq!(r["files"][0]["outcome"], "imported", "{r}");
    assert!(
        r["files"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("sender 1.01.0.03. may not send to inbound from-ga (allowed: 1.01.0.02.;"),
        "{r}"
    );
}

#[test]
fn a_doctype_a_file_named_refused_and_control_characters_are_handled() {
    let (ga, ls) = (sender(), receiver(""));
    send(&ga, &line("a", "case", &case(1, 1, LS, "x")));
    let xml_name = format!("RKI_{GA}_{LS}_00000001.xml");
    let xml = String::from_utf8(entry(
        &ga.path(&format!("rki-out/{}", zip_name(LS, 1))),
        &xml_name,
    ))
    .unwrap();
    let with_doctype = xml.replacen(
        "?>",
        "?>\n<!DOCTYPE Transport SYSTEM \"http://127.0.0.1:9/x.dtd\">",
        1,
    );
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    std::fs::write(
        ls.path("inbox/B-doctype.zip"),
        zip_of(&xml_name, with_doctype.as_bytes()),
    )
    .unwrap();
    // A name with an escape sequence, and a regular file where refused/ would go.
    std::fs::write(ls.path("inbox/C\x1b[31mred.zip"), b"not a zip").unwrap();
    std::fs::write(ls.path("inbox/refused"), b"in the way").unwrap();
    arrive(&ga, &ls, &zip_name(LS, 1));

    let r = ls.run(&["import", "from-ga"]);
    assert_eq!(r.code(), Some(1));
    let (out, err) = (r.stdout(), r.stderr());
    assert!(
        out.contains("B-doctype.zip: refused, nothing imported: `RKI_1.01.0.02._1.01._00000001.xml`: a DOCTYPE declaration: refused"),
        "{out}"
    );
    assert!(out.contains("C\\u{1b}[31mred.zip: refused"), "{out}");
    assert!(!out.contains('\x1b') && !err.contains('\x1b'), "{out}{err}");
    assert!(
        out.contains("transport 1 from 1.01.0.02. imported"),
        "{out}"
    );
    // The file named `refused` did not stop the refusals: it went into the folder too.
    let aside = ls.files("inbox/refused");
    assert!(aside.contains(&"B-doctype.zip".to_string()), "{aside:?}");
    assert!(aside.contains(&"C\x1b[31mred.zip".to_string()), "{aside:?}");
    assert!(aside.contains(&"refused".to_string()), "{aside:?}");
    let note = std::fs::read_to_string(ls.path("inbox/refused/refused.reason.txt")).unwrap();
    assert!(
        note.contains("stood where the folder for refused files goes"),
        "{note}"
    );
    assert!(ls.path("inbox/refused").is_dir());
    // A second run finds nothing left and does not trip on the folder.
    assert!(ls.ok(&["import", "from-ga"]).contains("nothing arrived"));
}

#[test]
fn control_characters_in_a_receivers_message_are_escaped_in_hub_status() {
    let ga = sender();
    send(&ga, &line("a", "case", &case(1, 1, LS, "x")));
    let xml_name = format!("RKI_{GA}_{LS}_00000001.xml");
    let t = hub_plugin_rki::parse_transport(&entry(
        &ga.path(&format!("rki-out/{}", zip_name(LS, 1))),
        &xml_name,
    ))
    .unwrap();
    let mut receipt = hub_plugin_rki::Receipt::imported(&t);
    receipt.records[0].result = hub_plugin_rki::ReceiptResult::Rejected;
    receipt.records[0].code = Some("BAD".into());
    receipt.records[0].message = Some("X\u{1b}[31mred\u{7}".into());
    let file = ga.path("receipt.xml");
    std::fs::write(&file, hub_plugin_rki::write_receipt(&receipt)).unwrap();
    ga.ok(&["receipt", "rki", file.to_str().unwrap()]);
    let out = ga.ok(&["status"]);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("X\\u{1b}[31mred\\u{7}"), "{out}");
}

/// The corpus of hostile files kept in the repository (tests/fixtures/hostile, made by
/// its make.py), each with the reason it must be refused for.
const CORPUS: &[(&str, &str)] = &[
    ("absolute.zip", "has an unsafe name"),
    ("billion-laughs.zip", "a DOCTYPE declaration: refused"),
    (
        "bomb-50mb.zip",
        "field `Note`: more than the limit of 4 MiB per record",
    ),
    ("doctype-external.zip", "a DOCTYPE declaration: refused"),
    ("duplicate-attribute.zip", "attribute Extra appears twice"),
    ("duplicate-record.zip", "appears twice in the transport"),
    (
        "name-mismatch.zip",
        "its name says 1.01.0.02. → 1.01. number 2",
    ),
    ("nested-deep.zip", "elements nested deeper than 16"),
    ("not-a-zip.zip", "not a readable zip archive"),
    (
        "other-sender-state.zip",
        "sender 1.02.0.01. may not send to inbound from-ga",
    ),
    ("stranger.zip", "`run.sh` does not start with RKI_"),
    ("symlink.zip", "is a symbolic link"),
    ("text-content.zip", "unexpected text `hidden text`"),
    ("traversal.zip", "unsafe path segment `..`"),
    ("utf16.zip", "encoding `utf-16` is not supported"),
    (
        "value-2mb.zip",
        "a value of 2097152 bytes, more than the limit of 1 MiB per value",
    ),
    (
        "wrong-receiver.zip",
        "is addressed to 1.02., not to this office (1.01.)",
    ),
];

#[test]
fn the_hostile_corpus_is_refused_file_by_file_and_a_good_transport_still_imports() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hostile");
    let (ga, ls) = (sender(), receiver(""));
    std::fs::create_dir_all(ls.path("inbox")).unwrap();
    for (file, _) in CORPUS {
        std::fs::copy(corpus.join(file), ls.path(&format!("inbox/{file}"))).unwrap();
    }
    let r = ls.run(&["import", "from-ga", "--json"]);
    assert_eq!(r.code(), Some(1));
    let report: Value = serde_json::from_str(&r.stdout()).unwrap();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), CORPUS.len(), "{report}");
    for ((file, why), got) in CORPUS.iter().zip(files) {
        assert_eq!(got["file"], *file);
        assert_eq!(got["outcome"], "refused", "{got}");
        let reason = got["reason"].as_str().unwrap();
        assert!(reason.contains(why), "{file}: expected `{why}` in {reason}");
        assert!(reason.len() < 1024, "{file}: {reason}");
    }
    assert_eq!(report["imported"], json!([]));
    assert_eq!(report["pairs"], json!([]));
    assert_eq!(ls.files("inbox/refused").len(), 2 * CORPUS.len());
    // The real transport 1 still imports as number 1 afterwards.
    send(&ga, &line("a", "case", &case(1, 1, LS, "good")));
    arrive(&ga, &ls, &zip_name(LS, 1));
    assert_eq!(import_json(&ls, &[])["imported"][0]["number"], 1);
}
