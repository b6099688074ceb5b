//! The server: rustls with client certificates required from the test CA, HTTP/1.1 with
//! `Content-Length` bodies and keep-alive, one thread per connection.
//!
//! `POST /kitaplaner/api/import` takes `{benutzerId, traeger, datensaetze: [...]}` and answers
//! `{status, nachricht, fehlermeldung, anzahlDatensaetze, datenquelleId, erledigtAm,
//! datensaetze: [{KIND_ID_EXTERN, KITA_ID_EXTERN, status, meldungen}]}` (status 0 = all
//! imported, 1 = some, 2 = none). `HEAD` or `GET` on any path answers 200 with no body (a
//! health probe; 501 with [`Behaviour::post_only`]); anything else 404/405.
//!
//! Like most legacy receivers it ignores the `Idempotency-Key`: the same POST twice is
//! imported twice. Tests count imports per record to catch every double.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use serde_json::{Value, json};

use crate::pki::Pki;

/// The import path.
pub const IMPORT_PATH: &str = "/kitaplaner/api/import";

/// The status query of [`Behaviour::status_query`].
pub const STATUS_PATH: &str = "/kitaplaner/api/import/status";

/// Largest request head and body the server reads.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(30);

/// How long a gathering import waits for the others before it answers anyway.
pub const GATHER_LIMIT: Duration = Duration::from_secs(10);

/// Imports in progress: how many, the most at once, and per child.
#[derive(Default)]
struct InFlight {
    now: usize,
    most: usize,
    children: BTreeMap<String, usize>,
    /// The most imports of one child in progress at once.
    most_of_one_child: usize,
}

/// How the server answers.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Records whose `KIND_ID_EXTERN` is a key here are rejected (status 1) with these
    /// `meldungen`, e.g. `["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]`.
    pub reject: BTreeMap<String, Vec<String>>,
    /// The first N import requests get 503 (nothing imported).
    pub fail_first: usize,
    /// Every import answer waits this long (after the records were taken).
    pub delay: Duration,
    /// When set, an import whose `benutzerId` differs gets 401 with a `fehlermeldung`.
    pub require_user: Option<String>,
    /// Answers `GET /kitaplaner/api/import/status?key=<Idempotency-Key>` with
    /// `{"imported": true|false}` (not part of Kita-Planer's documented interface: a test
    /// of the hub's status-query mechanism).
    pub status_query: bool,
    /// Like many POST-only services (Python's `http.server`, Java and .NET stacks):
    /// `HEAD` and `GET` answer 501.
    pub post_only: bool,
    /// Each import is answered only once this many imports are in progress at once (or
    /// after [`GATHER_LIMIT`]): shows whether a client sends side by side, without
    /// timing anything.
    pub gather: usize,
    /// Imports carrying one of these `KIND_ID_EXTERN`s are taken, then the connection is
    /// closed without an answer (an answer lost on the way back).
    pub drop_answer: std::collections::BTreeSet<String>,
}

impl Behaviour {
    /// Rejects the record with this `KIND_ID_EXTERN` with these messages.
    pub fn reject(mut self, kind_id_extern: &str, meldungen: &[&str]) -> Self {
        self.reject.insert(
            kind_id_extern.to_string(),
            meldungen.iter().map(|m| (*m).to_string()).collect(),
        );
        self
    }

    pub fn fail_first(mut self, n: usize) -> Self {
        self.fail_first = n;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn status_query(mut self) -> Self {
        self.status_query = true;
        self
    }

    pub fn post_only(mut self) -> Self {
        self.post_only = true;
        self
    }

    pub fn gather(mut self, n: usize) -> Self {
        self.gather = n;
        self
    }

    pub fn drop_answer(mut self, kind_id_extern: &str) -> Self {
        self.drop_answer.insert(kind_id_extern.to_string());
        self
    }

    pub fn require_user(mut self, user: &str) -> Self {
        self.require_user = Some(user.to_string());
        self
    }
}

/// One HTTP request the server read.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub idempotency_key: Option<String>,
    /// Every header as received, names in lower case (to see a plugin's shaped request).
    pub headers: Vec<(String, String)>,
    /// The subject CN of the client certificate the request came with.
    pub client_cn: Option<String>,
    pub body: Vec<u8>,
    /// The HTTP status the server answered with.
    pub status: u16,
}

#[derive(Default)]
struct Log {
    requests: Vec<Received>,
    /// Every record taken by an import, in order.
    records: Vec<Value>,
    imports: usize,
    tls_errors: Vec<String>,
    next_datenquelle: u64,
    /// Idempotency keys of imports whose records were taken (before a slow answer).
    taken_keys: Vec<String>,
    /// Children whose master data was corrected since: no longer rejected.
    corrected: std::collections::BTreeSet<String>,
}

struct State {
    behaviour: Behaviour,
    in_flight: Mutex<InFlight>,
    gathered: std::sync::Condvar,
    log: Mutex<Log>,
    stop: AtomicBool,
    connections: Mutex<Vec<TcpStream>>,
}

impl State {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running server; stops when dropped.
pub struct ServerHandle {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

/// Starts a server on 127.0.0.1 with an ephemeral port.
///
/// # Panics
/// When the PKI's files cannot be read or the port cannot be bound (a test setup error);
/// use [`try_start`] to get the error instead.
pub fn start(pki: &Pki, behaviour: Behaviour) -> ServerHandle {
    match try_start(pki, behaviour, 0) {
        Ok(handle) => handle,
        Err(e) => panic!("cannot start the Kita-Planer test server: {e}"),
    }
}

/// Starts a server on 127.0.0.1:`port` (0: any free port).
pub fn try_start(pki: &Pki, behaviour: Behaviour, port: u16) -> Result<ServerHandle, StartError> {
    let config = Arc::new(tls_config(pki)?);
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| StartError(format!("cannot bind 127.0.0.1:{port}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError(format!("no local address: {e}")))?;
    let state = Arc::new(State {
        behaviour,
        in_flight: Mutex::new(InFlight::default()),
        gathered: std::sync::Condvar::new(),
        log: Mutex::new(Log {
            next_datenquelle: 98_001,
            ..Log::default()
        }),
        stop: AtomicBool::new(false),
        connections: Mutex::new(Vec::new()),
    });
    let accept_state = Arc::clone(&state);
    let accept = thread::Builder::new()
        .name("kitaplaner-accept".into())
        .spawn(move || accept_loop(&listener, &config, &accept_state))
        .map_err(|e| StartError(format!("cannot start a thread: {e}")))?;
    Ok(ServerHandle {
        addr,
        state,
        accept: Some(accept),
    })
}

fn tls_config(pki: &Pki) -> Result<ServerConfig, StartError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let read =
        |what: &str, e: &dyn std::fmt::Display| StartError(format!("cannot read {what}: {e}"));
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&pki.ca_pem)
        .map_err(|e| read(&pki.ca_pem.display().to_string(), &e))?
    {
        let ca = ca.map_err(|e| read(&pki.ca_pem.display().to_string(), &e))?;
        roots
            .add(ca)
            .map_err(|e| read(&pki.ca_pem.display().to_string(), &e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| StartError(format!("client verifier: {e}")))?;
    let chain = CertificateDer::pem_file_iter(&pki.server_cert_pem)
        .map_err(|e| read(&pki.server_cert_pem.display().to_string(), &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(&pki.server_cert_pem.display().to_string(), &e))?;
    let key = PrivateKeyDer::from_pem_file(&pki.server_key_pem)
        .map_err(|e| read(&pki.server_key_pem.display().to_string(), &e))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError(format!("TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| StartError(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn accept_loop(listener: &TcpListener, config: &Arc<ServerConfig>, state: &Arc<State>) {
    for tcp in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(tcp) = tcp else { continue };
        if let Ok(clone) = tcp.try_clone() {
            state
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(clone);
        }
        let config = Arc::clone(config);
        let state = Arc::clone(state);
        let _ = thread::Builder::new()
            .name("kitaplaner-conn".into())
            .spawn(move || serve_connection(tcp, config, &state));
    }
}

fn serve_connection(mut tcp: TcpStream, config: Arc<ServerConfig>, state: &State) {
    let _ = tcp.set_read_timeout(Some(IDLE));
    let _ = tcp.set_nodelay(true);
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            if !state.stop.load(Ordering::SeqCst) {
                state.log().tls_errors.push(e.to_string());
            }
            // The alert went out with the error; let the client read it before the
            // socket closes (closing with unread data would send a reset instead).
            linger(&mut tcp);
            return;
        }
    }
    let cn = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| subject_cn(c));
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut tls, &mut buf) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(status) => {
                let _ = write_response(&mut tls, status, &error_body(status, "bad request"), true);
                break;
            }
        };
        let close = request.close;
        let (status, body, extra) = answer(state, &request, cn.as_deref());
        let head_only = request.method == "HEAD";
        state.log().requests.push(Received {
            method: request.method,
            path: request.path,
            content_type: request.content_type,
            idempotency_key: request.idempotency_key,
            headers: request.headers,
            client_cn: cn.clone(),
            body: request.body,
            status,
        });
        if status == 0 {
            // The answer is lost on the way back: the connection just closes.
            break;
        }
        let written = if head_only {
            write_head(&mut tls, status, 0, close, &extra)
        } else {
            write_full(&mut tls, status, &body, close, &extra)
        };
        if written.is_err() || close || state.stop.load(Ordering::SeqCst) {
            break;
        }
    }
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
    linger(&mut tls.sock);
}

/// Half-closes and reads what the client still sends, for at most a second.
fn linger(tcp: &mut TcpStream) {
    let _ = tcp.flush();
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    for _ in 0..5 {
        match tcp.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// The subject CN of a DER certificate.
fn subject_cn(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(cn)
}

struct Request {
    method: String,
    path: String,
    content_type: Option<String>,
    idempotency_key: Option<String>,
    headers: Vec<(String, String)>,
    close: bool,
    body: Vec<u8>,
}

/// Reads one request; `Ok(None)` when the client closed the connection between requests.
/// `Err(status)` for a request the server cannot read.
fn read_request(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<Option<Request>, u16> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(None),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(400);
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if header("transfer-encoding").is_some() {
        return Err(411);
    }
    let length = match header("content-length") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| 400u16)?,
    };
    if length > MAX_BODY {
        return Err(413);
    }
    while buf.len() < length {
        let mut chunk = [0u8; 16384];
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(None),
        }
    }
    let body: Vec<u8> = buf.drain(..length).collect();
    let connection = header("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let close = connection.contains("close")
        || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        content_type: header("content-type"),
        idempotency_key: header("idempotency-key"),
        close,
        body,
        headers,
    }))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

type Extra = Vec<(&'static str, String)>;

/// The status, JSON body and extra headers for one request; takes the records of an import.
fn answer(state: &State, request: &Request, _cn: Option<&str>) -> (u16, Vec<u8>, Extra) {
    let b = &state.behaviour;
    let path = request.path.split('?').next().unwrap_or_default();
    match request.method.as_str() {
        // A status query some receivers offer: did the request with this key arrive?
        "GET" if b.status_query && path == STATUS_PATH => {
            let key = request
                .path
                .split_once("?key=")
                .map(|(_, k)| k.to_string())
                .unwrap_or_default();
            let log = state.log();
            let imported = log.requests.iter().any(|r| {
                r.method == "POST"
                    && r.status == 200
                    && r.idempotency_key.as_deref() == Some(key.as_str())
            }) || log.taken_keys.iter().any(|k| k == &key);
            return (
                200,
                json!({ "key": key, "imported": imported })
                    .to_string()
                    .into_bytes(),
                Vec::new(),
            );
        }
        "HEAD" | "GET" if b.post_only => {
            return (501, error_body(501, "nicht implementiert"), Vec::new());
        }
        "HEAD" | "GET" => return (200, Vec::new(), Vec::new()),
        "POST" if path == IMPORT_PATH => {}
        "POST" => {
            return (
                404,
                error_body(404, &format!("unbekannter Pfad {path}")),
                Vec::new(),
            );
        }
        _ => return (405, error_body(405, "nur POST"), Vec::new()),
    }
    {
        let mut log = state.log();
        log.imports += 1;
        if log.imports <= b.fail_first {
            return (
                503,
                error_body(503, "Wartungsarbeiten, bitte später erneut senden"),
                vec![("Retry-After", "1".to_string())],
            );
        }
    }
    let envelope: Value = match serde_json::from_slice(&request.body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return (400, error_body(400, "Kein JSON-Objekt"), Vec::new()),
        Err(e) => {
            return (
                400,
                error_body(400, &format!("Ungültiges JSON: {e}")),
                Vec::new(),
            );
        }
    };
    if let Some(user) = &b.require_user {
        let sent = envelope.get("benutzerId").and_then(Value::as_str);
        if sent != Some(user.as_str()) {
            return (
                401,
                error_body(
                    401,
                    &format!(
                        "Benutzer {} ist nicht berechtigt",
                        sent.unwrap_or("(keine benutzerId)")
                    ),
                ),
                Vec::new(),
            );
        }
    }
    let Some(records) = envelope.get("datensaetze").and_then(Value::as_array) else {
        return (400, error_body(400, "`datensaetze` fehlt"), Vec::new());
    };
    let children: Vec<String> = records
        .iter()
        .filter_map(|r| r.get("KIND_ID_EXTERN").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    let _in_flight = Importing::enter(state, children.clone());
    let mut entries = Vec::with_capacity(records.len());
    let mut imported = 0usize;
    for record in records {
        let id = |k: &str| {
            record
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (kita, kind) = (id("KITA_ID_EXTERN"), id("KIND_ID_EXTERN"));
        let (status, meldungen) = if kita.is_empty() || kind.is_empty() {
            (
                1,
                vec!["KITA_ID_EXTERN und KIND_ID_EXTERN müssen gefüllt sein".to_string()],
            )
        } else if let Some(messages) = b
            .reject
            .get(&kind)
            .filter(|_| !state.log().corrected.contains(&kind))
        {
            (1, messages.clone())
        } else {
            imported += 1;
            (0, Vec::new())
        };
        entries.push(json!({
            "KIND_ID_EXTERN": kind,
            "KITA_ID_EXTERN": kita,
            "status": status,
            "meldungen": meldungen,
        }));
    }
    let datenquelle_id = {
        let mut log = state.log();
        log.records.extend(records.iter().cloned());
        if let Some(k) = &request.idempotency_key {
            log.taken_keys.push(k.clone());
        }
        let id = log.next_datenquelle;
        log.next_datenquelle += 1;
        id
    };
    let n = records.len();
    let all = imported == n;
    let body = json!({
        "status": if all { 0 } else if imported > 0 { 1 } else { 2 },
        "nachricht": format!("{imported} von {n} Datensätzen importiert"),
        "fehlermeldung": Value::Null,
        "anzahlDatensaetze": n,
        "datenquelleId": datenquelle_id,
        "erledigtAm": if all { Value::String(today()) } else { Value::Null },
        "datensaetze": entries,
    });
    if !b.delay.is_zero() {
        sleep_unless_stopped(state, b.delay);
    }
    if b.gather > 1 {
        gather(state, b.gather);
    }
    if children.iter().any(|c| b.drop_answer.contains(c)) {
        return (0, Vec::new(), Vec::new());
    }
    (200, body.to_string().into_bytes(), Vec::new())
}

/// An import in progress, counted until dropped.
struct Importing<'a> {
    state: &'a State,
    children: Vec<String>,
}

impl<'a> Importing<'a> {
    fn enter(state: &'a State, children: Vec<String>) -> Self {
        let mut f = state.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        f.now += 1;
        f.most = f.most.max(f.now);
        for c in &children {
            let n = f.children.entry(c.clone()).or_default();
            *n += 1;
            let n = *n;
            f.most_of_one_child = f.most_of_one_child.max(n);
        }
        state.gathered.notify_all();
        Importing { state, children }
    }
}

impl Drop for Importing<'_> {
    fn drop(&mut self) {
        let mut f = self
            .state
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f.now -= 1;
        for c in &self.children {
            if let Some(n) = f.children.get_mut(c) {
                *n -= 1;
                if *n == 0 {
                    f.children.remove(c);
                }
            }
        }
    }
}

/// Waits until `n` imports have been in progress at once (from then on nothing waits),
/// the server stops, or [`GATHER_LIMIT`] passes.
fn gather(state: &State, n: usize) {
    let deadline = std::time::Instant::now() + GATHER_LIMIT;
    let mut f = state.in_flight.lock().unwrap_or_else(|e| e.into_inner());
    while f.most < n && !state.stop.load(Ordering::SeqCst) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let step = left.min(Duration::from_millis(100));
        f = state
            .gathered
            .wait_timeout(f, step)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

fn sleep_unless_stopped(state: &State, delay: Duration) {
    let step = Duration::from_millis(10);
    let mut left = delay;
    while !left.is_zero() && !state.stop.load(Ordering::SeqCst) {
        let d = left.min(step);
        thread::sleep(d);
        left -= d;
    }
}

fn error_body(status: u16, fehlermeldung: &str) -> Vec<u8> {
    json!({
        "status": 2,
        "nachricht": Value::Null,
        "fehlermeldung": format!("HTTP {status}: {fehlermeldung}"),
        "anzahlDatensaetze": 0,
        "datenquelleId": Value::Null,
        "erledigtAm": Value::Null,
        "datensaetze": [],
    })
    .to_string()
    .into_bytes()
}

/// Today (UTC) as `dd.MM.yyyy`.
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = i64::try_from(secs / 86_400).unwrap_or_default();
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{d:02}.{m:02}.{y:04}")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_head(
    w: &mut impl Write,
    status: u16,
    length: usize,
    close: bool,
    extra: &Extra,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {length}\r\nConnection: {}\r\n",
        reason(status),
        if close { "close" } else { "keep-alive" }
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.flush()
}

fn write_full(
    w: &mut impl Write,
    status: u16,
    body: &[u8],
    close: bool,
    extra: &Extra,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 256);
    write_head(&mut out, status, body.len(), close, extra)?;
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

fn write_response(w: &mut impl Write, status: u16, body: &[u8], close: bool) -> io::Result<()> {
    write_full(w, status, body, close, &Vec::new())
}

impl ServerHandle {
    /// The import URL, `https://127.0.0.1:<port>/kitaplaner/api/import`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}{IMPORT_PATH}", self.addr.port())
    }

    /// The same URL with the host name `localhost`.
    pub fn url_localhost(&self) -> String {
        format!("https://localhost:{}{IMPORT_PATH}", self.addr.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's master data was corrected at the receiver: from now on its records are
    /// imported, not rejected (what a person does before `hub requeue`).
    pub fn correct(&self, kind_id_extern: &str) {
        self.state
            .log()
            .corrected
            .insert(kind_id_extern.to_string());
    }

    /// The most imports that were in progress at once.
    pub fn most_in_flight(&self) -> usize {
        self.state
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .most
    }

    /// The most imports of one child (`KIND_ID_EXTERN`) that were in progress at once.
    pub fn most_of_one_child_in_flight(&self) -> usize {
        self.state
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .most_of_one_child
    }

    /// How many HTTP requests arrived (every method and path, answered or not yet).
    pub fn request_count(&self) -> usize {
        self.state.log().requests.len()
    }

    /// Every HTTP request read so far, in order, with the status it was answered with.
    pub fn requests(&self) -> Vec<Received> {
        self.state.log().requests.clone()
    }

    /// Every record an import took (not those of requests answered 503/401/400), in order.
    /// The same record twice means it arrived twice.
    pub fn records(&self) -> Vec<Value> {
        self.state.log().records.clone()
    }

    /// `KITA_ID_EXTERN/KIND_ID_EXTERN` of every record taken, in order.
    pub fn record_keys(&self) -> Vec<String> {
        self.state
            .log()
            .records
            .iter()
            .map(|r| {
                let id = |k: &str| {
                    r.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                format!("{}/{}", id("KITA_ID_EXTERN"), id("KIND_ID_EXTERN"))
            })
            .collect()
    }

    /// The client certificate subject CN of each request, in order.
    pub fn client_cns(&self) -> Vec<Option<String>> {
        self.state
            .log()
            .requests
            .iter()
            .map(|r| r.client_cn.clone())
            .collect()
    }

    /// TLS handshakes the server refused, with rustls's reason (e.g. an unknown issuer).
    pub fn tls_errors(&self) -> Vec<String> {
        self.state.log().tls_errors.clone()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for c in self
            .state
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_requests_with_bodies_and_keep_alive() {
        let raw = b"POST /kitaplaner/api/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: k1\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut stream = &raw[..];
        let mut buf = Vec::new();
        let a = read_request(&mut stream, &mut buf).unwrap().unwrap();
        assert_eq!((a.method.as_str(), a.path.as_str()), ("POST", IMPORT_PATH));
        assert_eq!(a.body, b"{}");
        assert_eq!(a.idempotency_key.as_deref(), Some("k1"));
        assert!(!a.close);
        let b = read_request(&mut stream, &mut buf).unwrap().unwrap();
        assert_eq!(b.method, "GET");
        assert!(b.close);
        assert!(read_request(&mut stream, &mut buf).unwrap().is_none());
    }

    #[test]
    fn today_is_a_german_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert_eq!(&t[2..3], ".");
        assert!(t.ends_with(|c: char| c.is_ascii_digit()));
    }
}
