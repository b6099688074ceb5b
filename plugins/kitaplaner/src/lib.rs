//! Prisme target (placeholder while the encoder is written).
use hub_plugin_sdk::*;

pub struct Prisme;

impl Plugin for Prisme {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "prisme".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec!["posting".into()],
            settings: vec![],
            delivery: Delivery::FileDrop,
            max_batch: 1000,
        }
    }
    fn validate(_s: &Settings, r: &Record) -> Result<RecordMeta, RecordError> {
        Ok(RecordMeta { batch_key: r.kind.clone(), sequence_scope: None, supersede_key: None })
    }
    fn encode(_ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        Ok(vec![Payload { name: "x.txt".into(), media_type: "text/plain".into(), bytes: vec![], records: records.iter().map(|r| r.id.clone()).collect() }])
    }
}

export_plugin!(Prisme);
