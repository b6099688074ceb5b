//! A plugin with a schema for `toy`, a kind its `describe` does not list: the hub refuses
//! it at load (contract 0.2.1 `schema`).

use hub_plugin_sdk::*;

/// The plugin.
pub struct SchemaStray;

impl Plugin for SchemaStray {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "schema-stray".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec!["item".into()],
            settings: Vec::new(),
            delivery: Delivery::FileDrop,
            max_batch: 10,
        }
    }

    fn schemas() -> Vec<(String, String)> {
        vec![("toy".into(), "{}".into())]
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

export_plugin!(SchemaStray);
