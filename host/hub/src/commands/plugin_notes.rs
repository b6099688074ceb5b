//! The diagnostics a plugin returned (contract 0.2) during `hub plugin test`, per call.
//!
//! `hub send` only writes them to the log, where an author testing a plugin does not look;
//! the test hands the engine the plugin wrapped in [`Noting`], which keeps each call's
//! diagnostics for the report, and shows them beside the payloads.

use std::sync::{Arc, Mutex};

use hub_engine::ports::{Encoder, EncoderError, LoadInfo};
use hub_plugin_sdk as sdk;
use hub_runtime::Plugin;
use serde::Serialize;

/// One plugin call that returned diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct CallNotes {
    /// `encode` or `interpret`.
    pub call: &'static str,
    /// The transfer the call was about (its id in the test's store).
    pub transfer: u64,
    /// The payload `interpret` read an answer or receipt for; none for `encode`.
    pub payload: Option<String>,
    pub diagnostics: Vec<Note>,
}

/// One diagnostic, as the host keeps it (bounded, control characters replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Note {
    /// `info` or `warning`.
    pub level: &'static str,
    /// The record it is about, if one.
    pub record: Option<String>,
    pub message: String,
}

/// The plugin under test, keeping the diagnostics of every `encode` and `interpret`.
#[derive(Debug)]
pub(super) struct Noting {
    plugin: Arc<Plugin>,
    calls: Mutex<Vec<CallNotes>>,
}

impl Noting {
    pub(super) fn new(plugin: Arc<Plugin>) -> Self {
        Self {
            plugin,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls with diagnostics so far, in order.
    pub(super) fn take(&self) -> Vec<CallNotes> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keeps a call's diagnostics. A call that repeats the one before it exactly is kept
    /// once: the pipeline encodes each plugin's first transfer twice to check determinism.
    fn keep(
        &self,
        call: &'static str,
        transfer: u64,
        payload: Option<&str>,
        notes: Vec<sdk::Diagnostic>,
    ) {
        if notes.is_empty() {
            return;
        }
        let entry = CallNotes {
            call,
            transfer,
            payload: payload.map(str::to_string),
            diagnostics: notes
                .into_iter()
                .map(|d| Note {
                    level: match d.level {
                        sdk::DiagnosticLevel::Info => "info",
                        sdk::DiagnosticLevel::Warning => "warning",
                    },
                    record: d.record_id,
                    message: d.message,
                })
                .collect(),
        };
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.last() != Some(&entry) {
            calls.push(entry);
        }
    }
}

impl Encoder for Noting {
    fn name(&self) -> &str {
        self.plugin.name()
    }

    fn sha256(&self) -> &str {
        self.plugin.sha256()
    }

    fn info(&self) -> &sdk::PluginInfo {
        self.plugin.info()
    }

    fn load_info(&self) -> LoadInfo {
        <Plugin as Encoder>::load_info(&self.plugin)
    }

    fn change_of(&self, kind: &str) -> sdk::Change {
        self.plugin.change_of(kind)
    }

    fn check_settings(
        &self,
        settings: &sdk::Settings,
    ) -> Result<Result<(), Vec<sdk::SettingError>>, EncoderError> {
        <Plugin as Encoder>::check_settings(&self.plugin, settings)
    }

    fn validate(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Vec<Result<sdk::RecordMeta, sdk::RecordError>>, EncoderError> {
        <Plugin as Encoder>::validate(&self.plugin, settings, records)
    }

    fn once_keys(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Option<Vec<Vec<String>>>, EncoderError> {
        <Plugin as Encoder>::once_keys(&self.plugin, settings, records)
    }

    fn encode(
        &self,
        ctx: &sdk::Context,
        records: &[sdk::Record],
    ) -> Result<Result<Vec<sdk::Payload>, sdk::EncodeError>, EncoderError> {
        let (answer, notes) = self.plugin.encode_noting(ctx, records)?;
        self.keep("encode", ctx.transfer_id, None, notes);
        Ok(answer)
    }

    fn interpret(
        &self,
        ctx: &sdk::Context,
        payload: &str,
        records: &[sdk::Record],
        response: &sdk::Response,
    ) -> Result<Result<Vec<sdk::Outcome>, sdk::InterpretError>, EncoderError> {
        let (answer, notes) = self
            .plugin
            .interpret_noting(ctx, payload, records, response)?;
        self.keep("interpret", ctx.transfer_id, Some(payload), notes);
        Ok(answer)
    }

    fn ask(
        &self,
        settings: &sdk::Settings,
        transfer_id: u64,
        payload: &str,
        key: &str,
    ) -> Result<Option<sdk::Question>, EncoderError> {
        <Plugin as Encoder>::ask(&self.plugin, settings, transfer_id, payload, key)
    }

    fn judge(
        &self,
        settings: &sdk::Settings,
        payload: &str,
        status: u16,
        body: &[u8],
    ) -> Result<sdk::Finding, EncoderError> {
        <Plugin as Encoder>::judge(&self.plugin, settings, payload, status, body)
    }
}

/// Text from the plugin as it may be shown: control characters escaped, nothing cut (the
/// host already keeps a diagnostic to 1 KiB).
fn shown(text: &str) -> String {
    sdk::text::excerpt_max(text, 2048)
}

/// The diagnostics for the text report, one block per call:
///
/// ```text
/// -- diagnostics of encode (transfer 1)
///   warning  record b: n = 50 is above the limit 10
///   info     2 records
/// ```
pub(super) fn print(calls: &[CallNotes]) {
    for c in calls {
        match &c.payload {
            Some(p) => println!(
                "\n-- diagnostics of {} of {} (transfer {})",
                c.call,
                shown(p),
                c.transfer
            ),
            None => println!("\n-- diagnostics of {} (transfer {})", c.call, c.transfer),
        }
        for n in &c.diagnostics {
            match &n.record {
                Some(r) => println!(
                    "  {:<7}  record {}: {}",
                    n.level,
                    shown(r),
                    shown(&n.message)
                ),
                None => println!("  {:<7}  {}", n.level, shown(&n.message)),
            }
        }
    }
}
