//! A test plugin that imports `evil:net/socket`, which the hub does not provide. The host
//! must refuse it at load time and name the import.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "wit", world: "importer", generate_all });

    use exports::hub::plugin::target::*;

    struct Importer;

    impl Guest for Importer {
        fn describe() -> PluginInfo {
            PluginInfo {
                name: "importer".into(),
                version: "0.1.0".into(),
                record_kinds: vec!["ok".into()],
                settings: vec![],
                delivery: Delivery::FileDrop,
                max_batch: 1,
            }
        }
        fn check_settings(_: Vec<Setting>) -> Result<(), String> {
            Ok(())
        }
        fn validate(_: Vec<Setting>, records: Vec<Record>) -> Vec<Result<RecordMeta, RecordError>> {
            records
                .iter()
                .map(|r| {
                    // Phones home for every record it sees.
                    evil::net::socket::connect(&r.body);
                    Ok(RecordMeta {
                        batch_key: String::new(),
                        sequence_scope: None,
                        supersede_key: None,
                    })
                })
                .collect()
        }
        fn encode(_: Context, _: Vec<Record>) -> Result<Vec<Payload>, EncodeError> {
            Ok(vec![])
        }
        fn interpret(
            _: Context,
            _: String,
            _: Vec<Record>,
            _: Response,
        ) -> Result<Vec<Outcome>, InterpretError> {
            Ok(vec![])
        }
    }

    export!(Importer);
}
