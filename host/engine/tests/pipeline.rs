//! The pipeline on its ports alone: a native encoder, an in-memory SQLite store and a
//! capturing transport. No WASM build, no server, no root: these run in milliseconds and
//! pin down what every target relies on (numbers, exactly once, failures kept apart).

use std::path::Path;
use std::sync::Arc;

use hub_core::config::{Config, PluginConfig};
use hub_core::time::{FixedClock, Timestamp};
use hub_core::transport::TransportError;
use hub_engine::capture::CaptureConnector;
use hub_engine::pipeline::{self, SendError};
use hub_engine::ports::{Encoder, EncoderError, PluginLoader};
use hub_engine::{Engine, Ports};
use hub_plugin_sdk as sdk;

/// Writes each transfer as one text file, `n-<number>.txt`, one line per record; a record
/// whose body says `"bad": true` is refused by name; a request's answer (a comma-separated
/// list) rejects records whose id is in it, and answers `retry-later` for `later:<id>` and
/// `unknown` for `unknown:<id>` (contract 0.2).
#[derive(Debug)]
struct Lines {
    info: sdk::PluginInfo,
    /// The most records one encode call can hold before it runs out of memory.
    fits: usize,
    /// Writes a call counter into each payload: not a pure function.
    counter: Option<std::sync::atomic::AtomicU64>,
}

impl Lines {
    fn new(delivery: sdk::Delivery, max_batch: u32) -> Self {
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

fn engine(
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

const DIR: &str = "type = \"dir\"\npath = \"unused\"";
/// One try per run: the next run, not a wait inside this one, finishes the transfer.
const DIR_ONE_TRY: &str = "type = \"dir\"\npath = \"unused\"\n[target.retry]\nattempts = 1";
const HTTP: &str = "type = \"http\"\nurl = \"https://receiver.invalid/in\"";

fn ndjson(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("{{\"id\":\"{id}\",\"kind\":\"row\",\"body\":{{\"n\":\"{id}\"}}}}\n"))
        .collect()
}

fn counts(e: &mut Engine) -> (usize, usize, usize) {
    let c = e.store.counts(Some("t")).expect("counts");
    c.first()
        .map_or((0, 0, 0), |c| (c.queued, c.delivered, c.failed))
}

#[test]
fn files_are_numbered_without_gaps_and_sent_exactly_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        DIR,
        Lines::new(sdk::Delivery::FileDrop, 2),
        None,
    );
    let report =
        pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c", "d", "e"])).expect("enqueue");
    assert_eq!(report.queued, 5);
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(sent.transfers_created, 3);
    assert_eq!(sent.records_delivered, 5);
    let files: Vec<(String, String)> = cap
        .captured()
        .files
        .iter()
        .map(|(n, b)| (n.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    assert_eq!(
        files,
        [
            ("n-1.txt".to_string(), "a\nb\n".to_string()),
            ("n-2.txt".into(), "c\nd\n".into()),
            ("n-3.txt".into(), "e\n".into())
        ]
    );
    // Sending again sends nothing; the same records enqueued again are duplicates.
    let again = pipeline::send(&mut e, "t", false).expect("second send");
    assert_eq!(again.transfers_created, 0);
    assert_eq!(cap.captured().files.len(), 3);
    let dup = pipeline::enqueue(&mut e, "t", &ndjson(&["a"])).expect("enqueue again");
    assert_eq!(dup.queued, 0);
    assert_eq!(counts(&mut e), (0, 5, 0));
}

#[test]
fn a_connection_lost_before_the_rename_is_finished_by_the_next_run_without_a_second_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        DIR_ONE_TRY,
        Lines::new(sdk::Delivery::FileDrop, 10),
        None,
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b"])).expect("enqueue");
    cap.captured()
        .fail_next
        .push(("make_final", TransportError::retryable("connection reset")));
    let first = pipeline::send(&mut e, "t", false);
    assert!(
        matches!(
            first,
            Err(SendError::Delivery {
                retryable: true,
                ..
            })
        ),
        "{first:?}"
    );
    assert!(cap.captured().files.is_empty());
    assert_eq!(counts(&mut e).1, 0);
    let second = pipeline::send(&mut e, "t", false).expect("the next run");
    assert_eq!(
        second.transfers_created, 0,
        "the open transfer is finished, not remade"
    );
    let captured = cap.captured();
    assert_eq!(captured.files.len(), 1);
    assert_eq!(captured.files[0].0, "n-1.txt");
    assert!(captured.temp.is_empty());
    drop(captured);
    assert_eq!(counts(&mut e), (0, 2, 0));
}

#[test]
fn a_record_the_encoder_refuses_fails_alone_and_the_rest_travel() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        DIR,
        Lines::new(sdk::Delivery::FileDrop, 10),
        None,
    );
    let text = format!(
        "{}{{\"id\":\"x\",\"kind\":\"row\",\"body\":{{\"bad\":true}}}}\n",
        ndjson(&["a", "b"])
    );
    pipeline::enqueue(&mut e, "t", &text).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(sent.records_to_check, 1);
    assert_eq!(sent.records_delivered, 2);
    let captured = cap.captured();
    assert_eq!(captured.files.len(), 1);
    assert_eq!(
        captured.files[0],
        ("n-1.txt".to_string(), b"a\nb\n".to_vec())
    );
    drop(captured);
    assert_eq!(counts(&mut e), (0, 2, 1));
}

#[test]
fn a_request_target_keeps_each_records_answer_and_one_idempotency_key_per_payload() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let answer = sdk::Response {
        status: Some(200),
        headers: Vec::new(),
        body: b"b".to_vec(),
    };
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c"])).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!((sent.records_delivered, sent.records_to_check), (2, 1));
    let captured = cap.captured();
    assert_eq!(captured.requests.len(), 1);
    assert_eq!(captured.requests[0].bytes, b"a\nb\nc\n");
    assert!(!captured.requests[0].idempotency_key.is_empty());
    drop(captured);
    assert_eq!(counts(&mut e), (0, 2, 1));
}

#[test]
fn a_lost_answer_is_held_in_doubt_and_never_sent_again_by_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let answer = sdk::Response {
        status: Some(200),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a"])).expect("enqueue");
    cap.captured()
        .fail_next
        .push(("request", TransportError::unknown("the answer was lost")));
    let first = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(first.in_doubt.len(), 1, "{first:?}");
    for _ in 0..3 {
        pipeline::send(&mut e, "t", false).expect("later runs");
    }
    // The lost one never reached the capture; no later run sent it again.
    assert!(cap.captured().requests.is_empty());
    assert_eq!(counts(&mut e).1, 0);
}

fn answer(body: &str) -> sdk::Response {
    sdk::Response {
        status: Some(200),
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn a_record_answered_retry_later_is_queued_again_and_goes_in_a_later_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer("later:b")),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c"])).expect("enqueue");
    let first = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(first.records_delivered, 2, "{first:?}");
    // Not again in the same run, however often the receiver says "later".
    assert_eq!(cap.captured().requests.len(), 1);
    assert_eq!(counts(&mut e), (1, 2, 0));
    cap.captured().answer = Some(answer(""));
    let second = pipeline::send(&mut e, "t", false).expect("a later run");
    assert_eq!(second.transfers_created, 1, "{second:?}");
    let captured = cap.captured();
    assert_eq!(captured.requests.len(), 2);
    assert_eq!(captured.requests[1].bytes, b"b\n");
    drop(captured);
    assert_eq!(counts(&mut e), (0, 3, 0));
}

#[test]
fn an_unknown_outcome_holds_the_payload_in_doubt_naming_each_records_outcome() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut e, cap) = engine(
        tmp.path(),
        HTTP,
        Lines::new(sdk::Delivery::RequestResponse, 10),
        Some(answer("unknown:b,c")),
    );
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b", "c"])).expect("enqueue");
    let first = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(first.in_doubt.len(), 1, "{first:?}");
    assert_eq!(counts(&mut e), (0, 0, 0));
    let doubts = e.store.doubts(Some("t"), false).expect("doubts");
    assert_eq!(doubts.len(), 1);
    assert!(
        doubts[0]
            .detail
            .contains("a delivered, b unknown (no word), c rejected (refused by the receiver)"),
        "{}",
        doubts[0].detail
    );
    for _ in 0..2 {
        pipeline::send(&mut e, "t", false).expect("later runs");
    }
    assert_eq!(
        cap.captured().requests.len(),
        1,
        "never sent again by itself"
    );
}

#[test]
fn a_batch_too_big_for_the_plugins_memory_goes_in_smaller_transfers_numbered_without_gaps() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut encoder = Lines::new(sdk::Delivery::FileDrop, 10);
    encoder.fits = 3;
    let (mut e, cap) = engine(tmp.path(), DIR, encoder, None);
    let ids = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    pipeline::enqueue(&mut e, "t", &ndjson(&ids)).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert!(sent.errors.is_empty(), "{:?}", sent.errors);
    // 10 does not fit, 5 does not, 2 does: five transfers of two, numbered 1 to 5.
    assert_eq!(sent.transfers_created, 5);
    let names: Vec<String> = cap
        .captured()
        .files
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        names,
        ["n-1.txt", "n-2.txt", "n-3.txt", "n-4.txt", "n-5.txt"]
    );
    assert_eq!(cap.captured().files[4].1, b"i\nj\n");
    assert_eq!(counts(&mut e), (0, 10, 0));
}

#[test]
fn a_plugin_that_encodes_the_same_records_differently_is_refused_and_nothing_is_numbered() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut encoder = Lines::new(sdk::Delivery::FileDrop, 10);
    encoder.counter = Some(std::sync::atomic::AtomicU64::new(0));
    let (mut e, cap) = engine(tmp.path(), DIR, encoder, None);
    pipeline::enqueue(&mut e, "t", &ndjson(&["a", "b"])).expect("enqueue");
    let sent = pipeline::send(&mut e, "t", false).expect("send");
    assert_eq!(sent.transfers_created, 0);
    assert!(
        sent.errors
            .iter()
            .any(|m| m.contains("plugin lines is not deterministic")
                && m.contains("payload n-1.txt")),
        "{:?}",
        sent.errors
    );
    assert!(cap.captured().files.is_empty());
    assert_eq!(counts(&mut e), (2, 0, 0), "the records stay queued");
}
