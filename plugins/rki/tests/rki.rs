//! The RKI plugin through its public interface: bodies → transport XML → parser, file names,
//! direction rules, receipts, determinism and a golden file.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report

use hub_plugin_rki::*;
use hub_plugin_sdk::*;
use serde_json::{Value, json};

const SENDER: &str = "1.01.0.02.";
const RECEIVER: &str = "1.01.";

fn settings() -> Settings {
    examples::settings()
}

fn settings_for(sender: &str, role: &str) -> Settings {
    Settings(vec![
        ("sender".into(), sender.into()),
        ("role".into(), role.into()),
        ("software".into(), "hub 0.1.0".into()),
        ("action_code_retract".into(), "9".into()),
    ])
}

fn ctx(settings: Settings, receiver: &str, number: u64) -> Context {
    let sender = settings.get("sender").unwrap().to_string();
    Context {
        target: "rki".into(),
        settings,
        sender: None,
        receiver: None,
        batch_key: receiver.into(),
        sequence_scope: Some(format!("{sender}|{receiver}")),
        sequence: Some(number),
        transfer_id: 7,
        now: DateTime {
            unix_seconds: 1_740_993_300,
            utc_offset_minutes: 60,
            year: 2025,
            month: 3,
            day: 3,
            hour: 10,
            minute: 15,
            second: 0,
        },
    }
}

fn rec(id: &str, kind: &str, body: Value) -> Record {
    Record {
        id: id.into(),
        kind: kind.into(),
        body: body.to_string(),
    }
}

const TRICKY: &str = "Müller & Söhne <GmbH> \"Zitat\" 'apostroph'\nZeile 2\r\nZeile 3\tTab";

fn sal() -> Record {
    rec(
        "case-1",
        "case",
        json!({
            "id": "case-1",
            "kind": "case",
            "category": "SAL",
            "guid": "{A1B2C3D4-0000-4000-8000-000000000001}",
            "version_no": 1,
            "schema": "11",
            "owner": SENDER,
            "version_editor": SENDER,
            "token": "SAL-2025-0007",
            "to_transport_manual": false,
            "changed_at": "2025-03-03T09:00:00.000",
            "transport_request_type": "1",
            "reporting_date": "2025-03-01",
            "reporting_county": "1002000",
            "case_def_epi_manual": false,
            "receiver": RECEIVER,
            "attributes": {"Extra": "x & y"},
            "groups": [
                {"name": "Pathogen", "fields": [
                    {"name": "PathogenSAL", "value": "Salmonella Enteritidis"},
                    {"name": "Größe & <Art>", "value": TRICKY},
                ]},
                {"name": "Leer", "fields": []},
            ],
            "fields": [
                {"name": "Age", "value": 42},
                {"name": "Hospitalised", "value": true},
                {"name": "Empty", "value": ""},
            ],
            "addressees": [
                {"code_site": RECEIVER, "implicit": true, "explicit": false},
                {"code_site": "1.02.", "implicit": false, "explicit": true},
            ],
            "track": [{
                "guid": "{B0000000-0000-4000-8000-000000000001}",
                "action": "1",
                "tracked_at": "2025-03-03T09:00:00",
                "code_site": SENDER,
                "version_no_site": 1,
            }],
        }),
    )
}

fn inv() -> Record {
    rec(
        "case-2",
        "case",
        json!({
            "category": "INV",
            "guid": "{A1B2C3D4-0000-4000-8000-000000000002}",
            "version_no": 2,
            "schema": "11",
            "owner": SENDER,
            "version_editor": SENDER,
            "changed_at": "2025-03-03T09:10:00.250",
            "receiver": RECEIVER,
            "fields": [{"name": "PathogenINV", "value": "Influenza A"}],
        }),
    )
}

fn retract() -> Record {
    rec(
        "act-1",
        "action",
        json!({
            "action": "retract",
            "category": "SAL",
            "guid": "{A1B2C3D4-0000-4000-8000-000000000003}",
            "version_no": 4,
            "schema": "11",
            "owner": SENDER,
            "version_editor": SENDER,
            "token": "SAL-2025-0003",
            "changed_at": "2025-03-03T09:30:00",
            "receiver": RECEIVER,
            "addressees": [{"code_site": RECEIVER, "implicit": true, "explicit": false}],
        }),
    )
}

fn expected_sal() -> RecordVersion {
    RecordVersion {
        category: "SAL".into(),
        guid_record: "{A1B2C3D4-0000-4000-8000-000000000001}".into(),
        version_no: 1,
        schema: "11".into(),
        code_record_owner: SENDER.into(),
        code_version_editor: SENDER.into(),
        token: Some("SAL-2025-0007".into()),
        to_transport_manual: Some(false),
        changed_at: "2025-03-03T09:00:00.000".into(),
        transport_request_type: Some("1".into()),
        reporting_date: Some("2025-03-01T00:00:00.000".into()),
        reporting_county: Some("1002000".into()),
        case_def_epi_manual: Some(false),
        other_attributes: vec![("Extra".into(), "x & y".into())],
        groups: vec![
            Group {
                name: "Pathogen".into(),
                fields: vec![
                    Field {
                        name: "PathogenSAL".into(),
                        value: "Salmonella Enteritidis".into(),
                    },
                    Field {
                        name: "Größe & <Art>".into(),
                        value: TRICKY.into(),
                    },
                ],
            },
            Group {
                name: "Leer".into(),
                fields: vec![],
            },
        ],
        fields: vec![
            Field {
                name: "Age".into(),
                value: "42".into(),
            },
            Field {
                name: "Hospitalised".into(),
                value: "true".into(),
            },
            Field {
                name: "Empty".into(),
                value: "".into(),
            },
        ],
        addressees: vec![
            Addressee {
                code_site: RECEIVER.into(),
                implicit: true,
                explicit: false,
            },
            Addressee {
                code_site: "1.02.".into(),
                implicit: false,
                explicit: true,
            },
        ],
        track: vec![Track {
            guid_track: "{B0000000-0000-4000-8000-000000000001}".into(),
            action: "1".into(),
            tracked_at: "2025-03-03T09:00:00.000".into(),
            code_site: SENDER.into(),
            version_no_site: 1,
            software: Some("hub 0.1.0".into()),
        }],
    }
}

fn encode(records: &[Record]) -> Vec<Payload> {
    Rki::encode(&ctx(settings(), RECEIVER, 42), records).unwrap()
}

#[test]
fn describes_itself() {
    let info = Rki::describe();
    assert_eq!(info.name, "rki");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.record_kinds, ["case", "action", "document"]);
    assert_eq!(info.delivery, Delivery::FileDropWithReceipt);
    assert_eq!(info.max_batch, 1000);
    let retract = info
        .settings
        .iter()
        .find(|s| s.name == "action_code_retract")
        .unwrap();
    assert_eq!(
        retract.default_value.as_deref(),
        Some("PLACEHOLDER-RETRACT")
    );
    assert!(retract.description.contains("NOT the official code"));
    assert!(
        info.settings
            .iter()
            .filter(|s| s.required)
            .map(|s| s.name.as_str())
            .eq(["sender", "role"])
    );
}

#[test]
fn round_trip_keeps_every_field() {
    let payloads = encode(&[sal(), inv(), retract()]);
    assert_eq!(payloads.len(), 1);
    let p = &payloads[0];
    assert_eq!(p.name, "RKI_1.01.0.02._1.01._00000042.xml");
    assert_eq!(p.media_type, "application/xml");
    assert_eq!(p.records, ["case-1", "case-2", "act-1"]);
    assert!(
        p.bytes
            .starts_with(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n")
    );
    assert!(std::str::from_utf8(&p.bytes).unwrap().contains("Müller"));

    let t = parse_transport(&p.bytes).unwrap();
    assert_eq!(t.namespace.as_deref(), Some(NAMESPACE));
    assert_eq!(
        t.namespace.as_deref(),
        Some("http://www3.rki.de/ns/SurvNet/2025/01/Transport")
    );
    assert_eq!(t.guid_transport, transport_guid(SENDER, RECEIVER, 42));
    assert_eq!(t.code_site_sender, SENDER);
    assert_eq!(t.code_site_receiver, RECEIVER);
    assert_eq!(t.transport_number, 42);
    assert_eq!(t.created_at, "2025-03-03T10:15:00.000");
    assert!(t.other_attributes.is_empty());
    assert_eq!(t.records.len(), 3);
    assert_eq!(t.records[0], expected_sal());

    let inv = &t.records[1];
    assert_eq!(inv.category, "INV");
    assert_eq!(inv.version_no, 2);
    assert_eq!(inv.changed_at, "2025-03-03T09:10:00.250");
    assert_eq!(inv.token, None);
    assert_eq!(inv.reporting_date, None);
    assert_eq!(inv.to_transport_manual, None);
    assert_eq!(inv.fields[0].value, "Influenza A");

    // The action: a new version with a Track entry carrying the configured code.
    let act = &t.records[2];
    assert_eq!(act.guid_record, "{A1B2C3D4-0000-4000-8000-000000000003}");
    assert_eq!(act.version_no, 4);
    assert!(act.fields.is_empty() && act.groups.is_empty());
    assert_eq!(act.track.len(), 1);
    let tr = &act.track[0];
    assert_eq!(tr.action, "PLACEHOLDER-RETRACT");
    assert_eq!(tr.tracked_at, "2025-03-03T09:30:00.000");
    assert_eq!(tr.code_site, SENDER);
    assert_eq!(tr.version_no_site, 4);
    assert_eq!(tr.software.as_deref(), Some("hub 0.1.0"));
    assert!(tr.guid_track.starts_with('{') && tr.guid_track.len() == 38);
}

#[test]
fn action_code_comes_from_settings() {
    let c = ctx(settings_for(SENDER, "health-office"), RECEIVER, 1);
    let p = Rki::encode(&c, &[retract()]).unwrap();
    let t = parse_transport(&p[0].bytes).unwrap();
    assert_eq!(t.records[0].track[0].action, "9");
}

#[test]
fn golden_file() {
    let payloads = encode(&[sal(), inv(), retract()]);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/RKI_1.01.0.02._1.01._00000042.xml"
    );
    if std::env::var_os("HUB_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &payloads[0].bytes).unwrap();
    }
    let golden = std::fs::read(path).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&payloads[0].bytes),
        String::from_utf8_lossy(&golden),
        "set HUB_UPDATE_GOLDEN=1 to accept a deliberate change"
    );
}

#[test]
fn is_deterministic() {
    let records = examples::records(20);
    let a = encode(&records);
    let b = encode(&records);
    assert_eq!(a, b);
    // Only CreatedAt depends on the time; the transport GUID depends on the number.
    let mut later = ctx(settings(), RECEIVER, 42);
    later.now.hour = 11;
    let c = Rki::encode(&later, &records).unwrap();
    let (ta, tc) = (
        parse_transport(&a[0].bytes).unwrap(),
        parse_transport(&c[0].bytes).unwrap(),
    );
    assert_eq!(ta.guid_transport, tc.guid_transport);
    assert_eq!(ta.records, tc.records);
    assert_ne!(ta.created_at, tc.created_at);
    let d = Rki::encode(&ctx(settings(), RECEIVER, 43), &records).unwrap();
    assert_ne!(
        parse_transport(&d[0].bytes).unwrap().guid_transport,
        ta.guid_transport
    );
    assert_eq!(d[0].name, "RKI_1.01.0.02._1.01._00000043.xml");
}

#[test]
fn examples_are_valid_and_distinct() {
    let records = examples::records(50);
    for r in &records {
        let meta = Rki::validate(&examples::settings(), r).unwrap();
        assert_eq!(meta.batch_key, examples::RECEIVER);
    }
    let t = parse_transport(&encode(&records)[0].bytes).unwrap();
    assert_eq!(t.records.len(), 50);
}

fn with_schema(r: Record, schema: &str) -> Record {
    let mut v: Value = serde_json::from_str(&r.body).unwrap();
    v["schema"] = json!(schema);
    Record {
        body: v.to_string(),
        ..r
    }
}

#[test]
fn one_file_per_schema_version() {
    let payloads = encode(&[
        with_schema(sal(), "11"),
        with_schema(inv(), "9"),
        with_schema(retract(), "11"),
    ]);
    let names: Vec<&str> = payloads.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "RKI_1.01.0.02._1.01._00000042.xml",
            "schema-11/RKI_1.01.0.02._1.01._00000042.xml"
        ]
    );
    assert_eq!(payloads[0].records, ["case-2"]);
    assert_eq!(payloads[1].records, ["case-1", "act-1"]);
    let (a, b) = (
        parse_transport(&payloads[0].bytes).unwrap(),
        parse_transport(&payloads[1].bytes).unwrap(),
    );
    assert!(a.records.iter().all(|r| r.schema == "9"));
    assert!(b.records.iter().all(|r| r.schema == "11"));
    // One transport: same number and GUID in both files.
    assert_eq!(a.transport_number, b.transport_number);
    assert_eq!(a.guid_transport, b.guid_transport);
}

#[test]
fn guids_are_unique_per_file() {
    // A second version of the same record in the same file is refused ...
    let mut v: Value = serde_json::from_str(&retract().body).unwrap();
    v["guid"] = json!("{A1B2C3D4-0000-4000-8000-000000000001}");
    let dup = rec("act-2", "action", v);
    match Rki::encode(&ctx(settings(), RECEIVER, 1), &[sal(), dup.clone()]) {
        Err(EncodeError::Records(errs)) => {
            assert_eq!(errs.len(), 1);
            assert_eq!(errs[0].record_id, "act-2");
            assert!(errs[0].message.contains("case-1"), "{}", errs[0].message);
        }
        other => panic!("{other:?}"),
    }
    // ... but it may travel in another schema version's file.
    let p = encode(&[sal(), with_schema(dup, "12")]);
    assert_eq!(p.len(), 2);
}

#[test]
fn documents_travel_as_their_own_files() {
    let doc = rec(
        "doc-1",
        "document",
        json!({
            "receiver": RECEIVER,
            "origin": SENDER,
            "number": 12345678,
            "version": "001",
            "type": "pdf",
            "content_base64": "JVBERi0xLjQK\n5pel5pys",
        }),
    );
    let payloads = encode(&[sal(), doc.clone()]);
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[1].name, "RKI_1.01.0.02._12345678_001.pdf");
    assert_eq!(payloads[1].media_type, "application/pdf");
    assert_eq!(payloads[1].bytes, "%PDF-1.4\n日本".as_bytes());
    assert_eq!(payloads[1].records, ["doc-1"]);

    // Documents alone still make a transport file, so the numbering has no gap.
    let payloads = encode(&[doc]);
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].name, "RKI_1.01.0.02._1.01._00000042.xml");
    assert!(payloads[0].records.is_empty());
    assert!(
        parse_transport(&payloads[0].bytes)
            .unwrap()
            .records
            .is_empty()
    );

    let bad = rec(
        "doc-2",
        "document",
        json!({"receiver": RECEIVER, "origin": SENDER, "number": "123", "version": 1,
               "type": "pdf", "content_base64": "JVBERi0xLjQK"}),
    );
    let e = Rki::validate(&settings(), &bad).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("number"));
    let bad = rec(
        "doc-3",
        "document",
        json!({"receiver": RECEIVER, "origin": SENDER, "number": 1, "version": 1,
               "type": "pdf", "content_base64": "JVB!"}),
    );
    let e = Rki::validate(&settings(), &bad).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("content_base64"));
}

#[test]
fn validate_gives_batch_key_and_scope() {
    let meta = Rki::validate(&settings(), &sal()).unwrap();
    assert_eq!(meta.batch_key, RECEIVER);
    assert_eq!(meta.sequence_scope.as_deref(), Some("1.01.0.02.|1.01."));
    assert_eq!(meta.supersede_key, None);
}

fn patched(r: Record, path: &[&str], value: Value) -> Record {
    let mut v: Value = serde_json::from_str(&r.body).unwrap();
    let mut at = &mut v;
    for key in &path[..path.len() - 1] {
        at = match key.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*key],
        };
    }
    at[path[path.len() - 1]] = value;
    Record {
        body: v.to_string(),
        ..r
    }
}

#[test]
fn validate_names_record_and_field() {
    let cases: Vec<(Record, &str)> = vec![
        (patched(sal(), &["guid"], json!("{a1b2}")), "guid"),
        (patched(sal(), &["category"], json!("S A L")), "category"),
        (patched(sal(), &["category"], json!("ns:SAL")), "category"),
        (patched(sal(), &["version_no"], json!(0)), "version_no"),
        (patched(sal(), &["version_no"], json!("1")), "version_no"),
        (patched(sal(), &["owner"], json!("Kiel")), "owner"),
        (
            patched(sal(), &["changed_at"], json!("03.03.2025")),
            "changed_at",
        ),
        (patched(sal(), &["receiver"], json!(SENDER)), "receiver"),
        (
            patched(sal(), &["reporting_county"], json!("SH-01")),
            "reporting_county",
        ),
        (patched(sal(), &["schema"], json!("../11")), "schema"),
        (
            patched(sal(), &["reportingDate"], json!("2025-03-01")),
            "reportingDate",
        ),
        (
            patched(
                sal(),
                &["groups", "0", "fields", "1", "value"],
                json!("bell\u{7}"),
            ),
            "groups[0].fields[1].value",
        ),
        (
            patched(sal(), &["groups", "0", "fields", "1", "value"], json!(null)),
            "groups[0].fields[1].value",
        ),
        (
            patched(sal(), &["track", "0", "guid"], json!("x")),
            "track[0].guid",
        ),
        (
            patched(sal(), &["addressees", "1", "implicit"], json!("yes")),
            "addressees[1].implicit",
        ),
        (
            patched(sal(), &["attributes", "Token"], json!("x")),
            "attributes.Token",
        ),
        (patched(inv(), &["fields"], json!([])), "fields"),
        (patched(retract(), &["action"], json!("delete")), "action"),
        (
            Record {
                kind: "patient".into(),
                ..sal()
            },
            "kind",
        ),
    ];
    for (r, field) in cases {
        let e = Rki::validate(&settings(), &r).unwrap_err();
        assert_eq!(e.record_id, r.id);
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
    }
    let e = Rki::validate(
        &settings(),
        &Record {
            body: "[1]".into(),
            ..sal()
        },
    )
    .unwrap_err();
    assert_eq!((e.record_id.as_str(), e.field), ("case-1", None));
}

fn action(name: &str, receiver: &str) -> Record {
    patched(
        patched(retract(), &["action"], json!(name)),
        &["receiver"],
        json!(receiver),
    )
}

#[test]
fn direction_rules() {
    let ga = settings_for(SENDER, "health-office");
    let ls = settings_for("1.01.", "state-office");
    let rki = settings_for("1.", "rki");
    let ok = |s: &Settings, a: &str, to: &str| Rki::validate(s, &action(a, to)).map(|_| ());
    // Retract and discard: from a health office towards the RKI (and forwarded by the LS).
    assert!(ok(&ga, "retract", "1.01.").is_ok());
    assert!(ok(&ga, "discard", "1.").is_ok());
    assert!(ok(&ls, "retract", "1.").is_ok());
    // Release and update: from the RKI towards LS and GA (and forwarded by the LS).
    assert!(ok(&rki, "release", "1.01.").is_ok());
    assert!(ok(&rki, "update", "1.01.0.02.").is_ok());
    assert!(ok(&ls, "release", "1.01.0.02.").is_ok());
    // No rule in the source for these.
    assert!(ok(&ga, "confirm-takeover", "1.01.0.03.").is_ok());
    assert!(ok(&rki, "retransmission-request", "1.01.").is_ok());

    let refused = |s: &Settings, a: &str, to: &str| {
        let e = ok(s, a, to).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("action"));
        assert!(e.message.contains(&format!("action `{a}`")), "{e}");
        e.message
    };
    assert_eq!(
        refused(&ga, "release", "1.01."),
        "action `release` is only sent from the RKI towards a state office or health office \
         (RKI → LS → GA), not from health office 1.01.0.02. to state office 1.01."
    );
    assert_eq!(
        refused(&rki, "retract", "1.01."),
        "action `retract` is only sent from a health office towards the RKI (GA → LS → RKI), \
         not from the RKI 1. to state office 1.01."
    );
    refused(&ga, "discard", "1.01.0.03.");
    refused(&ls, "retract", "1.01.0.02.");
    refused(&ga, "update", "1.");
    refused(&ls, "update", "1.");

    // encode checks again: settings may have changed since validation.
    match Rki::encode(&ctx(ga, "1.01.", 1), &[action("release", "1.01.")]) {
        Err(EncodeError::Records(errs)) => assert_eq!(errs[0].field.as_deref(), Some("action")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn settings_are_checked() {
    assert!(Rki::check_settings(&settings()).is_ok());
    let e = Rki::check_settings(&settings_for("1.01.", "health-office")).unwrap_err();
    assert_eq!(e.name, "role");
    assert!(e.message.contains("state office"), "{e}");
    assert!(Rki::check_settings(&settings_for("1.01.", "landesstelle")).is_err());
    assert!(Rki::check_settings(&settings_for("01.02", "health-office")).is_err());
    let mut s = settings();
    s.0.push(("action_code_discard".into(), "PLACEHOLDER-RETRACT".into()));
    let e = Rki::check_settings(&s).unwrap_err().to_string();
    assert!(
        e.contains("action_code_retract") && e.contains("action_code_discard"),
        "{e}"
    );
    // Encode refuses unusable settings without failing records.
    assert!(matches!(
        Rki::encode(&ctx(s, RECEIVER, 1), &[sal()]),
        Err(EncodeError::Settings(_))
    ));
}

#[test]
fn encode_refuses_foreign_receivers_and_missing_numbers() {
    let other = patched(inv(), &["receiver"], json!("1.02."));
    match Rki::encode(&ctx(settings(), RECEIVER, 1), &[sal(), other]) {
        Err(EncodeError::Records(errs)) => {
            assert_eq!(errs.len(), 1);
            assert_eq!(errs[0].record_id, "case-2");
            assert_eq!(errs[0].field.as_deref(), Some("receiver"));
        }
        other => panic!("{other:?}"),
    }
    let mut c = ctx(settings(), RECEIVER, 1);
    c.sequence = None;
    assert!(matches!(
        Rki::encode(&c, &[sal()]),
        Err(EncodeError::Other(_))
    ));
    let c = ctx(settings(), RECEIVER, 100_000_000);
    assert!(matches!(
        Rki::encode(&c, &[sal()]),
        Err(EncodeError::Other(_))
    ));
}

fn receipt_for(records: &[(&str, u32, ReceiptResult, Option<&str>)]) -> Receipt {
    Receipt {
        guid_transport: transport_guid(SENDER, RECEIVER, 42),
        transport_number: 42,
        code_site_sender: RECEIVER.into(),
        code_site_receiver: SENDER.into(),
        records: records
            .iter()
            .map(|(g, v, result, code)| ReceiptRecord {
                guid_record: g.to_string(),
                version_no: *v,
                result: *result,
                code: code.map(str::to_string),
                message: None,
            })
            .collect(),
    }
}

fn interpret(body: Vec<u8>, records: &[Record]) -> Result<Vec<Outcome>, InterpretError> {
    let response = Response {
        status: None,
        headers: vec![],
        body,
    };
    Rki::interpret(
        &ctx(settings(), RECEIVER, 42),
        "RKI_1.01.0.02._1.01._00000042.xml",
        records,
        &response,
    )
}

#[test]
fn receipts_become_outcomes() {
    let receipt = receipt_for(&[
        (
            "{A1B2C3D4-0000-4000-8000-000000000001}",
            1,
            ReceiptResult::Imported,
            None,
        ),
        (
            "{A1B2C3D4-0000-4000-8000-000000000003}",
            4,
            ReceiptResult::Rejected,
            Some("EDITOR_NOT_OWNER"),
        ),
        // Same record, other version: does not count for case-2 (version 2).
        (
            "{A1B2C3D4-0000-4000-8000-000000000002}",
            1,
            ReceiptResult::Imported,
            None,
        ),
    ]);
    let bytes = write_receipt(&receipt);
    assert_eq!(parse_receipt(&bytes).unwrap(), receipt);
    let out = interpret(bytes, &[sal(), inv(), retract()]).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].record_id, "case-1");
    assert_eq!(out[0].status, OutcomeStatus::Delivered);
    assert!(out[0].messages.is_empty());
    assert_eq!(out[1].record_id, "case-2");
    assert_eq!(out[1].status, OutcomeStatus::Rejected);
    assert_eq!(
        out[1].messages,
        [
            "the receipt for transport 42 does not list record {A1B2C3D4-0000-4000-8000-000000000002} version 2"
        ]
    );
    assert_eq!(out[2].record_id, "act-1");
    assert_eq!(out[2].status, OutcomeStatus::Rejected);
    assert_eq!(out[2].messages, ["EDITOR_NOT_OWNER"]);
}

#[test]
fn receipt_of_the_receiving_side() {
    // What `hub import` does: parse a transport, answer with a receipt.
    let payloads = encode(&[sal(), inv(), retract()]);
    let t = parse_transport(&payloads[0].bytes).unwrap();
    let mut receipt = Receipt::imported(&t);
    receipt.records[1].result = ReceiptResult::Rejected;
    receipt.records[1].code = Some("SCHEMA".into());
    receipt.records[1].message = Some("Feld <x> & \"y\"\nfehlt".into());
    let bytes = write_receipt(&receipt);
    assert_eq!(parse_receipt(&bytes).unwrap(), receipt);
    let out = interpret(bytes, &[sal(), inv(), retract()]).unwrap();
    let statuses: Vec<_> = out.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            OutcomeStatus::Delivered,
            OutcomeStatus::Rejected,
            OutcomeStatus::Delivered
        ]
    );
    assert_eq!(out[1].messages, ["SCHEMA", "Feld <x> & \"y\"\nfehlt"]);
}

#[test]
fn garbage_receipts_are_malformed() {
    let recs = [sal()];
    for body in [
        b"".to_vec(),
        b"not xml at all".to_vec(),
        b"<Receipt>".to_vec(),
        b"<Transport/>".to_vec(),
        b"\xff\xfe<".to_vec(),
        br#"<Receipt GuidTransport="x" TransportNumber="42" CodeSiteSender="1.01." CodeSiteReceiver="1.01.0.02."><Record GuidRecord="{A}" VersionNo="1" Result="Maybe"/></Receipt>"#.to_vec(),
        br#"<Receipt GuidTransport="x" TransportNumber="42" CodeSiteSender="1.01." CodeSiteReceiver="1.01.0.02."><Other/></Receipt>"#.to_vec(),
    ] {
        match interpret(body.clone(), &recs) {
            Err(InterpretError::Malformed(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&body)),
        }
    }
    // A receipt for another transport is not this payload's answer.
    let mut other = receipt_for(&[]);
    other.transport_number = 41;
    assert!(matches!(
        interpret(write_receipt(&other), &recs),
        Err(InterpretError::Malformed(m)) if m.contains("transport 41")
    ));
    let mut other = receipt_for(&[]);
    other.guid_transport = transport_guid(SENDER, RECEIVER, 41);
    assert!(matches!(
        interpret(write_receipt(&other), &recs),
        Err(InterpretError::Malformed(_))
    ));
}

#[test]
fn parser_refuses_what_it_cannot_represent() {
    let payloads = encode(&[sal()]);
    let xml = String::from_utf8(payloads[0].bytes.clone()).unwrap();
    let with = |from: &str, to: &str| parse_transport(xml.replacen(from, to, 1).as_bytes());
    assert!(
        with(
            "<Group Name=\"Leer\"/>",
            "<Group Name=\"Leer\"><Sub/></Group>"
        )
        .is_err()
    );
    assert!(with("<Group Name=\"Leer\"/>", "<Unknown/>").is_err());
    assert!(with("<Group Name=\"Leer\"/>", "text").is_err());
    assert!(with(" VersionNo=\"1\"", "").is_err());
    assert!(with(" VersionNo=\"1\"", " VersionNo=\"one\"").is_err());
    assert!(with("encoding=\"utf-8\"", "encoding=\"iso-8859-1\"").is_err());
    assert!(with("</Transport>", "").is_err());
    // Tolerated: comments, a BOM, prefixed names, single quotes, extra attributes.
    let t = parse_transport(
        format!(
            "\u{feff}{}",
            xml.replacen(
                "<Group Name=\"Leer\"/>",
                "<!-- c --><Group Name='Leer'/>",
                1
            )
            .replacen(
                "<Transport",
                "<Transport xmlns:xsi=\"urn:x\" xsi:schemaLocation=\"a b\"",
                1
            )
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(t.records[0], expected_sal());
    assert_eq!(
        t.other_attributes,
        [("xsi:schemaLocation".to_string(), "a b".to_string())]
    );
}

#[test]
fn example_ndjson_is_valid() {
    let text = include_str!("../../../examples/rki-cases.ndjson");
    let mut records = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let r = Record {
            id: v["id"].as_str().unwrap().into(),
            kind: v["kind"].as_str().unwrap().into(),
            body: line.into(),
        };
        Rki::validate(&settings(), &r).unwrap_or_else(|e| panic!("{e}"));
        records.push(r);
    }
    assert!(records.len() >= 4);
    let payloads = encode(&records);
    let t = parse_transport(&payloads[0].bytes).unwrap();
    assert!(!t.records.is_empty());
}

#[test]
fn a_stylesheet_reference_is_written_when_the_target_names_one() {
    let records = examples::records(2);
    let plain = encode(&records);
    assert!(
        !String::from_utf8_lossy(&plain[0].bytes).contains("xml-stylesheet"),
        "no stylesheet unless configured"
    );
    let mut s = settings();
    s.0.push((
        "xml_stylesheet".into(),
        "https://survnet.example/transport.xsl?v=1&lang=de".into(),
    ));
    Rki::check_settings(&s).unwrap();
    let with = Rki::encode(&ctx(s, RECEIVER, 42), &records).unwrap();
    let text = String::from_utf8(with[0].bytes.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
    );
    assert_eq!(
        lines.next(),
        Some(
            "<?xml-stylesheet type=\"text/xsl\" href=\"https://survnet.example/transport.xsl?v=1&amp;lang=de\"?>"
        )
    );
    // Everything after the instruction is the same, and the receiving side still reads it.
    let rest = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with("<?xml-stylesheet"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(rest(&with[0].bytes), rest(&plain[0].bytes));
    let parsed = parse_transport(&with[0].bytes).unwrap();
    assert_eq!(
        parsed.records.len(),
        parse_transport(&plain[0].bytes).unwrap().records.len()
    );
}
