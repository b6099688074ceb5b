//! Kita Planer end to end: the real `hub` binary against the test server over real mutual
//! TLS with .p12 client certificates.

use std::path::PathBuf;
use std::sync::OnceLock;

use hub_test_kitaplaner_server::pki::Pki;
use hub_test_kitaplaner_server::server::{self, Behaviour, ServerHandle};

use crate::common::{Site, plugin};

/// One test PKI for the whole test binary (key generation is the slow part).
pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<(tempfile::TempDir, Pki)> = OnceLock::new();
    &PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        (dir, pki)
    })
    .1
}

/// A site with the `kita` target POSTing to `server`; the central credential uses
/// `central` (a .p12 and its password, written to a password file).
pub(crate) fn site(
    server: &ServerHandle,
    central: &hub_test_kitaplaner_server::pki::Identity,
) -> Site {
    let pki = pki();
    let site = Site::prisme("");
    std::fs::write(site.path("central.pw"), format!("{}\n", central.password)).unwrap();
    let text = std::fs::read_to_string(site.config()).unwrap();
    let text = text.replacen(
        "[[target]]",
        &format!(
            r#"[plugins.kitaplaner]
path = "{plugin}"

[credentials.kita-central]
p12 = "{central_p12}"
password_file = "central.pw"

[credentials.kita-anna]
p12 = "{anna_p12}"
password_env = "HUB_TEST_ANNA_PW"

[[target]]
name = "kita"
plugin = "kitaplaner"
credential = "kita-central"
user_credentials = {{ anna = "kita-anna" }}
user_settings = {{ anna = {{ benutzer_id = "anna.k" }} }}
retry = {{ attempts = 3, backoff_ms = 0 }}
transport = {{ type = "http", url = "{url}", ca_file = "{ca}", timeout_ms = 5000 }}
[target.settings]
benutzer_id = "forcare-central"
traeger = "T-4711"

[[target]]"#,
            plugin = plugin("kitaplaner").display(),
            central_p12 = central.p12.display(),
            anna_p12 = pki.client_legacy.p12.display(),
            url = server.url(),
            ca = pki.ca_pem.display(),
        ),
        1,
    );
    site.write_config(&text);
    site
}

/// `n` children of one Kita (one data source) as NDJSON.
pub(crate) fn children(n: usize) -> String {
    hub_plugin_kitaplaner::examples::records(n * 3)
        .into_iter()
        .filter(|r| r.body.contains("\"010570012\""))
        .take(n)
        .map(|r| r.body + "\n")
        .collect()
}

fn kind_ids(ndjson: &str) -> Vec<String> {
    ndjson
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["KIND_ID_EXTERN"].as_str().unwrap().to_string()
        })
        .collect()
}

pub(crate) fn enqueue(site: &Site, text: &str) -> PathBuf {
    let input = site.write("children.ndjson", text);
    site.ok(&["enqueue", "kita", input.to_str().unwrap()]);
    input
}

#[test]
fn all_imported_the_data_source_is_done_and_every_record_arrived_once() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, &pki().client);
    let text = children(10);
    enqueue(&site, &text);
    let out = site.ok(&["send", "kita"]);
    assert!(
        out.contains("10 record(s) delivered, 0 need checking"),
        "{out}"
    );
    let mut keys = srv.record_keys();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 10);
    assert_eq!(srv.records().len(), 10, "a record arrived twice");
    let status = site.status();
    let t = &status["transfers"][0];
    assert_eq!(t["state"], "done");
    assert!(t["done_at"].is_string());
    let log: serde_json::Value = serde_json::from_str(&site.ok(&["log", "--json"])).unwrap();
    assert_eq!(log[0]["credential"], "kita-central");
    assert_eq!(log[0]["result"], "delivered");
    assert!(
        log[0]["received"]
            .as_str()
            .unwrap()
            .starts_with("status 200")
    );
    // The server saw the central certificate on the import.
    let posts: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(
        posts[0].client_cn.as_deref(),
        Some(pki().client.cn.as_str())
    );
}

#[test]
fn three_of_fifty_rejected_stay_open_until_resolved_by_hand() {
    let text = children(50);
    let ids = kind_ids(&text);
    let mut b = Behaviour::default();
    for id in [&ids[3], &ids[17], &ids[42]] {
        b = b.reject(id, &["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]);
    }
    let srv = server::start(pki(), b);
    let site = site(&srv, &pki().client);
    enqueue(&site, &text);
    // Not done while records need a person: exit 1, saying so.
    let r = site.run(&["send", "kita"]);
    assert_eq!(r.code(), Some(1), "{}", r.stderr());
    assert!(
        r.stderr().contains("3 record(s) rejected or failed"),
        "{}",
        r.stderr()
    );
    let out = r.stdout();
    assert!(
        out.contains("47 record(s) delivered, 3 need checking"),
        "{out}"
    );
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 47);
    assert_eq!(status["targets"][0]["failed"], 3);
    let t = &status["transfers"][0];
    assert_eq!(t["state"], "needs-check");
    assert!(t["done_at"].is_null());
    let rejected = status["needs_check"].as_array().unwrap();
    assert_eq!(rejected.len(), 3);
    for r in rejected {
        assert_eq!(r["state"], "rejected");
        let msgs: Vec<&str> = r["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert!(
            msgs.contains(&"STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"),
            "{msgs:?}"
        );
    }
    let human = site.ok(&["status"]);
    assert!(
        human.contains("STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"),
        "{human}"
    );
    for (i, r) in rejected.iter().enumerate() {
        let id = r["id"].as_str().unwrap();
        site.ok(&[
            "resolve",
            id,
            "--reason",
            "checked in the portal",
            "--as",
            "ole",
        ]);
        let state = site.status()["transfers"][0]["state"].clone();
        assert_eq!(state, if i < 2 { "needs-check" } else { "done" });
    }
}

#[test]
fn a_503_is_retried_and_each_record_arrives_once() {
    let srv = server::start(pki(), Behaviour::default().fail_first(1));
    let site = site(&srv, &pki().client);
    enqueue(&site, &children(5));
    let out = site.ok(&["send", "kita"]);
    assert!(out.contains("5 record(s) delivered"), "{out}");
    assert_eq!(srv.records().len(), 5);
    let log: serde_json::Value = serde_json::from_str(&site.ok(&["log", "--json"])).unwrap();
    let results: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["retryable", "delivered"]);
}

#[test]
fn wrong_password_untrusted_certificate_and_server_down_leave_records_queued() {
    let srv = server::start(pki(), Behaviour::default());
    // Wrong password: refused before connecting, secret not shown.
    let s1 = site(&srv, &pki().client);
    let site = &s1;
    std::fs::write(site.path("central.pw"), "not-the-password\n").unwrap();
    enqueue(site, &children(3));
    let r = site.run(&["-vv", "send", "kita"]);
    assert_eq!(r.code(), Some(1));
    let err = r.stderr();
    let last = err.lines().last().unwrap();
    assert!(
        last.contains("credential kita-central") && last.contains("wrong password"),
        "{last}"
    );
    assert!(!err.contains("not-the-password") && !r.stdout().contains("not-the-password"));
    let c = &site.status()["targets"][0];
    assert_eq!(
        (c["queued"].as_u64(), c["in_flight"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(site.status()["transfers"], serde_json::json!([]));

    // A certificate from a CA the server does not trust.
    let s2 = self::site(&srv, &pki().client_untrusted);
    let site = &s2;
    enqueue(site, &children(3));
    let r = site.run(&["send", "kita"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr()
            .contains("the server rejected the client certificate"),
        "{}",
        r.stderr()
    );
    assert_eq!(site.status()["targets"][0]["queued"], 3);
    assert_eq!(srv.records().len(), 0);

    // The server is down.
    let s3 = {
        let down = server::start(pki(), Behaviour::default());
        let s = self::site(&down, &pki().client);
        drop(down);
        s
    };
    let site = &s3;
    enqueue(site, &children(3));
    let r = site.run(&["send", "kita"]);
    assert_eq!(r.code(), Some(1));
    assert!(r.stderr().contains("cannot connect"), "{}", r.stderr());
    assert_eq!(site.status()["targets"][0]["queued"], 3);
}

#[test]
fn a_user_with_their_own_certificate_uses_it_others_use_the_central_one() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, &pki().client);
    enqueue(&site, &children(2));
    let out = site
        .cmd(&["--as", "anna", "send", "kita"])
        .env("HUB_TEST_ANNA_PW", &pki().client_legacy.password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    enqueue(&site, &children(4));
    site.ok(&["--as", "bernd", "send", "kita"]);
    let cns: Vec<String> = srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.client_cn.unwrap_or_default())
        .collect();
    assert_eq!(
        cns,
        [pki().client_legacy.cn.clone(), pki().client.cn.clone()]
    );
    // The body names the user whose certificate it travels with.
    let users: Vec<String> = srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["benutzerId"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(users, ["anna.k", "forcare-central"]);
    let log: serde_json::Value = serde_json::from_str(&site.ok(&["log", "--json"])).unwrap();
    assert_eq!(log[0]["credential"], "kita-anna");
    assert_eq!(log[1]["credential"], "kita-central");
    // anna's password comes from the environment; without it the error says which variable.
    enqueue(&site, &children(5));
    let r = site.run(&["--as", "anna", "send", "kita"]);
    assert!(
        r.stderr().contains("environment variable HUB_TEST_ANNA_PW"),
        "{}",
        r.stderr()
    );
}

#[test]
fn secrets_never_reach_logs_the_protocol_log_or_errors() {
    let srv = server::start(pki(), Behaviour::default().fail_first(1));
    let site = site(&srv, &pki().client);
    let password = &pki().client.password;
    enqueue(&site, &children(3));
    let r = site
        .cmd(&["-vv", "send", "kita"])
        .env("HUB_LOG", "debug")
        .output()
        .unwrap();
    assert!(r.status.success());
    let mut everything = String::from_utf8_lossy(&r.stdout).into_owned();
    everything.push_str(&String::from_utf8_lossy(&r.stderr));
    for args in [
        &["log", "--json"][..],
        &["log"],
        &["status", "--json"],
        &["plugins"],
    ] {
        everything.push_str(&site.ok(args));
    }
    assert!(
        everything.contains("kita-central"),
        "the credential's name is shown"
    );
    assert!(
        !everything.contains(password.as_str()),
        "the password leaked"
    );
    // Nor in the store's files.
    for file in ["data/hub.db", "data/hub.db-wal"] {
        let bytes = std::fs::read(site.path(file)).unwrap_or_default();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "{file}"
        );
    }
}

#[test]
fn realtime_sends_on_enqueue_and_waits_in_the_outbox_when_the_server_is_down() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, &pki().client);
    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&text.replace(
        "credential = \"kita-central\"",
        "credential = \"kita-central\"\nsending = \"realtime\"",
    ));
    let input = site.write("children.ndjson", &children(4));
    let out = site.ok(&["enqueue", "kita", input.to_str().unwrap()]);
    assert!(out.contains("sent at once: 4 record(s) delivered"), "{out}");
    assert_eq!(srv.records().len(), 4);

    // Server gone: the enqueue still succeeds, the records wait for the next try.
    drop(srv);
    let more = site.write(
        "more.ndjson",
        &children(6)
            .lines()
            .skip(4)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    let r = site.run(&["enqueue", "kita", more.to_str().unwrap()]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr());
    assert!(
        r.stderr().contains("queued, not sent yet"),
        "{}",
        r.stderr()
    );
    assert_eq!(site.status()["targets"][0]["queued"], 2);
}

#[test]
fn a_newer_snapshot_replaces_the_queued_one_and_only_it_is_sent() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, &pki().client);
    let one = children(1);
    let v1 = one.trim_end().to_string();
    let v2 = v1
        .replacen("\"id\":\"child-", "\"id\":\"v2-child-", 1)
        .replace("\"VER_GRUPPE\":\"Seesterne\"", "\"VER_GRUPPE\":\"Delfine\"");
    enqueue(&site, &format!("{v1}\n"));
    let input = site.write("v2.ndjson", &format!("{v2}\n"));
    let out = site.ok(&["enqueue", "kita", input.to_str().unwrap()]);
    assert!(out.contains("1 older snapshot(s) superseded"), "{out}");
    site.ok(&["send", "kita"]);
    let got = srv.records();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["VER_GRUPPE"], "Delfine");
    assert_eq!(site.status()["targets"][0]["superseded"], 1);
}

#[test]
fn a_windows_1252_export_is_read_when_its_encoding_is_named() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, &pki().client);
    let line = "{\"id\":\"c1\",\"kind\":\"child\",\"KITA_ID_EXTERN\":\"010570012\",\"KIND_ID_EXTERN\":\"K1\",\"SB1_VORNAME\":\"J\u{f6}rg\",\"VER_VERTRAG_AB\":\"01.08.2024\"}\n";
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(line);
    let input = site.path("export.ndjson");
    std::fs::write(&input, &latin).unwrap();
    let r = site.run(&["enqueue", "kita", input.to_str().unwrap()]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains("line 1, byte 94") && r.stderr().contains("--encoding"),
        "{}",
        r.stderr()
    );
    site.ok(&[
        "enqueue",
        "kita",
        input.to_str().unwrap(),
        "--encoding",
        "windows-1252",
    ]);
    site.ok(&["send", "kita"]);
    let records = srv.records();
    assert_eq!(records[0]["SB1_VORNAME"], "J\u{f6}rg");
}

#[test]
fn every_bad_field_of_every_bad_line_in_one_run() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, &pki().client);
    // Lines 1 and 2 are refused by the plugin's JSON Schema (contract 0.2.1) before the
    // plugin sees them, every problem with its path; line 3 passes the schema (keys
    // outside the table are strings it allows) and the plugin names each bad field.
    let text = "{\"id\":\"a\",\"kind\":\"child\",\"KITA_ID_EXTERN\":\"1\",\"KIND_ID_EXTERN\":\"K1\",\"KIND_GEBDATUM\":\"2021-11-05\"}\n\
                {\"id\":\"b\",\"kind\":\"child\",\"KITA_ID_EXTERN\":\"1\",\"KIND_ID_EXTERN\":\"K2\",\"VER_VERTRAG_AB\":\"01.08.2024\",\"WOHNHAFT_BEI\":\"oma\"}\n\
                {\"id\":\"c\",\"kind\":\"child\",\"KITA_ID_EXTERN\":\"1\",\"KIND_ID_EXTERN\":\"K3\",\"VER_VERTRAG_AB\":\"31.02.2024\",\"KIND_LIEBLINGSFARBE\":\"blau\"}\n";
    let input = site.write("bad.ndjson", text);
    let r = site.run(&["enqueue", "kita", input.to_str().unwrap()]);
    assert_eq!(r.code(), Some(1));
    let err = r.stderr();
    for part in [
        "line 1: record a: /: \"VER_VERTRAG_AB\" is a required property; /KIND_GEBDATUM: \"2021-11-05\" does not match",
        "line 2: record b: /WOHNHAFT_BEI: \"oma\" is not one of",
        "line 3: record c: ",
        "KIND_LIEBLINGSFARBE: unknown key",
        "VER_VERTRAG_AB: `31.02.2024` is not a date",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
}
