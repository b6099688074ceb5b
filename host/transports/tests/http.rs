//! The `http` transport against the Kita-Planer test server over real mutual TLS.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::Duration;

use hub_test_kitaplaner_server::{Behaviour, Identity, Pki, start};
use hub_transports::http::{ClientIdentity, HttpConfig, HttpTransport, Secret};
use hub_transports::{ErrorKind, Transport};
use serde_json::Value;

const JSON: &str = "application/json; charset=utf-8";

/// One PKI for all tests of this binary (key generation and .p12 writing take a moment).
fn pki() -> &'static Pki {
    static PKI: OnceLock<(tempfile::TempDir, Pki)> = OnceLock::new();
    let (_, pki) = PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        (dir, pki)
    });
    pki
}

fn config(url: &str) -> HttpConfig {
    HttpConfig {
        url: url.to_string(),
        ca_file: Some(pki().ca_pem.clone()),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        health_url: None,
    }
}

fn identity(name: &str, id: &Identity) -> ClientIdentity {
    ClientIdentity {
        name: name.to_string(),
        p12_file: id.p12.clone(),
        password: Secret::new(id.password.clone()),
    }
}

fn transport(url: &str, id: &Identity) -> HttpTransport {
    HttpTransport::new(config(url), Some(identity("kita-central", id))).unwrap()
}

fn body(kinds: &[&str]) -> Vec<u8> {
    let records: Vec<String> = kinds
        .iter()
        .map(|k| {
            format!(
                r#"{{"KITA_ID_EXTERN":"010570012","KIND_ID_EXTERN":"{k}","KIND_VORNAME":"Jörg"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"benutzerId":"forcare-central","traeger":"T-4711","datensaetze":[{}]}}"#,
        records.join(",")
    )
    .into_bytes()
}

fn one_line(message: &str) {
    eprintln!("message: {message}");
    assert!(!message.contains('\n'), "not one line: {message}");
}

#[test]
fn a_post_returns_the_per_record_answer() {
    let server = start(
        pki(),
        Behaviour::default().reject("K2", &["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]),
    );
    let mut t = transport(&server.url(), &pki().client);
    t.health().unwrap();
    let r = t
        .request(
            "datenquelle-1.json",
            JSON,
            &body(&["K1", "K2"]),
            "key-1",
            None,
        )
        .unwrap();
    assert_eq!(r.status, Some(200));
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/json"))
    );
    let answer: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(answer["status"], 1);
    assert_eq!(answer["anzahlDatensaetze"], 2);
    assert_eq!(answer["datensaetze"][0]["KIND_ID_EXTERN"], "K1");
    assert_eq!(answer["datensaetze"][0]["status"], 0);
    assert_eq!(answer["datensaetze"][1]["status"], 1);
    assert_eq!(
        answer["datensaetze"][1]["meldungen"][0],
        "STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"
    );
    // What the server saw: the headers, the client certificate, each record once.
    let posts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].idempotency_key.as_deref(), Some("key-1"));
    assert_eq!(posts[0].content_type.as_deref(), Some(JSON));
    assert_eq!(
        posts[0].client_cn.as_deref(),
        Some(pki().client.cn.as_str())
    );
    assert_eq!(
        server.record_keys(),
        ["010570012/K1".to_string(), "010570012/K2".to_string()]
    );
    // Second request on the same transport (keep-alive or not) works as well.
    let r = t
        .request("datenquelle-2.json", JSON, &body(&["K3"]), "key-2", None)
        .unwrap();
    assert_eq!(r.status, Some(200));
    assert_eq!(server.records().len(), 3);
}

#[test]
fn the_credential_name_is_reported_and_the_endpoint_has_no_userinfo() {
    let url = "https://user:pw@127.0.0.1:9/kitaplaner/api/import";
    let t = transport(url, &pki().client);
    assert_eq!(t.credential().as_deref(), Some("kita-central"));
    assert_eq!(t.endpoint(), "https://127.0.0.1:9/kitaplaner/api/import");
    assert!(!t.delivers_files());
    let debug = format!("{t:?}");
    assert!(!debug.contains(&pki().client.password), "{debug}");
}

#[test]
fn debug_of_an_identity_hides_the_password() {
    let id = identity("kita-central", &pki().client);
    let debug = format!("{id:?}");
    assert!(!debug.contains(&pki().client.password), "{debug}");
    assert!(debug.contains("***"), "{debug}");
    assert!(debug.contains("kita-central"), "{debug}");
}

#[test]
fn a_503_is_an_answer_not_an_error() {
    let server = start(pki(), Behaviour::default().fail_first(1));
    let mut t = transport(&server.url(), &pki().client);
    let r = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap();
    assert_eq!(r.status, Some(503));
    assert!(String::from_utf8_lossy(&r.body).contains("Wartungsarbeiten"));
    assert!(server.records().is_empty());
    let r = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap();
    assert_eq!(r.status, Some(200));
    assert_eq!(server.record_keys(), ["010570012/K1".to_string()]);
}

#[test]
fn a_401_is_an_answer_not_an_error() {
    let server = start(pki(), Behaviour::default().require_user("someone-else"));
    let mut t = transport(&server.url(), &pki().client);
    let r = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap();
    assert_eq!(r.status, Some(401));
    let answer: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        answer["fehlermeldung"]
            .as_str()
            .unwrap()
            .contains("forcare-central")
    );
    assert!(server.records().is_empty());
}

#[test]
fn a_wrong_p12_password_is_permanent_and_never_shown() {
    let mut id = identity("kita-central", &pki().client);
    id.password = Secret::new("falsches-passwort-42");
    let e = HttpTransport::new(config("https://127.0.0.1:9/x"), Some(id)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("kita-central"), "{}", e.message);
    assert!(
        e.message.contains(&pki().client.p12.display().to_string()),
        "{}",
        e.message
    );
    assert!(e.message.contains("wrong password"), "{}", e.message);
    assert!(!e.message.contains("falsches-passwort-42"), "{}", e.message);
    one_line(&e.message);
}

#[test]
fn a_missing_p12_is_permanent() {
    let mut id = identity("kita-central", &pki().client);
    id.p12_file = pki().dir.join("nope.p12");
    let e = HttpTransport::new(config("https://127.0.0.1:9/x"), Some(id)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("nope.p12"), "{}", e.message);
    assert!(e.message.contains("kita-central"), "{}", e.message);
    one_line(&e.message);
}

#[test]
fn an_untrusted_client_certificate_is_permanent() {
    let server = start(pki(), Behaviour::default());
    let mut t = HttpTransport::new(
        config(&server.url()),
        Some(identity("fremd", &pki().client_untrusted)),
    )
    .unwrap();
    let e = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message
            .contains("server rejected the client certificate fremd"),
        "{}",
        e.message
    );
    assert!(e.message.contains("UnknownCA"), "{}", e.message);
    one_line(&e.message);
    assert!(server.records().is_empty());
    assert_eq!(server.request_count(), 0);
    // The health check sees the same.
    assert_eq!(t.health().unwrap_err().kind, ErrorKind::Permanent);
}

#[test]
fn no_client_certificate_is_permanent() {
    let server = start(pki(), Behaviour::default());
    let mut t = HttpTransport::new(config(&server.url()), None).unwrap();
    let e = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(e.message.contains("CertificateRequired"), "{}", e.message);
    assert!(server.records().is_empty());
}

#[test]
fn a_server_certificate_we_do_not_trust_is_permanent() {
    let server = start(pki(), Behaviour::default());
    // No CA file: the platform's roots do not know the test CA.
    let mut no_ca = config(&server.url());
    no_ca.ca_file = None;
    let mut t = HttpTransport::new(no_ca, Some(identity("kita-central", &pki().client))).unwrap();
    let e = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(
        e.message.contains("server's certificate is not trusted"),
        "{}",
        e.message
    );
    one_line(&e.message);
    // The wrong CA file: the same.
    let mut other = config(&server.url());
    other.ca_file = Some(pki().other_ca_pem.clone());
    let mut t = HttpTransport::new(other, Some(identity("kita-central", &pki().client))).unwrap();
    let e = t.health().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{}", e.message);
    assert!(server.records().is_empty());
}

#[test]
fn a_server_that_is_down_is_retryable() {
    // A port that was just free: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{port}/kitaplaner/api/import");
    let mut t = transport(&url, &pki().client);
    let e = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{}", e.message);
    assert!(e.message.contains(&url), "{}", e.message);
    one_line(&e.message);
    assert_eq!(t.health().unwrap_err().kind, ErrorKind::Retryable);
}

#[test]
fn a_slow_server_beyond_the_timeout_is_unknown() {
    let server = start(
        pki(),
        Behaviour::default().delay(Duration::from_millis(1500)),
    );
    let mut short = config(&server.url());
    short.timeout = Duration::from_millis(400);
    let mut t = HttpTransport::new(short, Some(identity("kita-central", &pki().client))).unwrap();
    let e = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unknown, "{}", e.message);
    assert!(e.message.contains("may have arrived"), "{}", e.message);
    one_line(&e.message);
    // It did arrive: the server took the record before it stalled.
    assert_eq!(server.record_keys(), ["010570012/K1".to_string()]);
}

#[test]
fn a_legacy_p12_works() {
    let server = start(pki(), Behaviour::default());
    let mut t = HttpTransport::new(
        config(&server.url()),
        Some(identity("kita-legacy", &pki().client_legacy)),
    )
    .unwrap();
    assert_eq!(t.credential().as_deref(), Some("kita-legacy"));
    let r = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap();
    assert_eq!(r.status, Some(200));
    assert_eq!(server.client_cns(), [Some(pki().client_legacy.cn.clone())]);
}

#[test]
fn an_expired_client_certificate_is_permanent() {
    let e = HttpTransport::new(
        config("https://127.0.0.1:9/x"),
        Some(identity("kita-alt", &pki().client_expired)),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("kita-alt"), "{}", e.message);
    assert!(e.message.contains("expired"), "{}", e.message);
    assert!(
        e.message
            .contains(&pki().client_expired.p12.display().to_string()),
        "{}",
        e.message
    );
    one_line(&e.message);
}

#[test]
fn records_arrive_exactly_once_over_many_requests() {
    let server = start(pki(), Behaviour::default());
    let mut t = transport(&server.url(), &pki().client);
    for i in 0..20 {
        let kind = format!("K{i}");
        let r = t
            .request(
                "d.json",
                JSON,
                &body(&[kind.as_str()]),
                &format!("key-{i}"),
                None,
            )
            .unwrap();
        assert_eq!(r.status, Some(200));
    }
    let keys = server.record_keys();
    assert_eq!(keys.len(), 20);
    let unique: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), 20);
    assert!(
        server
            .client_cns()
            .iter()
            .all(|cn| cn.as_deref() == Some(pki().client.cn.as_str()))
    );
}

#[test]
fn reachability_is_a_handshake_that_sends_no_request_so_a_post_only_server_works() {
    // Like Python's http.server or many Java stacks: HEAD and GET answer 501.
    let server = start(pki(), Behaviour::default().post_only());
    let mut t = transport(&server.url(), &pki().client);
    t.health().unwrap();
    t.health().unwrap();
    assert_eq!(server.request_count(), 0, "the check sent a request");
    let r = t
        .request("datenquelle-1.json", JSON, &body(&["K1"]), "key-1", None)
        .unwrap();
    assert_eq!(r.status, Some(200));
    // A health URL is asked only where configured, with GET; a 501 there is reported.
    let mut with_url = config(&server.url());
    with_url.health_url = Some(server.url());
    let mut t =
        HttpTransport::new(with_url, Some(identity("kita-central", &pki().client))).unwrap();
    let e = t.health().unwrap_err();
    assert!(
        e.message.contains("health URL answered HTTP 501"),
        "{}",
        e.message
    );
    one_line(&e.message);
    let plain = start(pki(), Behaviour::default());
    let mut with_url = config(&plain.url());
    with_url.health_url = Some(plain.url());
    let mut t =
        HttpTransport::new(with_url, Some(identity("kita-central", &pki().client))).unwrap();
    t.health().unwrap();
    assert_eq!(
        plain
            .requests()
            .iter()
            .map(|r| r.method.as_str())
            .collect::<Vec<_>>(),
        ["GET"]
    );
}
