//! A hostile test plugin. Records of kind `loop`, `bomb`, `trap` and `panic` make `encode`
//! spin forever, allocate without bound, execute `unreachable` and panic; kind `ok` encodes
//! one payload per record, so a test can show the host serving the next call.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "../../../wit", world: "hub:plugin/target-plugin@0.1.2" });

    use exports::hub::plugin0_1_2::target::*;

    struct Hostile;

    impl Guest for Hostile {
        fn describe() -> PluginInfo {
            PluginInfo {
                name: "hostile".into(),
                version: "0.1.0".into(),
                record_kinds: ["ok", "loop", "bomb", "trap", "panic"]
                    .map(String::from)
                    .to_vec(),
                settings: vec![],
                delivery: Delivery::FileDrop,
                max_batch: 100,
            }
        }
        fn check_settings(_: Vec<Setting>) -> Result<(), String> {
            Ok(())
        }
        fn validate(_: Vec<Setting>, records: Vec<Record>) -> Vec<Result<RecordMeta, RecordError>> {
            records
                .iter()
                .map(|r| {
                    Ok(RecordMeta {
                        batch_key: r.kind.clone(),
                        sequence_scope: None,
                        supersede_key: None,
                    })
                })
                .collect()
        }
        fn encode(_ctx: Context, records: Vec<Record>) -> Result<Vec<Payload>, EncodeError> {
            let mut out = Vec::new();
            for r in &records {
                match r.kind.as_str() {
                    "loop" => {
                        let mut n: u64 = 0;
                        loop {
                            n = core::hint::black_box(n.wrapping_add(1));
                        }
                    }
                    "bomb" => {
                        let mut hoard: Vec<Vec<u8>> = Vec::new();
                        loop {
                            hoard.push(vec![1u8; 1 << 20]);
                            core::hint::black_box(&hoard);
                        }
                    }
                    "trap" => core::arch::wasm32::unreachable(),
                    "panic" => panic!("hostile plugin panics on record {}", r.id),
                    _ => out.push(Payload {
                        name: format!("{}.txt", r.id),
                        media_type: "text/plain".into(),
                        bytes: r.body.clone().into_bytes(),
                        records: vec![r.id.clone()],
                        labels: vec![("kind".into(), r.kind.clone())],
                    }),
                }
            }
            Ok(out)
        }
        fn interpret(
            _: Context,
            _: String,
            _: Vec<Record>,
            _: Response,
        ) -> Result<Vec<Outcome>, InterpretError> {
            Err(InterpretError::Malformed(
                "hostile plugin interprets nothing".into(),
            ))
        }
    }

    export!(Hostile);
}
