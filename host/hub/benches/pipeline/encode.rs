//! Section 2 of the pipeline bench: each plugin's encode through WebAssembly against the
//! same code called natively, and the Python plugin's beside them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hub_plugin_sdk::{Context, DateTime, Plugin, Record, Settings};
use hub_runtime::{Limits, Runtime};

use super::{per_sec, plugin_dir, plugin_path};

pub(crate) fn ctx(settings: Settings, batch_key: String, scope: Option<String>) -> Context {
    Context {
        target: "bench".into(),
        settings,
        batch_key,
        sequence_scope: scope,
        sequence: Some(1),
        transfer_id: 1,
        now: DateTime {
            unix_seconds: 1_706_788_800,
            year: 2024,
            month: 2,
            day: 1,
            hour: 12,
            ..DateTime::default()
        },
        ..Context::default()
    }
}

/// Encodes `rounds` batches natively and through WASM; returns (native/s, wasm/s).
pub(crate) fn encode_pair<P: Plugin>(
    rt: &Runtime,
    name: &str,
    settings: Settings,
    records: &[Record],
    rounds: usize,
) -> (f64, f64) {
    let meta = P::validate(&settings, &records[0]).expect("example record is valid");
    let c = ctx(settings, meta.batch_key, meta.sequence_scope);
    let plugin = rt.load(name, &plugin_path(name), None).unwrap();
    // Same bytes both ways, or the comparison means nothing.
    let native = P::encode(&c, records).expect("native encode");
    let wasm = plugin.encode(&c, records).unwrap().expect("wasm encode");
    assert_eq!(native, wasm, "{name}: native and WASM differ");
    for _ in 0..3 {
        let _ = P::encode(&c, records);
        let _ = plugin.encode(&c, records);
    }
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(P::encode(&c, std::hint::black_box(records)).unwrap());
    }
    let native = per_sec(rounds * records.len(), t.elapsed());
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(
            plugin
                .encode(&c, std::hint::black_box(records))
                .unwrap()
                .unwrap(),
        );
    }
    let wasm = per_sec(rounds * records.len(), t.elapsed());
    (native, wasm)
}

/// The Python plugin when it was built (`cargo xtask plugins` with componentize-py).
pub(crate) fn python_plugin() -> Option<PathBuf> {
    let p = plugin_dir().join("csvdrop.wasm");
    if !p.exists() {
        println!(
            "csvdrop (Python): skipped, {} not built (pip install -r plugins/csvdrop/requirements.txt)",
            p.display()
        );
    }
    p.exists().then_some(p)
}

pub(crate) fn csv_settings() -> Settings {
    Settings(vec![
        ("columns".into(), "name,born,fee,note,active".into()),
        ("delimiter".into(), "comma".into()),
        ("prefix".into(), "bench".into()),
        ("header".into(), "true".into()),
    ])
}

/// `n` rows for csvdrop; every third needs quoting.
pub(crate) fn csv_records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            id: format!("r{i}"),
            kind: "row".into(),
            body: format!(
                "{{\"id\":\"r{i}\",\"kind\":\"row\",\"name\":\"Kita {i}{}\",\"born\":\"2019-04-01\",\"fee\":{}.50,\"note\":null,\"active\":true}}",
                if i % 3 == 0 { ", Nord \\\"A\\\"" } else { "" },
                100 + i % 400
            ),
        })
        .collect()
}

/// Encodes `rounds` batches through the Python plugin under the default memory limit
/// (which it must fit in); returns records/s.
pub(crate) fn encode_python(path: &Path, records: &[Record], rounds: usize) -> f64 {
    let rt = Runtime::new(
        Limits {
            call_timeout_ms: 60_000,
            ..Limits::default()
        },
        None,
    )
    .unwrap();
    let plugin = rt.load("csvdrop", path, None).unwrap();
    let settings = csv_settings();
    let metas = plugin.validate(&settings, records).unwrap();
    let meta = metas[0].clone().expect("example row is valid");
    let c = ctx(settings, meta.batch_key, meta.sequence_scope);
    let first = plugin.encode(&c, records).unwrap().expect("csvdrop encode");
    assert_eq!(first[0].records.len(), records.len());
    let calls = 100;
    let t = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(plugin.validate(&c.settings, &[]).unwrap());
    }
    println!(
        "  (csvdrop: one call, empty, fresh sandbox: {:.1} µs)",
        t.elapsed().as_secs_f64() * 1e6 / calls as f64
    );
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(
            plugin
                .encode(&c, std::hint::black_box(records))
                .unwrap()
                .unwrap(),
        );
    }
    per_sec(rounds * records.len(), t.elapsed())
}
