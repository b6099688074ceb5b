//! `cargo xtask`: builds the WASM plugins into components and runs the demo, the tests and
//! the benchmarks with them in place.
//!
//! Plugins are compiled for `wasm32-unknown-unknown` (no WASI, so zero imports) and wrapped
//! into components by `hub-componentize` (`wit-component`, the same code as
//! `hub plugin build`), which avoids installing `wasm-tools`. The components land in
//! `target/plugins/<name>.wasm`, where hub.toml, the tests and the benchmarks find them.
//!
//! Python plugins (a folder under `plugins/` with `app.py` and `requirements.txt`) are
//! built with `componentize-py` at the version pinned in their `requirements.txt`. When
//! that version is not on PATH, xtask installs it into a project-local virtual environment
//! (`<target dir>/py`); where it cannot (no python3, no venv module, no network) it says so
//! in one line and skips the Python plugins (their tests then fail and say the same).
//!
//! `test` and `demo` first install the Debian packages they need (`tests/servers/install.sh`:
//! the test servers, and python3 with venv for componentize-py), or say in one line what
//! they could not install and why.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use hub_componentize::{WASM_TARGET, componentize, ensure_wasm_target, write_if_changed};

mod package;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args
        .split_first()
        .map(|(c, r)| (c.as_str(), r.to_vec()))
        .unwrap_or(("help", Vec::new()));
    let root = workspace_root()?;
    match cmd {
        "plugins" => build_plugins(&root).map(|_| ()),
        "test" => {
            install_packages(&root, &[]);
            build_plugins(&root)?;
            // The end-to-end tests find the plugins here, also with CARGO_TARGET_DIR set.
            let plugins = plugin_out_dir(&root);
            // Every test binary runs even when one fails, so a red run shows all that failed.
            run(cargo()
                .arg("test")
                .arg("--workspace")
                .arg("--no-fail-fast")
                .args(&rest)
                .env("HUB_PLUGIN_DIR", &plugins))?;
            // The whole suite also tests the `otlp` feature's span export: one test,
            // built with the workspace's features so only hub itself compiles again.
            if rest.is_empty() {
                run(cargo()
                    .args([
                        "test",
                        "--workspace",
                        "--features",
                        "hub/otlp",
                        "--test",
                        "otlp",
                    ])
                    .env("HUB_PLUGIN_DIR", &plugins))?;
            }
            Ok(())
        }
        "demo" => {
            install_packages(&root, &["python"]);
            build_plugins(&root)?;
            demo(&root)
        }
        "bench" => {
            build_plugins(&root)?;
            run(cargo()
                .args(["bench", "-p", "hub", "--bench", "pipeline", "--"])
                .args(&rest))
        }
        "bench-api" => {
            build_plugins(&root)?;
            bench_api(&root, &rest)
        }
        "package" => package::package(&root).map(|_| ()),
        _ => {
            eprintln!(
                "usage: cargo xtask <plugins|test|demo|bench|bench-api|package> [args]\n\
                 \n  plugins  build every plugin into target/plugins/<name>.wasm (Python ones with componentize-py)\
                 \n  test     build plugins, then cargo test --workspace [args] (without args also the otlp feature's test)\
                 \n  demo     build plugins and hub, then enqueue, send and show status with ./hub.toml\
                 \n  bench    build plugins, then run the pipeline benchmark\
                 \n  bench-api  release build, `hub serve` on loopback, wrk: enqueue throughput and latency [seconds]\
                 \n  package  release build, plugins, then the Debian package (cargo-deb) in target/debian/"
            );
            if cmd == "help" {
                Ok(())
            } else {
                bail!("unknown xtask command `{cmd}`")
            }
        }
    }
}

/// Installs the Debian packages the tests (or, with `groups`, only those groups: `python`)
/// need when they are missing (`tests/servers/install.sh`, idempotent). Where that fails
/// (no root, no sudo, no network) it says so in one line and goes on: the tests that need
/// them then fail and say what is missing.
fn install_packages(root: &Path, groups: &[&str]) {
    let script = root.join("tests/servers/install.sh");
    if !script.exists() {
        return;
    }
    let out = Command::new("bash").arg(&script).args(groups).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let why = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no reason given");
            eprintln!(
                "xtask: could not install the Debian packages ({}): {why}",
                script.display()
            );
        }
        Err(e) => eprintln!("xtask: cannot run {}: {e}", script.display()),
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.parent()
        .map(Path::to_path_buf)
        .context("xtask lives one level below the workspace root")
}

/// Guest crates: every package under `plugins/`, `examples/plugins/` (worked examples, not
/// shipped, built so their tests keep them working) and `tests/plugins/`, except the SDK.
fn plugin_crates(root: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (dir, prefix) in [
        ("plugins", ""),
        ("examples/plugins", ""),
        ("tests/plugins", "test-"),
    ] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
            .with_context(|| format!("cannot list {dir}"))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("Cargo.toml").exists())
            .collect();
        entries.sort();
        for path in entries {
            let manifest = std::fs::read_to_string(path.join("Cargo.toml"))?;
            let package = manifest
                .lines()
                .find_map(|l| l.strip_prefix("name = \""))
                .and_then(|l| l.strip_suffix('"'))
                .with_context(|| format!("no package name in {}", path.display()))?
                .to_string();
            if package == "hub-plugin-sdk" {
                continue;
            }
            let short = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("plugin folder name")?;
            out.push((package, format!("{prefix}{short}")));
        }
    }
    Ok(out)
}

/// Where the components go: `<target dir>/plugins`.
fn plugin_out_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugins")
}

/// Builds every guest crate and wraps each into a component; returns their paths.
fn build_plugins(root: &Path) -> Result<Vec<PathBuf>> {
    ensure_wasm_target()?;
    let crates = plugin_crates(root)?;
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["build", "--profile", "plugin", "--target", WASM_TARGET]);
    for (package, _) in &crates {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let out_dir = target_dir.join("plugins");
    std::fs::create_dir_all(&out_dir)?;
    let mut built = Vec::new();
    for (package, short) in crates {
        let core = target_dir
            .join(WASM_TARGET)
            .join("plugin")
            .join(format!("{}.wasm", package.replace('-', "_")));
        let component = componentize(&core).with_context(|| format!("plugin {package}"))?;
        let dest = out_dir.join(format!("{short}.wasm"));
        write_if_changed(&dest, &component)?;
        eprintln!("xtask: {} ({} bytes)", dest.display(), component.len());
        built.push(dest);
    }
    built.extend(build_python_plugins(root, &out_dir)?);
    Ok(built)
}

/// The componentize-py version a Python plugin pins in its `requirements.txt`.
fn pinned_componentize_py(requirements: &Path) -> Result<String> {
    let text = std::fs::read_to_string(requirements)
        .with_context(|| format!("cannot read {}", requirements.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("componentize-py=="))
        .map(|v| v.trim().to_string())
        .with_context(|| {
            format!(
                "{}: no `componentize-py==<version>` line",
                requirements.display()
            )
        })
}

/// The componentize-py at `exe`: its version, or `None` when it is not there.
fn componentize_py_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| {
        text.trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

/// A componentize-py of the pinned version: on PATH, else in the project-local virtual
/// environment `<target dir>/py`, which is created and filled from `requirements` when
/// needed. `Err` says in one line why there is none.
fn componentize_py(root: &Path, requirements: &Path, pinned: &str) -> Result<PathBuf, String> {
    let on_path = PathBuf::from("componentize-py");
    if componentize_py_version(&on_path).as_deref() == Some(pinned) {
        return Ok(on_path);
    }
    let venv = target_dir(root).join("py");
    let exe = venv.join("bin").join("componentize-py");
    if componentize_py_version(&exe).as_deref() == Some(pinned) {
        return Ok(exe);
    }
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!(
            "xtask: installing componentize-py {pinned} into {}",
            venv.display()
        );
        let out = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .map_err(|e| {
                format!(
                    "python3 is not available ({e}); Debian: apt-get install python3 python3-venv"
                )
            })?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&venv);
            return Err(format!(
                "`python3 -m venv` failed ({}); Debian: apt-get install python3-venv",
                last_line(&out.stderr)
            ));
        }
    }
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "pip install -r {} failed: {}",
            requirements.display(),
            last_line(&out.stderr)
        ));
    }
    match componentize_py_version(&exe) {
        Some(v) if v == pinned => Ok(exe),
        Some(v) => Err(format!("{} is {v}, not the pinned {pinned}", exe.display())),
        None => Err(format!("{} does not run after pip install", exe.display())),
    }
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_string()
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Builds every Python plugin (`plugins/<name>/app.py`) into `target/plugins/<name>.wasm`.
/// componentize-py takes most of a minute, so a plugin whose inputs (its folder's files, the
/// WIT, the tool version) are unchanged since the last build is left as it is.
fn build_python_plugins(root: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("plugins"))
        .context("cannot list plugins")?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("app.py").exists() && p.join("requirements.txt").exists())
        .collect();
    dirs.sort();
    let mut built = Vec::new();
    for dir in dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("plugin folder name")?
            .to_string();
        let requirements = dir.join("requirements.txt");
        let pinned = pinned_componentize_py(&requirements)?;
        let tool = match componentize_py(root, &requirements, &pinned) {
            Ok(tool) => tool,
            Err(why) => {
                eprintln!(
                    "xtask: skipping the Python plugin plugins/{name}: no componentize-py {pinned}: {why}"
                );
                continue;
            }
        };
        let installed = &pinned;
        let dest = out_dir.join(format!("{name}.wasm"));
        let stamp = out_dir.join(format!("{name}.wasm.inputs"));
        let inputs = format!("{:016x}", inputs_hash(&[&dir, &root.join("wit")], &pinned)?);
        if dest.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&inputs) {
            eprintln!("xtask: {} (unchanged)", dest.display());
            built.push(dest);
            continue;
        }
        eprintln!("xtask: building plugins/{name} with componentize-py {installed}");
        let tmp = out_dir.join(format!(".{name}.wasm.tmp"));
        run(Command::new(&tool)
            .current_dir(out_dir)
            .arg("-d")
            .arg(root.join("wit"))
            // Built for contract 0.1: the example of a plugin that stays on an older line.
            .args(["-w", "hub:plugin/target-plugin@0.1.2", "componentize", "-p"])
            .arg(&dir)
            .arg("app")
            .arg("-o")
            .arg(&tmp))?;
        std::fs::rename(&tmp, &dest).with_context(|| format!("cannot write {}", dest.display()))?;
        std::fs::write(&stamp, &inputs)?;
        let size = std::fs::metadata(&dest)?.len();
        eprintln!("xtask: {} ({size} bytes)", dest.display());
        built.push(dest);
    }
    Ok(built)
}

/// A hash of every file under `dirs` (names and contents, in sorted order) and `extra`.
fn inputs_hash(dirs: &[&Path], extra: &str) -> Result<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    extra.hash(&mut h);
    for dir in dirs {
        for file in walk(dir)? {
            if file.components().any(|c| c.as_os_str() == "__pycache__") {
                continue;
            }
            file.hash(&mut h);
            std::fs::read(&file)?.hash(&mut h);
        }
    }
    Ok(h.finish())
}

/// The README's first command: the three targets on ./hub.toml. Prisme and RKI write into
/// local folders; Kita Planer posts over HTTPS with a client certificate to the project's
/// test server (`tests/servers/kitaplaner`), started here on loopback with a PKI it
/// generates into `demo/kita-pki`. The configuration used is `demo/hub.toml`: ./hub.toml
/// with this build's plugin folder and the test server's URL, CA and certificate filled in.
fn demo(root: &Path) -> Result<()> {
    run(cargo().current_dir(root).args([
        "build",
        "-p",
        "hub",
        "-p",
        "hub-test-kitaplaner-server",
    ]))?;
    let target_dir = target_dir(root);
    let hub = target_dir.join("debug").join("hub");
    let demo_dir = root.join("demo");
    if demo_dir.exists() {
        std::fs::remove_dir_all(&demo_dir).context("cannot clear ./demo")?;
    }
    std::fs::create_dir_all(&demo_dir)?;
    let mut server = KitaServer::start(
        &target_dir.join("debug").join("hub-test-kitaplaner-server"),
        &demo_dir.join("kita-pki"),
    )?;
    let result = (|| -> Result<()> {
        let config = demo_config(root, &demo_dir, &plugin_out_dir(root), &server)?;
        let config = config.to_string_lossy().into_owned();
        let step = |args: &[&str]| -> Result<()> {
            eprintln!("\n$ hub {}", args.join(" "));
            run(Command::new(&hub)
                .current_dir(root)
                .args(["--config", &config])
                .args(args))
        };
        step(&["plugins"])?;
        step(&["enqueue", "prisme", "examples/prisme-postings.ndjson"])?;
        step(&["enqueue", "rki", "examples/rki-cases.ndjson"])?;
        step(&["enqueue", "kita", "examples/kitaplaner-children.ndjson"])?;
        step(&["send", "--all"])?;
        step(&["status"])?;
        step(&["log"])?;
        eprintln!("\nDelivered files:");
        for entry in walk(&demo_dir.join("outbox"))? {
            eprintln!("  {}", entry.display());
        }
        eprintln!(
            "Kita Planer: posted over mutual TLS to the test server at {}",
            server.url
        );
        eprintln!(
            "\nWhere to look:\n  \
             hub --config {config} status            every transfer and its state\n  \
             hub --config {config} log               the protocol log: what was sent, what came back\n  \
             hub --config {config} status --files    one row per file (Prisme: page 333)\n  \
             hub --config {config} serve             the status page on http://127.0.0.1:8080/\n  \
             demo/outbox/                          the delivered Prisme and RKI files\n  \
             demo/hub.db, demo/hub.toml            the store and the configuration used\n  \
             demo/kita-pki/                        the generated test PKI (CA, .p12 files)"
        );
        Ok(())
    })();
    server.stop();
    result
}

/// The Kita Planer test server, running for the demo.
struct KitaServer {
    child: std::process::Child,
    url: String,
    ca: String,
    p12: String,
    password: String,
}

impl KitaServer {
    fn start(exe: &Path, pki: &Path) -> Result<KitaServer> {
        use std::io::BufRead;
        let mut child = Command::new(exe)
            .arg("--dir")
            .arg(pki)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let stdout = child.stdout.take().context("the test server's output")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let (mut url, mut ca, mut p12, mut password) = (None, None, None, None);
        for line in lines.by_ref() {
            let line = line?;
            let mut words = line.split_whitespace();
            match words.next() {
                Some("url") => url = words.next().map(str::to_string),
                Some("ca") => ca = words.next().map(str::to_string),
                Some("client") => {
                    p12 = words.next().map(str::to_string);
                    password = words.nth(1).map(str::to_string);
                }
                Some("serving") => break,
                _ => {}
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let (Some(url), Some(ca), Some(p12), Some(password)) = (url, ca, p12, password) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the Kita Planer test server did not start (no url/ca/client lines)");
        };
        Ok(KitaServer {
            child,
            url,
            ca,
            p12,
            password,
        })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `demo/hub.toml`: ./hub.toml with paths relative to `demo/`, the plugins from
/// `plugins`, and a Kita Planer target on the running test server.
fn demo_config(root: &Path, demo: &Path, plugins: &Path, server: &KitaServer) -> Result<PathBuf> {
    let text = std::fs::read_to_string(root.join("hub.toml")).context("cannot read ./hub.toml")?;
    let plugins = plugins.display().to_string();
    let mut text = text
        .replace("\"target/plugins/", &format!("\"{plugins}/"))
        .replace("\"demo/", "\"");
    let pw = demo.join("kita-central.pw");
    std::fs::write(&pw, format!("{}\n", server.password))?;
    text.push_str(&format!(
        r#"
# Added by `cargo xtask demo`: Kita Planer over HTTPS with a client certificate, against
# the project's test server on loopback and the test PKI it generated.
[credentials.kita-central]
p12 = "{p12}"
password_file = "kita-central.pw"

[[target]]
name = "kita"
plugin = "kitaplaner"
credential = "kita-central"
transport = {{ type = "http", url = "{url}", ca_file = "{ca}", timeout_ms = 10000 }}

[target.settings]
benutzer_id = "forcare-central"
traeger = "T-4711"

# `hub serve` offers the status page and the API here.
[api]
listen = "127.0.0.1:8080"
"#,
        p12 = server.p12,
        url = server.url,
        ca = server.ca,
    ));
    let file = demo.join("hub.toml");
    std::fs::write(&file, text)?;
    Ok(file)
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// `cargo xtask bench-api [SECONDS]`: builds hub in release, starts `hub serve` on an
/// ephemeral loopback port with a fresh store (real-time sending off) and measures with
/// wrk: NDJSON batches of 1,000 records (records/s) and single-record enqueue latency
/// (p50/p90/p99). Every request carries new record ids, so nothing is a duplicate.
fn bench_api(root: &Path, args: &[String]) -> Result<()> {
    let seconds: u32 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(10);
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is missing: install Debian's `wrk` (bash tests/servers/install.sh)");
    }
    run(cargo()
        .current_dir(root)
        .args(["build", "--release", "-p", "hub"]))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let hub = target_dir.join("release").join("hub");
    let tmp = std::env::temp_dir().join(format!("hub-bench-api-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let config = tmp.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1
[store]
path = "data/hub.db"
[plugins.prisme]
path = "{plugin}"
[api]
[[api.tokens]]
name = "bench"
token_env = "HUB_BENCH_TOKEN"
targets = ["prisme"]
[[target]]
name = "prisme"
plugin = "prisme"
transport = {{ type = "dir", path = "out" }}
[target.settings]
municipality = "sermersooq"
environment = "test"
organisation_unit = "0956"
"#,
            plugin = target_dir.join("plugins/prisme.wasm").display()
        ),
    )?;
    let token = "bench-token-0123456789abcdef";
    let mut child = Command::new(&hub)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HUB_BENCH_TOKEN", token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start hub serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let base = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(u) = l.strip_prefix("hub serve: listening on ") {
                    break u.trim().to_string();
                }
            }
            _ => {
                let _ = child.kill();
                bail!("hub serve did not start");
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let url = format!("{base}/api/v1/targets/prisme/records");
    let result = (|| -> Result<()> {
        let batch = tmp.join("batch.lua");
        std::fs::write(&batch, lua(token, "application/x-ndjson", 500))?;
        let single = tmp.join("single.lua");
        std::fs::write(&single, lua(token, "application/json", 0))?;
        let d = format!("{seconds}s");
        eprintln!("\n== NDJSON batches of 1,000 records ({seconds} s, 2 threads, 4 connections)");
        let out = wrk(&["-t2", "-c4", "-d", &d, "--latency", "-s"], &batch, &url)?;
        let rps = figure(&out, "Requests/sec:").unwrap_or(0.0);
        eprintln!("\n== single records ({seconds} s, 2 threads, 8 connections)");
        let out1 = wrk(&["-t2", "-c8", "-d", &d, "--latency", "-s"], &single, &url)?;
        let pct = |p: &str| {
            out1.lines()
                .find(|l| l.trim_start().starts_with(p))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("?")
                .to_string()
        };
        println!("\nbench-api results");
        println!(
            "  batch enqueue: {:.0} records/s ({rps:.2} batches of 1,000 per second)",
            rps * 1000.0
        );
        println!(
            "  single enqueue: {:.0} requests/s; latency p50 {} p90 {} p99 {}",
            figure(&out1, "Requests/sec:").unwrap_or(0.0),
            pct("50%"),
            pct("90%"),
            pct("99%")
        );
        for o in [&out, &out1] {
            if o.contains("Non-2xx") {
                bail!("some requests failed (see wrk's output above)");
            }
        }
        Ok(())
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn wrk(args: &[&str], script: &Path, url: &str) -> Result<String> {
    let out = Command::new("wrk")
        .args(args)
        .arg(script)
        .arg(url)
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprint!("{text}");
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(text)
}

fn figure(out: &str, key: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

/// A wrk script POSTing `pairs` balanced posting pairs per request as NDJSON, or one
/// record as JSON when `pairs` is 0; ids are unique per thread and request.
fn lua(token: &str, content_type: &str, pairs: usize) -> String {
    format!(
        r#"local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local function rec(id, dk, account)
  return '{{"id":"' .. id .. '","kind":"posting","page":"522","fiscal_year":"2024","machine_no":"00123","posting_date":"20240131","account":"' .. account .. '","amount_ore":1000,"dk":"' .. dk .. '","text":"bench"}}'
end
request = function()
  counter = counter + 1
  local prefix = "t" .. tostring(tid) .. "r" .. counter .. "n"
  local body
  if {pairs} == 0 then
    body = rec(prefix, "D", "9002009002")
  else
    local lines = {{}}
    for i = 1, {pairs} do
      lines[#lines + 1] = rec(prefix .. i .. "d", "D", "9002009002")
      lines[#lines + 1] = rec(prefix .. i .. "k", "K", "4210100000")
    end
    body = table.concat(lines, "\n") .. "\n"
  end
  return wrk.format("POST", nil, {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "{content_type}"}}, body)
end
"#
    )
}
