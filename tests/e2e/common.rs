//! A scratch site per test: its own hub.toml, store and outbox folder, using the plugins
//! built into `target/plugins` and a compile cache shared by all tests (so Cranelift runs
//! once per plugin, not once per test).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const HUB: &str = env!("CARGO_BIN_EXE_hub");

/// Where `cargo xtask plugins` puts the components.
pub fn plugin_dir() -> PathBuf {
    std::env::var_os("HUB_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins"))
}

pub fn plugin(name: &str) -> PathBuf {
    let p = plugin_dir().join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: build the plugins with `cargo xtask plugins` (or run `cargo xtask test`)",
        p.display()
    );
    p
}

/// The compile cache the tests share.
pub fn shared_cache() -> PathBuf {
    plugin_dir().join("../test-plugin-cache")
}

/// One test's site.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    /// A site with the Prisme target writing into `out/`, plus any extra TOML.
    pub fn prisme(extra: &str) -> Site {
        let site = Site {
            dir: tempfile::tempdir().unwrap(),
        };
        site.write_config(&format!(
            r#"version = 1
[store]
path = "data/hub.db"
[runtime]
cache_dir = "{cache}"
call_timeout_ms = 2000
memory_limit_mb = 32
[plugins.prisme]
path = "{prisme}"
[plugins.hostile]
path = "{hostile}"

[[target]]
name = "prisme"
plugin = "prisme"
utc_offset_minutes = -120
transport = {{ type = "dir", path = "out" }}
[target.settings]
municipality = "sermersooq"
environment = "test"
organisation_unit = "0956"
{extra}"#,
            cache = shared_cache().display(),
            prisme = plugin("prisme").display(),
            hostile = plugin("test-hostile").display(),
        ));
        site
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.path("hub.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `hub --config <site>/hub.toml <args>` with a fixed clock.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(HUB);
        c.arg("--config")
            .arg(self.config())
            .args(args)
            .env("HUB_NOW", "2024-02-01T12:00:00Z")
            .env_remove("HUB_FAULT")
            .env_remove("HUB_CONFIG")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().unwrap())
    }

    /// Runs and insists on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.0.status.success(), "hub {args:?} failed: {}", r.stderr());
        r.stdout()
    }

    /// `hub status --json` parsed.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    /// Every file under `rel`, relative paths, sorted.
    pub fn files(&self, rel: &str) -> Vec<String> {
        let root = self.path(rel);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// A finished command.
pub struct Run(pub Output);

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
}

/// `n` balanced posting pairs for page 522, fiscal year 2024, as NDJSON.
pub fn postings(n: usize, first_id: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let id = first_id + i;
        for (suffix, dk, account) in [("d", "D", "9002009002"), ("k", "K", "4210100000")] {
            out.push_str(&format!(
                "{{\"id\":\"p{id}{suffix}\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00123\",\"posting_date\":\"20240131\",\"account\":\"{account}\",\"amount_ore\":{amount},\"dk\":\"{dk}\",\"text\":\"Posting {id}\"}}\n",
                amount = 1000 + id
            ));
        }
    }
    out
}

/// Runs `hub <args>` until it reaches the crash point `fault`, then kills it with SIGKILL
/// (no destructors, no flush: like a power cut of the process).
pub fn run_and_kill(site: &Site, args: &[&str], fault: &str) {
    if let Err(said) = kill_at(site, args, fault) {
        panic!("hub {args:?} never reached {fault}; it said:\n{said}");
    }
}

/// Runs `hub <args>` with the crash point `fault` and kills it with SIGKILL there; a run
/// that ends without reaching it is `Err` with what it said on stderr.
pub fn kill_at(site: &Site, args: &[&str], fault: &str) -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    let mut child = site
        .cmd(args)
        .env("HUB_FAULT", fault)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let reached = BufReader::new(stderr).lines().any(|line| {
        let line = line.unwrap_or_default();
        seen.push_str(&line);
        seen.push('\n');
        line.starts_with("HUB-FAULT ")
    });
    if reached {
        child.kill().unwrap(); // SIGKILL on Unix
    }
    let status = child.wait().unwrap();
    if reached {
        assert!(!status.success());
        Ok(())
    } else {
        Err(seen)
    }
}
