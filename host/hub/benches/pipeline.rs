//! The pipeline benchmark (`cargo xtask bench`, which builds the plugins first):
//!
//! 1. `enqueue` of 100,000 records (NDJSON parse, WASM validation, one SQLite transaction);
//! 2. encode through each WASM plugin versus the same code called natively, on batches
//!    of 1,000 records (the ratio is the figure we track; the aim is within 1.5x);
//! 3. `send` of those 100,000 records through the `dir` transport;
//! 4. cold (Cranelift) and warm (compile cache) start of loading the three plugins, and of
//!    the Python plugin (csvdrop, componentize-py) on its own, with each file's size;
//!    its encode rate sits beside the Rust plugins' in 2.;
//! 5. Kita Planer over mutual TLS to the test server: records/s with 1, 100 and 1,000
//!    records per data source, and the cost of a .p12 identity and a TLS handshake;
//! 6. Prisme files over FTPS (proftpd) and SFTP (sshd) on loopback: files/s and MB/s for
//!    1,000 small files and one 50 MB file, the transports alone (needs root and
//!    `tests/servers/install.sh`; `cargo bench -p hub --bench uploads` runs `hub send`
//!    side by side with `lftp` and `sftp`).
//!
//! 7. RKI: one SurvNet transport of 100,000 records encoded (WASM) and zipped, then
//!    imported by `hub import` (unzip, parse, check, store, receipt): records/s and the
//!    peak memory (VmHWM, reset before each step) of each.
//!
//! Figures are printed as a table; set `BENCH_RECORDS` to change the record count and
//! `BENCH_ONLY=rki` to run section 7 alone, `BENCH_ONLY=encode` section 2.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hub::app::App;
use hub::pipeline;
use hub_plugin_sdk::Plugin;
use hub_runtime::{Limits, Runtime};

#[path = "pipeline/encode.rs"]
mod encode;
#[path = "pipeline/files.rs"]
mod files;

use encode::{ctx, encode_section, python_plugin};
use files::files;

fn plugin_dir() -> PathBuf {
    std::env::var_os("HUB_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"))
}

fn plugin_path(name: &str) -> PathBuf {
    let p = plugin_dir().join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} missing: run `cargo xtask bench`",
        p.display()
    );
    p
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Balanced posting pairs for one page, as NDJSON.
fn postings(n: usize) -> String {
    let mut out = String::with_capacity(n * 230);
    for i in 0..n / 2 {
        for (s, dk, account) in [("d", "D", "9002009002"), ("k", "K", "4210100000")] {
            out.push_str(&format!(
                "{{\"id\":\"p{i}{s}\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00123\",\"posting_date\":\"20240131\",\"account\":\"{account}\",\"amount_ore\":{},\"dk\":\"{dk}\",\"text\":\"Daginstitution {i}\"}}\n",
                1000 + i
            ));
        }
    }
    out
}

fn site(dir: &Path) -> PathBuf {
    let config = dir.join("hub.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1
[store]
path = "hub.db"
[plugins.prisme]
path = "{}"
[[target]]
name = "prisme"
plugin = "prisme"
transport = {{ type = "dir", path = "out" }}
[target.settings]
municipality = "sermersooq"
environment = "test"
organisation_unit = "0956"
"#,
            plugin_path("prisme").display()
        ),
    )
    .unwrap();
    config
}

/// Kita Planer over real mTLS on loopback.
fn kita() {
    use hub_test_kitaplaner_server::pki::Pki;
    use hub_test_kitaplaner_server::server::{self, Behaviour};
    use hub_transports::Transport;
    use hub_transports::http::{ClientIdentity, HttpConfig, HttpTransport};

    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(&dir.path().join("pki")).unwrap();
    let srv = server::start(&pki, Behaviour::default());
    let identity = || ClientIdentity {
        name: "bench".into(),
        p12_file: pki.client.p12.clone(),
        password: pki.client.password.clone().into(),
    };
    let config = HttpConfig {
        url: srv.url(),
        ca_file: Some(pki.ca_pem.clone()),
        connect_timeout: Duration::from_secs(10),
        timeout: Duration::from_secs(60),
        health_url: None,
    };
    let rounds = 20;
    let (mut load, mut handshake) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        let mut tr = HttpTransport::new(config.clone(), Some(identity())).unwrap();
        load += t.elapsed();
        let t = Instant::now();
        tr.health().unwrap(); // TCP connect + TLS 1.3 handshake with the client certificate + HEAD
        handshake += t.elapsed();
    }
    println!(
        "kita: open .p12 identity + client   {:>8.2} ms",
        load.as_secs_f64() * 1e3 / rounds as f64
    );
    println!(
        "kita: connect + mTLS handshake + HEAD {:>6.2} ms",
        handshake.as_secs_f64() * 1e3 / rounds as f64
    );
    let all: Vec<String> = hub_plugin_kitaplaner::examples::records(9_000)
        .into_iter()
        .filter(|r| r.body.contains("\"010570012\""))
        .map(|r| r.body)
        .collect();
    for (batch, n) in [(1usize, 300usize), (100, 3_000), (1_000, 3_000)] {
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("pw"), &pki.client.password).unwrap();
        let config = site.path().join("hub.toml");
        std::fs::write(
            &config,
            format!(
                r#"version = 1
[store]
path = "hub.db"
[plugins.kitaplaner]
path = "{plugin}"
[credentials.central]
p12 = "{p12}"
password_file = "pw"
[[target]]
name = "kita"
plugin = "kitaplaner"
credential = "central"
max_batch = {batch}
transport = {{ type = "http", url = "{url}", ca_file = "{ca}" }}
[target.settings]
benutzer_id = "bench"
traeger = "T-1"
"#,
                plugin = plugin_path("kitaplaner").display(),
                p12 = pki.client.p12.display(),
                url = srv.url(),
                ca = pki.ca_pem.display(),
            ),
        )
        .unwrap();
        let mut app = App::open(&config).unwrap();
        let text: String = all[..n].iter().map(|b| format!("{b}\n")).collect();
        pipeline::enqueue(&mut app, "kita", &text).unwrap();
        let t = Instant::now();
        let r = pipeline::send(&mut app, "kita", false).unwrap();
        let took = t.elapsed();
        assert_eq!(r.records_delivered, n, "{:?}", r.errors);
        println!(
            "kita: send {n} records, {batch:>4} per data source {:>8.0} rec/s  ({} POSTs, {:.2} s)",
            per_sec(n, took),
            r.transfers_created,
            took.as_secs_f64()
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n: usize = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!(
        "hub pipeline benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("rki") => return rki_transport(n),
        Ok("encode") => return encode_section(python_plugin().as_deref()),
        _ => {}
    }

    // 4. Start times first, on a clean cache.
    let cache = tempfile::tempdir().unwrap();
    let mut cold = Duration::ZERO;
    let mut warm = Duration::ZERO;
    for (i, total) in [&mut cold, &mut warm].into_iter().enumerate() {
        let t = Instant::now();
        let rt = Runtime::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
        for name in ["prisme", "kitaplaner", "rki"] {
            let p = rt.load(name, &plugin_path(name), None).unwrap();
            assert_eq!(p.from_cache(), i == 1);
        }
        *total = t.elapsed();
    }
    println!(
        "start, 3 plugins   cold (compile): {:>8.1} ms",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "start, 3 plugins   warm (cache):   {:>8.1} ms",
        warm.as_secs_f64() * 1e3
    );
    let python = python_plugin();
    if let Some(path) = &python {
        let cache = tempfile::tempdir().unwrap();
        for (i, label) in ["cold (compile)", "warm (cache)  "].into_iter().enumerate() {
            let t = Instant::now();
            let rt = Runtime::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
            let p = rt.load("csvdrop", path, None).unwrap();
            assert_eq!(p.from_cache(), i == 1);
            println!(
                "start, csvdrop (Python) {label}: {:>8.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    println!();
    println!("plugin file sizes:");
    for (name, path) in ["prisme", "kitaplaner", "rki"]
        .into_iter()
        .map(|n| (n, plugin_path(n)))
        .chain(python.clone().map(|p| ("csvdrop (Python)", p)))
    {
        println!(
            "  {name:<24} {:>10.1} KiB",
            std::fs::metadata(&path).unwrap().len() as f64 / 1024.0
        );
    }
    println!();

    encode_section(python.as_deref());

    // 1. and 3. Enqueue and send through the real pipeline (release build, real files).
    let dir = tempfile::tempdir().unwrap();
    let config = site(dir.path());
    let mut app = App::open(&config).unwrap();
    let text = postings(n);
    let t = Instant::now();
    let report = pipeline::enqueue(&mut app, "prisme", &text).unwrap();
    let enq = t.elapsed();
    assert_eq!(report.queued, n);
    let t = Instant::now();
    let sent = pipeline::send(&mut app, "prisme", false).unwrap();
    let send = t.elapsed();
    assert_eq!(sent.records_delivered, n, "{:?}", sent.errors);
    println!(
        "enqueue {n} records          {:>10.0} rec/s  ({:.2} s)",
        per_sec(n, enq),
        enq.as_secs_f64()
    );
    println!(
        "send {n} records via dir     {:>10.0} rec/s  ({:.2} s, {} transfers)",
        per_sec(n, send),
        send.as_secs_f64(),
        sent.transfers_created
    );
    println!();
    rki_transport(n);
    println!();
    kita();
    println!();
    files();
}

/// Resets the process's peak resident memory (Linux: `clear_refs` 5), so the next
/// [`peak_mb`] reports the peak of one step.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory since [`reset_peak`], in MiB (VmHWM).
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One SurvNet transport of `n` records: WASM encode + zip, then `hub import`.
fn rki_transport(n: usize) {
    let rt = Runtime::new(
        Limits {
            memory_mb: 4096,
            call_timeout_ms: 600_000,
        },
        None,
    )
    .unwrap();
    let plugin = rt.load("rki", &plugin_path("rki"), None).unwrap();
    let settings = hub_plugin_rki::examples::settings();
    let records = hub_plugin_rki::examples::records(n);
    let meta = <hub_plugin_rki::Rki as Plugin>::validate(&settings, &records[0]).unwrap();
    let c = ctx(settings, meta.batch_key, meta.sequence_scope);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();

    reset_peak();
    let t = Instant::now();
    let payloads = plugin.encode(&c, &records).unwrap().expect("encode");
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
    let xml_bytes: usize = new.iter().map(|p| p.bytes.len()).sum();
    let when = hub_core::time::Timestamp::from_unix_seconds(1_706_788_800).civil(60);
    let zipped = hub::package::zip(new, when).unwrap();
    let name = zipped.name.rsplit('/').next().unwrap().to_string();
    std::fs::write(dir.path().join("inbox").join(&name), &zipped.bytes).unwrap();
    let encode = t.elapsed();
    let encode_peak = peak_mb();
    drop(records);

    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
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
    let mut app = App::open(&config).unwrap();
    reset_peak();
    let t = Instant::now();
    let report = hub::inbound::import(&mut app, "in", None, false).unwrap();
    let import = t.elapsed();
    let import_peak = peak_mb();
    assert_eq!(report.imported.len(), 1, "{:?}", report.files);
    assert_eq!(report.imported[0].records, n);
    assert_eq!(report.imported[0].rejected, 0);
    println!(
        "rki transport of {n} records: XML {:.1} MB, zip {:.1} MB",
        xml_bytes as f64 / 1e6,
        zipped.bytes.len() as f64 / 1e6
    );
    println!(
        "  encode (WASM) + zip      {:>10.0} rec/s  ({:.2} s, peak {:.0} MiB)",
        per_sec(n, encode),
        encode.as_secs_f64(),
        encode_peak
    );
    println!(
        "  hub import               {:>10.0} rec/s  ({:.2} s, peak {:.0} MiB)",
        per_sec(n, import),
        import.as_secs_f64(),
        import_peak
    );
}
