//! The echo test plugin: one file per transfer, `echo-<sequence>.txt`, with a line
//! `<record id> <plugin version>` per record. Built twice (`echo-v1`, `echo-v2`) from this
//! source with different package versions, so a test can replace one component with the
//! other under a running `hub serve` and see which version wrote which record.

use hub_plugin_sdk::*;

/// The plugin.
pub struct Echo;

impl Plugin for Echo {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "echo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec!["line".into()],
            settings: vec![],
            delivery: Delivery::FileDrop,
            max_batch: 100,
        }
    }

    fn validate(_settings: &Settings, _record: &Record) -> Result<RecordMeta, RecordError> {
        Ok(RecordMeta::single_batch())
    }

    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        let version = env!("CARGO_PKG_VERSION");
        let text: String = records
            .iter()
            .map(|r| format!("{} {version}\n", r.id))
            .collect();
        Ok(vec![
            Payload::new(
                format!("echo-{:06}.txt", ctx.sequence.unwrap_or(0)),
                "text/plain",
                text.into_bytes(),
            )
            .carrying(records),
        ])
    }
}

export_plugin!(Echo);
