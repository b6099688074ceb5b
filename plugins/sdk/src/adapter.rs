//! Converts between the generated component bindings (contract 0.2) and the SDK's plain
//! types.

use std::marker::PhantomData;

use crate::bindings::exports::hub::plugin0_2_0::target::{self as wit, Guest};
use crate::{
    Context, DateTime, Delivery, DiagnosticLevel, EncodeError, ErrorCode, InterpretError,
    OutcomeStatus, Plugin, Record, RecordError, Response, SettingError, SettingType, Settings,
};

/// Implements the generated `Guest` trait for any [`Plugin`].
pub struct Adapter<P>(PhantomData<P>);

/// Typed values back into the canonical text [`Settings`] keeps.
fn settings(list: Vec<wit::Setting>) -> Settings {
    Settings(
        list.into_iter()
            .map(|s| {
                let v = match s.value {
                    wit::SettingValue::Text(t) => t,
                    wit::SettingValue::Integer(i) => i.to_string(),
                    wit::SettingValue::Boolean(b) => b.to_string(),
                };
                (s.name, v)
            })
            .collect(),
    )
}

/// A default value in the type its spec declares; one that does not parse goes as text,
/// and the host refuses it, naming the setting.
fn typed(t: SettingType, v: String) -> wit::SettingValue {
    match t {
        SettingType::Integer => v
            .trim()
            .parse()
            .map_or(wit::SettingValue::Text(v), wit::SettingValue::Integer),
        SettingType::Boolean => match v.as_str() {
            "true" => wit::SettingValue::Boolean(true),
            "false" => wit::SettingValue::Boolean(false),
            _ => wit::SettingValue::Text(v),
        },
        SettingType::Text => wit::SettingValue::Text(v),
    }
}

fn setting_errors(errors: Vec<SettingError>) -> Vec<wit::SettingsError> {
    errors
        .into_iter()
        .map(|e| wit::SettingsError {
            name: e.name,
            message: e.message,
        })
        .collect()
}

/// The notes collected during the call ([`crate::diag`]).
fn diagnostics() -> Vec<wit::Diagnostic> {
    crate::diag::take()
        .into_iter()
        .map(|d| wit::Diagnostic {
            level: match d.level {
                DiagnosticLevel::Info => wit::DiagnosticLevel::Info,
                DiagnosticLevel::Warning => wit::DiagnosticLevel::Warning,
            },
            record_id: d.record_id,
            message: d.message,
        })
        .collect()
}

fn record(r: wit::Record) -> Record {
    Record {
        id: r.id,
        kind: r.kind,
        body: r.body,
    }
}

fn record_error(e: RecordError) -> wit::RecordError {
    wit::RecordError {
        record_id: e.record_id,
        field: e.field,
        code: match e.code {
            ErrorCode::Missing => wit::ErrorCode::Missing,
            ErrorCode::Malformed => wit::ErrorCode::Malformed,
            ErrorCode::OutOfRange => wit::ErrorCode::OutOfRange,
            ErrorCode::Duplicate => wit::ErrorCode::Duplicate,
            ErrorCode::Unsupported => wit::ErrorCode::Unsupported,
            ErrorCode::Other => wit::ErrorCode::Other,
        },
        message: e.message,
    }
}

fn context(c: wit::Context) -> Context {
    let n = c.now;
    Context {
        target: c.target,
        settings: settings(c.settings),
        sender: c.sender,
        receiver: c.receiver,
        batch_key: c.batch_key,
        sequence_scope: c.sequence_scope,
        sequence: c.sequence,
        transfer_id: c.transfer_id,
        now: DateTime {
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

impl<P: Plugin> Guest for Adapter<P> {
    fn describe() -> wit::PluginInfo {
        let info = P::describe();
        wit::PluginInfo {
            name: info.name,
            version: info.version,
            record_kinds: info.record_kinds,
            settings: info
                .settings
                .into_iter()
                .map(|s| wit::SettingSpec {
                    name: s.name,
                    description: s.description,
                    setting_type: match s.setting_type {
                        SettingType::Text => wit::SettingType::Text,
                        SettingType::Integer => wit::SettingType::Integer,
                        SettingType::Boolean => wit::SettingType::Boolean,
                    },
                    required: s.required,
                    default_value: s.default_value.map(|v| typed(s.setting_type, v)),
                })
                .collect(),
            delivery: match info.delivery {
                Delivery::RequestResponse => wit::Delivery::RequestResponse,
                Delivery::FileDrop => wit::Delivery::FileDrop,
                Delivery::FileDropWithReceipt => wit::Delivery::FileDropWithReceipt,
            },
            max_batch: info.max_batch,
        }
    }

    fn check_settings(list: Vec<wit::Setting>) -> Result<(), Vec<wit::SettingsError>> {
        P::check_settings(&settings(list)).map_err(|e| setting_errors(vec![e]))
    }

    fn validate(
        list: Vec<wit::Setting>,
        records: Vec<wit::Record>,
    ) -> Vec<Result<wit::RecordMeta, wit::RecordError>> {
        let settings = settings(list);
        records
            .into_iter()
            .map(|r| {
                P::validate(&settings, &record(r))
                    .map(|m| wit::RecordMeta {
                        batch_key: m.batch_key,
                        sequence_scope: m.sequence_scope,
                        supersede_key: m.supersede_key,
                    })
                    .map_err(record_error)
            })
            .collect()
    }

    fn encode(
        ctx: wit::Context,
        records: Vec<wit::Record>,
    ) -> Result<wit::Encoded, wit::EncodeError> {
        let records: Vec<Record> = records.into_iter().map(record).collect();
        crate::diag::take();
        match P::encode(&context(ctx), &records) {
            Ok(payloads) => Ok(wit::Encoded {
                payloads: payloads
                    .into_iter()
                    .map(|p| wit::Payload {
                        name: p.name,
                        media_type: p.media_type,
                        bytes: p.bytes,
                        records: p.records,
                        labels: p.labels,
                    })
                    .collect(),
                diagnostics: diagnostics(),
            }),
            Err(EncodeError::Records(errors)) => Err(wit::EncodeError::Records(
                errors.into_iter().map(record_error).collect(),
            )),
            Err(EncodeError::Settings(e)) => Err(wit::EncodeError::Settings(setting_errors(e))),
            Err(EncodeError::Other(m)) => Err(wit::EncodeError::Other(m)),
        }
    }

    fn interpret(
        ctx: wit::Context,
        payload: String,
        records: Vec<wit::Record>,
        response: wit::Response,
    ) -> Result<wit::Interpreted, wit::InterpretError> {
        let records: Vec<Record> = records.into_iter().map(record).collect();
        crate::diag::take();
        let response = Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        };
        match P::interpret(&context(ctx), &payload, &records, &response) {
            Ok(outcomes) => Ok(wit::Interpreted {
                outcomes: outcomes
                    .into_iter()
                    .map(|o| wit::Outcome {
                        record_id: o.record_id,
                        status: match o.status {
                            OutcomeStatus::Delivered => wit::OutcomeStatus::Delivered,
                            OutcomeStatus::Rejected => wit::OutcomeStatus::Rejected,
                            OutcomeStatus::RetryLater => wit::OutcomeStatus::RetryLater,
                            OutcomeStatus::Unknown => wit::OutcomeStatus::Unknown,
                        },
                        messages: o.messages,
                    })
                    .collect(),
                diagnostics: diagnostics(),
            }),
            Err(InterpretError::Failed { message, retryable }) => {
                Err(wit::InterpretError::Failed(wit::Failure {
                    message,
                    retryable,
                }))
            }
            Err(InterpretError::Malformed(m)) => Err(wit::InterpretError::Malformed(m)),
        }
    }
}

impl<P: Plugin> crate::bindings::exports::hub::plugin0_1_2::identity::Guest for Adapter<P> {
    fn changes() -> Vec<crate::bindings::exports::hub::plugin0_1_2::identity::KindChange> {
        use crate::bindings::exports::hub::plugin0_1_2::identity::{Change as W, KindChange};
        P::changes()
            .into_iter()
            .map(|(kind, change)| KindChange {
                kind,
                change: match change {
                    crate::Change::Snapshot => W::Snapshot,
                    crate::Change::Version => W::Version,
                    crate::Change::Refuse => W::Refuse,
                },
            })
            .collect()
    }
}

impl<P: Plugin> crate::bindings::exports::hub::plugin0_1_2::inquiry::Guest for Adapter<P> {
    fn ask(
        settings: Vec<(String, String)>,
        transfer_id: u64,
        payload: String,
        key: String,
    ) -> Option<crate::bindings::exports::hub::plugin0_1_2::inquiry::Question> {
        P::ask(&Settings(settings), transfer_id, &payload, &key).map(|q| {
            crate::bindings::exports::hub::plugin0_1_2::inquiry::Question {
                method: q.method,
                path: q.path,
                headers: q.headers,
                body: q.body,
            }
        })
    }

    fn judge(
        settings: Vec<(String, String)>,
        payload: String,
        status: u16,
        body: Vec<u8>,
    ) -> crate::bindings::exports::hub::plugin0_1_2::inquiry::Finding {
        use crate::bindings::exports::hub::plugin0_1_2::inquiry::Finding as W;
        match P::judge(&Settings(settings), &payload, status, &body) {
            crate::Finding::Arrived => W::Arrived,
            crate::Finding::NotArrived => W::NotArrived,
            crate::Finding::Unknown => W::Unknown,
        }
    }
}

impl<P: Plugin> crate::bindings::exports::hub::plugin0_1_2::batching::Guest for Adapter<P> {
    fn once_keys(
        settings: Vec<(String, String)>,
        records: Vec<crate::bindings::exports::hub::plugin0_1_2::batching::Record>,
    ) -> Vec<Vec<String>> {
        let settings = Settings(settings);
        records
            .into_iter()
            .map(|r| {
                P::once_keys(
                    &settings,
                    &Record {
                        id: r.id,
                        kind: r.kind,
                        body: r.body,
                    },
                )
            })
            .collect()
    }
}

impl<P: Plugin> crate::bindings::exports::hub::plugin0_2_1::schema::Guest for Adapter<P> {
    fn schemas() -> Vec<(String, String)> {
        P::schemas()
    }
}

impl<P: Plugin> crate::bindings::exports::hub::plugin0_2_1::request_shape::Guest for Adapter<P> {
    fn shape(
        settings: Vec<(String, String)>,
        transfer_id: u64,
        payload: String,
        media_type: String,
    ) -> Result<crate::bindings::exports::hub::plugin0_2_1::request_shape::Request, String> {
        use crate::bindings::exports::hub::plugin0_2_1::request_shape::{Method as W, Request};
        let shape = P::request_shape(&Settings(settings), transfer_id, &payload, &media_type)?;
        Ok(Request {
            method: match shape.method {
                crate::Method::Post => W::Post,
                crate::Method::Put => W::Put,
                crate::Method::Patch => W::Patch,
                crate::Method::Delete => W::Delete,
            },
            path: shape.path,
            headers: shape.headers,
        })
    }
}
