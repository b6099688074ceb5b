//! The guest side of the hub's plugin contract (`wit/hub-plugin.wit`) as plain Rust.
//!
//! A plugin implements [`Plugin`] with ordinary types and calls [`export_plugin!`]; on
//! `wasm32` the macro wires it to the generated component bindings, on the host it does
//! nothing, so the same code runs in native unit tests and benchmarks. Nothing here does
//! I/O: a plugin gets everything it may know through its arguments.
//!
//! The host links the same types (`hub-runtime` converts its bindings into them), so the
//! contract has one Rust spelling on both sides.

pub mod text;

#[cfg(target_arch = "wasm32")]
mod adapter;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "target-plugin",
        default_bindings_module: "hub_plugin_sdk::bindings",
        pub_export_macro: true,
        export_macro_name: "export_guest",
    });
}
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use adapter::Adapter;

/// One item a source system wants delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The source's id.
    pub id: String,
    /// One of the kinds the plugin describes.
    pub kind: String,
    /// A JSON object as text.
    pub body: String,
}

/// How the host checks a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    Text,
    Integer,
    Boolean,
}

/// One setting a plugin takes from `[target.settings]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingSpec {
    pub name: String,
    pub description: String,
    pub setting_type: SettingType,
    pub required: bool,
    pub default_value: Option<String>,
}

impl SettingSpec {
    /// A required setting.
    pub fn required(name: &str, setting_type: SettingType, description: &str) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            setting_type,
            required: true,
            default_value: None,
        }
    }

    /// An optional setting with a default value.
    pub fn optional(
        name: &str,
        setting_type: SettingType,
        default: &str,
        description: &str,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            setting_type,
            required: false,
            default_value: Some(default.into()),
        }
    }
}

/// The delivery shape a plugin's payloads need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// One request per payload; the response is interpreted per record.
    RequestResponse,
    /// Files put into place; a file in place means its records are delivered.
    FileDrop,
    /// Files, with per-record outcomes from a receipt imported later.
    FileDropWithReceipt,
}

impl Delivery {
    /// The spelling used in hub.toml, logs and `hub plugins`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::RequestResponse => "request-response",
            Delivery::FileDrop => "file-drop",
            Delivery::FileDropWithReceipt => "file-drop-with-receipt",
        }
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub record_kinds: Vec<String>,
    pub settings: Vec<SettingSpec>,
    pub delivery: Delivery,
    pub max_batch: u32,
}

/// The target's settings as the host passes them: already type-checked, defaults filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(pub Vec<(String, String)>);

impl Settings {
    /// The value of a setting, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a setting the plugin declared as required.
    pub fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("setting `{name}` is missing"))
    }

    /// A boolean setting (`true`/`false`); absent means `false`.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }
}

/// What the host needs to queue and batch a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// Records with equal batch keys may travel in one transfer.
    pub batch_key: String,
    /// Transfers in one scope share a gapless counter; `None`: not numbered.
    pub sequence_scope: Option<String>,
    /// A newer queued record with the same key replaces an older queued one.
    pub supersede_key: Option<String>,
}

/// A problem with one record, naming the field where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub record_id: String,
    pub field: Option<String>,
    pub message: String,
}

impl RecordError {
    /// An error about one field of a record.
    pub fn field(record_id: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            record_id: record_id.into(),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// An error about a record as a whole.
    pub fn record(record_id: &str, message: impl Into<String>) -> Self {
        Self {
            record_id: record_id.into(),
            field: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "record {}: field {}: {}",
                self.record_id, field, self.message
            ),
            None => write!(f, "record {}: {}", self.record_id, self.message),
        }
    }
}

/// A point in time with its civil form in the target's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateTime {
    pub unix_seconds: i64,
    pub utc_offset_minutes: i32,
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// What the host says about the transfer being encoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub target: String,
    pub settings: Settings,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    pub batch_key: String,
    pub sequence_scope: Option<String>,
    pub sequence: Option<u64>,
    pub transfer_id: u64,
    pub now: DateTime,
}

/// One unit of bytes the host delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Relative path, checked by the host.
    pub name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// Ids of the records this payload carries.
    pub records: Vec<String>,
    /// What the status view shows and filters by, e.g. `("page", "522")`.
    pub labels: Vec<(String, String)>,
}

/// Why a batch could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// These records are bad; the host fails them and encodes the rest again.
    Records(Vec<RecordError>),
    /// The settings are unusable; the records stay queued.
    Settings(String),
    /// Anything else; the records stay queued.
    Other(String),
}

/// What came back for one payload, or a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The target's verdict on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    Delivered,
    Rejected,
}

/// The target's answer for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub record_id: String,
    pub status: OutcomeStatus,
    /// The target's messages, verbatim.
    pub messages: Vec<String>,
}

/// Why a response says nothing per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpretError {
    /// The target refused the whole request.
    Failed { message: String, retryable: bool },
    /// The response could not be understood: delivery is unknown.
    Malformed(String),
}

/// A target plugin, written as plain Rust.
pub trait Plugin {
    /// Name, version, kinds, settings, delivery shape.
    fn describe() -> PluginInfo;

    /// Semantic checks of the settings beyond their types.
    fn check_settings(_settings: &Settings) -> Result<(), String> {
        Ok(())
    }

    /// Validates one record before it is queued.
    fn validate(settings: &Settings, record: &Record) -> Result<RecordMeta, RecordError>;

    /// Encodes one transfer's records.
    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError>;

    /// Interprets the response to one payload; `records` are those the payload carried.
    /// File-drop plugins that never see responses keep the default.
    fn interpret(
        _ctx: &Context,
        payload: &str,
        _records: &[Record],
        _response: &Response,
    ) -> Result<Vec<Outcome>, InterpretError> {
        Err(InterpretError::Malformed(format!(
            "this plugin expects no response (payload {payload})"
        )))
    }
}

/// Exports a [`Plugin`] as the component's `hub:plugin/target` (on `wasm32` only).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __HubPluginExport = $crate::Adapter<$plugin>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_guest!(__HubPluginExport with_types_in $crate::bindings);
    };
}
