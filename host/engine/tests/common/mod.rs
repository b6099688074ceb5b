//! The pipeline's test harness: a native encoder that writes lines, an in-memory SQLite
//! store and a capturing transport.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use hub_core::config::{Config, PluginConfig};
use hub_core::time::{FixedClock, Timestamp};
use hub_engine::capture::CaptureConnector;
use hub_engine::ports::{Encoder, EncoderError, PluginLoader};
use hub_engine::{Engine, Ports};
use hub_plugin_sdk as sdk;

/// Writes each transfer as one text file, `n-<number>.txt`, one line per record; a record
/// whose body says `"bad": true` is refused by name; a request's answer (a comma-separated
/// list) rejects records whose id is in it, and answers `retry-later` for `later:<id>` and
/// `unknown` for `unknown:<id>` (contract 0.2).
#[derive(Debug)]
pub struct Lines {
    pub info: sdk::PluginInfo,
    /// The most records one encode call can hold before it runs out of memory.
    pub fits: usize,
    /// Writes a call counter into each payload: not a pure function.
    pub counter: Option<std::sync::atomic::AtomicU64>,
    /// One file per record, `n-<number>-<id>.txt`, instead of one per transfer.
    pub file_per_record: bool,
}

impl Lines {
    pub fn new(delivery: sdk::Delivery, max_batch: u32) -> Self {
        Self {
            info: sdk::PluginInfo {
                name: "lines".into(),
                version: "1.0.0".into(),
                record_kinds: vec!["row".into()],
                settings: Vec::new(),
                delivery,
                max_batch,
            },
            fits: usize::MAX,
            counter: None,
            file_per_record: false,
        }
    }
}

impl Encoder for Lines {
    fn name(&self) -> &str {
        "lines"
    }
    fn sha256(&self) -> &str {
        "0000000000000000000000000000000000000000000000000000000000000000"
    }
    fn info(&self) -> &sdk::PluginInfo {
        &self.info
    }
    fn change_of(&self, _kind: &str) -> sdk::Change {
        sdk::Change::Snapshot
    }
    fn check_settings(
        &self,
        _s: &sdk::Settings,
    ) -> Result<Result<(), Vec<sdk::SettingError>>, EncoderError> {
        Ok(Ok(()))
    }
    fn validate(
        &self,
        _s: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Vec<Result<sdk::RecordMeta, sdk::RecordError>>, EncoderError> {
        Ok(records
            .iter()
            .map(|_| {
                Ok(sdk::RecordMeta {
                    batch_key: String::new(),
                    sequence_scope: Some("all".into()),
                    supersede_key: None,
                })
            })
            .collect())
    }
    fn once_keys(
        &self,
        _s: &sdk::Settings,
        _r: &[sdk::Record],
    ) -> Result<Option<Vec<Vec<String>>>, EncoderError> {
        Ok(None)
    }
    fn encode(
        &self,
        ctx: &sdk::Context,
        records: &[sdk::Record],
    ) -> Result<Result<Vec<sdk::Payload>, sdk::EncodeError>, EncoderError> {
        if records.len() > self.fits {
            return Err(EncoderError::msg("lines: encode exceeded the memory limit").too_big());
        }
        let bad: Vec<sdk::RecordError> = records
            .iter()
            .filter(|r| r.body.contains("\"bad\":true"))
            .map(|r| sdk::RecordError::field(&r.id, "bad", "is true"))
            .collect();
        if !bad.is_empty() {
            return Ok(Err(sdk::EncodeError::Records(bad)));
        }
        let n = ctx.sequence.unwrap_or(0);
        let mut text: String = records.iter().map(|r| format!("{}\n", r.id)).collect();
        if let Some(c) = &self.counter {
            let call = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            text.push_str(&format!("call {call}\n"));
        }
        if self.file_per_record {
            return Ok(Ok(records
                .iter()
                .map(|r| sdk::Payload {
                    name: format!("n-{n}-{}.txt", r.id),
                    media_type: "text/plain".into(),
                    bytes: format!("{}\n", r.id).into_bytes(),
                    records: vec![r.id.clone()],
                    labels: Vec::new(),
                })
                .collect()));
        }
        Ok(Ok(vec![sdk::Payload {
            name: format!("n-{n}.txt"),
            media_type: "text/plain".into(),
            bytes: text.into_bytes(),
            records: records.iter().map(|r| r.id.clone()).collect(),
            labels: Vec::new(),
        }]))
    }
    fn interpret(
        &self,
        _ctx: &sdk::Context,
        _payload: &str,
        records: &[sdk::Record],
        response: &sdk::Response,
    ) -> Result<Result<Vec<sdk::Outcome>, sdk::InterpretError>, EncoderError> {
        let body = String::from_utf8_lossy(&response.body);
        Ok(Ok(records
            .iter()
            .map(|r| {
                let said = |word: &str| body.split(',').any(|w| w == format!("{word}{}", r.id));
                if said("") {
                    sdk::Outcome {
                        record_id: r.id.clone(),
                        status: sdk::OutcomeStatus::Rejected,
                        messages: vec!["refused by the receiver".into()],
                    }
                } else if said("later:") {
                    sdk::Outcome::retry_later(&r.id, vec!["locked".into()])
                } else if said("unknown:") {
                    sdk::Outcome::unknown(&r.id, vec!["no word".into()])
                } else {
                    sdk::Outcome::delivered(&r.id)
                }
            })
            .collect()))
    }
    fn ask(
        &self,
        _s: &sdk::Settings,
        _t: u64,
        _p: &str,
        _k: &str,
    ) -> Result<Option<sdk::Question>, EncoderError> {
        Ok(None)
    }
    fn judge(
        &self,
        _s: &sdk::Settings,
        _p: &str,
        _status: u16,
        _b: &[u8],
    ) -> Result<sdk::Finding, EncoderError> {
        Ok(sdk::Finding::Unknown)
    }
}

struct Loader(Arc<Lines>);

impl PluginLoader for Loader {
    fn load(&mut self, _n: &str, _c: &PluginConfig) -> Result<Arc<dyn Encoder>, EncoderError> {
        Ok(self.0.clone())
    }
}

pub fn engine(
    dir: &Path,
    transport: &str,
    encoder: Lines,
    answer: Option<sdk::Response>,
) -> (Engine, CaptureConnector) {
    let text = format!(
        "version = 1\n[store]\npath = \"{store}\"\n[plugins.lines]\npath = \"lines.wasm\"\n\
         [[target]]\nname = \"t\"\nplugin = \"lines\"\n[target.transport]\n{transport}\n",
        store = dir.join("hub.db").display()
    );
    let config = Config::parse(&dir.join("hub.toml"), &text).expect("test configuration");
    let connector = CaptureConnector::new(answer);
    let ports = Ports {
        clock: Arc::new(FixedClock(Timestamp(1_706_788_800_000))),
        plugins: Box::new(Loader(Arc::new(encoder))),
        connector: Box::new(connector.clone()),
        formats: Box::new(hub_engine::inbound::format::NoFormats),
    };
    let store = hub_store::SqliteStore::in_memory().expect("in-memory store");
    let e = Engine::new(config, Box::new(store), ports, "tester".into(), "w1".into());
    (e, connector)
}

pub const DIR: &str = "type = \"dir\"\npath = \"unused\"";
/// One try per run: the next run, not a wait inside this one, finishes the transfer.
pub const DIR_ONE_TRY: &str = "type = \"dir\"\npath = \"unused\"\n[target.retry]\nattempts = 1";
pub const HTTP: &str = "type = \"http\"\nurl = \"https://receiver.invalid/in\"";

pub fn ndjson(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("{{\"id\":\"{id}\",\"kind\":\"row\",\"body\":{{\"n\":\"{id}\"}}}}\n"))
        .collect()
}

pub fn counts(e: &mut Engine) -> (usize, usize, usize) {
    let c = e.store.counts(Some("t")).expect("counts");
    c.first()
        .map_or((0, 0, 0), |c| (c.queued, c.delivered, c.failed))
}

pub fn answer(body: &str) -> sdk::Response {
    sdk::Response {
        status: Some(200),
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}
