//! Native tests of the Prisme plugin through its `Plugin` trait, as the host calls it.
#![allow(clippy::unwrap_used)]

use hub_plugin_prisme::{Prisme, examples};
use hub_plugin_sdk::*;
use serde_json::{Value, json};

fn rec(id: &str, kind: &str, body: Value) -> Record {
    Record {
        id: id.into(),
        kind: kind.into(),
        body: body.to_string(),
    }
}

fn settings(environment: &str) -> Settings {
    let mut s = examples::settings();
    for (k, v) in &mut s.0 {
        if k == "environment" {
            *v = environment.into();
        }
    }
    s
}

fn ctx(batch_key: &str, run: u64) -> Context {
    Context {
        target: "prisme".into(),
        settings: settings("test"),
        batch_key: batch_key.into(),
        sequence_scope: Some(batch_key.into()),
        sequence: Some(run),
        transfer_id: 7,
        now: DateTime {
            unix_seconds: 1_706_788_800,
            utc_offset_minutes: -120,
            year: 2024,
            month: 2,
            day: 1,
            hour: 12,
            minute: 0,
            second: 0,
        },
        ..Default::default()
    }
}

fn posting(id: &str, machine: &str, date: &str, dk: &str, amount: i64) -> Record {
    rec(
        id,
        "posting",
        json!({"page": "522", "fiscal_year": "2024", "machine_no": machine,
               "posting_date": date, "account": "4210100000", "amount_ore": amount, "dk": dk}),
    )
}

/// The records behind the sample files 522-24-001-G.txt and 522-24-001-Q.txt.
fn sample_records() -> Vec<Record> {
    let line = |id: &str, exp: u64, account: &str, amount: i64, dk: &str, text: &str| {
        rec(
            id,
            "posting",
            json!({"id": id, "kind": "posting", "page": "522", "fiscal_year": "2024",
                   "callname": "WINF522", "machine_no": "00123", "expedition_no": exp,
                   "posting_date": "20240131", "account": account, "amount_ore": amount,
                   "dk": dk, "text": text}),
        )
    };
    let mut friplads = line("g3", 3, "5310100000", 50_000, "D", "Friplads jan 2024");
    let mut body: Value = serde_json::from_str(&friplads.body).unwrap();
    body["recipient_type"] = json!("02");
    body["recipient_id"] = json!("0101191234");
    friplads.body = body.to_string();
    vec![
        line(
            "g1",
            1,
            "4210100000",
            250_000,
            "K",
            "Daginst. jan 2024 brutto",
        ),
        line(
            "g2",
            2,
            "9002009002",
            200_000,
            "D",
            "Daginst. jan 2024 netto",
        ),
        friplads,
        rec(
            "q1",
            "debtor",
            json!({"page": "522", "fiscal_year": "2024", "debtor_no": "0101901234",
                   "amount_ore": 200_000, "due_date": "20240301", "founded_date": "20240131",
                   "period_from": "20240101", "period_to": "20240131",
                   "reconciliation_key": "WINF522-2024-01-0101901234",
                   "texts": ["Vuggestue Piaaraq jan 2024: 2.500,00", "Friplads: -500,00"]}),
        ),
    ]
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn field_error(r: &Record) -> (Option<String>, String) {
    let e = Prisme::validate(&examples::settings(), r).unwrap_err();
    assert_eq!(e.record_id, r.id);
    (e.field, e.message)
}

#[test]
fn reproduces_the_sample_files_byte_for_byte() {
    let records = sample_records();
    for r in &records {
        let meta = Prisme::validate(&examples::settings(), r).unwrap();
        assert_eq!(meta.batch_key, "522-24");
    }
    let payloads = Prisme::encode(&ctx("522-24", 1), &records).unwrap();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].name, "sermersooq/test/G/522-24-001-G.txt");
    assert_eq!(payloads[1].name, "sermersooq/test/Q/522-24-001-Q.txt");
    assert_eq!(
        String::from_utf8_lossy(&payloads[0].bytes),
        String::from_utf8_lossy(&golden("522-24-001-G.txt"))
    );
    assert_eq!(payloads[0].bytes, golden("522-24-001-G.txt"));
    assert_eq!(
        String::from_utf8_lossy(&payloads[1].bytes),
        String::from_utf8_lossy(&golden("522-24-001-Q.txt"))
    );
    assert_eq!(payloads[1].bytes, golden("522-24-001-Q.txt"));
    assert_eq!(payloads[0].records, ["g1", "g2", "g3"]);
    assert_eq!(payloads[1].records, ["q1"]);
    for p in &payloads {
        assert_eq!(p.media_type, "text/plain; charset=iso-8859-1");
    }
}

#[test]
fn validate_gives_batch_key_and_sequence_scope_per_page_and_year() {
    let r = rec(
        "a",
        "posting",
        json!({"page": 7, "fiscal_year": 2019, "machine_no": 123, "posting_date": "20190105",
               "account": "1", "amount_ore": 1, "dk": "D"}),
    );
    let meta = Prisme::validate(&examples::settings(), &r).unwrap();
    assert_eq!(meta.batch_key, "007-19");
    assert_eq!(meta.sequence_scope.as_deref(), Some("007-19"));
    assert_eq!(meta.supersede_key, None);
}

#[test]
fn validation_errors_name_record_and_field() {
    let base = json!({"page": "522", "fiscal_year": "2024", "machine_no": "00123",
                      "posting_date": "20240131", "account": "4210100000",
                      "amount_ore": 100, "dk": "D"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        rec("r7", "posting", b)
    };
    let cases: Vec<(Record, &str, &str)> = vec![
        (with("amount_ore", Value::Null), "amount_ore", "is required"),
        (
            with("amount_ore", json!(12.5)),
            "amount_ore",
            "whole number",
        ),
        (
            with("amount_ore", json!("100")),
            "amount_ore",
            "whole number",
        ),
        (
            with("amount_ore", json!(1_000_000_000_000i64)),
            "amount_ore",
            "too large",
        ),
        (with("machine_no", json!("123456")), "machine_no", "holds 5"),
        (with("account", json!("42a")), "account", "digits only"),
        (
            with("posting_date", json!("20240230")),
            "posting_date",
            "not a valid",
        ),
        (with("dk", json!("X")), "dk", "D, K"),
        (with("dk", Value::Null), "dk", "required"),
        (with("fiscal_year", json!("24")), "fiscal_year", "exactly 4"),
        (with("text", json!("Løn & skat")), "text", "`&`"),
        (with("callname", json!("A&B")), "callname", "`&`"),
        (with("text", json!("Euro €")), "text", "ISO-8859-1"),
        (
            with("text", json!("two\r\nlines")),
            "text",
            "control character",
        ),
        (with("text", json!("x".repeat(36))), "text", "holds 35"),
        (
            with("posting_type", json!("ABC")),
            "posting_type",
            "NOR, PRI, SUP",
        ),
        (
            with("recipient_type", json!("02")),
            "recipient_id",
            "required when",
        ),
        (
            with("payee_type", json!("03")),
            "payee_id",
            "required when payee_type",
        ),
        (with("amount", json!(1)), "amount", "unknown field"),
    ];
    for (r, field, needle) in cases {
        let (f, message) = field_error(&r);
        assert_eq!(f.as_deref(), Some(field), "{message}");
        assert!(
            message.contains(needle),
            "{field}: {message:?} lacks {needle:?}"
        );
    }

    // A CPR number needs 10 digits.
    let mut b = base.clone();
    b["recipient_type"] = json!("02");
    b["recipient_id"] = json!("12345678");
    let (f, m) = field_error(&rec("r8", "posting", b));
    assert_eq!(f.as_deref(), Some("recipient_id"));
    assert!(m.contains("CPR"), "{m}");

    // Debtor fields too.
    let debtor = json!({"page": "522", "fiscal_year": "2024", "debtor_no": "0101901234",
                        "amount_ore": 1, "due_date": "20240301", "founded_date": "20240131",
                        "period_from": "20240101", "period_to": "20240131",
                        "reconciliation_key": "k"});
    let mut d = debtor.clone();
    d["texts"] = json!(["ok", "Pris & rabat"]);
    let (f, m) = field_error(&rec("d1", "debtor", d));
    assert_eq!(f.as_deref(), Some("texts"));
    assert!(m.contains("line 2") && m.contains('&'), "{m}");
    let mut d = debtor.clone();
    d.as_object_mut().unwrap().remove("reconciliation_key");
    assert_eq!(
        field_error(&rec("d2", "debtor", d)).0.as_deref(),
        Some("reconciliation_key")
    );
    let mut d = debtor.clone();
    d["period_to"] = json!("20231231");
    assert_eq!(
        field_error(&rec("d3", "debtor", d)).0.as_deref(),
        Some("period_to")
    );
    let mut d = debtor;
    d["debtor_no"] = json!("01019012345");
    assert_eq!(
        field_error(&rec("d4", "debtor", d)).0.as_deref(),
        Some("debtor_no")
    );

    // Unknown kinds and bodies that are not objects.
    let (f, m) = field_error(&rec("k", "invoice", base.clone()));
    assert_eq!(f.as_deref(), Some("kind"));
    assert!(m.contains("invoice"), "{m}");
    let (f, m) = field_error(&Record {
        id: "j".into(),
        kind: "posting".into(),
        body: "[1, 2]".into(),
    });
    assert_eq!(f, None);
    assert!(m.contains("not a JSON object"), "{m}");
    let (_, m) = field_error(&Record {
        id: "j2".into(),
        kind: "posting".into(),
        body: "{".into(),
    });
    assert!(m.contains("not valid JSON"), "{m}");

    // Bodies written by hand: a key given twice is refused by name, `null` is absent, an
    // escaped text is read as its characters.
    let body = base.to_string();
    let twice = body.replacen("\"dk\":\"D\"", "\"dk\":\"D\",\"dk\":\"K\"", 1);
    let (f, m) = field_error(&Record::new("t1", "posting", &twice));
    assert_eq!(
        (f.as_deref(), m.as_str()),
        (Some("dk"), "appears twice in the body")
    );
    let null = body.replacen("\"dk\":\"D\"", "\"dk\":null", 1);
    let (f, m) = field_error(&Record::new("t2", "posting", &null));
    assert_eq!(f.as_deref(), Some("dk"), "{m}");
    assert!(m.contains("required"), "{m}");
    let escaped = body.replacen(
        "\"dk\":\"D\"",
        "\"dk\":\"\\u0044\",\"text\":\"L\\u00f8n \\\"A\\\"\"",
        1,
    );
    let meta = Prisme::validate(
        &examples::settings(),
        &Record::new("t3", "posting", &escaped),
    );
    assert!(meta.is_ok(), "{meta:?}");
}

#[test]
fn unbalanced_group_is_refused_with_difference_and_all_its_records() {
    let records = vec![
        posting("a1", "00123", "20240131", "D", 250_000),
        posting("b1", "00124", "20240131", "D", 1_000),
        posting("a2", "00123", "20240131", "K", 200_000),
        posting("b2", "00124", "20240131", "K", 1_000),
        posting("a3", "00123", "20240131", "K", 40_000),
        // Same machine, another date: its own group, balanced.
        posting("c1", "00123", "20240201", "D", 5),
        posting("c2", "00123", "20240201", "K", 5),
    ];
    let Err(EncodeError::Records(errors)) = Prisme::encode(&ctx("522-24", 1), &records) else {
        panic!("expected record errors");
    };
    let ids: Vec<&str> = errors.iter().map(|e| e.record_id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "a3"]);
    for e in &errors {
        assert_eq!(
            e.message,
            "postings for machine 00123 on 20240131 do not balance: debit 2500.00, \
             credit 2400.00, difference 100.00"
        );
    }

    // The host drops the failed records and encodes the rest: balanced groups pass.
    let rest: Vec<Record> = records
        .into_iter()
        .filter(|r| !ids.contains(&r.id.as_str()))
        .collect();
    let payloads = Prisme::encode(&ctx("522-24", 1), &rest).unwrap();
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0].records, ["b1", "b2", "c1", "c2"]);
    let text = String::from_utf8(payloads[0].bytes.clone()).unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 4);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(&l[6..11], format!("{:05}", i + 1), "line numbers count 1..");
    }
}

#[test]
fn negative_amounts_balance_and_are_signed() {
    let records = vec![
        posting("a", "00001", "20240131", "D", -500),
        posting("b", "00001", "20240131", "K", -500),
    ];
    let p = Prisme::encode(&ctx("522-24", 1), &records).unwrap();
    let text = String::from_utf8(p[0].bytes.clone()).unwrap();
    assert!(text.contains("&112000000000500-&113D"), "{text}");
    // A credit shortfall shows as a negative difference.
    let records = vec![
        posting("a", "00001", "20240131", "D", 100),
        posting("b", "00001", "20240131", "K", 150),
    ];
    let Err(EncodeError::Records(e)) = Prisme::encode(&ctx("522-24", 1), &records) else {
        panic!()
    };
    assert!(
        e[0].message
            .ends_with("debit 1.00, credit 1.50, difference -0.50")
    );
}

#[test]
fn expedition_numbers_must_not_decrease() {
    let mut records = vec![
        posting("a", "00001", "20240131", "D", 100),
        posting("b", "00001", "20240131", "K", 100),
        posting("c", "00001", "20240131", "D", 100),
        posting("d", "00001", "20240131", "K", 100),
    ];
    for (r, exp) in records.iter_mut().zip([5, 5, 3, 6]) {
        let mut b: Value = serde_json::from_str(&r.body).unwrap();
        b["expedition_no"] = json!(exp);
        r.body = b.to_string();
    }
    let Err(EncodeError::Records(e)) = Prisme::encode(&ctx("522-24", 1), &records) else {
        panic!()
    };
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].record_id, "c");
    assert_eq!(e[0].field.as_deref(), Some("expedition_no"));
    assert!(
        e[0].message.contains("0000003 comes after 0000005"),
        "{}",
        e[0].message
    );
}

#[test]
fn names_folders_and_run_numbers() {
    let records = vec![
        posting("a", "00001", "20240131", "D", 100),
        posting("b", "00001", "20240131", "K", 100),
    ];
    for (run, part) in [
        (1, "001"),
        (7, "007"),
        (42, "042"),
        (999, "999"),
        (1000, "1000"),
    ] {
        let p = Prisme::encode(&ctx("522-24", run), &records).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, format!("sermersooq/test/G/522-24-{part}-G.txt"));
    }
    let mut c = ctx("522-24", 325);
    c.settings = settings("prod");
    let p = Prisme::encode(&c, &records).unwrap();
    assert_eq!(p[0].name, "sermersooq/prod/G/522-24-325-G.txt");

    // Debtors only: just a Q file.
    let q = &sample_records()[3..];
    let p = Prisme::encode(&c, q).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].name, "sermersooq/prod/Q/522-24-325-Q.txt");

    // No run number, no file.
    let mut c = ctx("522-24", 1);
    c.sequence = None;
    assert!(matches!(
        Prisme::encode(&c, &records),
        Err(EncodeError::Other(_))
    ));
}

#[test]
fn records_of_another_batch_are_refused() {
    let mut other = posting("x", "00001", "20240131", "D", 100);
    other.body = other.body.replace("\"522\"", "\"586\"");
    let records = vec![
        posting("a", "00001", "20240131", "D", 100),
        other,
        posting("b", "00001", "20240131", "K", 100),
    ];
    let Err(EncodeError::Records(e)) = Prisme::encode(&ctx("522-24", 1), &records) else {
        panic!()
    };
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].record_id, "x");
    assert!(e[0].message.contains("586-24"), "{}", e[0].message);
}

#[test]
fn encoding_is_deterministic() {
    let records = examples::records(501);
    let c = ctx("522-24", 3);
    let a = Prisme::encode(&c, &records).unwrap();
    let b = Prisme::encode(&c, &records).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
}

#[test]
fn text_is_iso_8859_1() {
    let mut records = vec![
        posting("a", "00001", "20240131", "D", 100),
        posting("b", "00001", "20240131", "K", 100),
    ];
    let mut b: Value = serde_json::from_str(&records[0].body).unwrap();
    b["text"] = json!("Børnehave æøå ÆØÅ");
    records[0].body = b.to_string();
    let p = Prisme::encode(&ctx("522-24", 1), &records).unwrap();
    let bytes = &p[0].bytes;
    let expected: &[u8] = b"&153B\xf8rnehave \xe6\xf8\xe5 \xc6\xd8\xc5\r\n";
    assert!(
        bytes.windows(expected.len()).any(|w| w == expected),
        "{bytes:?}"
    );
    assert!(std::str::from_utf8(bytes).is_err(), "must not be UTF-8");
}

#[test]
fn fiscal_year_field_setting_writes_field_114() {
    let records = vec![
        posting("a", "00001", "20240131", "D", 100),
        posting("b", "00001", "20240131", "K", 100),
    ];
    let mut c = ctx("522-24", 1);
    for (k, v) in &mut c.settings.0 {
        if k == "fiscal_year_field" {
            *v = "true".into();
        }
    }
    let p = Prisme::encode(&c, &records).unwrap();
    let text = String::from_utf8(p[0].bytes.clone()).unwrap();
    assert!(text.contains("&113D&1142024\r\n"), "{text}");
}

#[test]
fn settings_are_checked_by_name() {
    assert_eq!(Prisme::check_settings(&examples::settings()), Ok(()));
    let bad = |name: &str, value: &str| {
        let mut s = examples::settings();
        for (k, v) in &mut s.0 {
            if k == name {
                *v = value.into();
            }
        }
        let e = Prisme::check_settings(&s).unwrap_err();
        assert_eq!(e.name, name, "{e}");
    };
    bad("environment", "production");
    bad("municipality", "Sermersooq");
    bad("municipality", "../x");
    bad("organisation_unit", "956");
    bad("registration_site", "0");
    bad("supplier_ident", "WI0");
    bad("user_no", "09a0");
    bad("payment_type", "2090");
    bad("fiscal_year_field", "yes");
    // Missing required settings are named; optional ones take defaults.
    let mut s = examples::settings();
    s.0.retain(|(k, _)| k != "organisation_unit");
    assert_eq!(
        Prisme::check_settings(&s).unwrap_err().name,
        "organisation_unit"
    );
    let mut s = examples::settings();
    s.0.retain(|(k, _)| ["municipality", "environment", "organisation_unit"].contains(&k.as_str()));
    assert_eq!(Prisme::check_settings(&s), Ok(()));
    // encode reports unusable settings as such.
    let mut c = ctx("522-24", 1);
    c.settings = Settings::default();
    assert!(matches!(
        Prisme::encode(&c, &[]),
        Err(EncodeError::Settings(_))
    ));
}

#[test]
fn describe_announces_kinds_settings_and_delivery() {
    let info = Prisme::describe();
    assert_eq!(info.name, "prisme");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.record_kinds, ["posting", "debtor"]);
    assert_eq!(info.delivery, Delivery::FileDrop);
    assert_eq!(info.max_batch, 50_000);
    let names: Vec<&str> = info.settings.iter().map(|s| s.name.as_str()).collect();
    for n in [
        "municipality",
        "environment",
        "organisation_unit",
        "registration_site",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    // Every default passes the plugin's own check.
    let mut s: Settings = Settings(
        info.settings
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.default_value.clone()?)))
            .collect(),
    );
    s.0.extend(
        [
            ("municipality", "qeqqata"),
            ("environment", "prod"),
            ("organisation_unit", "0959"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    assert_eq!(Prisme::check_settings(&s), Ok(()));
}

#[test]
fn example_records_are_valid_and_encode() {
    for n in [0, 1, 2, 3, 10, 11, 57, 2000] {
        let records = examples::records(n);
        assert_eq!(records.len(), n);
        for r in &records {
            assert_eq!(
                Prisme::validate(&examples::settings(), r)
                    .unwrap()
                    .batch_key,
                "522-24"
            );
        }
        let p = Prisme::encode(&ctx("522-24", 1), &records).unwrap();
        let carried: usize = p.iter().map(|p| p.records.len()).sum();
        assert_eq!(carried, n);
        if n >= 10 {
            assert_eq!(p.len(), 2, "postings and debtors");
            assert!(p[1].records.len() * 12 > n, "about one debtor in nine");
        }
    }
}

#[test]
fn example_ndjson_file_validates_and_encodes() {
    let path = format!(
        "{}/../../examples/prisme-postings.ndjson",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut batches: std::collections::BTreeMap<String, Vec<Record>> = Default::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let r = Record {
            id: v["id"].as_str().unwrap().into(),
            kind: v["kind"].as_str().unwrap().into(),
            body: line.into(),
        };
        let meta = Prisme::validate(&examples::settings(), &r).unwrap();
        batches.entry(meta.batch_key).or_default().push(r);
    }
    assert_eq!(batches.len(), 2);
    for (key, records) in batches {
        let p = Prisme::encode(&ctx(&key, 1), &records).unwrap();
        assert_eq!(p.len(), 2, "{key}: a G and a Q file");
    }
}

/// The G69 line of a debit posting carrying `extra` fields (balanced by a plain credit).
fn g69_line(extra: Value) -> Result<String, String> {
    let mut body = json!({"page": "522", "fiscal_year": "2024", "machine_no": "00123",
        "posting_date": "20220311", "account": "7001", "amount_ore": 12345, "dk": "D"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let debit = rec("d", "posting", body);
    if let Err(e) = Prisme::validate(&settings("test"), &debit) {
        return Err(e.to_string());
    }
    let mut credit = posting("k", "00123", "20220311", "K", 12345);
    credit.body = credit.body.replace("4210100000", "7001");
    let p = Prisme::encode(&ctx("522-24", 1), &[debit, credit]).map_err(|e| format!("{e:?}"))?;
    let text = String::from_utf8_lossy(&p[0].bytes).into_owned();
    Ok(text.split("\r\n").next().unwrap_or_default().to_string())
}

/// Golden, per field: what each field looks like in the line, following the independent
/// writer (Magenta ApS `tenQ`) where the G69 description is silent (plugins/prisme/README.md).
#[test]
fn each_g69_field_is_written_as_the_independent_writer_writes_it() {
    let cases: &[(Value, &str)] = &[
        // 111: the account zero-padded to 15, whatever form it comes in.
        (json!({}), "&111000000000007001&"),
        (json!({"account": "0000007001"}), "&111000000000007001&"),
        // 117: a number; leading zeros dropped.
        (json!({"payment_reference": "000123"}), "&117123"),
        // 133: a 10-digit id with type 03 (a CVR number zero-padded), as tenQ's test vector.
        (
            json!({"recipient_type": "03", "recipient_id": "0012345678"}),
            "&13203&1330012345678",
        ),
        (
            json!({"recipient_type": "03", "recipient_id": "12345678"}),
            "&13203&13312345678",
        ),
        // 150–152: extract texts and code, at most 5 characters.
        (
            json!({"extract_text_1": "AB", "extract_text_2": "CD", "extract_code": "X1", "text": "t"}),
            "&150AB&151CD&152X1&153t",
        ),
        // 185: reverse charge, 2 digits zero-padded.
        (json!({"reverse_charge": "1"}), "&18501"),
        // 200–203: invoice pool J/N, booked by, short note, approved by.
        (
            json!({"invoice_pool": "J", "booked_by": "abc", "note_short": "kort", "approved_by": "def"}),
            "&200J&201abc&202kort&203def",
        ),
        // 210/211: subject and long note, together.
        (
            json!({"subject": "Emne", "note_long": "Lang note"}),
            "&210Emne&211Lang note",
        ),
        // 251: IRIS number, after 250.
        (
            json!({"external_reference": "ext", "iris_no": "IR1"}),
            "&250ext&251IR1",
        ),
        // 300–306: a project posting; 303/304 in hundredths with a trailing sign, unpadded.
        (
            json!({"project_no": "P-1", "project_kind": "Tid", "project_employee": "emp",
                   "sales_price_ore": 10050, "quantity_hundredths": -250,
                   "line_property": "LE", "activity_no": "A7"}),
            "&300P-1&301Tid&302emp&30310050 &304250-&305LE&306A7",
        ),
    ];
    for (extra, expected) in cases {
        let line = g69_line(extra.clone()).unwrap_or_else(|e| panic!("{extra}: {e}"));
        assert!(line.contains(expected), "{extra}: {line} lacks {expected}");
    }
}

#[test]
fn g69_field_rules_of_the_independent_writer() {
    for (extra, words) in [
        (json!({"subject": "Emne"}), "needs note_long"),
        (json!({"project_no": "P-1"}), "needs project_kind"),
        (
            json!({"subject": "E", "note_long": "N", "voucher": "B1"}),
            "may not be given together with voucher",
        ),
        (json!({"invoice_pool": "X"}), "must be one of J, N"),
        (json!({"extract_code": "TOOLONG"}), "extract_code"),
        (
            json!({"recipient_type": "03", "recipient_id": "1112345678"}),
            "CVR",
        ),
    ] {
        let e = g69_line(extra.clone()).unwrap_err();
        assert!(e.contains(words), "{extra}: {e}");
    }
}

/// tenQ's own test vector, transcribed: the same posting gives the same floating part.
/// (Its header has registration site 012 and organisation unit 0034; the hub writes the
/// configured site and unit, so only the fields after the header are compared.)
#[test]
fn the_independent_writers_test_vector() {
    let line = g69_line(json!({"callname": "test", "expedition_no": "1",
        "recipient_type": "03", "recipient_id": "0012345678"}))
    .unwrap();
    let fields = &line[line.find('&').unwrap()..];
    assert_eq!(
        fields,
        "&101test&10300123&1040000001&11020220311&111000000000007001&112000000012345 &113D&13203&1330012345678"
    );
}
