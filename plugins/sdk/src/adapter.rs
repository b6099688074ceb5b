//! Converts between the generated component bindings and the SDK's plain types.

use std::marker::PhantomData;

use crate::bindings::exports::hub::plugin::target::{self as wit, Guest};
use crate::{
    Context, DateTime, Delivery, EncodeError, InterpretError, OutcomeStatus, Plugin, Record,
    RecordError, Response, SettingType, Settings,
};

/// Implements the generated `Guest` trait for any [`Plugin`].
pub struct Adapter<P>(PhantomData<P>);

fn settings(list: Vec<wit::Setting>) -> Settings {
    Settings(list.into_iter().map(|s| (s.name, s.value)).collect())
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
                    default_value: s.default_value,
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

    fn check_settings(list: Vec<wit::Setting>) -> Result<(), String> {
        P::check_settings(&settings(list))
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
    ) -> Result<Vec<wit::Payload>, wit::EncodeError> {
        let records: Vec<Record> = records.into_iter().map(record).collect();
        match P::encode(&context(ctx), &records) {
            Ok(payloads) => Ok(payloads
                .into_iter()
                .map(|p| wit::Payload {
                    name: p.name,
                    media_type: p.media_type,
                    bytes: p.bytes,
                    records: p.records,
                    labels: p.labels,
                })
                .collect()),
            Err(EncodeError::Records(errors)) => Err(wit::EncodeError::Records(
                errors.into_iter().map(record_error).collect(),
            )),
            Err(EncodeError::Settings(m)) => Err(wit::EncodeError::Settings(m)),
            Err(EncodeError::Other(m)) => Err(wit::EncodeError::Other(m)),
        }
    }

    fn interpret(
        ctx: wit::Context,
        payload: String,
        records: Vec<wit::Record>,
        response: wit::Response,
    ) -> Result<Vec<wit::Outcome>, wit::InterpretError> {
        let records: Vec<Record> = records.into_iter().map(record).collect();
        let response = Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        };
        match P::interpret(&context(ctx), &payload, &records, &response) {
            Ok(outcomes) => Ok(outcomes
                .into_iter()
                .map(|o| wit::Outcome {
                    record_id: o.record_id,
                    status: match o.status {
                        OutcomeStatus::Delivered => wit::OutcomeStatus::Delivered,
                        OutcomeStatus::Rejected => wit::OutcomeStatus::Rejected,
                    },
                    messages: o.messages,
                })
                .collect()),
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

impl<P: Plugin> crate::bindings::exports::hub::plugin::identity::Guest for Adapter<P> {
    fn changes() -> Vec<crate::bindings::exports::hub::plugin::identity::KindChange> {
        use crate::bindings::exports::hub::plugin::identity::{Change as W, KindChange};
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

impl<P: Plugin> crate::bindings::exports::hub::plugin::inquiry::Guest for Adapter<P> {
    fn ask(
        settings: Vec<(String, String)>,
        transfer_id: u64,
        payload: String,
        key: String,
    ) -> Option<crate::bindings::exports::hub::plugin::inquiry::Question> {
        P::ask(&Settings(settings), transfer_id, &payload, &key).map(|q| {
            crate::bindings::exports::hub::plugin::inquiry::Question {
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
    ) -> crate::bindings::exports::hub::plugin::inquiry::Finding {
        use crate::bindings::exports::hub::plugin::inquiry::Finding as W;
        match P::judge(&Settings(settings), &payload, status, &body) {
            crate::Finding::Arrived => W::Arrived,
            crate::Finding::NotArrived => W::NotArrived,
            crate::Finding::Unknown => W::Unknown,
        }
    }
}

impl<P: Plugin> crate::bindings::exports::hub::plugin::batching::Guest for Adapter<P> {
    fn once_keys(
        settings: Vec<(String, String)>,
        records: Vec<crate::bindings::exports::hub::plugin::batching::Record>,
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
