//! `--features otlp`: the real `hub` binary exports its spans over OTLP/HTTP to a
//! collector on loopback (an axum server here that keeps every POST to `/v1/traces`),
//! and what arrives decodes as an OTLP request with the spans of a send and an import.
//! `cargo test -p hub --features otlp --test otlp` (run by `cargo xtask test`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "e2e/common.rs"]
#[allow(dead_code)] // the end-to-end tests' helpers; this test uses a few
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use prost::Message;

use common::{Site, postings};

/// A collector on an ephemeral loopback port: every body POSTed to `/v1/traces` goes to
/// the receiver, before the answer (an empty `ExportTraceServiceResponse`).
fn collector() -> (String, Receiver<Vec<u8>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.to_vec());
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    std::thread::spawn(move || rt.block_on(async { axum::serve(listener, app).await }));
    (url, rx)
}

/// One exported span: its name and attributes as text.
#[derive(Debug)]
struct Span {
    name: String,
    attributes: BTreeMap<String, String>,
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// Decodes what arrives until spans with every name in `want` are there (at most 30 s;
/// the hub sends its last batch before it exits, so they are normally there already).
/// Also returns the `service.name` the batches carried.
fn spans_named(rx: &Receiver<Vec<u8>>, want: &[&str]) -> (Vec<Span>, BTreeSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut spans = Vec::new();
    let mut services = BTreeSet::new();
    loop {
        let names: BTreeSet<&str> = spans.iter().map(|s: &Span| s.name.as_str()).collect();
        if want.iter().all(|w| names.contains(w)) {
            return (spans, services);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let body = match rx.recv_timeout(left) {
            Ok(body) => body,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                panic!("no spans {want:?} exported within 30 s; got {names:?}")
            }
        };
        let request =
            ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP/HTTP protobuf body");
        for rs in request.resource_spans {
            for kv in rs.resource.iter().flat_map(|r| &r.attributes) {
                if kv.key == "service.name" {
                    services.insert(text(kv.value.as_ref()));
                }
            }
            for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                spans.push(Span {
                    name: s.name,
                    attributes: s
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
}

fn with_collector(site: &Site, args: &[&str], url: &str) -> common::Run {
    let mut cmd = site.cmd(args);
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_SAMPLER",
    ] {
        cmd.env_remove(var);
    }
    common::Run(
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", url)
            .output()
            .unwrap(),
    )
}

/// The fields the hub's spans carry: names and numbers, never a payload, a setting or a
/// credential. A new field is a decision: add it here when it is as harmless.
const FIELDS: &[&str] = &[
    "target_name",
    "dry_run",
    "transfer",
    "payload",
    "try_no",
    "outcome",
    "inbound",
    "file",
];

fn only_known_fields(spans: &[Span]) {
    for s in spans {
        for key in s.attributes.keys() {
            // What tracing-opentelemetry adds: where in the code, which thread, the level.
            let added = key.starts_with("code.")
                || key.starts_with("thread.")
                || key.starts_with("otel.")
                || key == "level"
                || key == "target"
                || key == "busy_ns"
                || key == "idle_ns";
            assert!(
                added || FIELDS.contains(&key.as_str()),
                "span {} has an unexpected attribute {key}",
                s.name
            );
        }
    }
}

#[test]
fn a_send_and_an_import_export_their_spans_over_otlp_http() {
    let site = Site::prisme(
        r#"
[[inbound]]
name = "from-ga"
format = "survnet"
inbox = "inbox"
utc_offset_minutes = 60
answers = { type = "dir", path = "answers" }
[inbound.settings]
sender = "1.01."
role = "state-office"
"#,
    );
    let input = site.write("postings.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    let (url, rx) = collector();

    let run = with_collector(&site, &["send", "prisme"], &url);
    assert!(run.0.status.success(), "hub send: {}", run.stderr());
    // Neither the hub's own warning nor the SDK's (`opentelemetry_sdk: …ExportError`).
    assert!(
        !run.stderr().to_lowercase().contains("opentelemetry"),
        "the export complained: {}",
        run.stderr()
    );
    let (spans, services) = spans_named(&rx, &["send", "deliver", "attempt"]);
    assert_eq!(services, BTreeSet::from(["hub".to_string()]));
    let send = spans.iter().find(|s| s.name == "send").unwrap();
    assert_eq!(send.attributes["target_name"], "prisme");
    let deliver = spans.iter().find(|s| s.name == "deliver").unwrap();
    assert_eq!(deliver.attributes["target_name"], "prisme");
    let transfer = &deliver.attributes["transfer"];
    let attempt = spans.iter().find(|s| s.name == "attempt").unwrap();
    assert_eq!(&attempt.attributes["transfer"], transfer);
    assert_eq!(attempt.attributes["outcome"], "done");
    assert_eq!(attempt.attributes["try_no"], "1");
    assert!(!attempt.attributes["payload"].is_empty());
    only_known_fields(&spans);

    // A file that is no transport: refused, and its span says so.
    std::fs::create_dir_all(site.path("inbox")).unwrap();
    site.write("inbox/garbage.zip", "not a zip");
    let run = with_collector(&site, &["import", "from-ga"], &url);
    assert!(
        run.stdout().contains("refused"),
        "hub import: {}",
        run.stdout()
    );
    let (spans, _) = spans_named(&rx, &["import", "import_file"]);
    let file = spans.iter().find(|s| s.name == "import_file").unwrap();
    assert_eq!(file.attributes["inbound"], "from-ga");
    assert_eq!(file.attributes["file"], "garbage.zip");
    assert_eq!(file.attributes["outcome"], "refused");
    only_known_fields(&spans);
}
