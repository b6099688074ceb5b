//! Several workers on one store (`cargo bench -p hub --bench workers`): `hub serve`
//! processes delivering the same queue of Kita-Planer records to the project's test
//! server over mutual TLS, the server taking 50 ms to answer each request. Prints the
//! records/s of each run and its gain over one worker.
//!
//! Runs: SQLite with 1 and 2 workers (on SQLite one worker sends, the others stand by on
//! the send lock, so no gain is expected), and PostgreSQL with 1, 2 and 4 workers on a
//! private cluster (`hub-testpg`, Debian's `postgresql`; skipped with a line if missing).
//! `BENCH_RECORDS` (default 2,000) and `BENCH_PER_POST` (default 20) size the queue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hub_test_kitaplaner_server::pki::Pki;
use hub_test_kitaplaner_server::server::{self, Behaviour, ServerHandle};

const HUB: &str = env!("CARGO_BIN_EXE_hub");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn plugin_dir() -> PathBuf {
    std::env::var_os("HUB_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"))
}

/// Valid children (several data sources) as NDJSON.
fn children(n: usize) -> String {
    hub_plugin_kitaplaner::examples::records(n * 2)
        .into_iter()
        .filter(|r| !r.body.contains("FEHLGESCHLAGEN"))
        .take(n)
        .map(|r| r.body + "\n")
        .collect()
}

fn hub(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(HUB)
        .current_dir(dir)
        .arg("--config")
        .arg(dir.join("hub.toml"))
        .args(args)
        .env_remove("HUB_FAULT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn config(store: &str, pki: &Pki, srv: &ServerHandle, per_post: usize, sending: &str) -> String {
    format!(
        r#"version = 1
{store}
[plugins.kitaplaner]
path = "{plugin}"

[credentials.kita-central]
p12 = "{p12}"
password_file = "central.pw"

[[target]]
name = "kita"
plugin = "kitaplaner"
credential = "kita-central"
sending = "{sending}"
max_batch = {per_post}
transport = {{ type = "http", url = "{url}", ca_file = "{ca}", timeout_ms = 10000 }}
[target.settings]
benutzer_id = "forcare-central"
traeger = "T-4711"
"#,
        plugin = plugin_dir().join("kitaplaner.wasm").display(),
        p12 = pki.client.p12.display(),
        url = srv.url(),
        ca = pki.ca_pem.display(),
    )
}

/// One run: queue `records`, start `workers` workers, time until all are delivered.
fn run(
    store: &str,
    workers: usize,
    records: usize,
    per_post: usize,
    pki: &Pki,
    srv: &ServerHandle,
) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("central.pw"),
        format!("{}\n", pki.client.password),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("db.pw"),
        format!("{}\n", hub_testpg::PASSWORD),
    )
    .unwrap();
    let toml = dir.path().join("hub.toml");
    std::fs::write(&toml, config(store, pki, srv, per_post, "manual")).unwrap();
    let input = dir.path().join("children.ndjson");
    std::fs::write(&input, children(records)).unwrap();
    hub(dir.path(), &["enqueue", "kita", input.to_str().unwrap()]);
    std::fs::write(&toml, config(store, pki, srv, per_post, "realtime")).unwrap();
    let before = srv.request_count();
    let started = Instant::now();
    let mut pool: Vec<Child> = (0..workers)
        .map(|_| {
            Command::new(HUB)
                .current_dir(dir.path())
                .arg("--config")
                .arg(&toml)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .env_remove("HUB_FAULT")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = started + Duration::from_secs(900);
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&hub(dir.path(), &["status", "--json"])).unwrap();
        let delivered = status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == "kita")
            .and_then(|t| t["delivered"].as_u64())
            .unwrap_or(0);
        if delivered as usize >= records {
            break;
        }
        assert!(Instant::now() < deadline, "not done after 15 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed().as_secs_f64();
    for c in &mut pool {
        let _ = c.kill();
        let _ = c.wait();
    }
    let posts = srv.request_count() - before;
    println!(
        "  {workers} worker(s): {records} records in {took:.2} s = {:.0} records/s ({posts} POSTs)",
        records as f64 / took
    );
    records as f64 / took
}

fn main() {
    let records = env_usize("BENCH_RECORDS", 2_000);
    let per_post = env_usize("BENCH_PER_POST", 20);
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(pki_dir.path()).unwrap();
    let srv = server::start(&pki, Behaviour::default().delay(Duration::from_millis(50)));
    println!(
        "workers: {records} Kita records, {per_post} per POST, the server answers after 50 ms"
    );
    let mut plans: Vec<(String, String, Vec<usize>)> = vec![(
        "SQLite".into(),
        "[store]\npath = \"data/hub.db\"".into(),
        vec![1, 2],
    )];
    let cluster = hub_testpg::cluster();
    if cluster.is_some() {
        plans.push(("PostgreSQL".into(), String::new(), vec![1, 2, 4]));
    }
    for (name, store, counts) in plans {
        println!("{name}:");
        let mut one = None;
        for w in counts {
            // A fresh database for each PostgreSQL run.
            let store = match &cluster {
                Some(c) if store.is_empty() => format!(
                    "[store]\nurl = \"{}\"\npassword_file = \"db.pw\"",
                    c.database()
                ),
                _ => store.clone(),
            };
            let rate = run(&store, w, records, per_post, &pki, &srv);
            let base = *one.get_or_insert(rate);
            println!("    gain over 1 worker: {:.2}x", rate / base);
        }
    }
}
