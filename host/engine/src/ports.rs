//! The ports the engine is written against. Each is a trait object, so the same pipeline
//! runs with a WASM plugin or a native test encoder, SQLite or PostgreSQL, a real FTPS
//! server or a capturing transport:
//!
//! - [`Encoder`]: a target's format (in the hub, a sandboxed plugin: `hub-runtime`).
//! - [`PluginLoader`]: loads an encoder by its hub.toml name.
//! - [`Connector`]: opens a target's transport with the credential the host chose.
//! - the store: [`hub_store::HubStore`]; transports: [`hub_core::transport::Transport`];
//!   the clock: [`hub_core::time::Clock`].

use std::sync::Arc;

use hub_core::config::{Config, PluginConfig, TargetConfig, TransportConfig};
use hub_core::transport::{Transport, TransportError};
use hub_plugin_sdk as sdk;
use thiserror::Error;

/// A call into an encoder that did not complete (a crash, a timeout, a broken contract);
/// the message names the plugin. Distinct from a refusal, which is an answer.
#[derive(Debug, Error)]
#[error("{inner}")]
pub struct EncoderError {
    // Not named `source`: the message is this error's own, not a cause to print twice.
    inner: Box<dyn std::error::Error + Send + Sync>,
    too_big: bool,
}

impl EncoderError {
    /// Wraps the encoder's own error, keeping its message.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            inner: Box::new(e),
            too_big: false,
        }
    }

    /// An error from a message alone.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            inner: message.into().into(),
            too_big: false,
        }
    }

    /// Marks the call as stopped at a memory limit: the same work in smaller pieces may
    /// fit, so the engine splits a batch rather than leave it stuck.
    pub fn too_big(mut self) -> Self {
        self.too_big = true;
        self
    }

    /// Whether the call was stopped at a memory limit.
    pub fn is_too_big(&self) -> bool {
        self.too_big
    }
}

/// A target's format: the pure functions of the plugin contract (`wit/`), as the engine
/// calls them. Implementations must be deterministic: the same records and context give
/// the same bytes.
pub trait Encoder: Send + Sync + std::fmt::Debug {
    /// The name hub.toml gives it.
    fn name(&self) -> &str;
    /// SHA-256 of what was loaded (the plugin file), stamped on each transfer.
    fn sha256(&self) -> &str;
    /// What it says of itself: record kinds, delivery shape, settings, batch limit.
    fn info(&self) -> &sdk::PluginInfo;
    /// Where it was loaded from and what loading cost, for `hub plugins`.
    fn load_info(&self) -> LoadInfo {
        LoadInfo::default()
    }
    /// What a record of `kind` does to the record it names (contract 0.1.1 `identity`).
    fn change_of(&self, kind: &str) -> sdk::Change;
    /// Semantic checks of a target's settings: every problem, naming its setting.
    fn check_settings(
        &self,
        settings: &sdk::Settings,
    ) -> Result<Result<(), Vec<sdk::SettingError>>, EncoderError>;
    /// A JSON Schema per record kind, `(kind, schema text)` (contract 0.2.1 `schema`);
    /// empty when the encoder declares none.
    fn schemas(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Why a record's body does not match its kind's schema, if it does not; the engine
    /// asks before [`Encoder::validate`], which sees only records that pass.
    fn check_schema(&self, _record: &sdk::Record) -> Option<sdk::RecordError> {
        None
    }
    /// How one request-response payload is sent (contract 0.2.1 `request-shape`):
    /// `Ok(None)` for the default, a `POST` to the target's URL; `Ok(Err)`: refused.
    fn request_shape(
        &self,
        _settings: &sdk::Settings,
        _transfer_id: u64,
        _payload: &str,
        _media_type: &str,
    ) -> Result<Result<Option<sdk::RequestShape>, String>, EncoderError> {
        Ok(Ok(None))
    }
    /// One answer per record, in order.
    fn validate(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Vec<Result<sdk::RecordMeta, sdk::RecordError>>, EncoderError>;
    /// Keys each record may share with no other record of one transfer; `None` where the
    /// encoder declares none.
    fn once_keys(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Option<Vec<Vec<String>>>, EncoderError>;
    /// One transfer's records as payloads.
    fn encode(
        &self,
        ctx: &sdk::Context,
        records: &[sdk::Record],
    ) -> Result<Result<Vec<sdk::Payload>, sdk::EncodeError>, EncoderError>;
    /// The outcome of each record from the receiver's answer to one payload.
    fn interpret(
        &self,
        ctx: &sdk::Context,
        payload: &str,
        records: &[sdk::Record],
        response: &sdk::Response,
    ) -> Result<Result<Vec<sdk::Outcome>, sdk::InterpretError>, EncoderError>;
    /// The question to ask the receiver about a payload whose outcome is unknown.
    fn ask(
        &self,
        settings: &sdk::Settings,
        transfer_id: u64,
        payload: &str,
        key: &str,
    ) -> Result<Option<sdk::Question>, EncoderError>;
    /// What the receiver's answer to [`Encoder::ask`]'s question says.
    fn judge(
        &self,
        settings: &sdk::Settings,
        payload: &str,
        status: u16,
        body: &[u8],
    ) -> Result<sdk::Finding, EncoderError>;
}

/// Where an encoder came from and what loading it cost.
#[derive(Debug, Clone, Default)]
pub struct LoadInfo {
    pub path: Option<std::path::PathBuf>,
    pub load_time: std::time::Duration,
    /// Compiled code came from the cache rather than being compiled now.
    pub from_cache: bool,
}

/// Loads encoders by their hub.toml name (the hub: WASM components in a sandbox).
pub trait PluginLoader: Send {
    /// Loads `name` from `config` (its file, its sha256 pin).
    fn load(&mut self, name: &str, config: &PluginConfig)
    -> Result<Arc<dyn Encoder>, EncoderError>;
}

/// Why a transport could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The configuration cannot work (a credential not defined, its password unreadable):
    /// a person must fix hub.toml or the files it names.
    #[error("{0}")]
    Setup(String),
    /// The protocol refused or failed to connect.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Opens transports: picks the credential for the user, reads its secret, connects.
pub trait Connector: Send {
    /// A connection for `target`, as `user`.
    fn open(
        &mut self,
        config: &Config,
        user: &str,
        target: &TargetConfig,
    ) -> Result<Box<dyn Transport>, OpenError>;

    /// A connection that needs no credential of a target's (an inbound's `answers`).
    fn open_plain(&mut self, transport: &TransportConfig) -> Result<Box<dyn Transport>, OpenError>;
}
