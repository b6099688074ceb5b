//! `hub serve` with its HTTP API on loopback: real-time sending, tokens kept to their own
//! municipality, bad requests that change nothing, the OpenAPI description against the
//! router, SIGTERM in the middle of a send, `hub check` and completions.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::common::{HUB, Site, plugin, postings, shared_cache};

pub const OPERATOR_A: &str = "operator-token-aaaaaaaaaaaa";
pub const SOURCE_A: &str = "kita-software-token-aaaaaaaa";
pub const OPERATOR_B: &str = "operator-token-bbbbbbbbbbbb";
pub const SOURCE_B: &str = "kita-software-token-bbbbbbbb";

/// One municipality's hub.toml in `dir`: a Prisme target `prisme` (sending as given) and
/// a second target `other`, both into folders; its store in `data-<name>/`; tokens
/// from environment variables `HUB_OP_<NAME>` and `HUB_SRC_<NAME>` (the source only for
/// `prisme`).
pub fn municipality(dir: &Path, name: &str, sending: &str) -> PathBuf {
    let upper = name.to_uppercase();
    let text = format!(
        r#"version = 1
[store]
path = "data-{name}/hub.db"
[runtime]
cache_dir = "{cache}"
call_timeout_ms = 2000
memory_limit_mb = 32
[plugins.prisme]
path = "{prisme}"

[api]
operator_token_env = "HUB_OP_{upper}"
[[api.tokens]]
name = "finance-{name}"
token_env = "HUB_SRC_{upper}"
targets = ["prisme"]

[[target]]
name = "prisme"
plugin = "prisme"
utc_offset_minutes = -120
sending = "{sending}"
transport = {{ type = "dir", path = "out-{name}" }}
[target.settings]
municipality = "sermersooq"
environment = "test"
organisation_unit = "0956"

[[target]]
name = "other"
plugin = "prisme"
transport = {{ type = "dir", path = "other-{name}" }}
[target.settings]
municipality = "sermersooq"
environment = "prod"
organisation_unit = "0956"
"#,
        cache = shared_cache().display(),
        prisme = plugin("prisme").display(),
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    file
}

/// A running `hub serve` on an ephemeral loopback port; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub base: String,
    pub stderr: Receiver<String>,
}

impl Serve {
    /// Starts `hub serve --config <config> --listen 127.0.0.1:0` with the test tokens.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(HUB);
        cmd.arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("HUB_OP_A", OPERATOR_A)
            .env("HUB_SRC_A", SOURCE_A)
            .env("HUB_OP_B", OPERATOR_B)
            .env("HUB_SRC_B", SOURCE_B)
            .env("HUB_LOG", "hub=info")
            .env_remove("HUB_FAULT")
            .env_remove("HUB_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, stderr) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let mut said = String::new();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("hub serve: listening on ") {
                        break url.trim().to_string();
                    }
                    said.push_str(&line);
                    said.push('\n');
                }
                _ => {
                    let _ = child.kill();
                    let err: Vec<String> = stderr.try_iter().collect();
                    panic!("hub serve did not start:\n{said}\n{}", err.join("\n"));
                }
            }
        };
        // Keep reading stdout so the service never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve {
            child,
            base,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    // Plain HTTP only, but reqwest wants a TLS provider chosen (ring, as the transports).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POSTs NDJSON with a token; (status, JSON body).
pub fn post_ndjson(url: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
    let r = client()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().unwrap()).unwrap_or_default(),
    )
}

pub fn get_json(url: &str, token: &str) -> (u16, serde_json::Value) {
    let r = client().get(url).bearer_auth(token).send().unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().unwrap()).unwrap_or_default(),
    )
}

/// `hub --config <file> status --json`.
pub fn store_status(config: &Path) -> serde_json::Value {
    let out = Command::new(HUB)
        .arg("--config")
        .arg(config)
        .args(["status", "--json"])
        .env_remove("HUB_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits for `cond` with a deadline, looking every few milliseconds (no fixed sleep).
pub fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::park_timeout(Duration::from_millis(5));
    }
}

#[test]
fn realtime_sending_starts_within_a_second_of_an_api_enqueue() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "realtime");
    let serve = Serve::start(&config, &[]);
    let c = client();
    assert_eq!(c.get(serve.url("/healthz")).send().unwrap().status(), 200);
    assert_eq!(c.get(serve.url("/readyz")).send().unwrap().status(), 200);

    let posted = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (status, report) = post_ndjson(
        &serve.url("/api/v1/targets/prisme/records"),
        SOURCE_A,
        &postings(2, 1),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["queued"], 4);
    let file = dir.path().join("out-a/sermersooq/test/G/522-24-001-G.txt");
    wait_for("the delivered file", Duration::from_secs(10), || {
        file.exists()
    });
    // The send started (its transfer was created) within a second of the POST, by the
    // hub's own clock: the test's polling on a loaded machine is not the hub's latency.
    let created_since = |ms: i64| {
        let url = serve.url(&format!("/api/v1/targets/prisme/transfers?since={ms}"));
        get_json(&url, SOURCE_A).1["transfers"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(created_since(posted), 1, "one transfer after the POST");
    assert_eq!(
        created_since(posted + 1_000),
        0,
        "the real-time send started more than a second after the POST"
    );

    // The record's state and outcome, the transfers, the protocol log, the metrics.
    wait_for("delivered state", Duration::from_secs(10), || {
        get_json(&serve.url("/api/v1/targets/prisme/records/p1d"), SOURCE_A).1["records"][0]["state"]
            == "delivered"
    });
    let (status, transfers) = get_json(&serve.url("/api/v1/targets/prisme/transfers"), SOURCE_A);
    assert_eq!(status, 200);
    let id = transfers["transfers"][0]["id"].as_i64().unwrap();
    let (status, log) = get_json(&serve.url(&format!("/api/v1/transfers/{id}/log")), SOURCE_A);
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["attempts"][0]["result"], "delivered");
    let metrics = c.get(serve.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("hub_records{config=\"a\",target=\"prisme\",state=\"delivered\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("hub_attempts_total{config=\"a\",target=\"prisme\",result=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hub_sends_total{config=\"a\",target=\"prisme\",outcome=\"ok\"}"));
    // One record as application/json, and a send triggered through the API.
    let r = c
        .post(serve.url("/api/v1/targets/prisme/records"))
        .bearer_auth(SOURCE_A)
        .header("content-type", "application/json")
        .body(r#"{"id": "one", "kind": "posting", "page": "522", "fiscal_year": "2024", "machine_no": "00123",
                 "posting_date": "20240131", "account": "9002009002", "amount_ore": 5, "dk": "D", "text": "x"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(serve.url("/api/v1/targets/prisme/send"))
        .bearer_auth(SOURCE_A)
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
}

#[test]
fn a_token_reaches_only_its_own_municipality_and_targets() {
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("conf.d");
    std::fs::create_dir(&configs).unwrap();
    let a = municipality(&configs, "a", "manual");
    let b = municipality(&configs, "b", "manual");
    let serve = Serve::start(&configs, &[]);
    let url = serve.url("/api/v1/targets/prisme/records");

    // Each source writes into its own file's store, under the same target name.
    assert_eq!(post_ndjson(&url, SOURCE_A, &postings(1, 1)).0, 200);
    assert_eq!(post_ndjson(&url, SOURCE_B, &postings(2, 50)).0, 200);
    assert_eq!(store_status(&a)["targets"][0]["queued"], 2);
    assert_eq!(store_status(&b)["targets"][0]["queued"], 4);

    // A cannot read B's record, nor B A's: each token sees only its own store.
    let (s, _) = get_json(&serve.url("/api/v1/targets/prisme/records/p50d"), SOURCE_A);
    assert_eq!(s, 404);
    let (s, _) = get_json(&serve.url("/api/v1/targets/prisme/records/p1d"), SOURCE_B);
    assert_eq!(s, 404);
    let (s, body) = get_json(&serve.url("/api/v1/targets/prisme/records/p1d"), SOURCE_A);
    assert_eq!(s, 200, "{body}");
    // A source token is kept to its targets; the operator of A has all of A's, none of B's.
    let other = serve.url("/api/v1/targets/other/records");
    let (s, body) = post_ndjson(&other, SOURCE_A, &postings(1, 7));
    assert_eq!(s, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("may not use target")
    );
    let (s, body) = get_json(&serve.url("/api/v1/status"), OPERATOR_A);
    assert_eq!(s, 200);
    assert_eq!(body["config"], "a");
    assert_eq!(body["targets"].as_array().unwrap().len(), 2);
    let (s, body) = get_json(&serve.url("/api/v1/status"), SOURCE_B);
    assert_eq!(s, 200);
    assert_eq!(body["config"], "b");
    assert_eq!(body["targets"].as_array().unwrap().len(), 1);
    // Resolving and sending follow the same rule.
    let r = client()
        .post(serve.url("/api/v1/targets/other/send"))
        .bearer_auth(SOURCE_B)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(store_status(&a)["targets"][0]["queued"], 2);
    assert_eq!(store_status(&b)["targets"][0]["queued"], 4);
    drop(serve);

    // Two files sharing a store are refused.
    let text = std::fs::read_to_string(&b)
        .unwrap()
        .replace("data-b/hub.db", "data-a/hub.db");
    std::fs::write(&b, text).unwrap();
    let out = Command::new(HUB)
        .arg("--config")
        .arg(&configs)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use the same store"), "{err}");
}

#[test]
fn malformed_and_oversized_requests_get_a_reason_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let serve = Serve::start(&config, &[]);
    let url = serve.url("/api/v1/targets/prisme/records");
    let c = client();
    let before = store_status(&config)["targets"].clone();

    // One bad line among good ones: nothing is queued, every bad line named.
    let mut text = postings(2, 1);
    text.push_str("{\"id\":\"x\"}\nnot json\n");
    let (s, body) = post_ndjson(&url, SOURCE_A, &text);
    assert_eq!(s, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing was queued")
    );
    assert_eq!(body["problems"].as_array().unwrap().len(), 2, "{body}");
    // Not JSON as a single record, not an object, not UTF-8, empty.
    for (ct, bytes) in [
        ("application/json", b"{\"id\":".to_vec()),
        ("application/json", b"[1,2]".to_vec()),
        ("application/x-ndjson", vec![0xff, 0xfe, b'\n']),
        ("application/x-ndjson", b"\n\n".to_vec()),
    ] {
        let r = c
            .post(&url)
            .bearer_auth(SOURCE_A)
            .header("content-type", ct)
            .body(bytes)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json_body();
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    // Larger than the limit: refused on its declared length, before any byte is read.
    let answer = raw_post_headers(
        &serve.base,
        "/api/v1/targets/prisme/records",
        SOURCE_A,
        hub::api::MAX_BODY + 1,
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 16 MiB"), "{answer}");
    // No token, a wrong token, a bad resolve body, an unknown record.
    assert_eq!(c.post(&url).body("{}").send().unwrap().status(), 401);
    let (s, body) = post_ndjson(&url, "not-a-token-at-all-xxxxxx", &postings(1, 1));
    assert_eq!(s, 401);
    assert_eq!(body["error"], "unknown token");
    let r = c
        .post(serve.url("/api/v1/targets/prisme/records/p1d/resolve"))
        .bearer_auth(OPERATOR_A)
        .body("{\"why\":1}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(serve.url("/api/v1/targets/prisme/records/nope/resolve"))
        .bearer_auth(OPERATOR_A)
        .body("{\"reason\":\"x\"}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        get_json(&serve.url("/api/v1/transfers/abc/log"), OPERATOR_A).0,
        400
    );

    let after = store_status(&config);
    assert_eq!(after["targets"], before);
    assert!(after["transfers"].as_array().unwrap().is_empty());
}

/// Sends only the request head of a POST declaring `length` bytes; the whole answer.
fn raw_post_headers(base: &str, path: &str, token: &str, length: usize) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

trait JsonBody {
    fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::blocking::Response {
    fn json_body(self) -> serde_json::Value {
        serde_json::from_str(&self.text().unwrap()).unwrap()
    }
}

/// Every route as (method, path). The router takes each route's path and method from its
/// handler's description (utoipa-axum's `routes!`), so the served document lists exactly
/// the routes served; this list makes a route that loses its description (or a new one)
/// show here.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/status.js"),
    ("get", "/status.css"),
    ("get", "/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/whoami"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/console"),
    ("post", "/api/v1/targets/{target}/records"),
    ("get", "/api/v1/targets/{target}/records/{id}"),
    ("post", "/api/v1/targets/{target}/records/{id}/resolve"),
    ("post", "/api/v1/targets/{target}/records/{id}/requeue"),
    ("get", "/api/v1/targets/{target}/transfers"),
    ("get", "/api/v1/targets/{target}/files"),
    ("post", "/api/v1/targets/{target}/send"),
    ("post", "/api/v1/targets/{target}/pause"),
    ("post", "/api/v1/targets/{target}/resume"),
    ("get", "/api/v1/targets/{target}/schema"),
    ("get", "/api/v1/transfers/{id}/log"),
    ("get", "/api/v1/transfers/{id}/view"),
    ("get", "/api/v1/received/{id}/view"),
    ("get", "/api/v1/doubts"),
    ("post", "/api/v1/transfers/{id}/settle"),
    ("post", "/api/v1/transfers/{id}/retry"),
];

#[test]
fn the_openapi_description_names_every_route_and_every_route_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let serve = Serve::start(&config, &[]);
    let c = client();
    let spec: serde_json::Value = c
        .get(serve.url("/openapi.json"))
        .send()
        .unwrap()
        .json_body();
    let mut described = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.push((method.clone(), path.clone()));
        }
    }
    described.sort();
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    assert_eq!(described, routes, "/openapi.json and the routes differ");

    // The schemas of answers built by other crates (hub-store) name what those answers carry.
    let properties = |schema: &str| -> Vec<String> {
        let mut names: Vec<String> = spec["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {schema}"))
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    let (status, report) = post_ndjson(
        &serve.url("/api/v1/targets/prisme/records"),
        OPERATOR_A,
        &postings(1, 1),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(keys(&report), properties("EnqueueReport"), "{report}");
    let (status, found) = get_json(&serve.url("/api/v1/targets/prisme/records/p1d"), OPERATOR_A);
    assert_eq!(status, 200, "{found}");
    let record = &found["records"][0];
    assert_eq!(keys(record), properties("Record"), "{record}");
    let states = &spec["components"]["schemas"]["Record"]["properties"]["state"]["enum"];
    assert!(
        states.as_array().unwrap().contains(&record["state"]),
        "{states} lacks {}",
        record["state"]
    );

    // Every route exists in the router: never 404 for a missing route, never 405.
    for (method, path) in ROUTES {
        let path = path
            .replace("{target}", "prisme")
            .replace("/records/{id}", "/records/p1d")
            .replace("{id}", "1");
        let req = match *method {
            "get" => c.get(serve.url(&path)),
            _ => c.post(serve.url(&path)).body("{\"reason\":\"r\"}"),
        };
        let r = req.bearer_auth(OPERATOR_A).send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        assert!(
            status != 405 && (status != 404 || text.contains("\"error\"")),
            "{method} {path}: {status} {text}"
        );
    }
}

#[test]
fn sigterm_during_a_send_leaves_nothing_lost_or_doubled() {
    // The crash tests' site and input: two pages, two transfers, four files.
    // (`[api]` after the target's settings is a top-level table again.)
    let site = Site::prisme("[api]\noperator_token_env = \"HUB_OP_A\"\n");
    let text = std::fs::read_to_string(site.config()).unwrap().replace(
        "utc_offset_minutes = -120\n",
        "utc_offset_minutes = -120\nsending = \"realtime\"\n",
    );
    site.write_config(&text);
    let mut serve = Serve::start(
        &site.config(),
        &[("HUB_FAULT", "uploaded-temp"), ("HUB_FAULT_MODE", "pause")],
    );
    let (s, body) = post_ndjson(
        &serve.url("/api/v1/targets/prisme/records"),
        OPERATOR_A,
        &crate::crash::input(),
    );
    assert_eq!(s, 200, "{body}");
    // The sender is now in the middle of the first file of the first transfer.
    let start = Instant::now();
    loop {
        let line = serve
            .stderr
            .recv_timeout(Duration::from_secs(30))
            .expect("hub serve never reached the fault point");
        if line.starts_with("HUB-FAULT uploaded-temp") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30));
    }
    let status = serve.terminate();
    assert!(status.success(), "hub serve exited with {status}");
    // The transfer under way was finished; the next one was not started.
    let st = site.status();
    let transfers = st["transfers"].as_array().unwrap();
    assert_eq!(transfers.len(), 1, "{st}");
    assert_eq!(transfers[0]["state"], "done");
    assert_eq!(st["targets"][0]["in_flight"], 0);
    assert!(st["targets"][0]["queued"].as_u64().unwrap() > 0);
    // The rest goes with the next send, each record exactly once.
    site.ok(&["send", "prisme"]);
    crate::crash::assert_exactly_once(&site, "SIGTERM at uploaded-temp");
}

#[test]
fn check_lists_every_problem_and_completions_print() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let ok = Command::new(HUB)
        .arg("--config")
        .arg(&config)
        .arg("check")
        .env("HUB_OP_A", OPERATOR_A)
        .env("HUB_SRC_A", SOURCE_A)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Missing tokens and an unreadable credential file: each named, no secret printed.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[[target]]\nname = \"prisme\"",
        "[credentials.c]\np12 = \"missing.p12\"\npassword_file = \"missing-pw\"\n\n[[target]]\nname = \"prisme\"",
    );
    std::fs::write(&config, text).unwrap();
    let bad = Command::new(HUB)
        .arg("--config")
        .arg(&config)
        .arg("check")
        .env("HUB_SRC_A", SOURCE_A)
        .env_remove("HUB_OP_A")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("environment variable HUB_OP_A is not set"),
        "{err}"
    );
    assert!(err.contains("missing.p12"), "{err}");
    assert!(err.contains("missing-pw"), "{err}");
    assert!(!err.contains(SOURCE_A), "a secret was printed: {err}");

    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(HUB)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("serve"));
    }
}

#[test]
fn the_enqueue_route_reads_the_body_in_its_charset_and_names_line_and_byte_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let serve = Serve::start(&config, &[]);
    let url = serve.url("/api/v1/targets/prisme/records");
    let c = client();
    // A Windows export: "Bøde" in windows-1252 on the second line.
    let text = postings(1, 1);
    let lines: Vec<&str> = text.lines().collect();
    let second = lines[1].replace("Posting 1", "B\u{f8}de");
    let body = format!("{}\n{second}\n", lines[0]);
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(&body);
    let byte = second.find('\u{f8}').unwrap() + 1;
    let post = |url: &str, ct: &str| {
        let r = c
            .post(url)
            .bearer_auth(SOURCE_A)
            .header("content-type", ct)
            .body(latin.to_vec())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json_body())
    };
    // No charset: UTF-8, and the error names line and byte and how to say the charset.
    let (s, b) = post(&url, "application/x-ndjson");
    assert_eq!(s, 400, "{b}");
    let e = b["error"].as_str().unwrap();
    assert!(e.contains(&format!("line 2, byte {byte}")), "{e}");
    assert!(e.contains("charset"), "{e}");
    // Named in the query and in Content-Type, which must agree (latin1 is windows-1252).
    let (s, b) = post(
        &format!("{url}?charset=latin1"),
        "application/x-ndjson; charset=\"windows-1252\"",
    );
    assert_eq!((s, b["queued"].clone()), (200, 2.into()), "{b}");
    let (s, b) = post(
        &format!("{url}?charset=utf-8"),
        "application/x-ndjson; charset=windows-1252",
    );
    assert_eq!(s, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("give one"), "{b}");
    let (s, b) = post(&format!("{url}?charset=klingon"), "application/x-ndjson");
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("unknown encoding"),
        "{b}"
    );
    // It was decoded to the same text: the same records sent as UTF-8 are duplicates.
    let (s, b) = post_ndjson(&url, SOURCE_A, &body);
    assert_eq!((s, b["duplicates"].clone()), (200, 2.into()), "{b}");
    // In Content-Type only, for a single JSON record.
    let one = second.replace("p1k", "p9k");
    let (latin_one, _, _) = encoding_rs::WINDOWS_1252.encode(&one);
    let r = c
        .post(&url)
        .bearer_auth(SOURCE_A)
        .header("content-type", "application/json; charset=windows-1252")
        .body(latin_one.to_vec())
        .send()
        .unwrap();
    // (An unbalanced single posting may be refused by the plugin; it must not be a 400.)
    assert_ne!(r.status().as_u16(), 400, "{}", r.text().unwrap());
}

/// An operator pauses a target through the API: a send through the API is refused with
/// 409 naming the pause; a source token may not pause a target it does not use; the
/// store (every worker, the CLI) sees the pause, and a resume lifts it.
#[test]
fn a_target_paused_through_the_api_refuses_sends_until_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let serve = Serve::start(&config, &[]);
    let c = client();
    let post = |path: &str, token: &str, body: &str| {
        let r = c
            .post(serve.url(path))
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json_body())
    };
    let (s, body) = post(
        "/api/v1/targets/other/pause",
        SOURCE_A,
        "{\"reason\":\"not mine\"}",
    );
    assert_eq!(s, 403, "{body}");
    let (s, body) = post(
        "/api/v1/targets/prisme/pause",
        OPERATOR_A,
        "{\"reason\":\" \"}",
    );
    assert_eq!(s, 400, "{body}");
    let (s, body) = post(
        "/api/v1/targets/prisme/pause",
        OPERATOR_A,
        "{\"reason\":\"receiver down\"}",
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["paused"]["reason"], "receiver down");
    assert!(
        body["paused"]["by"].as_str().unwrap().ends_with("(api)"),
        "{body}"
    );
    assert_eq!(store_status(&config)["paused"][0]["target"], "prisme");
    let metrics = c.get(serve.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("hub_target_paused{config=\"a\",target=\"prisme\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        post_ndjson(
            &serve.url("/api/v1/targets/prisme/records"),
            SOURCE_A,
            &postings(1, 1)
        )
        .0,
        200
    );
    let (s, body) = post("/api/v1/targets/prisme/send", OPERATOR_A, "");
    assert_eq!(s, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("is paused"),
        "{body}"
    );
    let (s, body) = post("/api/v1/targets/prisme/resume", OPERATOR_A, "");
    assert_eq!(
        (s, &body["resumed"]),
        (200, &serde_json::json!(true)),
        "{body}"
    );
    assert_eq!(store_status(&config)["paused"], serde_json::json!([]));
}
