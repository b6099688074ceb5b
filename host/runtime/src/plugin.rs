//! A loaded plugin: its calls, each in a fresh sandbox, driven in the contract line the
//! component was built for.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hub_plugin_sdk as sdk;

use crate::contract::Line;
use crate::convert::{v1, v2};
use crate::request_shape_bindings::RequestShapePre;
use crate::sandbox::{CallState, Sandbox, Target};
use crate::schema::Schemas;
use crate::{BatchingPre, InquiryPre, PluginError, WasiSeed};

/// A loaded plugin. Calls take `&self` and run each in a fresh sandbox, so one plugin can
/// serve several threads and a crashed call leaves nothing behind.
pub struct Plugin {
    pub(crate) sandbox: Sandbox,
    pub(crate) path: PathBuf,
    pub(crate) sha256: String,
    pub(crate) info: sdk::PluginInfo,
    /// What a changed body under a known id means, per kind (`identity`, 0.1.1).
    pub(crate) changes: Vec<(String, sdk::Change)>,
    /// How to ask the receiver about an earlier request (`inquiry`, 0.1.1), if offered.
    pub(crate) inquiry: Option<Arc<InquiryPre<CallState>>>,
    /// What may occur only once in a transfer (`batching`, 0.1.2), if declared.
    pub(crate) batching: Option<Arc<BatchingPre<CallState>>>,
    /// A JSON Schema per record kind (`schema`, 0.2.1), compiled at load; empty if none.
    pub(crate) schemas: Schemas,
    /// How each request-response payload is sent (`request-shape`, 0.2.1), if offered.
    pub(crate) shape: Option<Arc<RequestShapePre<CallState>>>,
    pub(crate) from_cache: bool,
    pub(crate) load_time: Duration,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.sandbox.name)
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl Plugin {
    /// The name hub.toml gives the plugin.
    pub fn name(&self) -> &str {
        &self.sandbox.name
    }

    /// Where the component was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The component's sha256, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the plugin imports WASI (a non-Rust runtime); Rust plugins import nothing.
    pub fn uses_wasi(&self) -> bool {
        self.sandbox.uses_wasi
    }

    /// The same component, whose calls see `seed`'s clocks and randomness through WASI
    /// instead of the machine's (the determinism check); each call still runs in a fresh
    /// store. A plugin that imports no WASI sees no difference.
    pub fn seeded(&self, seed: WasiSeed) -> Plugin {
        Plugin {
            sandbox: Sandbox {
                seed: Some(seed),
                ..self.sandbox.clone()
            },
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            info: self.info.clone(),
            changes: self.changes.clone(),
            inquiry: self.inquiry.clone(),
            batching: self.batching.clone(),
            schemas: self.schemas.clone(),
            shape: self.shape.clone(),
            from_cache: self.from_cache,
            load_time: self.load_time,
        }
    }

    /// Whether the compiled code came from the cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// How long loading took (read, hash, compile or cache, describe).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// The contract line the plugin is built for, and so driven in.
    pub fn contract(&self) -> Line {
        self.sandbox.target.line()
    }

    /// What the plugin said about itself at load time.
    pub fn info(&self) -> &sdk::PluginInfo {
        &self.info
    }

    /// What the same id with a different body means for records of `kind`: as the plugin
    /// declares (contract 0.1.1), else `refuse`, the choice that never books twice.
    pub fn change_of(&self, kind: &str) -> sdk::Change {
        self.changes
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(sdk::Change::Refuse, |(_, c)| *c)
    }

    /// Whether the plugin declared its changes (exports `identity`, contract 0.1.1).
    pub fn declares_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The question to ask the receiver about a payload whose outcome is unknown, where
    /// the plugin offers one (`inquiry`, 0.1.1).
    pub fn ask(
        &self,
        settings: &sdk::Settings,
        transfer_id: u64,
        payload: &str,
        key: &str,
    ) -> Result<Option<sdk::Question>, PluginError> {
        let Some(pre) = &self.inquiry else {
            return Ok(None);
        };
        let s = settings.0.clone();
        let q = self.sandbox.run("ask", |store| {
            pre.instantiate(&mut *store)?
                .hub_plugin0_1_2_inquiry()
                .call_ask(store, &s, transfer_id, payload, key)
        })?;
        Ok(q.map(|q| sdk::Question {
            method: q.method,
            path: q.path,
            headers: q.headers,
            body: q.body,
        }))
    }

    /// What the receiver's answer to [`Plugin::ask`]'s question says.
    pub fn judge(
        &self,
        settings: &sdk::Settings,
        payload: &str,
        status: u16,
        body: &[u8],
    ) -> Result<sdk::Finding, PluginError> {
        let Some(pre) = &self.inquiry else {
            return Ok(sdk::Finding::Unknown);
        };
        let s = settings.0.clone();
        let f = self.sandbox.run("judge", |store| {
            pre.instantiate(&mut *store)?
                .hub_plugin0_1_2_inquiry()
                .call_judge(store, &s, payload, status, body)
        })?;
        use crate::inquiry_bindings::exports::hub::plugin0_1_2::inquiry::Finding as W;
        Ok(match f {
            W::Arrived => sdk::Finding::Arrived,
            W::NotArrived => sdk::Finding::NotArrived,
            W::Unknown => sdk::Finding::Unknown,
        })
    }

    /// Whether the plugin declares keys that may occur only once per transfer (exports
    /// `batching`, contract 0.1.2).
    pub fn declares_once_keys(&self) -> bool {
        self.batching.is_some()
    }

    /// For each record, in order, the keys it may share with no other record of one
    /// transfer (`batching`, 0.1.2); `None` where the plugin does not declare any (built
    /// for 0.1.0 or 0.1.1): then only record ids are kept apart.
    pub fn once_keys(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Option<Vec<Vec<String>>>, PluginError> {
        let Some(pre) = &self.batching else {
            return Ok(None);
        };
        let s = settings.0.clone();
        let r: Vec<_> = records
            .iter()
            .map(
                |r| crate::batching_bindings::exports::hub::plugin0_1_2::batching::Record {
                    id: r.id.clone(),
                    kind: r.kind.clone(),
                    body: r.body.clone(),
                },
            )
            .collect();
        let keys = self.sandbox.run("once-keys", |store| {
            pre.instantiate(&mut *store)?
                .hub_plugin0_1_2_batching()
                .call_once_keys(store, &s, &r)
        })?;
        if keys.len() != records.len() {
            return Err(PluginError::Contract {
                plugin: self.sandbox.name.clone(),
                message: format!(
                    "once-keys answered {} times for {} records",
                    keys.len(),
                    records.len()
                ),
            });
        }
        Ok(Some(keys))
    }

    /// The plugin's JSON Schemas, `(kind, schema text)` (`schema`, 0.2.1); empty when it
    /// declares none.
    pub fn schemas(&self) -> Vec<(String, String)> {
        self.schemas.texts()
    }

    /// Why `record`'s body does not match its kind's schema, if it does not (checked
    /// before `validate`; `None` also where the kind has no schema).
    pub fn check_schema(&self, record: &sdk::Record) -> Option<sdk::RecordError> {
        self.schemas.check(record)
    }

    /// How the request for one payload is sent, as the plugin proposes it (`request-shape`,
    /// 0.2.1): `Ok(None)` where the plugin does not shape requests or gives the default (a
    /// `POST` to the target's URL); `Ok(Err)` when it refuses. The host checks the shape.
    pub fn request_shape(
        &self,
        settings: &sdk::Settings,
        transfer_id: u64,
        payload: &str,
        media_type: &str,
    ) -> Result<Result<Option<sdk::RequestShape>, String>, PluginError> {
        let Some(pre) = &self.shape else {
            return Ok(Ok(None));
        };
        let s = settings.0.clone();
        let answer = self.sandbox.run("shape", |store| {
            pre.instantiate(&mut *store)?
                .hub_plugin0_2_1_request_shape()
                .call_shape(store, &s, transfer_id, payload, media_type)
        })?;
        use crate::request_shape_bindings::exports::hub::plugin0_2_1::request_shape::Method as W;
        Ok(answer.map(|r| {
            let shape = sdk::RequestShape {
                method: match r.method {
                    W::Post => sdk::Method::Post,
                    W::Put => sdk::Method::Put,
                    W::Patch => sdk::Method::Patch,
                    W::Delete => sdk::Method::Delete,
                },
                path: r.path,
                headers: r.headers,
            };
            (!shape.is_default()).then_some(shape)
        }))
    }

    /// Semantic checks of the target's settings; every problem, each naming its setting
    /// where the plugin says which (0.1 plugins give one text).
    pub fn check_settings(
        &self,
        settings: &sdk::Settings,
    ) -> Result<Result<(), Vec<sdk::SettingError>>, PluginError> {
        match &self.sandbox.target {
            Target::V1(pre) => {
                let s = v1::settings(settings);
                let r = self.sandbox.run("check-settings", |store| {
                    pre.instantiate(&mut *store)?
                        .hub_plugin0_1_2_target()
                        .call_check_settings(store, &s)
                })?;
                Ok(r.map_err(|m| vec![sdk::SettingError::new("", m)]))
            }
            Target::V2(pre) => {
                let s = v2::settings(settings, &self.info.settings);
                let r = self.sandbox.run("check-settings", |store| {
                    pre.instantiate(&mut *store)?
                        .hub_plugin0_2_0_target()
                        .call_check_settings(store, &s)
                })?;
                Ok(r.map_err(v2::settings_errors))
            }
        }
    }

    /// Validates records; one answer per record, in order.
    pub fn validate(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Vec<Result<sdk::RecordMeta, sdk::RecordError>>, PluginError> {
        let answers: Vec<_> = match &self.sandbox.target {
            Target::V1(pre) => {
                let (s, r) = (v1::settings(settings), v1::records(records));
                self.sandbox
                    .run("validate", |store| {
                        pre.instantiate(&mut *store)?
                            .hub_plugin0_1_2_target()
                            .call_validate(store, &s, &r)
                    })?
                    .into_iter()
                    .map(v1::validation)
                    .collect()
            }
            Target::V2(pre) => {
                let s = v2::settings(settings, &self.info.settings);
                let r = v2::records(records);
                self.sandbox
                    .run("validate", |store| {
                        pre.instantiate(&mut *store)?
                            .hub_plugin0_2_0_target()
                            .call_validate(store, &s, &r)
                    })?
                    .into_iter()
                    .map(v2::validation)
                    .collect()
            }
        };
        if answers.len() != records.len() {
            return Err(PluginError::Contract {
                plugin: self.sandbox.name.clone(),
                message: format!(
                    "validate answered {} times for {} records",
                    answers.len(),
                    records.len()
                ),
            });
        }
        Ok(answers)
    }

    /// Encodes one transfer's records into payloads; the plugin's diagnostics go to the
    /// log, with the plugin's name.
    pub fn encode(
        &self,
        ctx: &sdk::Context,
        records: &[sdk::Record],
    ) -> Result<Result<Vec<sdk::Payload>, sdk::EncodeError>, PluginError> {
        let (answer, notes) = self.encode_noting(ctx, records)?;
        self.log_notes("encode", &ctx.target, &notes);
        Ok(answer)
    }

    /// [`Plugin::encode`], with the diagnostics returned instead of logged.
    pub fn encode_noting(
        &self,
        ctx: &sdk::Context,
        records: &[sdk::Record],
    ) -> Result<(v2::Encoded, Vec<sdk::Diagnostic>), PluginError> {
        match &self.sandbox.target {
            Target::V1(pre) => {
                let (c, r) = (v1::context(ctx), v1::records(records));
                let answer = self.sandbox.run("encode", |store| {
                    pre.instantiate(&mut *store)?
                        .hub_plugin0_1_2_target()
                        .call_encode(store, &c, &r)
                })?;
                Ok((v1::encoded(answer), Vec::new()))
            }
            Target::V2(pre) => {
                let c = v2::context(ctx, &self.info.settings);
                let r = v2::records(records);
                let answer = self.sandbox.run("encode", |store| {
                    pre.instantiate(&mut *store)?
                        .hub_plugin0_2_0_target()
                        .call_encode(store, &c, &r)
                })?;
                Ok(v2::encoded(answer))
            }
        }
    }

    /// Interprets the response to one payload; the plugin's diagnostics go to the log.
    pub fn interpret(
        &self,
        ctx: &sdk::Context,
        payload: &str,
        records: &[sdk::Record],
        response: &sdk::Response,
    ) -> Result<Result<Vec<sdk::Outcome>, sdk::InterpretError>, PluginError> {
        let (answer, notes) = self.interpret_noting(ctx, payload, records, response)?;
        self.log_notes("interpret", &ctx.target, &notes);
        Ok(answer)
    }

    /// [`Plugin::interpret`], with the diagnostics returned instead of logged.
    pub fn interpret_noting(
        &self,
        ctx: &sdk::Context,
        payload: &str,
        records: &[sdk::Record],
        response: &sdk::Response,
    ) -> Result<(v2::Interpreted, Vec<sdk::Diagnostic>), PluginError> {
        match &self.sandbox.target {
            Target::V1(pre) => {
                let (c, r) = (v1::context(ctx), v1::records(records));
                let resp = v1::response(response);
                let answer = self.sandbox.run("interpret", |store| {
                    pre.instantiate(&mut *store)?
                        .hub_plugin0_1_2_target()
                        .call_interpret(store, &c, payload, &r, &resp)
                })?;
                Ok((v1::interpreted(answer), Vec::new()))
            }
            Target::V2(pre) => {
                let c = v2::context(ctx, &self.info.settings);
                let r = v2::records(records);
                let resp = v2::response(response);
                let answer = self.sandbox.run("interpret", |store| {
                    pre.instantiate(&mut *store)?
                        .hub_plugin0_2_0_target()
                        .call_interpret(store, &c, payload, &r, &resp)
                })?;
                Ok(v2::interpreted(answer))
            }
        }
    }

    /// A plugin's diagnostics in the hub's log: info and warning levels, with the plugin's
    /// and the target's name (already bounded and cleaned by `convert`).
    fn log_notes(&self, call: &str, target: &str, notes: &[sdk::Diagnostic]) {
        for n in notes {
            let record = n.record_id.as_deref().unwrap_or("-");
            match n.level {
                sdk::DiagnosticLevel::Info => {
                    tracing::info!(plugin = %self.sandbox.name, target_name = target, call, record, "plugin says: {}", n.message)
                }
                sdk::DiagnosticLevel::Warning => {
                    tracing::warn!(plugin = %self.sandbox.name, target_name = target, call, record, "plugin says: {}", n.message)
                }
            }
        }
    }
}
