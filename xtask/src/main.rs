//! `cargo xtask`: builds the WASM plugins into components and runs the demo, the tests and
//! the benchmarks with them in place.
//!
//! Plugins are compiled for `wasm32-unknown-unknown` (no WASI, so zero imports) and wrapped
//! into components with `wit-component`, which avoids installing `wasm-tools`. The
//! components land in `target/plugins/<name>.wasm`, where hub.toml, the tests and the
//! benchmarks find them.
//!
//! Python plugins (a folder under `plugins/` with `app.py` and `requirements.txt`) are
//! built with `componentize-py` at the version pinned in their `requirements.txt`, when it
//! is installed; without it they are skipped with a note (their tests then fail and say how
//! to build them).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

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
            build_plugins(&root)?;
            install_test_servers(&root);
            run(cargo().arg("test").arg("--workspace").args(&rest))
        }
        "demo" => {
            build_plugins(&root)?;
            demo(&root)
        }
        "bench" => {
            build_plugins(&root)?;
            run(cargo()
                .args(["bench", "-p", "hub", "--bench", "pipeline", "--"])
                .args(&rest))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <plugins|test|demo|bench> [args]\n\
                 \n  plugins  build every plugin into target/plugins/<name>.wasm (Python ones with componentize-py)\
                 \n  test     build plugins, then cargo test --workspace [args]\
                 \n  demo     build plugins and hub, then enqueue, send and show status with ./hub.toml\
                 \n  bench    build plugins, then run the pipeline benchmark"
            );
            if cmd == "help" {
                Ok(())
            } else {
                bail!("unknown xtask command `{cmd}`")
            }
        }
    }
}

/// Installs the Debian packages of the FTPS/SFTP test servers when they are missing
/// (`tests/servers/install.sh`, idempotent). Without root this only warns: the tests
/// that need the servers then fail and say what to install.
fn install_test_servers(root: &Path) {
    let script = root.join("tests/servers/install.sh");
    if !script.exists() {
        return;
    }
    match Command::new("bash").arg(&script).status() {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!(
            "xtask: {} failed ({s}); FTPS/SFTP tests will fail",
            script.display()
        ),
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

/// Adds the wasm target through rustup when the toolchain lacks it.
fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("cannot run rustc")?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .exists()
    {
        return Ok(());
    }
    eprintln!("xtask: installing the {WASM_TARGET} target with rustup");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// Guest crates: every package under `plugins/` and `tests/plugins/` except the SDK.
fn plugin_crates(root: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (dir, prefix) in [("plugins", ""), ("tests/plugins", "test-")] {
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
        let module =
            std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
        let component = wit_component::ComponentEncoder::default()
            .module(&module)
            .with_context(|| format!("{package}: not a plugin module"))?
            .validate(true)
            .encode()
            .with_context(|| format!("{package}: cannot make a component"))?;
        let dest = out_dir.join(format!("{short}.wasm"));
        // Leave an unchanged component untouched, so its mtime and cache entry stay valid.
        if std::fs::read(&dest).ok().as_deref() != Some(component.as_slice()) {
            std::fs::write(&dest, &component)
                .with_context(|| format!("cannot write {}", dest.display()))?;
        }
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

/// The installed componentize-py's version, or `None` when it is not installed.
fn installed_componentize_py() -> Option<String> {
    let out = Command::new("componentize-py")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| {
        text.trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string()
    })
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
        let Some(installed) = installed_componentize_py() else {
            eprintln!(
                "xtask: skipping the Python plugin plugins/{name}: componentize-py is not installed \
                 (pip install -r {})",
                requirements.display()
            );
            continue;
        };
        if installed != pinned {
            bail!(
                "plugins/{name} pins componentize-py {pinned}, but {installed} is installed: \
                 pip install -r {}",
                requirements.display()
            );
        }
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
        run(Command::new("componentize-py")
            .current_dir(out_dir)
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "target-plugin", "componentize", "-p"])
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

/// The README's first command: the main job on the embedded default (SQLite + `dir`).
fn demo(root: &Path) -> Result<()> {
    run(cargo().current_dir(root).args(["build", "-p", "hub"]))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let hub = target_dir.join("debug").join("hub");
    let demo_dir = root.join("demo");
    if demo_dir.exists() {
        std::fs::remove_dir_all(&demo_dir).context("cannot clear ./demo")?;
    }
    let step = |args: &[&str]| -> Result<()> {
        eprintln!("\n$ hub {}", args.join(" "));
        run(Command::new(&hub).current_dir(root).args(args))
    };
    step(&["plugins"])?;
    step(&["enqueue", "prisme", "examples/prisme-postings.ndjson"])?;
    step(&["enqueue", "rki", "examples/rki-cases.ndjson"])?;
    step(&["send", "--all"])?;
    step(&["status"])?;
    step(&["log"])?;
    eprintln!("\nDelivered files:");
    for entry in walk(&demo_dir.join("outbox"))? {
        eprintln!("  {}", entry.display());
    }
    Ok(())
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
