//! The guest side of the hub's plugin contract (`wit/hub-plugin.wit`) as plain Rust.
//!
//! A plugin implements [`Plugin`] with ordinary types and calls [`export_plugin!`]; on
//! `wasm32` the macro wires it to the generated component bindings, on the host it does
//! nothing, so the same code runs in native unit tests and benchmarks. Nothing here does
//! I/O: a plugin gets everything it may know through its arguments.
//!
//! The host links the same types (`hub-runtime` converts its bindings into them), so the
//! contract has one Rust spelling on both sides.
//!
//! # A complete plugin
//!
//! One record kind, one required setting, one fixed-width file per transfer, and a receipt
//! that answers per record. `hub plugin new <name>` writes a crate like this one, with a
//! golden-file test and the build command (`hub plugin build`).
//!
//! ```
//! use hub_plugin_sdk::text::{pad_left, pad_right, yyyymmdd};
//! use hub_plugin_sdk::*;
//!
//! pub struct Example;
//!
//! impl Plugin for Example {
//!     fn describe() -> PluginInfo {
//!         PluginInfo {
//!             name: "example".into(),
//!             version: "0.1.0".into(),
//!             record_kinds: vec!["item".into()],
//!             settings: vec![SettingSpec::required(
//!                 "customer",
//!                 SettingType::Integer,
//!                 "the customer number, up to 8 digits",
//!             )],
//!             delivery: Delivery::FileDropWithReceipt,
//!             max_batch: 1000,
//!         }
//!     }
//!
//!     fn check_settings(settings: &Settings) -> Result<(), SettingError> {
//!         let customer = settings.integer("customer")?;
//!         if !(0..=99_999_999).contains(&customer) {
//!             return Err(SettingError::new("customer", format!("{customer} has more than 8 digits")));
//!         }
//!         Ok(())
//!     }
//!
//!     fn validate(_settings: &Settings, r: &Record) -> Result<RecordMeta, RecordError> {
//!         // Real plugins parse `r.body` as JSON (serde_json); errors name record and field.
//!         if r.body.len() > 40 {
//!             return Err(RecordError::field(&r.id, "body", "is longer than 40 bytes")
//!                 .code(ErrorCode::OutOfRange));
//!         }
//!         Ok(RecordMeta::single_batch())
//!     }
//!
//!     fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
//!         let customer = ctx.settings.integer("customer")?;
//!         let number = ctx.sequence.unwrap_or(0);
//!         let mut text = format!("H{customer:08}{}\r\n", yyyymmdd(&ctx.now));
//!         for r in records {
//!             let id = pad_right(&r.id, 20).map_err(|e| e.at(&r.id, "id"))?;
//!             let body = pad_left(&r.body, 40, ' ').map_err(|e| e.at(&r.id, "body"))?;
//!             text.push_str(&format!("D{id}{body}\r\n"));
//!         }
//!         Ok(vec![
//!             Payload::new(format!("example-{number:06}.txt"), "text/plain", text.into_bytes())
//!                 .carrying(records)
//!                 .label("number", number.to_string()),
//!         ])
//!     }
//!
//!     fn interpret(
//!         _ctx: &Context,
//!         _payload: &str,
//!         records: &[Record],
//!         response: &Response,
//!     ) -> Result<Vec<Outcome>, InterpretError> {
//!         let text = std::str::from_utf8(&response.body)
//!             .map_err(|_| InterpretError::Malformed("the receipt is not UTF-8".into()))?;
//!         let ok = |id: &str| text.lines().any(|l| l.strip_suffix(";OK") == Some(id));
//!         Ok(records
//!             .iter()
//!             .map(|r| if ok(&r.id) {
//!                 Outcome::delivered(&r.id)
//!             } else {
//!                 Outcome::rejected(&r.id, vec!["not in the receipt".into()])
//!             })
//!             .collect())
//!     }
//! }
//!
//! export_plugin!(Example);
//!
//! // Natively, the plugin is plain Rust: tests call it directly.
//! let ctx = Context::sample(Settings::from_pairs([("customer", "42")]));
//! let records = [Record::new("r1", "item", "{}")];
//! let payloads = Example::encode(&ctx, &records).unwrap();
//! assert_eq!(payloads[0].name, "example-000001.txt");
//! assert!(payloads[0].bytes.starts_with(b"H0000004220240201\r\nDr1"));
//! ```
//!
//! Build it into a component with `hub plugin build <dir>` (for `wasm32-unknown-unknown`,
//! wrapped with `wit-component`, no `wasm-tools` needed) and try it with `hub plugin test`.
//! The author's guide is `docs/plugins.md` in the hub's repository.

#![warn(missing_docs)]

pub mod diag;
pub mod json;
#[doc(hidden)]
pub mod memcmp;
pub mod mutate;
mod request;
pub mod schema;
pub mod text;

pub use diag::{Diagnostic, DiagnosticLevel};
pub use request::{Method, RequestShape};

#[cfg(target_arch = "wasm32")]
mod adapter;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "hub:plugin/target-plugin-full@0.2.1",
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

impl Record {
    /// A record, for tests and examples.
    pub fn new(id: &str, kind: &str, body: &str) -> Self {
        Self {
            id: id.into(),
            kind: kind.into(),
            body: body.into(),
        }
    }
}

/// How the host checks a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// Any string.
    Text,
    /// A whole number (i64), written as decimal digits with an optional `-`.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// One setting a plugin takes from `[target.settings]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingSpec {
    /// The key in `[target.settings]`.
    pub name: String,
    /// One line for people: shown by `hub plugins`, `hub plugin test` and in errors.
    pub description: String,
    /// What the host checks the value against before the plugin sees it.
    pub setting_type: SettingType,
    /// Whether hub.toml must give it.
    pub required: bool,
    /// Used when the setting is absent; ignored when `required` is true.
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
    /// Short lower-case name, e.g. `prisme`.
    pub name: String,
    /// The plugin's own version (usually `env!("CARGO_PKG_VERSION")`); the host records it
    /// with every transfer the plugin encodes.
    pub version: String,
    /// The record kinds it accepts; the host refuses others at enqueue.
    pub record_kinds: Vec<String>,
    /// The settings it takes; the host refuses unknown, missing and mistyped ones.
    pub settings: Vec<SettingSpec>,
    /// What the target's transport must do with the payloads.
    pub delivery: Delivery,
    /// The largest number of records it wants in one transfer (at least 1).
    pub max_batch: u32,
}

/// What a record arriving again under a known id with a *different* body means (contract
/// 0.1.1, [`Plugin::changes`]). The same id with the same canonical JSON is always a
/// duplicate, skipped by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// A newer snapshot: replaces a queued one with the same supersede key, and is sent
    /// again after an earlier one was delivered.
    Snapshot,
    /// A new version of the same record, sent as such.
    Version,
    /// Refused at enqueue, naming where the earlier body went: a correction needs its own
    /// id. The host's choice for kinds a plugin does not list.
    Refuse,
}

impl Change {
    /// The spelling used in messages and `hub plugins`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Snapshot => "snapshot",
            Change::Version => "version",
            Change::Refuse => "refuse",
        }
    }
}

/// A question to a request-response receiver about an earlier request ([`Plugin::ask`]):
/// the host sends it to the target's own host with the target's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// `GET` or `POST` (the host refuses anything else).
    pub method: String,
    /// Path and query on the target's host, starting with `/`.
    pub path: String,
    /// Request headers beside the host's own.
    pub headers: Vec<(String, String)>,
    /// The request body (empty for `GET`).
    pub body: Vec<u8>,
}

/// What the receiver's answer to a [`Question`] says ([`Plugin::judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// The receiver has it.
    Arrived,
    /// The receiver does not have it: the host sends it again, unchanged.
    NotArrived,
    /// The answer does not say: a person decides.
    Unknown,
}

/// The target's settings as the host passes them: already type-checked, defaults filled in.
///
/// Values are kept in their canonical text (`42`, `true`): contract 0.2 passes them typed,
/// and the SDK's adapter writes them back in that form, so the typed getters below never
/// see a value of the wrong type from the host.
///
/// The typed getters ([`text`](Settings::text), [`integer`](Settings::integer),
/// [`boolean`](Settings::boolean)) return a [`SettingError`] that names the setting and is
/// the error of [`Plugin::check_settings`] and converts into [`EncodeError::Settings`], so
/// `?` works in both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(pub Vec<(String, String)>);

/// A setting the plugin cannot work with, naming it (contract 0.2 `settings-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The setting's name; empty when the problem is a combination of settings.
    pub name: String,
    /// What is wrong with it.
    pub message: String,
}

impl SettingError {
    /// A problem with the setting `name`.
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
        }
    }
}

impl SettingError {
    /// Several problems as one line, for messages: `setting `a` …; setting `b` …`.
    pub fn join(errors: &[SettingError]) -> String {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "setting `{}` {}", self.name, self.message)
        }
    }
}

impl std::error::Error for SettingError {}

impl From<SettingError> for String {
    fn from(e: SettingError) -> Self {
        e.to_string()
    }
}

impl From<SettingError> for EncodeError {
    fn from(e: SettingError) -> Self {
        EncodeError::Settings(vec![e])
    }
}

impl Settings {
    /// Settings from name/value pairs, for tests and examples.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Settings(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// A text setting; an error naming it when it is absent.
    pub fn text(&self, name: &str) -> Result<&str, SettingError> {
        self.get(name).ok_or_else(|| SettingError {
            name: name.into(),
            message: "is missing".into(),
        })
    }

    /// An integer setting; an error naming it when it is absent or not a whole number.
    pub fn integer(&self, name: &str) -> Result<i64, SettingError> {
        let v = self.text(name)?;
        v.trim().parse().map_err(|_| SettingError {
            name: name.into(),
            message: format!("must be a whole number, found {v:?}"),
        })
    }

    /// A boolean setting (`true`/`false`); an error naming it when absent or anything else.
    pub fn boolean(&self, name: &str) -> Result<bool, SettingError> {
        match self.text(name)? {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(SettingError {
                name: name.into(),
                message: format!("must be true or false, found {v:?}"),
            }),
        }
    }

    /// The value of a setting, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a setting the plugin declared as required (the same as
    /// [`text`](Settings::text)).
    pub fn require(&self, name: &str) -> Result<&str, SettingError> {
        self.text(name)
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

impl RecordMeta {
    /// Every record in one batch, transfers numbered 1, 2, 3, … in one scope, nothing
    /// superseded: the simplest target.
    pub fn single_batch() -> Self {
        Self {
            batch_key: String::new(),
            sequence_scope: Some("all".into()),
            supersede_key: None,
        }
    }
}

/// What kind of problem a record has (contract 0.2 `error-code`), so a source system can
/// act on it by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A required field is absent (or null).
    Missing,
    /// Not of the form it must have: not JSON, a wrong type, a date that does not parse.
    Malformed,
    /// Well-formed, but not allowed: too long, out of range, not a known value.
    OutOfRange,
    /// Repeats something that may occur once.
    Duplicate,
    /// A kind or combination of fields the plugin cannot send.
    Unsupported,
    /// Anything else; the message says what.
    Other,
}

impl ErrorCode {
    /// The contract's spelling, used in `--json` output and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Missing => "missing",
            ErrorCode::Malformed => "malformed",
            ErrorCode::OutOfRange => "out-of-range",
            ErrorCode::Duplicate => "duplicate",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Other => "other",
        }
    }
}

/// A problem with one record, naming the field where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The source's id of the record.
    pub record_id: String,
    /// The body field at fault, where there is one (dotted for nested ones, e.g. `address.zip`).
    pub field: Option<String>,
    /// Its kind; [`ErrorCode::Other`] unless the plugin says (plugins built for contract
    /// 0.1 have no codes).
    pub code: ErrorCode,
    /// What is wrong, for the person who fixes the source data.
    pub message: String,
}

impl RecordError {
    /// An error about one field of a record.
    pub fn field(record_id: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            record_id: record_id.into(),
            field: Some(field.into()),
            code: ErrorCode::Other,
            message: message.into(),
        }
    }

    /// An error about a record as a whole.
    pub fn record(record_id: &str, message: impl Into<String>) -> Self {
        Self {
            record_id: record_id.into(),
            field: None,
            code: ErrorCode::Other,
            message: message.into(),
        }
    }

    /// The same error with its kind.
    pub fn code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
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

/// A point in time with its civil form in the target's time zone, so plugins need no
/// calendar code and no time-zone database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateTime {
    /// Seconds since the Unix epoch (UTC).
    pub unix_seconds: i64,
    /// The target's offset from UTC (`utc_offset_minutes` in hub.toml).
    pub utc_offset_minutes: i32,
    /// Civil year in that offset.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
}

/// What the host says about the transfer being encoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// The target's name in hub.toml.
    pub target: String,
    /// The target's settings, checked and with defaults.
    pub settings: Settings,
    /// The sender code the target is configured with, if any.
    pub sender: Option<String>,
    /// The receiver code the target is configured with, if any.
    pub receiver: Option<String>,
    /// The batch key all records of this transfer share.
    pub batch_key: String,
    /// Their numbering scope.
    pub sequence_scope: Option<String>,
    /// The number the host allocated in that scope (from 1, no gaps); `None`: not numbered.
    pub sequence: Option<u64>,
    /// The host's id for the transfer, stable across retries.
    pub transfer_id: u64,
    /// When the transfer was created, in the target's offset.
    pub now: DateTime,
}

impl Context {
    /// The fixed context of golden-file tests and `hub plugin test`: target `test`, sequence
    /// 1, transfer 1, batch key `""` in scope `all`, 2024-02-01 12:00:00 UTC.
    pub fn sample(settings: Settings) -> Self {
        Context {
            target: "test".into(),
            settings,
            sender: None,
            receiver: None,
            batch_key: String::new(),
            sequence_scope: Some("all".into()),
            sequence: Some(1),
            transfer_id: 1,
            now: DateTime {
                unix_seconds: 1_706_788_800,
                utc_offset_minutes: 0,
                year: 2024,
                month: 2,
                day: 1,
                hour: 12,
                minute: 0,
                second: 0,
            },
        }
    }
}

/// One unit of bytes the host delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Relative path, checked by the host: ASCII letters, digits and `-_.+`, no `..`,
    /// no hidden or empty segments.
    pub name: String,
    /// E.g. `text/plain`, `application/json`; HTTP transports send it as Content-Type.
    pub media_type: String,
    /// The exact bytes delivered (and stored for audit and re-sending).
    pub bytes: Vec<u8>,
    /// Ids of the records this payload carries.
    pub records: Vec<String>,
    /// What the status view shows and filters by, e.g. `("page", "522")`.
    pub labels: Vec<(String, String)>,
}

impl Payload {
    /// A payload carrying no records yet and without labels.
    pub fn new(name: impl Into<String>, media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            media_type: media_type.into(),
            bytes,
            records: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Adds the ids of `records` to those it carries.
    pub fn carrying(mut self, records: &[Record]) -> Self {
        self.records.extend(records.iter().map(|r| r.id.clone()));
        self
    }

    /// Adds a label (key: lower-case letters, digits, `-`).
    pub fn label(mut self, key: &str, value: impl Into<String>) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }
}

/// Why a batch could not be encoded.
///
/// `?` converts a [`RecordError`] (into `Records`) and a [`SettingError`] (into `Settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// These records are bad; the host fails them and encodes the rest again.
    Records(Vec<RecordError>),
    /// The settings are unusable; the records stay queued.
    Settings(Vec<SettingError>),
    /// Anything else; the records stay queued.
    Other(String),
}

impl From<RecordError> for EncodeError {
    fn from(e: RecordError) -> Self {
        EncodeError::Records(vec![e])
    }
}

/// What came back for one payload, or a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The HTTP status, or `None` for a receipt file.
    pub status: Option<u16>,
    /// Response headers as received.
    pub headers: Vec<(String, String)>,
    /// The body or the receipt's bytes.
    pub body: Vec<u8>,
}

/// The target's verdict on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    /// The target took the record.
    Delivered,
    /// The target refused it; its messages say why.
    Rejected,
    /// Not taken this time, may be later (contract 0.2): queued again for a later run.
    RetryLater,
    /// The answer does not say whether it was taken (contract 0.2): the payload is held
    /// in doubt, never sent again by itself.
    Unknown,
}

/// The target's answer for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The source's id of the record.
    pub record_id: String,
    /// Delivered or rejected.
    pub status: OutcomeStatus,
    /// The target's messages, verbatim.
    pub messages: Vec<String>,
}

impl Outcome {
    /// The target took the record.
    pub fn delivered(record_id: &str) -> Self {
        Self {
            record_id: record_id.into(),
            status: OutcomeStatus::Delivered,
            messages: Vec::new(),
        }
    }

    /// The target refused the record with these messages.
    pub fn rejected(record_id: &str, messages: Vec<String>) -> Self {
        Self {
            record_id: record_id.into(),
            status: OutcomeStatus::Rejected,
            messages,
        }
    }

    /// The target did not take the record this time and may later.
    pub fn retry_later(record_id: &str, messages: Vec<String>) -> Self {
        Self {
            record_id: record_id.into(),
            status: OutcomeStatus::RetryLater,
            messages,
        }
    }

    /// The answer does not say whether the target took the record.
    pub fn unknown(record_id: &str, messages: Vec<String>) -> Self {
        Self {
            record_id: record_id.into(),
            status: OutcomeStatus::Unknown,
            messages,
        }
    }
}

/// Why a response says nothing per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpretError {
    /// The target refused the whole request.
    Failed {
        /// Why, as the target said it.
        message: String,
        /// Whether the same bytes are worth sending again.
        retryable: bool,
    },
    /// The response could not be understood: delivery is unknown.
    Malformed(String),
}

/// A target plugin, written as plain Rust.
pub trait Plugin {
    /// Name, version, kinds, settings, delivery shape.
    fn describe() -> PluginInfo;

    /// What the same id with a different body means, per record kind (kinds not listed:
    /// [`Change::Refuse`]). Called once when the host loads the plugin.
    fn changes() -> Vec<(String, Change)> {
        Vec::new()
    }

    /// How to ask the receiver whether the request of `payload` (sent with `key` as its
    /// `Idempotency-Key`) arrived, where the receiver offers a way; `None` (the default):
    /// it cannot be asked, and an unknown outcome waits for a person.
    fn ask(
        _settings: &Settings,
        _transfer_id: u64,
        _payload: &str,
        _key: &str,
    ) -> Option<Question> {
        None
    }

    /// What the receiver's answer to [`Plugin::ask`]'s question says.
    fn judge(_settings: &Settings, _payload: &str, _status: u16, _body: &[u8]) -> Finding {
        Finding::Unknown
    }

    /// The keys `record` may share with no other record of one transfer (contract 0.1.2
    /// `batching`): the host ends a transfer before the first record repeating a key of
    /// an earlier one, and that record and those behind it form the next transfer. The
    /// default, none: only record ids are kept apart. SurvNet's plugin gives a record's
    /// GUIDs, so version 2 of a record waits for the transport after version 1's.
    fn once_keys(_settings: &Settings, _record: &Record) -> Vec<String> {
        Vec::new()
    }

    /// A JSON Schema per record kind (contract 0.2.1 `schema`): `(kind, schema text)`,
    /// e.g. from [`schema::Object::for_kind`]. The host validates each body against its
    /// kind's schema before [`Plugin::validate`] and serves the schemas to source systems.
    /// The default, none: bodies reach `validate` unchecked.
    fn schemas() -> Vec<(String, String)> {
        Vec::new()
    }

    /// How the request for `payload` is sent (contract 0.2.1 `request-shape`; called once
    /// per payload when the transfer is created, request-response targets only). The
    /// default: a `POST` to the target's URL. An `Err` stops the transfer's creation.
    fn request_shape(
        _settings: &Settings,
        _transfer_id: u64,
        _payload: &str,
        _media_type: &str,
    ) -> Result<RequestShape, String> {
        Ok(RequestShape::default())
    }

    /// Semantic checks of the settings beyond their types; the error names the setting.
    fn check_settings(_settings: &Settings) -> Result<(), SettingError> {
        Ok(())
    }

    /// Validates one record before it is queued.
    fn validate(settings: &Settings, record: &Record) -> Result<RecordMeta, RecordError>;

    /// Encodes one transfer's records. What a person should read besides (a value
    /// rounded, a field left out) goes to [`diag::warn`]; the host logs it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_settings_name_the_setting() {
        let s = Settings::from_pairs([("n", "12"), ("b", "true"), ("bad", "x")]);
        assert_eq!(s.text("n"), Ok("12"));
        assert_eq!(s.integer("n"), Ok(12));
        assert_eq!(s.boolean("b"), Ok(true));
        assert_eq!(
            s.integer("bad").map_err(String::from),
            Err("setting `bad` must be a whole number, found \"x\"".to_string())
        );
        assert_eq!(s.boolean("bad").map_err(|e| e.name), Err("bad".to_string()));
        assert_eq!(
            s.text("gone").map_err(EncodeError::from),
            Err(EncodeError::Settings(vec![SettingError::new(
                "gone",
                "is missing"
            )]))
        );
    }

    #[test]
    fn width_errors_name_record_and_field() {
        let e = text::pad_right("toolong", 3).unwrap_err().at("r1", "name");
        assert_eq!(
            e.to_string(),
            "record r1: field name: is 7 characters long, the field holds 3"
        );
        assert_eq!(EncodeError::from(e.clone()), EncodeError::Records(vec![e]));
    }

    #[test]
    fn payload_builder() {
        let r = [Record::new("a", "k", "{}"), Record::new("b", "k", "{}")];
        let p = Payload::new("x.txt", "text/plain", b"hi".to_vec())
            .carrying(&r)
            .label("n", "1");
        assert_eq!(p.records, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(p.labels, vec![("n".to_string(), "1".to_string())]);
    }
}

/// Every plugin built with the SDK allocates with Talc instead of Rust's default for
/// `wasm32` (dlmalloc): measured on batches of 1,000 records, encode 3 % faster for
/// Kita-Planer and Prisme and 9 % for RKI, and the modules are smaller. It grows the
/// memory with `memory.grow` like dlmalloc, so the host's memory limit holds as before.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
