//! `cargo xtask`: builds the WASM plugins into components and runs the demo, the tests and
//! the benchmarks with them in place.
//!
//! Plugins are compiled for `wasm32-unknown-unknown` (no WASI, so zero imports) and wrapped
//! into components by `hub-componentize` (`wit-component`, the same code as
//! `hub plugin build`), which avoids installing `wasm-tools`. The components land in
//! `target/plugins/<name>.wasm`, where hub.toml, the tests and the benchmarks find them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use hub_componentize::{WASM_TARGET, componentize, ensure_wasm_target, write_if_changed};

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
                 \n  plugins  build every plugin into target/plugins/<name>.wasm\
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
        let component = componentize(&core).with_context(|| format!("plugin {package}"))?;
        let dest = out_dir.join(format!("{short}.wasm"));
        write_if_changed(&dest, &component)?;
        eprintln!("xtask: {} ({} bytes)", dest.display(), component.len());
        built.push(dest);
    }
    Ok(built)
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
