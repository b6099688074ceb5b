//! A test plugin that imports WASI, as a Python or JavaScript runtime does. The hub must
//! load it, and its sandbox must hold: no environment, no preopened directories, no
//! sockets, a stdout that never fails however much is written, and a sleep that ends at the
//! call's deadline instead of blocking the host.
//!
//! `encode` acts on the kind of its first record: `ok` encodes, `probe` reports what it can
//! reach, `print` writes 1 MiB to stdout, `sleep` sleeps for twenty seconds (the tests allow it 300 ms).
//! `clock` and `random` break the contract's promise of determinism on purpose: they write
//! the wall clock or a random number into the payload (`hub plugin test --determinism`
//! must catch them; a plain encode with the same inputs gives other bytes each time).

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "wit", world: "wasi-plugin", generate_all });

    use exports::hub::plugin::target::*;
    use wasi::sockets::network::{ErrorCode, IpAddressFamily};

    struct WasiPlugin;

    fn payload(records: &[Record], text: String) -> Payload {
        Payload {
            name: format!("{}.txt", records[0].id),
            media_type: "text/plain".into(),
            bytes: text.into_bytes(),
            records: records.iter().map(|r| r.id.clone()).collect(),
            labels: vec![],
        }
    }

    impl Guest for WasiPlugin {
        fn describe() -> PluginInfo {
            PluginInfo {
                name: "wasi".into(),
                version: "0.1.0".into(),
                record_kinds: ["ok", "probe", "print", "sleep", "clock", "random"]
                    .map(String::from)
                    .to_vec(),
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
                    Ok(RecordMeta {
                        batch_key: r.id.clone(),
                        sequence_scope: None,
                        supersede_key: None,
                    })
                })
                .collect()
        }
        fn encode(_: Context, records: Vec<Record>) -> Result<Vec<Payload>, EncodeError> {
            let Some(first) = records.first() else {
                return Ok(vec![]);
            };
            let text = match first.kind.as_str() {
                "probe" => {
                    let env = wasi::cli::environment::get_environment().len();
                    let dirs = wasi::filesystem::preopens::get_directories().len();
                    let tcp = match wasi::sockets::tcp_create_socket::create_tcp_socket(
                        IpAddressFamily::Ipv4,
                    ) {
                        Ok(_) => "open".to_string(),
                        Err(ErrorCode::AccessDenied) => "access-denied".to_string(),
                        Err(e) => format!("{e:?}"),
                    };
                    format!("env={env} dirs={dirs} tcp={tcp}")
                }
                "print" => {
                    let out = wasi::cli::stdout::get_stdout();
                    let line = [b'x'; 1024];
                    for _ in 0..1024 {
                        if out.blocking_write_and_flush(&line).is_err() {
                            return Err(EncodeError::Other("stdout failed".into()));
                        }
                    }
                    "printed".to_string()
                }
                "clock" => {
                    let now = wasi::clocks::wall_clock::now();
                    format!("encoded at {}.{:09}", now.seconds, now.nanoseconds)
                }
                "random" => format!("nonce {:016x}", wasi::random::random::get_random_u64()),
                "sleep" => {
                    wasi::clocks::monotonic_clock::subscribe_duration(20_000_000_000).block();
                    "woke".to_string()
                }
                _ => "ok".to_string(),
            };
            Ok(vec![payload(&records, text)])
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

    export!(WasiPlugin);
}
