//! A loaded plugin is the engine's [`Encoder`]: the engine calls a target's format through
//! this port and never sees wasmtime.

use std::path::PathBuf;
use std::sync::Arc;

use hub_engine::ports::{Encoder, EncoderError, LoadInfo, PluginLoader};
use hub_plugin_sdk as sdk;

use crate::{Limits, Plugin, PluginError, Runtime};

impl From<PluginError> for EncoderError {
    fn from(e: PluginError) -> Self {
        let too_big = matches!(e, PluginError::OutOfMemory { .. });
        let e = EncoderError::new(e);
        if too_big { e.too_big() } else { e }
    }
}

impl Encoder for Plugin {
    fn name(&self) -> &str {
        Plugin::name(self)
    }

    fn sha256(&self) -> &str {
        Plugin::sha256(self)
    }

    fn info(&self) -> &sdk::PluginInfo {
        Plugin::info(self)
    }

    fn load_info(&self) -> LoadInfo {
        LoadInfo {
            path: Some(self.path().to_path_buf()),
            load_time: self.load_time(),
            from_cache: self.from_cache(),
        }
    }

    fn change_of(&self, kind: &str) -> sdk::Change {
        Plugin::change_of(self, kind)
    }

    fn check_settings(
        &self,
        settings: &sdk::Settings,
    ) -> Result<Result<(), Vec<sdk::SettingError>>, EncoderError> {
        Ok(Plugin::check_settings(self, settings)?)
    }

    fn validate(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Vec<Result<sdk::RecordMeta, sdk::RecordError>>, EncoderError> {
        Ok(Plugin::validate(self, settings, records)?)
    }

    fn schemas(&self) -> Vec<(String, String)> {
        Plugin::schemas(self)
    }

    fn check_schema(&self, record: &sdk::Record) -> Option<sdk::RecordError> {
        Plugin::check_schema(self, record)
    }

    fn request_shape(
        &self,
        settings: &sdk::Settings,
        transfer_id: u64,
        payload: &str,
        media_type: &str,
    ) -> Result<Result<Option<sdk::RequestShape>, String>, EncoderError> {
        Ok(Plugin::request_shape(
            self,
            settings,
            transfer_id,
            payload,
            media_type,
        )?)
    }

    fn once_keys(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Option<Vec<Vec<String>>>, EncoderError> {
        Ok(Plugin::once_keys(self, settings, records)?)
    }

    fn encode(
        &self,
        ctx: &sdk::Context,
        records: &[sdk::Record],
    ) -> Result<Result<Vec<sdk::Payload>, sdk::EncodeError>, EncoderError> {
        Ok(Plugin::encode(self, ctx, records)?)
    }

    fn interpret(
        &self,
        ctx: &sdk::Context,
        payload: &str,
        records: &[sdk::Record],
        response: &sdk::Response,
    ) -> Result<Result<Vec<sdk::Outcome>, sdk::InterpretError>, EncoderError> {
        Ok(Plugin::interpret(self, ctx, payload, records, response)?)
    }

    fn ask(
        &self,
        settings: &sdk::Settings,
        transfer_id: u64,
        payload: &str,
        key: &str,
    ) -> Result<Option<sdk::Question>, EncoderError> {
        Ok(Plugin::ask(self, settings, transfer_id, payload, key)?)
    }

    fn judge(
        &self,
        settings: &sdk::Settings,
        payload: &str,
        status: u16,
        body: &[u8],
    ) -> Result<sdk::Finding, EncoderError> {
        Ok(Plugin::judge(self, settings, payload, status, body)?)
    }
}

/// Loads plugins into one [`Runtime`], started when the first plugin is needed (a command
/// that touches no target never starts wasmtime).
#[derive(Debug)]
pub struct WasmLoader {
    limits: Limits,
    cache_dir: Option<PathBuf>,
    runtime: Option<Runtime>,
}

impl WasmLoader {
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Self {
        Self {
            limits,
            cache_dir,
            runtime: None,
        }
    }
}

impl PluginLoader for WasmLoader {
    fn load(
        &mut self,
        name: &str,
        config: &hub_core::config::PluginConfig,
    ) -> Result<Arc<dyn Encoder>, EncoderError> {
        let runtime = match &mut self.runtime {
            Some(r) => r,
            None => self
                .runtime
                .insert(Runtime::new(self.limits, self.cache_dir.clone())?),
        };
        let plugin = runtime.load(name, &config.path, config.sha256.as_deref())?;
        Ok(Arc::new(plugin))
    }
}
