//! `hub import` of one SurvNet transport, in a process of its own so its peak memory is
//! its own (`cargo bench -p hub --bench import`):
//!
//! 1. transports of 100,000 and 1,000,000 records (encoded natively by the rki plugin's
//!    code, zipped): records/s and the peak resident memory (GNU time's maximum RSS) of
//!    the `hub import` process;
//! 2. an archive near the default size limit (10,000 records beside a 230 MiB document
//!    that does not compress): imported with memory independent of the archive's size;
//! 3. a zip bomb refused at the default limits: 1.5 GB of one value in a ~1.5 MB zip.
//!
//! `BENCH_RECORDS=100000,1000000` chooses the sizes; `BENCH_KEEP=<dir>` keeps each
//! transport in `<dir>/<records>/` for profiling the import alone. Needs `/usr/bin/time`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::io::Write;
use std::path::Path;
use std::process::Command;

use hub_plugin_sdk::{Context, DateTime, Plugin};

const HUB: &str = env!("CARGO_BIN_EXE_hub");

fn ctx(settings: hub_plugin_sdk::Settings, batch_key: String, scope: Option<String>) -> Context {
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

/// A fresh receiving site: its hub.toml and an empty inbox.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    std::fs::write(
        dir.path().join("hub.toml"),
        r#"version = 1
[store]
path = "hub.db"
[[inbound]]
name = "in"
format = "survnet"
inbox = "inbox"
answers = { type = "dir", path = "answers" }
[inbound.settings]
sender = "1.01."
role = "state-office"
"#,
    )
    .unwrap();
    dir
}

/// Runs `hub import in --json` under GNU time: (seconds, peak RSS in MiB, report).
fn import(dir: &Path) -> (f64, f64, serde_json::Value) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(HUB)
        .arg("--config")
        .arg(dir.join("hub.toml"))
        .args(["import", "in", "--json"])
        .env_remove("HUB_CONFIG")
        .output()
        .expect("/usr/bin/time");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    let mut it = last.split_whitespace();
    let secs: f64 = it.next().and_then(|s| s.parse().ok()).expect(&err);
    let kb: f64 = it.next().and_then(|s| s.parse().ok()).expect(&err);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    (secs, kb / 1024.0, report)
}

fn transport(n: usize, dir: &Path) -> (f64, f64) {
    transport_with(n, 0, dir)
}

/// A transport of `n` records, with a document of `doc` bytes that do not compress.
fn transport_with(n: usize, doc: usize, dir: &Path) -> (f64, f64) {
    let settings = hub_plugin_rki::examples::settings();
    let records = hub_plugin_rki::examples::records(n);
    let meta = <hub_plugin_rki::Rki as Plugin>::validate(&settings, &records[0]).unwrap();
    let c = ctx(settings, meta.batch_key, meta.sequence_scope);
    let payloads = <hub_plugin_rki::Rki as Plugin>::encode(&c, &records).unwrap();
    drop(records);
    let new: Vec<hub_store::NewPayload> = payloads
        .into_iter()
        .map(|p| hub_store::NewPayload {
            name: p.name,
            media_type: p.media_type,
            bytes: p.bytes,
            records: Vec::new(),
            labels: Vec::new(),
            request: None,
        })
        .collect();
    let xml: usize = new.iter().map(|p| p.bytes.len()).sum();
    let mut new = new;
    if doc > 0 {
        // xorshift: bytes no compressor shrinks, without a dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..doc)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        new.push(hub_store::NewPayload {
            name: "RKI_1.01.0.02._00000007_001.pdf".into(),
            media_type: "application/pdf".into(),
            bytes,
            records: Vec::new(),
            labels: Vec::new(),
            request: None,
        });
    }
    let when = hub_core::time::Timestamp::from_unix_seconds(1_706_788_800).civil(60);
    let zipped = hub::package::zip(new, when).unwrap();
    let name = zipped.name.rsplit('/').next().unwrap().to_string();
    std::fs::write(dir.join("inbox").join(&name), &zipped.bytes).unwrap();
    if let Ok(keep) = std::env::var("BENCH_KEEP") {
        // For profiling the import alone: the transport, kept under its record count.
        let keep = Path::new(&keep).join(n.to_string());
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(keep.join(&name), &zipped.bytes).unwrap();
    }
    (xml as f64 / 1e6, zipped.bytes.len() as f64 / 1e6)
}

/// 1.5 GB of one value behind a real transport header, zipped as it is written.
fn bomb(dir: &Path) -> f64 {
    let settings = hub_plugin_rki::examples::settings();
    let mut records = hub_plugin_rki::examples::records(1);
    records[0].body = records[0]
        .body
        .replacen("Salmonella Enteritidis", "PLACEHOLDER", 1);
    let meta = <hub_plugin_rki::Rki as Plugin>::validate(&settings, &records[0]).unwrap();
    let c = ctx(settings, meta.batch_key, meta.sequence_scope);
    let p = <hub_plugin_rki::Rki as Plugin>::encode(&c, &records)
        .unwrap()
        .remove(0);
    let text = String::from_utf8(p.bytes).unwrap();
    let (head, tail) = text.split_once("PLACEHOLDER").unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        p.name.rsplit('/').next().unwrap(),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    w.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..1430 {
        w.write_all(&chunk).unwrap();
    }
    w.write_all(tail.as_bytes()).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    std::fs::write(dir.join("inbox/A-bomb.zip"), &bytes).unwrap();
    bytes.len() as f64 / 1e6
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_RECORDS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000]);
    println!(
        "hub import benchmark ({} cores; each import a process of its own)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for n in sizes {
        let dir = site();
        let (xml_mb, zip_mb) = transport(n, dir.path());
        let (secs, peak, report) = import(dir.path());
        assert_eq!(report["imported"][0]["records"], n, "{report}");
        assert_eq!(report["imported"][0]["rejected"], 0, "{report}");
        println!(
            "  {n:>9} records (XML {xml_mb:.0} MB, zip {zip_mb:.1} MB): {:>8.0} rec/s ({secs:.2} s), peak RSS {peak:.0} MiB",
            n as f64 / secs
        );
    }
    let dir = site();
    let (_, zip_mb) = transport_with(10_000, 230 << 20, dir.path());
    let (secs, peak, report) = import(dir.path());
    assert_eq!(report["imported"][0]["records"], 10_000, "{report}");
    assert_eq!(report["imported"][0]["documents"], 1, "{report}");
    println!(
        "  10,000 records beside a 230 MiB document (zip {zip_mb:.0} MB, limit 256 MiB): imported in {secs:.2} s, peak RSS {peak:.0} MiB"
    );
    let dir = site();
    let zip_mb = bomb(dir.path());
    let (secs, peak, report) = import(dir.path());
    assert_eq!(report["files"][0]["outcome"], "refused", "{report}");
    println!(
        "  zip bomb ({zip_mb:.1} MB unpacking to 1.5 GB) refused at the default limits in {secs:.2} s, peak RSS {peak:.0} MiB"
    );
    println!(
        "    {}",
        report["files"][0]["reason"].as_str().unwrap_or_default()
    );
}
