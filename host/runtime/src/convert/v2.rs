//! Contract 0.2: typed settings, structured settings errors, error codes, diagnostics,
//! and the outcomes retry-later and unknown.

use hub_plugin_sdk as sdk;

use crate::v2::exports::hub::plugin0_2_0::target as wit;

fn setting_type(t: wit::SettingType) -> sdk::SettingType {
    match t {
        wit::SettingType::Text => sdk::SettingType::Text,
        wit::SettingType::Integer => sdk::SettingType::Integer,
        wit::SettingType::Boolean => sdk::SettingType::Boolean,
    }
}

/// The description, or why it cannot be used: a default of another type than its
/// setting's is the plugin's mistake, named at load.
pub(crate) fn plugin_info(i: wit::PluginInfo) -> Result<sdk::PluginInfo, String> {
    let mut settings = Vec::with_capacity(i.settings.len());
    for s in i.settings {
        let t = setting_type(s.setting_type);
        let default_value = match (s.default_value, t) {
            (None, _) => None,
            (Some(wit::SettingValue::Text(v)), sdk::SettingType::Text) => Some(v),
            (Some(wit::SettingValue::Integer(v)), sdk::SettingType::Integer) => Some(v.to_string()),
            (Some(wit::SettingValue::Boolean(v)), sdk::SettingType::Boolean) => Some(v.to_string()),
            (Some(_), _) => {
                return Err(format!(
                    "describe: the default of setting `{}` is not of its type ({t:?})",
                    s.name
                ));
            }
        };
        settings.push(sdk::SettingSpec {
            name: s.name,
            description: s.description,
            setting_type: t,
            required: s.required,
            default_value,
        });
    }
    Ok(sdk::PluginInfo {
        name: i.name,
        version: i.version,
        record_kinds: i.record_kinds,
        settings,
        delivery: match i.delivery {
            wit::Delivery::RequestResponse => sdk::Delivery::RequestResponse,
            wit::Delivery::FileDrop => sdk::Delivery::FileDrop,
            wit::Delivery::FileDropWithReceipt => sdk::Delivery::FileDropWithReceipt,
        },
        max_batch: i.max_batch,
    })
}

/// Settings typed by the plugin's own specs. The host checked them against those types
/// (`hub_core::config::check_settings`); a value that still does not parse, or a setting
/// the plugin did not declare, goes as text.
pub(crate) fn settings(s: &sdk::Settings, specs: &[sdk::SettingSpec]) -> Vec<wit::Setting> {
    s.0.iter()
        .map(|(name, value)| {
            let t = specs
                .iter()
                .find(|spec| &spec.name == name)
                .map(|spec| spec.setting_type);
            let value = match t {
                Some(sdk::SettingType::Integer) => value.parse().map_or_else(
                    |_| wit::SettingValue::Text(value.clone()),
                    wit::SettingValue::Integer,
                ),
                Some(sdk::SettingType::Boolean) if value == "true" || value == "false" => {
                    wit::SettingValue::Boolean(value == "true")
                }
                _ => wit::SettingValue::Text(value.clone()),
            };
            wit::Setting {
                name: name.clone(),
                value,
            }
        })
        .collect()
}

pub(crate) fn settings_errors(e: Vec<wit::SettingsError>) -> Vec<sdk::SettingError> {
    e.into_iter()
        .map(|e| sdk::SettingError {
            name: e.name,
            message: e.message,
        })
        .collect()
}

pub(crate) fn records(r: &[sdk::Record]) -> Vec<wit::Record> {
    r.iter()
        .map(|r| wit::Record {
            id: r.id.clone(),
            kind: r.kind.clone(),
            body: r.body.clone(),
        })
        .collect()
}

fn record_error(e: wit::RecordError) -> sdk::RecordError {
    sdk::RecordError {
        record_id: e.record_id,
        field: e.field,
        code: match e.code {
            wit::ErrorCode::Missing => sdk::ErrorCode::Missing,
            wit::ErrorCode::Malformed => sdk::ErrorCode::Malformed,
            wit::ErrorCode::OutOfRange => sdk::ErrorCode::OutOfRange,
            wit::ErrorCode::Duplicate => sdk::ErrorCode::Duplicate,
            wit::ErrorCode::Unsupported => sdk::ErrorCode::Unsupported,
            wit::ErrorCode::Other => sdk::ErrorCode::Other,
        },
        message: e.message,
    }
}

pub(crate) fn validation(
    v: Result<wit::RecordMeta, wit::RecordError>,
) -> Result<sdk::RecordMeta, sdk::RecordError> {
    v.map(|m| sdk::RecordMeta {
        batch_key: m.batch_key,
        sequence_scope: m.sequence_scope,
        supersede_key: m.supersede_key,
    })
    .map_err(record_error)
}

pub(crate) fn context(c: &sdk::Context, specs: &[sdk::SettingSpec]) -> wit::Context {
    let n = &c.now;
    wit::Context {
        target: c.target.clone(),
        settings: settings(&c.settings, specs),
        sender: c.sender.clone(),
        receiver: c.receiver.clone(),
        batch_key: c.batch_key.clone(),
        sequence_scope: c.sequence_scope.clone(),
        sequence: c.sequence,
        transfer_id: c.transfer_id,
        now: wit::Datetime {
            unix_seconds: n.unix_seconds,
            utc_offset_minutes: n.utc_offset_minutes,
            year: n.year,
            month: n.month,
            day: n.day,
            hour: n.hour,
            minute: n.minute,
            second: n.second,
        },
    }
}

fn diagnostics(d: Vec<wit::Diagnostic>) -> Vec<sdk::Diagnostic> {
    super::bounded_notes(
        d.into_iter()
            .map(|d| sdk::Diagnostic {
                level: match d.level {
                    wit::DiagnosticLevel::Info => sdk::DiagnosticLevel::Info,
                    wit::DiagnosticLevel::Warning => sdk::DiagnosticLevel::Warning,
                },
                record_id: d.record_id,
                message: d.message,
            })
            .collect(),
    )
}

pub(crate) type Encoded = Result<Vec<sdk::Payload>, sdk::EncodeError>;

pub(crate) fn encoded(
    r: Result<wit::Encoded, wit::EncodeError>,
) -> (Encoded, Vec<sdk::Diagnostic>) {
    match r {
        Ok(e) => (
            Ok(e.payloads
                .into_iter()
                .map(|p| sdk::Payload {
                    name: p.name,
                    media_type: p.media_type,
                    bytes: p.bytes,
                    records: p.records,
                    labels: p.labels,
                })
                .collect()),
            diagnostics(e.diagnostics),
        ),
        Err(wit::EncodeError::Records(errors)) => (
            Err(sdk::EncodeError::Records(
                errors.into_iter().map(record_error).collect(),
            )),
            Vec::new(),
        ),
        Err(wit::EncodeError::Settings(e)) => (
            Err(sdk::EncodeError::Settings(settings_errors(e))),
            Vec::new(),
        ),
        Err(wit::EncodeError::Other(m)) => (Err(sdk::EncodeError::Other(m)), Vec::new()),
    }
}

pub(crate) fn response(r: &sdk::Response) -> wit::Response {
    wit::Response {
        status: r.status,
        headers: r.headers.clone(),
        body: r.body.clone(),
    }
}

pub(crate) type Interpreted = Result<Vec<sdk::Outcome>, sdk::InterpretError>;

pub(crate) fn interpreted(
    r: Result<wit::Interpreted, wit::InterpretError>,
) -> (Interpreted, Vec<sdk::Diagnostic>) {
    match r {
        Ok(i) => (
            Ok(i.outcomes
                .into_iter()
                .map(|o| sdk::Outcome {
                    record_id: o.record_id,
                    status: match o.status {
                        wit::OutcomeStatus::Delivered => sdk::OutcomeStatus::Delivered,
                        wit::OutcomeStatus::Rejected => sdk::OutcomeStatus::Rejected,
                        wit::OutcomeStatus::RetryLater => sdk::OutcomeStatus::RetryLater,
                        wit::OutcomeStatus::Unknown => sdk::OutcomeStatus::Unknown,
                    },
                    messages: o.messages,
                })
                .collect()),
            diagnostics(i.diagnostics),
        ),
        Err(wit::InterpretError::Failed(f)) => (
            Err(sdk::InterpretError::Failed {
                message: f.message,
                retryable: f.retryable,
            }),
            Vec::new(),
        ),
        Err(wit::InterpretError::Malformed(m)) => {
            (Err(sdk::InterpretError::Malformed(m)), Vec::new())
        }
    }
}
