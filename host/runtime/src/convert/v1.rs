//! Contract 0.1: what a plugin built for it says, in the SDK's (0.2-shaped) terms. It has
//! no error codes (`other`), settings errors as one text, no diagnostics, and only the
//! outcomes delivered and rejected; its settings are text.

use hub_plugin_sdk as sdk;

use crate::v1::exports::hub::plugin0_1_2::target as wit;

pub(crate) fn plugin_info(i: wit::PluginInfo) -> sdk::PluginInfo {
    sdk::PluginInfo {
        name: i.name,
        version: i.version,
        record_kinds: i.record_kinds,
        settings: i
            .settings
            .into_iter()
            .map(|s| sdk::SettingSpec {
                name: s.name,
                description: s.description,
                setting_type: match s.setting_type {
                    wit::SettingType::Text => sdk::SettingType::Text,
                    wit::SettingType::Integer => sdk::SettingType::Integer,
                    wit::SettingType::Boolean => sdk::SettingType::Boolean,
                },
                required: s.required,
                default_value: s.default_value,
            })
            .collect(),
        delivery: match i.delivery {
            wit::Delivery::RequestResponse => sdk::Delivery::RequestResponse,
            wit::Delivery::FileDrop => sdk::Delivery::FileDrop,
            wit::Delivery::FileDropWithReceipt => sdk::Delivery::FileDropWithReceipt,
        },
        max_batch: i.max_batch,
    }
}

pub(crate) fn settings(s: &sdk::Settings) -> Vec<wit::Setting> {
    s.0.iter()
        .map(|(name, value)| wit::Setting {
            name: name.clone(),
            value: value.clone(),
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
        code: sdk::ErrorCode::Other,
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

pub(crate) fn context(c: &sdk::Context) -> wit::Context {
    let n = &c.now;
    wit::Context {
        target: c.target.clone(),
        settings: settings(&c.settings),
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

pub(crate) fn encoded(
    r: Result<Vec<wit::Payload>, wit::EncodeError>,
) -> Result<Vec<sdk::Payload>, sdk::EncodeError> {
    match r {
        Ok(payloads) => Ok(payloads
            .into_iter()
            .map(|p| sdk::Payload {
                name: p.name,
                media_type: p.media_type,
                bytes: p.bytes,
                records: p.records,
                labels: p.labels,
            })
            .collect()),
        Err(wit::EncodeError::Records(errors)) => Err(sdk::EncodeError::Records(
            errors.into_iter().map(record_error).collect(),
        )),
        Err(wit::EncodeError::Settings(m)) => {
            Err(sdk::EncodeError::Settings(vec![sdk::SettingError::new(
                "", m,
            )]))
        }
        Err(wit::EncodeError::Other(m)) => Err(sdk::EncodeError::Other(m)),
    }
}

pub(crate) fn response(r: &sdk::Response) -> wit::Response {
    wit::Response {
        status: r.status,
        headers: r.headers.clone(),
        body: r.body.clone(),
    }
}

pub(crate) fn interpreted(
    r: Result<Vec<wit::Outcome>, wit::InterpretError>,
) -> Result<Vec<sdk::Outcome>, sdk::InterpretError> {
    match r {
        Ok(outcomes) => Ok(outcomes
            .into_iter()
            .map(|o| sdk::Outcome {
                record_id: o.record_id,
                status: match o.status {
                    wit::OutcomeStatus::Delivered => sdk::OutcomeStatus::Delivered,
                    wit::OutcomeStatus::Rejected => sdk::OutcomeStatus::Rejected,
                },
                messages: o.messages,
            })
            .collect()),
        Err(wit::InterpretError::Failed(f)) => Err(sdk::InterpretError::Failed {
            message: f.message,
            retryable: f.retryable,
        }),
        Err(wit::InterpretError::Malformed(m)) => Err(sdk::InterpretError::Malformed(m)),
    }
}
