//! Live reload: a running `hub serve` picks up a replaced plugin file between batches,
//! keeps the old plugin when the new file is broken, and the protocol log names the
//! plugin (name, version, sha256) that encoded each transfer.
//!
//! The schedule runs every minute on a clock read from a file (`HUB_NOW_FILE`), so the
//! test moves time forward instead of waiting, and waits for what the service says or
//! writes with deadlines, never with sleeps.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::common::{Site, plugin, shared_cache};

const DEADLINE: Duration = Duration::from_secs(60);

fn site() -> Site {
    site_with("")
}

/// The echo site; `pin` goes into `[plugins.echo]`.
fn site_with(pin: &str) -> Site {
    let site = Site {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(site.path("plugins")).unwrap();
    std::fs::copy(plugin("test-echo-v1"), site.path("plugins/echo.wasm")).unwrap();
    site.write_config(&format!(
        r#"version = 1
[store]
path = "data/hub.db"
[runtime]
cache_dir = "{cache}"
[plugins.echo]
path = "plugins/echo.wasm"
{pin}

[[target]]
name = "echo"
plugin = "echo"
utc_offset_minutes = 0
transport = {{ type = "dir", path = "out" }}
[target.schedule]
every_minutes = 1
"#,
        cache = shared_cache().display(),
    ));
    site.write("now.txt", "2024-02-01T12:00:00Z");
    site
}

/// Replaces the plugin file the way an operator should: write beside it, then rename.
fn replace_plugin(site: &Site, bytes: &[u8]) {
    let tmp = site.path("plugins/.echo.wasm.new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, site.path("plugins/echo.wasm")).unwrap();
}

fn enqueue(site: &Site, ids: &[&str]) {
    let text: String = ids
        .iter()
        .map(|id| format!("{{\"id\":\"{id}\",\"kind\":\"line\"}}\n"))
        .collect();
    let file = site.write("in.ndjson", &text);
    site.ok(&["enqueue", "echo", file.to_str().unwrap()]);
}

/// A running `hub serve` whose stdout and stderr lines arrive on one channel.
struct Serve {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Serve {
    fn start(site: &Site) -> Serve {
        let mut child = site
            .cmd(&["-v", "serve"])
            .env("HUB_NOW_FILE", site.path("now.txt"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [stdout, stderr] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    if tx.send(line.unwrap_or_default()).is_err() {
                        break;
                    }
                }
            });
        }
        Serve {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until the service says a line with every one of `parts`; returns it.
    fn wait_for(&mut self, parts: &[&str]) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if parts.iter().all(|p| line.contains(p)) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "hub serve never logged {parts:?}; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// SIGTERM, then waits for a clean stop.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "hub serve ended with {status}");
                return;
            }
            assert!(Instant::now() < end, "hub serve did not stop on SIGTERM");
            // Drain stderr so a chatty process cannot block on a full pipe.
            let _ = self.lines.recv_timeout(Duration::from_millis(50));
        }
    }
}

/// Moves the service's clock to `time` and waits until `file` is delivered.
fn run_slot(site: &Site, time: &str, file: &str) {
    site.write("now.txt", time);
    let path = site.path(&format!("out/{file}"));
    let end = Instant::now() + DEADLINE;
    while !path.exists() {
        assert!(
            Instant::now() < end,
            "{file} was not delivered; out/ has {:?}",
            site.files("out")
        );
        // The polling interval of a deadline-bounded wait, not a wait for an outcome.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every delivered line, `<id> <version>`, sorted.
fn delivered(site: &Site) -> Vec<String> {
    let mut lines: Vec<String> = site
        .files("out")
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(site.path(&format!("out/{f}")))
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn serve_swaps_a_replaced_plugin_between_batches_and_keeps_it_when_the_next_is_broken() {
    let site = site();
    let (v1_sha, v2_sha) = (
        sha256(&plugin("test-echo-v1")),
        sha256(&plugin("test-echo-v2")),
    );
    assert_ne!(v1_sha, v2_sha);
    enqueue(&site, &["a1", "a2", "a3"]);
    let mut serve = Serve::start(&site);
    // Its schedule counts from the clock at start: move the clock only once it runs.
    serve.wait_for(&["hub serve: 1 scheduled target"]);
    run_slot(&site, "2024-02-01T12:01:00Z", "echo-000001.txt");

    replace_plugin(&site, &std::fs::read(plugin("test-echo-v2")).unwrap());
    serve.wait_for(&["plugin reloaded", "echo@1.0.0", "echo@2.0.0"]);
    enqueue(&site, &["b1", "b2"]);
    run_slot(&site, "2024-02-01T12:02:00Z", "echo-000002.txt");

    // A broken file (queued before it: `hub enqueue` loads the plugin file itself) is
    // logged at error level naming file and reason, and v2 keeps serving.
    enqueue(&site, &["c1"]);
    replace_plugin(&site, b"not a component");
    let line = serve.wait_for(&["ERROR", "cannot be loaded", "echo.wasm"]);
    assert!(line.contains("not a valid component"), "{line}");
    run_slot(&site, "2024-02-01T12:03:00Z", "echo-000003.txt");
    serve.stop();

    // Each record exactly once, each encoded by the plugin that was in place.
    assert_eq!(
        delivered(&site),
        [
            "a1 1.0.0", "a2 1.0.0", "a3 1.0.0", "b1 2.0.0", "b2 2.0.0", "c1 2.0.0"
        ]
    );
    assert_eq!(
        site.files("out"),
        ["echo-000001.txt", "echo-000002.txt", "echo-000003.txt"]
    );

    // The protocol log names name, version and sha256 of the plugin per transfer.
    let log: serde_json::Value = serde_json::from_str(&site.ok(&["log", "--json"])).unwrap();
    let stamps: Vec<(i64, String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let p = &a["plugin"];
            (
                a["transfer_id"].as_i64().unwrap(),
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                p["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect =
        |t: i64, v: &str, sha: &str| (t, "echo".to_string(), v.to_string(), sha.to_string());
    assert_eq!(
        stamps,
        [
            expect(1, "1.0.0", &v1_sha),
            expect(2, "2.0.0", &v2_sha),
            expect(3, "2.0.0", &v2_sha)
        ]
    );
    let table = site.ok(&["log"]);
    assert!(table.contains("echo@1.0.0 (sha256 ") && table.contains("echo@2.0.0 (sha256 "));
    let status = site.status();
    let versions: Vec<&str> = status["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["plugin_version"].as_str().unwrap())
        .collect();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions.iter().filter(|v| **v == "1.0.0").count(), 1);
    assert!(
        status["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["plugin_name"] == "echo"
                && (t["plugin_sha256"] == v1_sha.as_str()
                    || t["plugin_sha256"] == v2_sha.as_str()))
    );
}

#[test]
fn a_replacement_that_breaks_the_pin_is_refused_until_the_pin_moves_with_sighup() {
    let v1 = std::fs::read(plugin("test-echo-v1")).unwrap();
    let v2 = std::fs::read(plugin("test-echo-v2")).unwrap();
    let (v1_sha, v2_sha) = (
        hex::encode(Sha256::digest(&v1)),
        hex::encode(Sha256::digest(&v2)),
    );
    let site = site_with(&format!("sha256 = \"{v1_sha}\""));
    let mut serve = Serve::start(&site);
    serve.wait_for(&["hub serve: 1 scheduled target"]);

    replace_plugin(&site, &v2);
    let line = serve.wait_for(&["ERROR", "cannot be loaded", "echo.wasm"]);
    assert!(
        line.contains("does not match its pin") && line.contains(&v1_sha) && line.contains(&v2_sha),
        "{line}"
    );

    // The operator moves the pin in hub.toml and sends SIGHUP: hub.toml's [plugins] is
    // read again and the file loads.
    let config = std::fs::read_to_string(site.config())
        .unwrap()
        .replace(&v1_sha, &v2_sha);
    site.write_config(&config);
    let pid = serve.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    serve.wait_for(&["plugin reloaded", "echo@1.0.0", "echo@2.0.0"]);
    enqueue(&site, &["d1"]);
    run_slot(&site, "2024-02-01T12:01:00Z", "echo-000001.txt");
    serve.stop();
    assert_eq!(delivered(&site), ["d1 2.0.0"]);
}

#[test]
fn a_slot_missed_while_the_hub_was_off_runs_once_at_the_next_start() {
    let site = site();
    // On from 12:00:00 to (at most) 12:00:30: no slot fell while it ran.
    let serve = Serve::start(&site);
    let mut serve = serve;
    serve.wait_for(&["hub serve: 1 scheduled target"]);
    serve.stop();
    // Off over the 12:01 … 12:05 slots; records were queued meanwhile.
    enqueue(&site, &["a", "b"]);
    site.write("now.txt", "2024-02-01T12:05:30Z");
    let mut serve = Serve::start(&site);
    serve.wait_for(&["a slot was missed while the hub was off", "echo"]);
    // The clock stays at 12:05:30 (the next slot is 12:06): only the catch-up run sends.
    run_slot(&site, "2024-02-01T12:05:30Z", "echo-000001.txt");
    serve.stop();
    assert_eq!(site.files("out"), ["echo-000001.txt"]);
}
