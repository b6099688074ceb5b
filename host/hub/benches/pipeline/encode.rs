//! Section 2 of the pipeline bench: each plugin's encode through WebAssembly against the
//! same code called natively, and the Python plugin's beside them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// Encodes `rounds` batches natively and through WASM, alternating; returns the
/// records/s of each side's median batch (native, wasm).
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
    // Alternating batch by batch, medians: this machine's speed drifts within seconds.
    let (mut n, mut w) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(P::encode(&c, std::hint::black_box(records)).unwrap());
        n.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(
            plugin
                .encode(&c, std::hint::black_box(records))
                .unwrap()
                .unwrap(),
        );
        w.push(t.elapsed());
    }
    let native = per_sec(records.len(), median(&mut n));
    let wasm = per_sec(records.len(), median(&mut w));
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

/// Microseconds of one call with an empty list: a fresh sandbox (store + instance).
fn empty_call_us(plugin: &hub_runtime::Plugin, settings: &Settings, calls: u32) -> f64 {
    let t = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(plugin.validate(settings, &[]).unwrap());
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
}

/// Encodes `rounds` batches through the Python plugin on `rt` (the default memory limit,
/// which it must fit in); returns records/s.
pub(crate) fn encode_python(rt: &Runtime, path: &Path, records: &[Record], rounds: usize) -> f64 {
    let plugin = rt.load("csvdrop", path, None).unwrap();
    let settings = csv_settings();
    let metas = plugin.validate(&settings, records).unwrap();
    let meta = metas[0].clone().expect("example row is valid");
    let c = ctx(settings, meta.batch_key, meta.sequence_scope);
    let first = plugin.encode(&c, records).unwrap().expect("csvdrop encode");
    assert_eq!(first[0].records.len(), records.len());
    println!(
        "  (csvdrop: one call, empty, fresh sandbox: {:.1} µs)",
        empty_call_us(&plugin, &c.settings, 100)
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

/// Section 2: encode, WASM against native, batches of 1,000, under the default limits
/// but a long deadline (a slow machine must not time out a bench).
pub(crate) fn encode_section(python: Option<&Path>) {
    let rt = Runtime::new(
        Limits {
            call_timeout_ms: 60_000,
            ..Limits::default()
        },
        None,
    )
    .unwrap();
    // The fixed cost of one call: a fresh sandbox (store + instance) and an empty list.
    let p = rt.load("prisme", &plugin_path("prisme"), None).unwrap();
    println!(
        "one plugin call, empty (fresh sandbox): {:>8.1} µs",
        empty_call_us(&p, &hub_plugin_prisme::examples::settings(), 2_000)
    );
    println!();
    println!("encode, batches of 1,000   native rec/s     WASM rec/s   WASM slower by");
    // Each built-in plugin, native and WASM, on 1,000 of its own example records.
    macro_rules! pair {
        ($name:literal, $krate:ident :: $plugin:ident, $rounds:expr) => {
            (
                $name,
                encode_pair::<$krate::$plugin>(
                    &rt,
                    $name,
                    $krate::examples::settings(),
                    &$krate::examples::records(1000),
                    $rounds,
                ),
            )
        };
    }
    let rows = [
        pair!("prisme", hub_plugin_prisme::Prisme, 200),
        pair!("kitaplaner", hub_plugin_kitaplaner::KitaPlaner, 200),
        pair!("rki", hub_plugin_rki::Rki, 100),
    ];
    for (name, (native, wasm)) in rows {
        println!(
            "  {name:<24} {native:>12.0} {wasm:>14.0}   {:>6.2}x",
            native / wasm
        );
    }
    if let Some(path) = python {
        let wasm = encode_python(&rt, path, &csv_records(1000), 20);
        println!("  {:<24} {:>12} {wasm:>14.0}", "csvdrop (Python)", "-");
    }
    println!();
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}
