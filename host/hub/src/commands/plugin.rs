//! `hub plugin new|build|test|schema`: for people who write target plugins.
//!
//! - `new` scaffolds a plugin crate outside this workspace that builds and passes its
//!   golden test as written.
//! - `build` compiles a plugin crate for `wasm32-unknown-unknown` and wraps the module into
//!   a component with the same code as `cargo xtask plugins` (`hub-componentize`).
//! - `test` runs a component through the hub's own runtime and sandbox, with the fixed
//!   context of golden tests, through the real pipeline (`plugin_test.rs`): a store in
//!   memory and a transport that keeps what it is given.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use hub_componentize::{WASM_TARGET, componentize, ensure_wasm_target, write_if_changed};
use hub_runtime::{Limits, Runtime};
use serde::Serialize;

use crate::output;

/// `hub plugin …`
#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// The plugin author's commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a new plugin crate that builds and passes its golden test as written.
    New(NewArgs),
    /// Build a plugin crate into a component (no wasm-tools needed).
    Build(BuildArgs),
    /// Run a component in the hub's sandbox: describe, validate, encode, interpret.
    Test(TestArgs),
    /// Print the JSON Schemas a target's plugin declares for its record kinds.
    Schema(super::plugin_schema::SchemaArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters, digits and `-`, starting with a letter.
    pub name: String,
    /// The folder to create (default: ./<name>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The hub's `plugins/sdk` folder (default: the one this hub was built from).
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plugin crate's folder.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to write the component (default: <cargo target dir>/plugins/<name>.wasm).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub json: crate::cli::JsonArg,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The component (`.wasm`).
    pub file: PathBuf,
    /// Records to validate and encode, NDJSON as for `hub enqueue`.
    #[arg(long, value_name = "FILE.ndjson")]
    pub records: Option<PathBuf>,
    /// A setting as `[target.settings]` would give it, e.g. `--settings customer=4711`.
    #[arg(long = "settings", value_name = "NAME=VALUE", num_args = 1..)]
    pub settings: Vec<String>,
    /// An answer or receipt to interpret for each payload.
    #[arg(long, value_name = "FILE")]
    pub response: Option<PathBuf>,
    /// The HTTP status of `--response` (none: a receipt file).
    #[arg(long, requires = "response")]
    pub status: Option<u16>,
    /// Encode the records again in fresh sandboxes (a WASI plugin with another clock and
    /// random seed each time) and fail on any byte that differs.
    #[arg(long, requires = "records")]
    pub determinism: bool,
    /// How many runs `--determinism` compares.
    #[arg(long, default_value_t = 2, requires = "determinism", value_parser = clap::value_parser!(u32).range(2..=20))]
    pub runs: u32,
    #[command(flatten)]
    pub json: crate::cli::JsonArg,
}

pub fn run(g: &super::Global, args: &PluginArgs) -> Result<ExitCode> {
    match &args.command {
        PluginCommand::New(a) => new(a),
        PluginCommand::Build(a) => build(a),
        PluginCommand::Test(a) => super::plugin_test::run(a),
        PluginCommand::Schema(a) => super::plugin_schema::run(g, a),
    }
}

// ---------------------------------------------------------------------------------------
// hub plugin new

const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("scaffold/lib.rs.tmpl");
const GOLDEN_RS: &str = include_str!("scaffold/golden.rs.tmpl");
const README: &str = include_str!("scaffold/README.md.tmpl");
const RECORDS: &str = include_str!("scaffold/records.ndjson");
const RECEIPT: &str = include_str!("scaffold/receipt.txt");
const GITIGNORE: &str = include_str!("scaffold/gitignore");
/// The golden file: the sample records in `Context::sample` (it does not depend on the name).
const EXPECTED: &[u8] = include_bytes!("scaffold/expected.txt");
const WIT: &str = include_str!("../../../../wit/hub-plugin.wit");
/// The 0.1.2 package the 0.2 worlds take their optional interfaces from.
const WIT_0_1_2: &str = include_str!("../../../../wit/deps/hub-plugin-0.1.2/hub-plugin.wit");
/// The 0.2.0 package the 0.2.1 worlds take `target` from.
const WIT_0_2_0: &str = include_str!("../../../../wit/deps/hub-plugin-0.2.0/hub-plugin.wit");

/// Plugin names become file names, crate names and payload names: keep them plain.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "plugin name `{name}`: use 1 to 32 lower-case letters, digits and `-`, starting with a letter"
        );
    }
    Ok(())
}

/// `my-target` → `MyTarget`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The SDK this hub was built from, when its source is still there.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk");
    sdk.join("Cargo.toml").exists().then_some(sdk)
}

fn new(args: &NewArgs) -> Result<ExitCode> {
    check_name(&args.name)?;
    let name = args.name.as_str();
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let sdk =
        args.sdk.clone().or_else(default_sdk).context(
            "cannot find the hub's plugin SDK: pass --sdk <the hub's plugins/sdk folder>",
        )?;
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("SDK folder {}", sdk.display()))?;
    if !sdk.join("Cargo.toml").exists() {
        bail!(
            "{} has no Cargo.toml: is it the hub's plugins/sdk?",
            sdk.display()
        );
    }
    let krate = format!("hub-plugin-{name}");
    let fill = |t: &str| {
        t.replace("__CRATE_IDENT__", &krate.replace('-', "_"))
            .replace("__CRATE__", &krate)
            .replace("__TYPE__", &type_name(name))
            .replace("__NAME__", name)
            .replace("__SDK__", &sdk.display().to_string().replace('\\', "/"))
    };
    let files: Vec<(String, Vec<u8>)> = vec![
        ("Cargo.toml".into(), fill(CARGO_TOML).into_bytes()),
        ("src/lib.rs".into(), fill(LIB_RS).into_bytes()),
        ("tests/golden.rs".into(), fill(GOLDEN_RS).into_bytes()),
        ("tests/golden/records.ndjson".into(), RECORDS.into()),
        ("tests/golden/receipt.txt".into(), RECEIPT.into()),
        (
            format!("tests/golden/{name}-000001.txt.expected"),
            EXPECTED.to_vec(),
        ),
        ("wit/hub-plugin.wit".into(), WIT.into()),
        (
            "wit/deps/hub-plugin-0.1.2/hub-plugin.wit".into(),
            WIT_0_1_2.into(),
        ),
        (
            "wit/deps/hub-plugin-0.2.0/hub-plugin.wit".into(),
            WIT_0_2_0.into(),
        ),
        ("README.md".into(), fill(README).into_bytes()),
        (".gitignore".into(), GITIGNORE.into()),
    ];
    for (rel, bytes) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    // The hub's lock file pins the SDK's dependencies to versions known to work (and
    // already downloaded); cargo drops what this crate does not use.
    if let Some(lock) = sdk
        .parent()
        .and_then(Path::parent)
        .map(|r| r.join("Cargo.lock"))
        && lock.exists()
    {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("cannot copy {}", lock.display()))?;
    }
    println!("Created plugin `{name}` in {}", dir.display());
    println!("  SDK: {}", sdk.display());
    println!("Next:");
    println!("  cd {} && cargo test", dir.display());
    println!("  hub plugin build {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// hub plugin build

#[derive(Debug, Serialize)]
struct Built {
    path: PathBuf,
    name: String,
    version: String,
    size: usize,
    sha256: String,
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn build(args: &BuildArgs) -> Result<ExitCode> {
    let manifest = args.dir.join("Cargo.toml");
    if !manifest.exists() {
        bail!("{} has no Cargo.toml", args.dir.display());
    }
    ensure_wasm_target()?;
    // Cargo's progress goes to stderr as usual; its JSON messages name the module built.
    let mut child = cargo()
        .args(["build", "--release", "--lib", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let mut module: Option<(PathBuf, String)> = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = msg["target"]["crate_types"]
            .as_array()
            .is_some_and(|t| t.iter().any(|k| k == "cdylib"));
        let wasm = msg["filenames"].as_array().and_then(|f| {
            f.iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
        });
        if let (true, Some(wasm), Some(lib)) = (is_cdylib, wasm, msg["target"]["name"].as_str()) {
            module = Some((PathBuf::from(wasm), lib.to_string()));
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let (module, lib) = module.with_context(|| {
        format!(
            "cargo built no WebAssembly module: does {} have `crate-type = [\"cdylib\", \"rlib\"]`?",
            manifest.display()
        )
    })?;
    let component = componentize(&module)?;
    let short = lib
        .strip_prefix("hub_plugin_")
        .unwrap_or(&lib)
        .replace('_', "-");
    let out = match &args.out {
        Some(out) => out.clone(),
        // <target>/wasm32-unknown-unknown/release/<lib>.wasm → <target>/plugins/<short>.wasm
        None => module
            .ancestors()
            .nth(3)
            .map(|target| target.join("plugins").join(format!("{short}.wasm")))
            .context("where cargo put the module")?,
    };
    // Load it as the hub will (no imports, the right export, a describe that answers)
    // from a temporary file beside the destination: a component the hub would refuse
    // leaves nothing behind under the plugin's name.
    let file_name = out
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: not a file name", out.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = out.with_file_name(format!(".{file_name}.hub-check"));
    std::fs::write(&tmp, &component).with_context(|| format!("cannot write {}", tmp.display()))?;
    let runtime = Runtime::new(Limits::default(), None)?;
    let plugin = match runtime.load(&short, &tmp, None) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    let _ = std::fs::remove_file(&tmp);
    write_if_changed(&out, &component)?;
    let built = Built {
        path: out.clone(),
        name: plugin.info().name.clone(),
        version: plugin.info().version.clone(),
        size: component.len(),
        sha256: plugin.sha256().to_string(),
    };
    if args.json.json {
        output::json(&built)?;
    } else {
        println!(
            "{} ({} {}, {} bytes)\nsha256 {}",
            built.path.display(),
            built.name,
            built.version,
            built.size,
            built.sha256
        );
    }
    Ok(ExitCode::SUCCESS)
}
