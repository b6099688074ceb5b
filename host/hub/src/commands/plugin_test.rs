//! `hub plugin test`: a component through the real pipeline, the one `hub send` runs:
//! enqueue (host checks and the plugin's validation), batching, numbering, the host's
//! checks of payloads, packaging, delivery and the plugin's reading of answers or
//! receipts. Only the ports differ: a store in memory, a transport that keeps what it is
//! given, and the fixed clock of golden tests (`Context::sample`: 2024-02-01 12:00 UTC,
//! target `test`, transfer ids from 1). What the plugin noted in its calls (contract 0.2
//! diagnostics), which `hub send` only logs, is shown per call (`plugin_notes.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use hub_core::config::{Config, PluginConfig};
use hub_core::input::parse_ndjson_all;
use hub_core::state::RecordState;
use hub_core::time::{FixedClock, Timestamp};
use hub_engine::capture::CaptureConnector;
use hub_engine::ports::{Encoder, EncoderError, PluginLoader};
use hub_engine::{Engine, Ports, pipeline};
use hub_plugin_sdk::{Delivery, Record, Response, SettingType, Settings};
use hub_runtime::{Limits, Plugin, Runtime};
use serde::Serialize;

use super::plugin::TestArgs;
use super::plugin_notes::{self, CallNotes, Noting};
use crate::output::{self, Table};

/// The target's name in the report and in every context the plugin sees.
pub(super) const TARGET: &str = "test";
/// `Context::sample`'s time, so golden files match.
const SAMPLE_MS: i64 = 1_706_788_800_000;

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
    /// Records the plugin refused while encoding (`hub send` fails them), with why.
    refused: Vec<String>,
    /// Batches the plugin could not encode at all; `hub send` keeps them queued.
    errors: Vec<String>,
    /// What the plugin noted in each `encode` and `interpret` call that returned
    /// diagnostics (`hub send` writes them to the log).
    diagnostics: Vec<CallNotes>,
    /// `--determinism`: whether further runs gave the same bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    determinism: Option<super::plugin_determinism::Determinism>,
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
    /// Each record's outcome from the answer or receipt; none when none was given.
    outcomes: Option<Result<Vec<TestOutcome>, String>>,
}

#[derive(Debug, Serialize)]
struct TestOutcome {
    record: String,
    status: String,
    messages: Vec<String>,
}

fn setting_type(t: SettingType) -> &'static str {
    match t {
        SettingType::Text => "text",
        SettingType::Integer => "integer",
        SettingType::Boolean => "boolean",
    }
}

/// Hands the engine the one component under test, whatever name it asks for.
struct Given(Arc<dyn Encoder>);

impl PluginLoader for Given {
    fn load(&mut self, _name: &str, _c: &PluginConfig) -> Result<Arc<dyn Encoder>, EncoderError> {
        Ok(self.0.clone())
    }
}

pub fn run(args: &TestArgs) -> Result<ExitCode> {
    let runtime = Runtime::new(Limits::default(), None)?;
    let short = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let plugin = Arc::new(runtime.load(&short, &args.file, None)?);
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
    let settings_check = plugin
        .check_settings(&settings)?
        .map_err(|e| hub_plugin_sdk::SettingError::join(&e));
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
        refused: Vec::new(),
        errors: Vec::new(),
        diagnostics: Vec::new(),
        determinism: None,
    };
    if args.determinism && args.records.is_none() {
        anyhow::bail!("--determinism needs records to encode: give --records FILE.ndjson");
    }
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
        let noting = Arc::new(Noting::new(plugin.clone()));
        let mut engine = engine(&args.file, noting.clone(), given.clone(), response.clone())?;
        exercise(
            &mut engine,
            plugin.as_ref(),
            &text,
            response.clone(),
            &mut report,
        )?;
        report.diagnostics = noting.take();
        if args.determinism {
            report.determinism = Some(super::plugin_determinism::check(
                plugin.as_ref(),
                &args.file,
                &given,
                &text,
                response,
                args.runs,
            )?);
        }
    }
    let failed = report.settings_check.is_err()
        || report.records.iter().any(|r| !r.ok)
        || report.transfers.iter().any(|t| t.error.is_some())
        || !report.refused.is_empty()
        || !report.errors.is_empty()
        || report
            .determinism
            .as_ref()
            .is_some_and(|d| d.difference.is_some());
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

/// An engine with one target `test` for the component, a store in memory and a
/// capturing transport whose requests all get `answer`.
pub(super) fn engine(
    file: &Path,
    plugin: Arc<dyn Encoder>,
    settings: toml::Table,
    answer: Option<Response>,
) -> Result<Engine> {
    let transport = match plugin.info().delivery {
        Delivery::RequestResponse => "type = \"http\"\nurl = \"https://receiver.invalid/\"",
        Delivery::FileDrop | Delivery::FileDropWithReceipt => "type = \"dir\"\npath = \"capture\"",
    };
    // Nothing is written at this path: the store is in memory and only this process
    // sends from it, so it takes no send lock either.
    let scratch = std::env::temp_dir().join("hub-plugin-test.db");
    let text = format!(
        "version = 1\n[store]\npath = {store}\n[plugins.under-test]\npath = {path}\n\
         [[target]]\nname = \"{TARGET}\"\nplugin = \"under-test\"\n[target.transport]\n{transport}\n",
        store = toml::Value::String(scratch.display().to_string()),
        path = toml::Value::String(file.display().to_string()),
    );
    let mut config = Config::parse(Path::new("(hub plugin test)"), &text)?;
    if let Some(t) = config.targets.first_mut() {
        t.settings = settings;
    }
    let ports = Ports {
        clock: Arc::new(FixedClock(Timestamp(SAMPLE_MS))),
        plugins: Box::new(Given(plugin)),
        connector: Box::new(CaptureConnector::new(answer)),
        formats: Box::new(hub_engine::inbound::format::NoFormats),
    };
    let store = hub_store::SqliteStore::in_memory()?;
    Ok(Engine::new(
        config,
        Box::new(store),
        ports,
        crate::app::current_user(),
        "plugin-test".into(),
    )
    .with_private_store())
}

/// Enqueues the records as `hub enqueue` would (a bad line is reported and left out),
/// sends them as `hub send` would, imports the receipt where the target waits for one,
/// and reads back what happened from the store.
fn exercise(
    engine: &mut Engine,
    plugin: &Plugin,
    text: &str,
    response: Option<Response>,
    report: &mut Report,
) -> Result<()> {
    let (input, _) = parse_ndjson_all(text);
    let bad = queue_valid(engine, text)?;
    // The keys the plugin gave each record, shown beside its line.
    let records: Vec<Record> = input
        .iter()
        .map(|r| Record {
            id: r.id.clone(),
            kind: r.kind.clone(),
            body: r.body.clone(),
        })
        .collect();
    // In chunks of the size the real enqueue validates, so a big file stays within the
    // plugin's memory limit here too.
    let settings = engine.target(TARGET)?.settings;
    let mut metas = Vec::with_capacity(records.len());
    for chunk in records.chunks(1_000) {
        metas.extend(plugin.validate(&settings, chunk)?);
    }
    for (r, meta) in input.iter().zip(metas) {
        let error = bad.get(&r.line).cloned();
        let meta = meta.ok().filter(|_| error.is_none());
        report.records.push(Validation {
            line: r.line,
            id: r.id.clone(),
            ok: error.is_none(),
            batch_key: meta.as_ref().map(|m| m.batch_key.clone()),
            sequence_scope: meta.as_ref().and_then(|m| m.sequence_scope.clone()),
            supersede_key: meta.as_ref().and_then(|m| m.supersede_key.clone()),
            error,
        });
    }
    let receipt = plugin.info().delivery == Delivery::FileDropWithReceipt;
    let asks = plugin.info().delivery == Delivery::RequestResponse;
    match pipeline::send(engine, TARGET, false) {
        Ok(sent) => report.errors = sent.errors,
        // Without an answer a request cannot complete; its payload is still shown.
        Err(pipeline::SendError::Delivery { .. }) if asks && response.is_none() => {}
        Err(e) => report.errors.push(e.to_string()),
    }
    if let (true, Some(answer)) = (receipt, &response) {
        // One receipt answers one transfer; the rest keep waiting, as with `hub receipt`.
        while pipeline::import_receipt(engine, TARGET, &answer.body).is_ok() {}
    }
    let interpreted = response.is_some() && (receipt || asks);
    for r in &input {
        for view in engine.store.records_by_id(TARGET, &r.id)? {
            if view.transfer_id.is_none() && view.state == RecordState::Failed {
                report.refused.extend(view.messages);
            }
        }
    }
    let mut id = 1;
    while let Ok(transfer) = engine.store.transfer(id) {
        id += 1;
        let mut t = TestTransfer {
            batch_key: transfer.batch_key.clone(),
            sequence: transfer.sequence_no,
            records: Vec::new(),
            error: None,
            payloads: Vec::new(),
        };
        for p in &transfer.payloads {
            let bytes = engine.store.payload_bytes(p.id)?;
            let ids: Vec<String> = engine
                .store
                .payload_records(p.id)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            let mut outcomes = Vec::new();
            for rid in &ids {
                for view in engine.store.records_by_id(TARGET, rid)? {
                    if view.transfer_id == Some(transfer.id) {
                        outcomes.push(TestOutcome {
                            record: rid.clone(),
                            status: view.state.to_string(),
                            messages: view.messages,
                        });
                    }
                }
            }
            t.records.extend(ids.iter().cloned());
            let text = String::from_utf8(bytes.clone()).ok();
            t.payloads.push(TestPayload {
                name: p.name.clone(),
                media_type: p.media_type.clone(),
                size: p.size,
                labels: p.labels.iter().cloned().collect(),
                records: ids,
                hex_preview: text.is_none().then(|| {
                    bytes
                        .iter()
                        .take(64)
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                }),
                text,
                outcomes: interpreted.then_some(Ok(outcomes)),
            });
        }
        report.transfers.push(t);
    }
    Ok(())
}

/// Queues the lines the real enqueue accepts and leaves out the others, which it
/// returns with why (by line number): `hub enqueue` refuses a file with any bad line.
pub(super) fn queue_valid(engine: &mut Engine, text: &str) -> Result<BTreeMap<usize, String>> {
    let (_, syntax) = parse_ndjson_all(text);
    let mut bad: BTreeMap<usize, String> =
        syntax.into_iter().map(|e| (e.line, e.message)).collect();
    // The real enqueue is all or nothing: learn its refusals, then queue the rest.
    if let Err(pipeline::EnqueueError::Input(errors)) = pipeline::enqueue(engine, TARGET, text) {
        bad.extend(errors.0.into_iter().map(|e| (e.line, e.message)));
    }
    let good: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| !bad.contains_key(&(i + 1)))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    pipeline::enqueue(engine, TARGET, &good)
        .map_err(|e| anyhow::anyhow!("records the checks passed were not queued: {e}"))?;
    Ok(bad)
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
    for e in &r.refused {
        println!("REFUSED while encoding: {e}");
    }
    for e in &r.errors {
        println!("NOT ENCODED (stays queued in a real send): {e}");
    }
    print_transfers(r);
    plugin_notes::print(&r.diagnostics);
    match &r.determinism {
        None => {}
        Some(d) => {
            let varied = if d.varied_wasi {
                "fresh sandboxes, another wall clock, monotonic clock and random seed each"
            } else {
                "fresh sandboxes; the plugin imports no WASI, so no clock or randomness to vary"
            };
            match &d.difference {
                None => println!(
                    "\ndeterminism: ok: {} runs ({varied}) gave the same bytes for {} payload(s)",
                    d.runs, d.payloads
                ),
                Some(why) => println!("\ndeterminism: FAILED: {why}"),
            }
        }
    }
}

fn print_transfers(r: &Report) {
    for t in &r.transfers {
        println!(
            "\ntransfer: batch key {:?}, number {}, {} record(s)",
            t.batch_key,
            t.sequence.map_or("-".to_string(), |n| n.to_string()),
            t.records.len()
        );
        for p in &t.payloads {
            print_payload(p);
        }
    }
}

fn print_payload(p: &TestPayload) {
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
        }
        Some(Err(e)) => println!("-- response not accepted: {e}"),
    }
}
