//! `hub enqueue` side by side with a plain script (`cargo bench -p hub --bench enqueue`):
//! the same NDJSON file of Prisme postings queued by the hub (a process of its own, default
//! settings) and stored by `benches/baseline/enqueue.py` (Python's sqlite3, batched
//! INSERTs in one transaction, WAL, synchronous=FULL), alternating which goes first.
//! Prints rows/s, CPU and peak RSS (GNU time) of each, and the hub/script ratio of rows/s.
//! Then the backlog the hub queued is sent through the `dir` transport with the default
//! settings: time, peak RSS, and the store's size per record afterwards.
//!
//! `BENCH_RECORDS=100000,1000000` chooses the sizes, `BENCH_ROUNDS` the pairs per size
//! (default 2). Needs the plugins (`cargo xtask plugins`), python3 and `/usr/bin/time`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/timing.rs"]
mod timing;
use timing::{Run, median, plugin_dir, timed};

const HUB: &str = env!("CARGO_BIN_EXE_hub");

/// `n` postings (balanced pairs on one page) as an NDJSON file.
fn input(n: usize, path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n / 2 {
        for (s, dk, account) in [("d", "D", "9002009002"), ("k", "K", "4210100000")] {
            writeln!(
                f,
                "{{\"id\":\"p{i}{s}\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00123\",\"posting_date\":\"20240131\",\"account\":\"{account}\",\"amount_ore\":{},\"dk\":\"{dk}\",\"text\":\"Daginstitution {i}\"}}",
                1000 + i
            )
            .unwrap();
        }
    }
    f.flush().unwrap();
}

/// A site with the Prisme target, default settings.
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
            plugin_dir().join("prisme.wasm").display()
        ),
    )
    .unwrap();
    config
}

/// `hub <args>` on the site in `dir`, under GNU time (and `prefix`, a profiler).
fn hub_in(dir: &Path, args: &[&str], prefix: &str) -> Run {
    timed(
        Command::new("/usr/bin/time")
            .args(["-f", "%e %U %S %M"])
            .args(prefix.split_whitespace())
            .args([HUB, "--config"])
            .arg(dir.join("hub.toml"))
            .args(args)
            .env_remove("HUB_CONFIG"),
    )
    .0
}

/// The hub's enqueue of `input` into a fresh site, kept for the send.
fn hub(input: &Path) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    // The plugin compiled into the site's cache before the clock, as on every run after a
    // site's first (the first compiles it once: ~0.5 s on one core, printed below).
    let first = hub_in(dir.path(), &["plugins"], "");
    static SHOWN: std::sync::Once = std::sync::Once::new();
    SHOWN.call_once(|| {
        println!(
            "(the hub's plugin compiled before the clock, into the site's cache: `hub plugins` {:.2} s, {:.1} s CPU, {:.0} MiB)",
            first.wall, first.cpu, first.rss
        );
    });
    // `BENCH_HUB_PREFIX="perf record -g -o hub.perf"`: a profile of the hub's enqueue.
    let prefix = std::env::var("BENCH_HUB_PREFIX").unwrap_or_default();
    let run = hub_in(
        dir.path(),
        &["enqueue", "prisme", input.to_str().unwrap()],
        &prefix,
    );
    (run, dir)
}

/// Bytes of the store's files (database and write-ahead log).
fn store_bytes(dir: &Path) -> u64 {
    ["hub.db", "hub.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

fn script(input: &Path) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baseline/enqueue.py");
    timed(
        Command::new("/usr/bin/time")
            .args(["-f", "%e %U %S %M", "python3"])
            .arg(py)
            .arg(input)
            .arg(dir.path().join("baseline.db")),
    )
    .0
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_RECORDS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("hub enqueue vs a Python sqlite3 script, same file, alternating ({cores} cores)");
    println!(
        "{:>9}  {:<6} {:>10} {:>9} {:>10} {:>9}",
        "records", "side", "rows/s", "CPU s", "peak MiB", "runs"
    );
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("postings.ndjson");
        input(n, &file);
        let (mut h, mut s) = (Vec::new(), Vec::new());
        let mut backlog = None;
        for round in 0..rounds {
            if round % 2 == 0 {
                let (run, dir) = hub(&file);
                h.push(run);
                backlog.get_or_insert(dir);
                s.push(script(&file));
            } else {
                s.push(script(&file));
                let (run, dir) = hub(&file);
                h.push(run);
                backlog.get_or_insert(dir);
            }
        }
        let show = |side: &str, runs: &[Run]| {
            let rates: Vec<f64> = runs.iter().map(|r| n as f64 / r.wall).collect();
            let list: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "{n:>9}  {side:<6} {:>10.0} {:>9.2} {:>10.0} {:>9}",
                median(rates.clone()),
                median(runs.iter().map(|r| r.cpu).collect()),
                runs.iter().map(|r| r.rss).fold(0.0, f64::max),
                list.join(" ")
            );
            median(rates)
        };
        let hr = show("hub", &h);
        let sr = show("script", &s);
        println!("{n:>9}  hub/script rows/s: {:.2}", hr / sr);
        if let Some(dir) = backlog {
            let send = hub_in(dir.path(), &["send", "prisme"], "");
            let files = std::fs::read_dir(dir.path().join("out")).map_or(0, Iterator::count);
            println!(
                "{n:>9}  send of the backlog (dir, defaults): {:.1} s, {:.0} records/s, peak {:.0} MiB, {files} file(s), store {:.0} B/record after",
                send.wall,
                n as f64 / send.wall,
                send.rss,
                store_bytes(dir.path()) as f64 / n as f64
            );
            // `BENCH_KEEP=<folder>`: the sent store is kept there, for a look with dbstat.
            if let Ok(keep) = std::env::var("BENCH_KEEP") {
                let keep = Path::new(&keep).join(format!("{n}"));
                std::fs::create_dir_all(&keep).unwrap();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    let path = entry.unwrap().path();
                    if path
                        .file_name()
                        .is_some_and(|f| f.to_string_lossy().starts_with("hub.db"))
                    {
                        std::fs::copy(&path, keep.join(path.file_name().unwrap())).unwrap();
                    }
                }
            }
        }
    }
}
