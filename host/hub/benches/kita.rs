//! `hub send` to Kita-Planer side by side with a plain script (`cargo bench -p hub --bench
//! kita`): the same records of one Kita POSTed over mutual TLS to the same test server
//! (`tests/servers/kitaplaner`, started here on loopback) by the hub (a process of its own,
//! default settings but `max_batch`) and by `benches/baseline/kita.py` (Python's standard
//! library: http.client over one keep-alive connection, sqlite3 in WAL with
//! synchronous=FULL, one transaction per POST), alternating which goes first. Each side's
//! records are stored first (not timed); the send is timed under GNU time as a whole
//! process. Prints records/s, CPU per record and peak RSS of each side and the ratios.
//!
//! `BENCH_ROUNDS` pairs per batch size (default 2); `BENCH_SIZES` as `per_post:records,…`
//! (default `1:1000,100:10000,1000:10000`); `BENCH_HUB_PREFIX` runs the hub under a
//! profiler. Needs the plugins (`cargo xtask plugins`),
//! python3, openssl and `/usr/bin/time`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use hub_test_kitaplaner_server::pki::Pki;
use hub_test_kitaplaner_server::server::{self, Behaviour};

#[path = "common/timing.rs"]
mod timing;
use timing::{Run, median, plugin_dir, timed};

const HUB: &str = env!("CARGO_BIN_EXE_hub");

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `n` children of one Kita (one data source) as NDJSON.
fn input(n: usize, path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let kept = hub_plugin_kitaplaner::examples::records(n * 3)
        .into_iter()
        .filter(|r| r.body.contains("\"010570012\""))
        .take(n);
    for r in kept {
        writeln!(f, "{}", r.body).unwrap();
    }
    f.flush().unwrap();
}

struct Rig {
    pki: Pki,
    url: String,
    client_pem: PathBuf,
}

/// The hub's side: a fresh site, the records enqueued, then `hub send kita` timed.
fn hub(rig: &Rig, file: &Path, batch: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), &rig.pki.client.password).unwrap();
    let config = dir.path().join("hub.toml");
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
            plugin = plugin_dir().join("kitaplaner.wasm").display(),
            p12 = rig.pki.client.p12.display(),
            url = rig.url,
            ca = rig.pki.ca_pem.display(),
        ),
    )
    .unwrap();
    let hub = |args: &[&str]| {
        let mut c = Command::new(HUB);
        c.arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("HUB_CONFIG")
            .env("HUB_LOG", "hub=warn");
        c
    };
    run(&mut hub(&["enqueue", "kita", file.to_str().unwrap()]));
    // `BENCH_HUB_PREFIX="perf record -g -o hub.perf"`: a profile of the hub's sends.
    let prefix = std::env::var("BENCH_HUB_PREFIX").unwrap_or_default();
    let (r, _) = timed(
        Command::new("/usr/bin/time")
            .args(["-f", "%e %U %S %M"])
            .args(prefix.split_whitespace())
            .args([HUB, "--config"])
            .arg(&config)
            .args(["send", "kita"])
            .env_remove("HUB_CONFIG")
            .env_remove("HUB_LOG"), // the default level: a user's logs are part of the cost
    );
    r
}

/// The script's side: a fresh store, the records loaded, then `kita.py send` timed.
fn script(rig: &Rig, file: &Path, batch: usize, n: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baseline/kita.py");
    let db = dir.path().join("baseline.db");
    run(Command::new("python3")
        .arg(&py)
        .arg("load")
        .arg(&db)
        .arg(file));
    let (r, out) = timed(
        Command::new("/usr/bin/time")
            .args(["-f", "%e %U %S %M", "python3"])
            .arg(&py)
            .arg("send")
            .arg(&db)
            .arg(&rig.url)
            .arg(&rig.pki.ca_pem)
            .arg(&rig.client_pem)
            .arg(batch.to_string()),
    );
    assert_eq!(out.trim(), n.to_string(), "the script imported {out}");
    r
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes: Vec<(usize, usize)> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1:1000,100:10000,1000:10000".into())
        .split(',')
        .map(|s| {
            let (b, n) = s.trim().split_once(':').unwrap();
            (b.parse().unwrap(), n.parse().unwrap())
        })
        .collect();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(&tmp.path().join("pki")).unwrap();
    // What the script's author does with the .p12 they were given.
    let client_pem = tmp.path().join("client.pem");
    run(Command::new("openssl")
        .args(["pkcs12", "-nodes", "-in"])
        .arg(&pki.client.p12)
        .arg("-passin")
        .arg(format!("pass:{}", pki.client.password))
        .arg("-out")
        .arg(&client_pem));
    let srv = server::start(&pki, Behaviour::default());
    let rig = Rig {
        url: srv.url(),
        pki,
        client_pem,
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "hub send vs a Python script, Kita-Planer over mTLS, same server and records, alternating ({cores} cores, load {})",
        load_average()
    );
    println!(
        "{:>8} {:>8}  {:<6} {:>9} {:>12} {:>9}  runs (records/s)",
        "per POST", "records", "side", "rec/s", "CPU µs/rec", "peak MiB"
    );
    for (batch, n) in sizes {
        let file = tmp.path().join(format!("kita-{n}.ndjson"));
        input(n, &file);
        let (mut h, mut s) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            if round % 2 == 0 {
                h.push(hub(&rig, &file, batch));
                s.push(script(&rig, &file, batch, n));
            } else {
                s.push(script(&rig, &file, batch, n));
                h.push(hub(&rig, &file, batch));
            }
        }
        let show = |side: &str, runs: &[Run]| {
            let rates: Vec<f64> = runs.iter().map(|r| n as f64 / r.wall).collect();
            let list: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            let cpu = median(runs.iter().map(|r| r.cpu * 1e6 / n as f64).collect());
            println!(
                "{batch:>8} {n:>8}  {side:<6} {:>9.0} {:>12.0} {:>9.0}  {}",
                median(rates.clone()),
                cpu,
                runs.iter().map(|r| r.rss).fold(0.0, f64::max),
                list.join(" ")
            );
            (median(rates), cpu)
        };
        let (hr, hc) = show("hub", &h);
        let (sr, sc) = show("script", &s);
        println!(
            "{batch:>8} {n:>8}  hub/script records/s {:.2}, CPU per record {:.2}",
            hr / sr,
            hc / sc
        );
    }
    println!("load at the end {}", load_average());
}

/// The machine's load (1, 5, 15 minutes): the server, the hub and the script share it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
