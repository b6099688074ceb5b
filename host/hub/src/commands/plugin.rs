//! `hub plugin new|build|test`: for people who write target plugins.
//!
//! - `new` scaffolds a plugin crate outside this workspace that builds and passes its
//!   golden test as written.
//! - `build` compiles a plugin crate for `wasm32-unknown-unknown` and wraps the module into
//!   a component with the same code as `cargo xtask plugins` (`hub-componentize`).
//! - `test` runs a component through the hub's own runtime and sandbox, with the fixed
//!   context of golden tests, and shows what the host would deliver; no store, no transport.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use hub_componentize::{WASM_TARGET, componentize, ensure_wasm_target, write_if_changed};
use hub_core::input::parse_ndjson_all;
use hub_plugin_sdk::{
    Context, InterpretError, OutcomeStatus, Record, RecordMeta, Response, SettingType, Settings,
};
use hub_runtime::{Limits, Plugin, Runtime};
use serde::Serialize;

use crate::output::{self, Table};

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
    #[command(flatten)]
    pub json: crate::cli::JsonArg,
}

pub fn run(args: &PluginArgs) -> Result<ExitCode> {
    match &args.command {
        PluginCommand::New(a) => new(a),
        PluginCommand::Build(a) => build(a),
        PluginCommand::Test(a) => test(a),
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

// ---------------------------------------------------------------------------------------
// hub plugin test

#[derive(Debug, Serialize)]
struct Report {
    file: PathBuf,
    sha256: String,
    describe: Describe,
    settings: Vec<(String, String)>,
    /// Whether check-settings accepted them, or why not.
    settings_check: Result<(), String>,
    records: Vec<Validation>,
    transfers: Vec<TestTransfer>,
}

#[derive(Debug, Serialize)]
struct Describe {
    name: String,
    version: String,
    record_kinds: Vec<String>,
    delivery: String,
    max_batch: u32,
    settings: Vec<SettingView>,
}

#[derive(Debug, Serialize)]
struct SettingView {
    name: String,
    #[serde(rename = "type")]
    setting_type: String,
    required: bool,
    default: Option<String>,
    description: String,
}

#[derive(Debug, Serialize)]
struct Validation {
    line: usize,
    id: String,
    ok: bool,
    batch_key: Option<String>,
    sequence_scope: Option<String>,
    supersede_key: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct TestTransfer {
    batch_key: String,
    sequence: Option<u64>,
    records: Vec<String>,
    /// Why the host would not deliver this transfer, if so.
    error: Option<String>,
    payloads: Vec<TestPayload>,
}

#[derive(Debug, Serialize)]
struct TestPayload {
    name: String,
    media_type: String,
    size: usize,
    labels: BTreeMap<String, String>,
    records: Vec<String>,
    /// The bytes when they are UTF-8 text.
    text: Option<String>,
    /// Otherwise the first 64 bytes in hex.
    hex_preview: Option<String>,
    outcomes: Option<Result<Vec<TestOutcome>, String>>,
}

#[derive(Debug, Serialize)]
struct TestOutcome {
    record: String,
    status: &'static str,
    messages: Vec<String>,
}

fn setting_type(t: SettingType) -> &'static str {
    match t {
        SettingType::Text => "text",
        SettingType::Integer => "integer",
        SettingType::Boolean => "boolean",
    }
}

fn test(args: &TestArgs) -> Result<ExitCode> {
    let runtime = Runtime::new(Limits::default(), None)?;
    let short = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let plugin = runtime.load(&short, &args.file, None)?;
    let info = plugin.info().clone();
    let mut given = toml::Table::new();
    for kv in &args.settings {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--settings {kv}: write NAME=VALUE"))?;
        given.insert(k.trim().to_string(), toml::Value::String(v.to_string()));
    }
    let settings = Settings(
        hub_core::config::check_settings("(hub plugin test)", &info.settings, &given)
            .map_err(|problems| anyhow::anyhow!("{}", problems.join("; ")))?,
    );
    let settings_check = plugin.check_settings(&settings)?;
    let mut report = Report {
        file: args.file.clone(),
        sha256: plugin.sha256().to_string(),
        describe: Describe {
            name: info.name.clone(),
            version: info.version.clone(),
            record_kinds: info.record_kinds.clone(),
            delivery: info.delivery.as_str().to_string(),
            max_batch: info.max_batch,
            settings: info
                .settings
                .iter()
                .map(|s| SettingView {
                    name: s.name.clone(),
                    setting_type: setting_type(s.setting_type).into(),
                    required: s.required,
                    default: s.default_value.clone(),
                    description: s.description.clone(),
                })
                .collect(),
        },
        settings: settings.0.clone(),
        settings_check: settings_check.clone(),
        records: Vec::new(),
        transfers: Vec::new(),
    };
    if let (Some(file), Ok(())) = (&args.records, &settings_check) {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let response = match &args.response {
            Some(f) => Some(Response {
                status: args.status,
                headers: Vec::new(),
                body: std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?,
            }),
            None => None,
        };
        exercise(&plugin, &settings, &text, response.as_ref(), &mut report)?;
    }
    let failed = report.settings_check.is_err()
        || report.records.iter().any(|r| !r.ok)
        || report.transfers.iter().any(|t| t.error.is_some());
    if args.json.json {
        output::json(&report)?;
    } else {
        print_report(&report, args.records.is_some());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Validates the records, encodes the valid ones batch by batch as the host would (numbers
/// from 1 per scope, the fixed context of golden tests), and interprets the response.
fn exercise(
    plugin: &Plugin,
    settings: &Settings,
    text: &str,
    response: Option<&Response>,
    report: &mut Report,
) -> Result<()> {
    let (input, errors) = parse_ndjson_all(text);
    if let Some(e) = errors.first() {
        bail!("{} bad line(s) in the records; first: {e}", errors.len());
    }
    let info = plugin.info();
    let records: Vec<Record> = input
        .iter()
        .map(|r| Record {
            id: r.id.clone(),
            kind: r.kind.clone(),
            body: r.body.clone(),
        })
        .collect();
    let mut valid: Vec<(Record, RecordMeta)> = Vec::new();
    for (chunk_in, chunk) in input.chunks(1000).zip(records.chunks(1000)) {
        let answers = plugin.validate(settings, chunk)?;
        for ((line, record), answer) in chunk_in.iter().zip(chunk).zip(answers) {
            let answer = if info.record_kinds.contains(&record.kind) {
                answer.map_err(|e| e.to_string())
            } else {
                Err(format!(
                    "record {}: kind `{}` is not one the plugin takes ({})",
                    record.id,
                    record.kind,
                    info.record_kinds.join(", ")
                ))
            };
            report.records.push(Validation {
                line: line.line,
                id: record.id.clone(),
                ok: answer.is_ok(),
                batch_key: answer.as_ref().ok().map(|m| m.batch_key.clone()),
                sequence_scope: answer.as_ref().ok().and_then(|m| m.sequence_scope.clone()),
                supersede_key: answer.as_ref().ok().and_then(|m| m.supersede_key.clone()),
                error: answer.as_ref().err().cloned(),
            });
            if let Ok(meta) = answer {
                valid.push((record.clone(), meta));
            }
        }
    }
    // Batches in first-seen order, each cut at max-batch.
    let mut batches: Vec<(RecordMeta, Vec<Record>)> = Vec::new();
    for (record, meta) in valid {
        match batches
            .iter_mut()
            .find(|(m, _)| m.batch_key == meta.batch_key)
        {
            Some((_, rs)) => rs.push(record),
            None => batches.push((meta, vec![record])),
        }
    }
    let mut numbers: BTreeMap<String, u64> = BTreeMap::new();
    let mut transfer_id = 0;
    let max = usize::try_from(info.max_batch.max(1)).unwrap_or(usize::MAX);
    for (meta, records) in batches {
        for chunk in records.chunks(max) {
            transfer_id += 1;
            let mut ctx = Context::sample(settings.clone());
            ctx.batch_key = meta.batch_key.clone();
            ctx.sequence_scope = meta.sequence_scope.clone();
            ctx.sequence = meta.sequence_scope.as_ref().map(|scope| {
                let n = numbers.entry(scope.clone()).or_insert(0);
                *n += 1;
                *n
            });
            ctx.transfer_id = transfer_id;
            report
                .transfers
                .push(encode_one(plugin, &ctx, chunk, response)?);
        }
    }
    Ok(())
}

fn encode_one(
    plugin: &Plugin,
    ctx: &Context,
    records: &[Record],
    response: Option<&Response>,
) -> Result<TestTransfer> {
    let mut transfer = TestTransfer {
        batch_key: ctx.batch_key.clone(),
        sequence: ctx.sequence,
        records: records.iter().map(|r| r.id.clone()).collect(),
        error: None,
        payloads: Vec::new(),
    };
    let payloads = match plugin.encode(ctx, records)? {
        Ok(p) => p,
        Err(e) => {
            transfer.error = Some(match e {
                hub_plugin_sdk::EncodeError::Records(errs) => errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                hub_plugin_sdk::EncodeError::Settings(m) => format!("settings refused: {m}"),
                hub_plugin_sdk::EncodeError::Other(m) => m,
            });
            return Ok(transfer);
        }
    };
    // The host's own checks of names, labels and which records each payload carries.
    let seqs: BTreeMap<&str, i64> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i64::try_from(i).unwrap_or(0)))
        .collect();
    let by_id: std::collections::HashMap<&str, i64> = seqs.into_iter().collect();
    if let Err(e) = crate::pipeline::check_payloads(plugin.name(), &payloads, &by_id) {
        transfer.error = Some(format!("the host would refuse this transfer: {e}"));
    }
    for p in payloads {
        let text = String::from_utf8(p.bytes.clone()).ok();
        let hex_preview = text.is_none().then(|| {
            p.bytes
                .iter()
                .take(64)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        });
        let outcomes = match response {
            None => None,
            Some(resp) => {
                let carried: Vec<Record> = records
                    .iter()
                    .filter(|r| p.records.contains(&r.id))
                    .cloned()
                    .collect();
                Some(match plugin.interpret(ctx, &p.name, &carried, resp)? {
                    Ok(outcomes) => Ok(outcomes
                        .into_iter()
                        .map(|o| TestOutcome {
                            record: o.record_id,
                            status: match o.status {
                                OutcomeStatus::Delivered => "delivered",
                                OutcomeStatus::Rejected => "rejected",
                            },
                            messages: o.messages,
                        })
                        .collect()),
                    Err(InterpretError::Failed { message, retryable }) => Err(format!(
                        "failed ({}): {message}",
                        if retryable { "retryable" } else { "final" }
                    )),
                    Err(InterpretError::Malformed(m)) => Err(format!("malformed: {m}")),
                })
            }
        };
        transfer.payloads.push(TestPayload {
            name: p.name,
            media_type: p.media_type,
            size: p.bytes.len(),
            labels: p.labels.into_iter().collect(),
            records: p.records,
            text,
            hex_preview,
            outcomes,
        });
    }
    Ok(transfer)
}

fn print_report(r: &Report, had_records: bool) {
    let d = &r.describe;
    println!("plugin {} {} ({})", d.name, d.version, r.file.display());
    println!("  sha256     {}", r.sha256);
    println!("  delivery   {}", d.delivery);
    println!("  kinds      {}", d.record_kinds.join(", "));
    println!("  max batch  {}", d.max_batch);
    if d.settings.is_empty() {
        println!("  settings   none");
    } else {
        let mut t = Table::new(&["SETTING", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"]);
        for s in &d.settings {
            t.row(vec![
                s.name.clone(),
                s.setting_type.clone(),
                if s.required { "yes" } else { "no" }.into(),
                s.default.clone().unwrap_or_else(|| "-".into()),
                s.description.clone(),
            ]);
        }
        println!();
        print!("{}", t.render());
    }
    println!();
    match &r.settings_check {
        Ok(()) if r.settings.is_empty() => println!("settings accepted: (none)"),
        Ok(()) => println!(
            "settings accepted: {}",
            r.settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Err(e) => println!("settings REFUSED by the plugin: {e}"),
    }
    if !had_records {
        println!("\nno records given (--records FILE.ndjson): nothing validated or encoded");
        return;
    }
    println!();
    for v in &r.records {
        match &v.error {
            None => println!(
                "line {}: {} valid (batch key {:?}, scope {}, supersede {})",
                v.line,
                v.id,
                v.batch_key.as_deref().unwrap_or_default(),
                v.sequence_scope.as_deref().unwrap_or("-"),
                v.supersede_key.as_deref().unwrap_or("-"),
            ),
            Some(e) => println!("line {}: INVALID: {e}", v.line),
        }
    }
    for t in &r.transfers {
        println!(
            "\ntransfer: batch key {:?}, number {}, {} record(s)",
            t.batch_key,
            t.sequence.map_or("-".to_string(), |n| n.to_string()),
            t.records.len()
        );
        if let Some(e) = &t.error {
            println!("  REFUSED: {e}");
        }
        for p in &t.payloads {
            let labels: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!(
                "\n== {} ({}, {} bytes, {} record(s){}{})",
                p.name,
                p.media_type,
                p.size,
                p.records.len(),
                if labels.is_empty() { "" } else { ", " },
                labels.join(" ")
            );
            match (&p.text, &p.hex_preview) {
                (Some(text), _) => {
                    print!("{}", text.replace('\r', ""));
                    if !text.ends_with('\n') {
                        println!();
                    }
                }
                (None, Some(hex)) => {
                    println!("(binary) {hex}{}", if p.size > 64 { " …" } else { "" })
                }
                (None, None) => {}
            }
            match &p.outcomes {
                None => {}
                Some(Ok(outcomes)) => {
                    println!("-- outcomes");
                    for o in outcomes {
                        println!("  {} {} {}", o.record, o.status, o.messages.join(" | "));
                    }
                    for id in p
                        .records
                        .iter()
                        .filter(|id| !outcomes.iter().any(|o| &o.record == *id))
                    {
                        println!(
                            "  {id} not mentioned (the hub rejects it: the answer did not mention this record)"
                        );
                    }
                }
                Some(Err(e)) => println!("-- response not accepted: {e}"),
            }
        }
    }
}
