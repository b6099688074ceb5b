//! The console's reads over HTTP on a store of years (`cargo bench -p hub --bench
//! console`): `hub serve` on a SQLite store of 1,000,000 records and 100,000 transfers
//! over five targets (the fill of `hub-store`'s `pages` bench), every target paused so
//! nothing is sent meanwhile, then p50 and p99 of
//!
//! - the status overview (`GET /api/v1/status`) and the summary (`GET /api/v1/console`),
//! - the newest page of one target's transfers and a page of its done ones,
//! - a page of one target's files found by label and state, and by a text in the name,
//! - `GET /metrics`,
//!
//! each with 1 and with 64 clients at once (a keep-alive connection each, all driven by
//! one thread, as `wrk` does). The same read from many clients shares readings; one line
//! asks a different page each request, so nothing is shared. Answers other than 200 are
//! counted apart: under load the hub sheds reads with 503, and a shed client waits the
//! `Retry-After` it was given before asking again.
//!
//! `BENCH_KEEP=1` keeps the store and its hub.toml for a profile afterwards.
//! `BENCH_TRANSFERS=10000` for a smaller store (records are ten per transfer);
//! `BENCH_REQUESTS` requests per read and client count (default 640). Needs the plugins
//! (`cargo xtask plugins`, or `HUB_PLUGIN_DIR`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../store/benches/fill.rs"]
mod fill;

const HUB: &str = env!("CARGO_BIN_EXE_hub");
const TOKEN: &str = "console-bench-operator-token";

fn plugin_dir() -> PathBuf {
    std::env::var_os("HUB_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/plugins")
                .canonicalize()
                .expect("target/plugins: run `cargo xtask plugins` first")
        })
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// hub.toml with the five targets the fill uses, each a Prisme target into a folder.
fn config(dir: &Path) -> PathBuf {
    let mut text = format!(
        "version = 1\n[store]\npath = \"hub.db\"\n[plugins.prisme]\npath = \"{}\"\n\
         [api]\noperator_token_env = \"HUB_BENCH_OP\"\n",
        plugin_dir().join("prisme.wasm").display()
    );
    for t in 0..5 {
        text.push_str(&format!(
            "\n[[target]]\nname = \"t{t}\"\nplugin = \"prisme\"\n\
             transport = {{ type = \"dir\", path = \"out-t{t}\" }}\n[target.settings]\n\
             municipality = \"sermersooq\"\nenvironment = \"test\"\norganisation_unit = \"0956\"\n"
        ));
    }
    let file = dir.join("hub.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn hub(config: &Path, args: &[&str]) {
    let out = Command::new(HUB)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("HUB_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `hub serve` on an ephemeral loopback port: the child and its base URL.
fn serve(config: &Path) -> (Child, String) {
    let mut child = Command::new(HUB)
        .arg("--config")
        .arg(config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HUB_BENCH_OP", TOKEN)
        .env("HUB_LOG", "hub=warn")
        .env_remove("HUB_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("hub serve ended before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("hub serve: listening on ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// `requests` GETs of `url` spread over `clients` connections: latencies of the 200s
/// (ms, sorted), how many answered otherwise, and the wall time.
///
/// One thread drives every client, as `wrk` does: the load shares the two cores with the
/// hub, and 64 blocking clients were 128 threads (each blocking reqwest client runs a
/// runtime of its own), whose scheduling was most of the tail measured (status overview
/// p99 187 ms with them, 27 ms from `wrk -c64` against the same store).
fn load(url: &str, clients: usize, requests: usize) -> (Vec<f64>, usize, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // A client each (one keep-alive connection per client), built before the clock
        // starts: building one loads the TLS roots, milliseconds on this one thread.
        let built: Vec<reqwest::Client> = (0..clients)
            .map(|_| {
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap()
            })
            .collect();
        let started = Instant::now();
        let per = requests.div_ceil(clients);
        let mut set = tokio::task::JoinSet::new();
        for (i, client) in built.into_iter().enumerate() {
            let url = url.to_string();
            set.spawn(async move {
                let (mut ok, mut other) = (Vec::with_capacity(per), 0usize);
                for k in 0..per {
                    // `{n}` in the path: a different read each request (no two share).
                    let url = url.replace("{n}", &((i * per + k) * 37 + 1_000).to_string());
                    let t = Instant::now();
                    let res = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
                    let status = res.status();
                    let retry_after = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                    let _ = res.bytes().await.unwrap();
                    if status == reqwest::StatusCode::OK {
                        ok.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        other += 1;
                        // A shed client waits as asked, as a browser's poll or a
                        // scraper would; asking again at once only adds to the load.
                        if let Some(wait) = retry_after {
                            tokio::time::sleep(Duration::from_secs(wait)).await;
                        }
                    }
                }
                (ok, other)
            });
        }
        let (mut all, mut other) = (Vec::new(), 0);
        while let Some(done) = set.join_next().await {
            let (ok, o) = done.unwrap();
            all.extend(ok);
            other += o;
        }
        all.sort_by(f64::total_cmp);
        (all, other, started.elapsed().as_secs_f64())
    })
}

/// The size of one answer to `url`, in bytes.
fn size(url: &str) -> usize {
    let url = url.replace("{n}", "1000");
    let res = reqwest::blocking::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    res.bytes().unwrap().len()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n = env_num("BENCH_TRANSFERS", 100_000) as i64;
    let requests = env_num("BENCH_REQUESTS", 640);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // Paused first (which also creates the store): the fill's queued records and open
    // transfers are not sent while the reads are timed.
    for t in 0..5 {
        hub(
            &cfg,
            &["pause", &format!("t{t}"), "--reason", "console benchmark"],
        );
    }
    let started = Instant::now();
    fill::fill_sqlite(&dir.path().join("hub.db"), n);
    println!(
        "hub console benchmark: {n} transfers, {} records filled in {:.1} s; {requests} requests per line",
        n * 10,
        started.elapsed().as_secs_f64()
    );
    let (mut child, base) = serve(&cfg);
    println!("  load average at the start: {}", load_average());
    let reads = [
        ("status overview", "/api/v1/status".to_string()),
        (
            "summary across targets (console)",
            "/api/v1/console".to_string(),
        ),
        (
            "newest 50 transfers of t1",
            "/api/v1/targets/t1/transfers?limit=50".to_string(),
        ),
        (
            "50 done transfers of t2, older than the newest half",
            format!(
                "/api/v1/targets/t2/transfers?state=done&limit=50&before={}",
                n / 2
            ),
        ),
        (
            "50 transfers of t1, each request another cursor",
            "/api/v1/targets/t1/transfers?limit=50&before={n}".to_string(),
        ),
        (
            "files of t1 by label, state (page of 50)",
            "/api/v1/targets/t1/files?label=page=521&state=delivered&limit=50".to_string(),
        ),
        (
            "files of t1 by a text in the name (page of 50)",
            "/api/v1/targets/t1/files?text=-24-77&limit=50".to_string(),
        ),
        ("/metrics", "/metrics".to_string()),
    ];
    println!(
        "  {:<52} {:>7} {:>9} {:>9} {:>8} {:>6} {:>7}",
        "read", "clients", "p50 ms", "p99 ms", "req/s", "not 200", "KiB"
    );
    for (what, path) in &reads {
        // One unmeasured call warms the page cache and the statements, and gives the
        // answer's size (what every client receives).
        let bytes = size(&format!("{base}{path}"));
        for clients in [1, 64] {
            let (lat, other, secs) = load(&format!("{base}{path}"), clients, requests);
            println!(
                "  {:<52} {:>7} {:>9.2} {:>9.2} {:>8.0} {:>6} {:>7.1}",
                what,
                clients,
                pct(&lat, 0.50),
                pct(&lat, 0.99),
                (lat.len() + other) as f64 / secs,
                other,
                bytes as f64 / 1024.0
            );
        }
    }
    println!("  load average at the end: {}", load_average());
    let _ = child.kill();
    let _ = child.wait();
    if std::env::var_os("BENCH_KEEP").is_some() {
        // For a profile afterwards: the store and hub.toml stay.
        println!("  kept: {}", dir.keep().display());
    }
}

/// The machine's load (1, 5, 15 minutes) from `/proc/loadavg`: the clients share the
/// cores with the hub, so a busy machine shows in every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
