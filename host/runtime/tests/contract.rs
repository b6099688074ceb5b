//! Contract versions: a plugin built against an older line of the contract (0.1) loads
//! beside one of the current line (0.2) and keeps giving the same bytes; one built for a
//! version the hub does not know is refused at load with both versions named, also on a
//! hub that speaks only 0.1.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
use common::{plugin_path, root};

use std::path::{Path, PathBuf};

use hub_plugin_sdk::{Context, DateTime};
use hub_runtime::{CONTRACT_VERSION, Limits, Line, PluginError, Runtime, Speaks};
use sha2::{Digest, Sha256};

const FIXTURE_SHA256: &str = "2451d25391cd0be9f12a567ac8b17a4eb899f5d6f65e3e1bf5a425b85e7efa36";

fn runtime() -> Runtime {
    Runtime::new(Limits::default(), None).unwrap()
}

#[test]
fn the_contract_0_1_0_prisme_fixture_loads_and_encodes_like_the_current_build() {
    let fixture = root().join("tests/fixtures/contract-0.1.0/prisme.wasm");
    let bytes = std::fs::read(&fixture).unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        FIXTURE_SHA256,
        "the fixture must stay byte for byte as built"
    );
    let rt = runtime();
    let old = rt.load("prisme-0.1.0", &fixture, None).unwrap();
    let new = rt.load("prisme", &plugin_path("prisme"), None).unwrap();
    // Side by side on one hub, each driven in its own line.
    assert_eq!(old.contract(), Line::V0_1);
    assert_eq!(new.contract(), Line::V0_2);
    assert!(!old.uses_wasi());
    assert_eq!(old.info().name, "prisme");
    assert_eq!(old.info().record_kinds, new.info().record_kinds);
    assert_eq!(old.info().settings, new.info().settings);
    assert_eq!(old.info().delivery, new.info().delivery);

    let settings = hub_plugin_prisme::examples::settings();
    let records = hub_plugin_prisme::examples::records(200);
    assert_eq!(old.check_settings(&settings).unwrap(), Ok(()));
    let metas = old.validate(&settings, &records).unwrap();
    assert_eq!(metas, new.validate(&settings, &records).unwrap());
    let meta = metas[0].clone().unwrap();
    let ctx = Context {
        target: "prisme".into(),
        settings,
        batch_key: meta.batch_key,
        sequence_scope: meta.sequence_scope,
        sequence: Some(7),
        transfer_id: 3,
        now: DateTime {
            unix_seconds: 1_706_788_800,
            utc_offset_minutes: -120,
            year: 2024,
            month: 2,
            day: 1,
            hour: 10,
            ..DateTime::default()
        },
        ..Context::default()
    };
    let mut from_old = old.encode(&ctx, &records).unwrap().unwrap();
    let from_new = new.encode(&ctx, &records).unwrap().unwrap();
    assert!(!from_old.is_empty());
    assert!(from_old.iter().all(|p| !p.bytes.is_empty()));
    // Since issue 18 the plugin pads G69 field 111 (the account) to 15 digits; the fixture
    // predates that. Everything else is byte for byte the same.
    for p in &mut from_old {
        p.bytes = pad_account(&p.bytes);
    }
    assert_eq!(from_old, from_new);
}

/// `&111<digits>` with the digits zero-padded to 15, as the current plugin writes them.
fn pad_account(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"&111") {
            let start = i + 4;
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            out.extend_from_slice(b"&111");
            out.extend(std::iter::repeat_n(
                b'0',
                15usize.saturating_sub(end - start),
            ));
            out.extend_from_slice(&bytes[start..end]);
            i = end;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A component exporting the contract's world under `version`: the real WIT (0.1.2's for
/// a 0.1 version, else the current one) with its version changed, and a dummy core module
/// (every function traps) behind it.
fn component_for_version(version: &str) -> Vec<u8> {
    let old =
        std::fs::read_to_string(root().join("wit/deps/hub-plugin-0.1.2/hub-plugin.wit")).unwrap();
    let mut resolve = wit_parser::Resolve::default();
    let (wit, declared) = if version.starts_with("0.1.") {
        (old, "package hub:plugin@0.1.2;".to_string())
    } else {
        // The 0.2 line's `target` is 0.2.0's; its worlds take the optional interfaces
        // from 0.1.2.
        resolve.push_str("deps/hub-plugin-0.1.2.wit", &old).unwrap();
        let v020 = std::fs::read_to_string(root().join("wit/deps/hub-plugin-0.2.0/hub-plugin.wit"))
            .unwrap();
        (v020, "package hub:plugin@0.2.0;".to_string())
    };
    assert!(wit.contains(&declared), "wit/ declares {declared}");
    let wit = wit.replace(&declared, &format!("package hub:plugin@{version};"));
    let package = resolve.push_str("hub-plugin.wit", &wit).unwrap();
    let world = resolve
        .select_world(&[package], Some("target-plugin"))
        .unwrap();
    let mut module = wit_component::dummy_module(
        &resolve,
        world,
        wit_parser::ManglingAndAbi::Legacy(wit_parser::LiftLowerAbi::Sync),
    );
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_plugin_for_an_unknown_contract_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    for version in ["0.3.0", "1.0.0"] {
        let path = write(
            dir.path(),
            &format!("v{version}.wasm"),
            &component_for_version(version),
        );
        let err = rt.load("future", &path, None).unwrap_err();
        assert!(
            matches!(&err, PluginError::ContractVersion { found, .. } if found == version),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "plugin future was built for contract hub:plugin@{version}; this hub speaks \
                 hub:plugin@{CONTRACT_VERSION} and hub:plugin@0.1.2 (compatible: 0.2.*, 0.1.*)"
            )
        );
    }
}

#[test]
fn a_hub_that_speaks_only_0_1_refuses_a_0_2_plugin_and_still_loads_0_1() {
    let rt = runtime().speaking(Speaks::only(&[Line::V0_1]));
    for name in ["prisme", "test-contract2"] {
        let err = rt.load(name, &plugin_path(name), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "plugin {name} was built for contract hub:plugin@0.2.0; this hub speaks \
                 hub:plugin@0.1.2 (compatible: 0.1.*)"
            )
        );
    }
    let fixture = root().join("tests/fixtures/contract-0.1.0/prisme.wasm");
    let old = rt.load("prisme-0.1.0", &fixture, None).unwrap();
    assert_eq!(old.contract(), Line::V0_1);
}

#[test]
fn later_patches_of_both_lines_pass_the_version_check() {
    // The dummy module traps in `describe`: reaching that call shows that both the version
    // check and wasmtime's semver-compatible export lookup let 0.1.9 and 0.2.9 through.
    let dir = tempfile::tempdir().unwrap();
    for version in ["0.1.9", "0.2.9"] {
        let path = write(
            dir.path(),
            &format!("v{version}.wasm"),
            &component_for_version(version),
        );
        let err = runtime().load("later", &path, None).unwrap_err();
        assert!(
            matches!(
                err,
                PluginError::Trap {
                    call: "describe",
                    ..
                }
            ),
            "{version}: {err}"
        );
    }
}

#[test]
fn the_contract_0_1_1_rki_fixture_loads_and_declares_no_once_keys_where_the_current_build_does() {
    let fixture = root().join("tests/fixtures/contract-0.1.1/rki.wasm");
    let bytes = std::fs::read(&fixture).unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        "12b783e31ee460020227464793f9d2fedbafbd54984d2a837719a38d84c0a732",
        "the fixture must stay byte for byte as built"
    );
    let rt = runtime();
    let old = rt.load("rki-0.1.1", &fixture, None).unwrap();
    let new = rt.load("rki", &plugin_path("rki"), None).unwrap();
    assert_eq!(old.info(), new.info());
    assert!(old.declares_changes(), "0.1.1 has identity");
    assert!(!old.declares_once_keys());
    assert!(new.declares_once_keys());
    let settings = hub_plugin_sdk::Settings::from_pairs([
        ("sender", "1.01.0.02."),
        ("role", "health-office"),
        ("software", "hub"),
        ("xml_stylesheet", ""),
    ]);
    let examples = std::fs::read_to_string(root().join("examples/rki-cases.ndjson")).unwrap();
    let records: Vec<hub_plugin_sdk::Record> = examples
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            hub_plugin_sdk::Record::new(v["id"].as_str().unwrap(), v["kind"].as_str().unwrap(), l)
        })
        .collect();
    assert_eq!(old.once_keys(&settings, &records).unwrap(), None);
    let keys = new.once_keys(&settings, &records).unwrap().unwrap();
    assert_eq!(keys.len(), records.len());
    assert!(
        keys[0].contains(&"guid {A1B2C3D4-0000-4000-8000-000000000007}".to_string()),
        "{keys:?}"
    );
    // A document's key is its file name.
    assert!(
        keys.iter()
            .flatten()
            .any(|k| k == "document RKI_1.01.0.02._12345678_001.txt"),
        "{keys:?}"
    );
}
