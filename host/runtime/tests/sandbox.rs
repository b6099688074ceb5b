//! The sandbox against hostile plugins (built by `cargo xtask plugins` from
//! tests/plugins/): each misbehaviour ends its call with an error naming the plugin, and
//! the next call is served normally.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod common;
use common::plugin_path;

use std::time::Instant;

use hub_plugin_sdk::{Context, Record, Settings};
use hub_runtime::{Limits, PluginError, Runtime};

fn runtime() -> Runtime {
    Runtime::new(
        Limits {
            memory_mb: 16,
            call_timeout_ms: 300,
        },
        None,
    )
    .unwrap()
}

fn record(kind: &str) -> Record {
    Record {
        id: format!("r-{kind}"),
        kind: kind.into(),
        body: "{}".into(),
    }
}

fn encode_ok(p: &hub_runtime::Plugin) {
    let payloads = p
        .encode(&Context::default(), &[record("ok")])
        .unwrap()
        .unwrap();
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0].name, "r-ok.txt");
}

#[test]
fn endless_loop_is_stopped_and_the_next_call_is_served() {
    let rt = runtime();
    let p = rt
        .load("hostile", &plugin_path("test-hostile"), None)
        .unwrap();
    let started = Instant::now();
    let err = p
        .encode(&Context::default(), &[record("loop")])
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, PluginError::Timeout { limit_ms: 300, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin hostile: encode took longer than the limit of 300 ms and was stopped"
    );
    assert!(took.as_millis() < 3_000, "stopped only after {took:?}");
    encode_ok(&p);
}

#[test]
fn memory_bomb_is_stopped_and_the_next_call_is_served() {
    let rt = runtime();
    let p = rt
        .load("hostile", &plugin_path("test-hostile"), None)
        .unwrap();
    let err = p
        .encode(&Context::default(), &[record("bomb")])
        .unwrap_err();
    assert!(
        matches!(err, PluginError::OutOfMemory { limit_mb: 16, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("exceeded the memory limit of 16 MiB")
    );
    encode_ok(&p);
}

#[test]
fn traps_and_panics_are_contained() {
    let rt = runtime();
    let p = rt
        .load("hostile", &plugin_path("test-hostile"), None)
        .unwrap();
    for kind in ["trap", "panic"] {
        let err = p.encode(&Context::default(), &[record(kind)]).unwrap_err();
        assert!(matches!(err, PluginError::Trap { .. }), "{kind}: {err}");
        assert!(
            err.to_string()
                .starts_with("plugin hostile: encode crashed"),
            "{err}"
        );
        encode_ok(&p);
    }
}

#[test]
fn built_in_plugins_have_zero_imports_and_describe_themselves() {
    let rt = runtime();
    for name in ["prisme", "kitaplaner", "rki"] {
        let p = rt.load(name, &plugin_path(name), None).unwrap();
        assert_eq!(p.info().name, name);
        assert!(!p.info().record_kinds.is_empty());
        let answers = p
            .validate(&Settings::default(), &[])
            .expect("validate of nothing");
        assert!(answers.is_empty());
    }
}

#[test]
fn a_plugin_with_imports_is_refused_by_name() {
    let rt = runtime();
    let err = rt
        .load("importer", &plugin_path("test-importer"), None)
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::ForbiddenImports { imports, .. } if imports == &["evil:net/socket@0.1.0".to_string()]),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin importer: refused, it imports what the hub does not provide: evil:net/socket@0.1.0"
    );
}

#[test]
fn a_hash_pin_mismatch_shows_both_hashes() {
    let rt = runtime();
    let path = plugin_path("test-hostile");
    let actual = rt
        .load("hostile", &path, None)
        .unwrap()
        .sha256()
        .to_string();
    let pin = "0".repeat(64);
    let err = rt.load("hostile", &path, Some(&pin)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("pinned sha256 {pin}")), "{msg}");
    assert!(msg.contains(&format!("file has sha256 {actual}")), "{msg}");
    // The right pin (in either case) loads.
    rt.load("hostile", &path, Some(&actual.to_uppercase()))
        .unwrap();
}

#[test]
fn garbage_is_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.wasm");
    std::fs::write(&path, b"\0asm but not really").unwrap();
    let err = runtime().load("junk", &path, None).unwrap_err();
    assert!(matches!(err, PluginError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("plugin junk: not a valid component")
    );
    let err = runtime()
        .load("gone", &dir.path().join("missing.wasm"), None)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("plugin gone: cannot read"),
        "{err}"
    );
}

#[test]
fn the_compile_cache_makes_the_second_start_use_it() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
    let first = rt
        .load("hostile", &plugin_path("test-hostile"), None)
        .unwrap();
    assert!(!first.from_cache());
    let rt = Runtime::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
    let second = rt
        .load("hostile", &plugin_path("test-hostile"), None)
        .unwrap();
    assert!(second.from_cache());
    encode_ok(&second);
    // A damaged cache entry is compiled again, not trusted.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"damaged").unwrap();
    }
    let rt = Runtime::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
    let third = rt
        .load("hostile", &plugin_path("test-hostile"), None)
        .unwrap();
    assert!(!third.from_cache());
    encode_ok(&third);
}

fn encode_kind(p: &hub_runtime::Plugin, kind: &str) -> Result<String, PluginError> {
    let payloads = p.encode(&Context::default(), &[record(kind)])?.unwrap();
    Ok(String::from_utf8(payloads[0].bytes.clone()).unwrap())
}

#[test]
fn a_wasi_plugin_loads_but_reaches_no_files_environment_or_network() {
    let rt = runtime();
    let p = rt.load("wasi", &plugin_path("test-wasi"), None).unwrap();
    assert!(p.uses_wasi());
    assert_eq!(
        encode_kind(&p, "probe").unwrap(),
        "env=0 dirs=0 tcp=access-denied"
    );
    // 1 MiB to stdout: kept to the cap in the log, and never an error for the plugin.
    assert_eq!(encode_kind(&p, "print").unwrap(), "printed");
    // Rust plugins stay at zero imports.
    let prisme = rt.load("prisme", &plugin_path("prisme"), None).unwrap();
    assert!(!prisme.uses_wasi());
}

#[test]
fn a_wasi_sleep_ends_at_the_call_deadline_and_the_next_call_is_served() {
    let rt = runtime();
    let p = rt.load("wasi", &plugin_path("test-wasi"), None).unwrap();
    let started = Instant::now();
    let err = encode_kind(&p, "sleep").unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, PluginError::Timeout { limit_ms: 300, .. }),
        "{err}"
    );
    assert!(took.as_millis() < 3_000, "stopped only after {took:?}");
    assert_eq!(encode_kind(&p, "ok").unwrap(), "ok");
}
