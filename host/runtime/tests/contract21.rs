//! Contract 0.2.1's optional interfaces, `schema` and `request-shape`, through the test
//! plugin that exports both (`tests/plugins/contract2`): plugins of 0.1.0, 0.1.1, 0.2.0
//! and 0.2.1 load side by side on one hub, the older ones with neither part and the same
//! bytes; a schema that is no JSON Schema, or one for a kind the plugin does not describe,
//! refuses the plugin at load, naming plugin and kind.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
use common::{plugin_path, root};

use std::path::PathBuf;

use hub_plugin_sdk::{Context, ErrorCode, Method, Record, RequestShape, Settings};
use hub_runtime::{Limits, Line, PluginError, Runtime};
use sha2::{Digest, Sha256};

fn fixture_0_2_0() -> PathBuf {
    let path = root().join("tests/fixtures/contract-0.2.0/contract2.wasm");
    assert_eq!(
        hex::encode(Sha256::digest(std::fs::read(&path).unwrap())),
        "d2787759fe2c13ff6df1ae2c574c2b1008cd4ee67fb8b95151673c47d33dcaa0",
        "the fixture must stay byte for byte as built"
    );
    path
}

fn settings(shape: &str) -> Settings {
    Settings::from_pairs([("prefix", "P"), ("limit", "10"), ("shape", shape)])
}

#[test]
fn plugins_of_every_line_load_side_by_side_and_only_0_2_1_has_the_new_parts() {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let p010 = rt
        .load(
            "prisme-0.1.0",
            &root().join("tests/fixtures/contract-0.1.0/prisme.wasm"),
            None,
        )
        .unwrap();
    let p011 = rt
        .load(
            "rki-0.1.1",
            &root().join("tests/fixtures/contract-0.1.1/rki.wasm"),
            None,
        )
        .unwrap();
    let old = rt.load("contract2-0.2.0", &fixture_0_2_0(), None).unwrap();
    let new = rt
        .load("contract2", &plugin_path("test-contract2"), None)
        .unwrap();
    assert_eq!(p010.contract(), Line::V0_1);
    assert_eq!(p011.contract(), Line::V0_1);
    assert_eq!((old.contract(), new.contract()), (Line::V0_2, Line::V0_2));
    for p in [&p010, &p011, &old] {
        assert!(p.schemas().is_empty(), "{}", p.name());
        let shape = p.request_shape(&settings("put"), 1, "x.txt", "text/plain");
        assert_eq!(shape.unwrap(), Ok(None), "{}", p.name());
    }
    assert_eq!(old.info().version, "2.0.0");
    assert_eq!(new.info().version, "2.1.0");
    let schemas = new.schemas();
    assert_eq!(schemas.len(), 1);
    assert_eq!(schemas[0].0, "item");
    assert!(
        schemas[0].1.contains(r#""format":"date""#),
        "{}",
        schemas[0].1
    );

    // The same records give the same bytes from the 0.2.0 build and the 0.2.1 one.
    let records = [
        Record::new("a", "item", r#"{"n": 1}"#),
        Record::new("b", "item", r#"{"n": 12, "when": "2024-02-01"}"#),
    ];
    let s = settings("put");
    assert_eq!(
        old.validate(&s, &records).unwrap(),
        new.validate(&s, &records).unwrap()
    );
    let ctx = Context::sample(s.clone());
    let (a, b) = (
        old.encode(&ctx, &records).unwrap().unwrap(),
        new.encode(&ctx, &records).unwrap().unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a[0].bytes, b"P a 1\nP b 12\n");
}

#[test]
fn the_schema_is_checked_before_validate_and_names_the_path() {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let p = rt
        .load("contract2", &plugin_path("test-contract2"), None)
        .unwrap();
    let e = p
        .check_schema(&Record::new(
            "c-7",
            "item",
            r#"{"n": 1, "when": "2020-13-01"}"#,
        ))
        .unwrap();
    assert_eq!(
        e.to_string(),
        r#"record c-7: /when: "2020-13-01" is not a "date""#
    );
    assert_eq!(e.code, ErrorCode::Malformed);
    let e = p
        .check_schema(&Record::new("c-8", "item", r#"{"when": "2020-12-01"}"#))
        .unwrap();
    assert_eq!(e.code, ErrorCode::Missing);
    assert_eq!(
        e.to_string(),
        r#"record c-8: /: "n" is a required property"#
    );
    assert!(
        p.check_schema(&Record::new("ok", "item", r#"{"n": 3}"#))
            .is_none()
    );
}

#[test]
fn the_plugin_shapes_each_request_and_may_refuse() {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let p = rt
        .load("contract2", &plugin_path("test-contract2"), None)
        .unwrap();
    let shape = |s: &str| {
        p.request_shape(&settings(s), 4, "items-000001.txt", "text/plain")
            .unwrap()
    };
    assert_eq!(
        shape("put"),
        Ok(Some(
            RequestShape::new(Method::Put, "items/items-000001.txt").header("Accept", "text/plain")
        ))
    );
    // The default request is no shape at all: nothing is recorded for it.
    assert_eq!(shape("post"), Ok(None));
    assert_eq!(
        shape("refuse"),
        Err("no request for items-000001.txt".into())
    );
    // What the plugin proposes is checked by the host (hub_core::request), not here.
    let bad = shape("bad-header").unwrap().unwrap();
    assert!(
        hub_core::request::check_shape(&bad)
            .unwrap_err()
            .contains("Authorization")
    );
}

#[test]
fn kitaplaners_schema_takes_every_golden_record() {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let p = rt
        .load("kitaplaner", &plugin_path("kitaplaner"), None)
        .unwrap();
    assert_eq!(p.schemas().len(), 1);
    let golden =
        std::fs::read_to_string(root().join("plugins/kitaplaner/tests/golden/children.ndjson"))
            .unwrap();
    let mut n = 0;
    for line in golden.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let r = Record::new(v["id"].as_str().unwrap(), "child", line);
        assert_eq!(p.check_schema(&r), None, "{line}");
        n += 1;
    }
    assert!(n > 2);
    let bad = Record::new(
        "k-1",
        "child",
        r#"{"KITA_ID_EXTERN":"1","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"2024-08-01"}"#,
    );
    let e = p.check_schema(&bad).unwrap();
    assert!(
        e.to_string()
            .starts_with("record k-1: /VER_VERTRAG_AB: \"2024-08-01\" does not match"),
        "{e}"
    );
}

#[test]
fn a_bad_schema_or_one_for_an_unknown_kind_refuses_the_plugin() {
    let rt = Runtime::new(Limits::default(), None).unwrap();
    let err = rt
        .load("bad", &plugin_path("test-schema-bad"), None)
        .unwrap_err();
    assert!(matches!(err, PluginError::Contract { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "plugin bad: schemas: the schema of kind `item` is not a valid JSON Schema:"
        ),
        "{text}"
    );
    let err = rt
        .load("stray", &plugin_path("test-schema-stray"), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin stray: schemas: a schema for kind `toy`, which describe does not list (kinds: item)"
    );
}
