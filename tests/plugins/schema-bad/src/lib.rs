//! A plugin whose schema for `item` is JSON but no JSON Schema (`type` must be a string):
//! the hub refuses it at load (contract 0.2.1 `schema`).

use hub_plugin_sdk::*;

/// The plugin.
pub struct SchemaBad;

impl Plugin for SchemaBad {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "schema-bad".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec!["item".into()],
            settings: Vec::new(),
            delivery: Delivery::FileDrop,
            max_batch: 10,
        }
    }

    fn schemas() -> Vec<(String, String)> {
        vec![("item".into(), r#"{"type": 5}"#.into())]
    }

    fn validate(_settings: &Settings, _r: &Record) -> Result<RecordMeta, RecordError> {
        Ok(RecordMeta::single_batch())
    }

    fn encode(_ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        Ok(vec![
            Payload::new("items.txt", "text/plain", Vec::new()).carrying(records),
        ])
    }
}

export_plugin!(SchemaBad);
