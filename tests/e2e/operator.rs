//! A person's actions on what the target refused or could not take yet: `hub requeue`
//! (a rejected record sent again after its data was corrected at the receiver) and `hub
//! retry` (an open transfer delivered now), by CLI and through the API, against the real
//! Kita-Planer test server over mutual TLS.

use std::time::Duration;

use hub_test_kitaplaner_server::server::{self, Behaviour};

use crate::api::{OPERATOR_A, Serve, client, wait_for};
use crate::kitaplaner::{children, enqueue, pki, site};

/// The record's id and its `KIND_ID_EXTERN`, of every line.
fn ids_of(ndjson: &str) -> Vec<(String, String)> {
    ndjson
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (s("id"), s("KIND_ID_EXTERN"))
        })
        .collect()
}

/// How often the server took a record of this child.
fn taken(srv: &server::ServerHandle, kind: &str) -> usize {
    srv.records()
        .iter()
        .filter(|r| r["KIND_ID_EXTERN"] == kind)
        .count()
}

#[test]
fn a_rejected_record_is_sent_again_once_after_its_master_data_was_corrected() {
    let text = children(3);
    let ids = ids_of(&text);
    let (bad, bad_kind) = (ids[1].0.as_str(), ids[1].1.as_str());
    let srv = server::start(
        pki(),
        Behaviour::default().reject(bad_kind, &["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]),
    );
    let site = site(&srv, &pki().client);
    enqueue(&site, &text);
    assert_eq!(site.run(&["send", "kita"]).code(), Some(1));
    assert_eq!(site.status()["transfers"][0]["state"], "needs-check");

    // Not a rejected record, no reason, an unknown one: refused, nothing changes.
    let r = site.run(&["requeue", &ids[0].0, "--reason", "again"]);
    assert_ne!(r.code(), Some(0));
    assert!(
        r.stderr()
            .contains("is delivered; only rejected or failed records can be requeued"),
        "{}",
        r.stderr()
    );
    assert_ne!(site.run(&["requeue", bad, "--reason", " "]).code(), Some(0));
    let r = site.run(&["requeue", "nobody", "--reason", "x"]);
    assert!(r.stderr().contains("no record nobody"), "{}", r.stderr());

    srv.correct(bad_kind);
    let out = site.ok(&[
        "requeue",
        bad,
        "--reason",
        "child added to the master data",
        "--as",
        "ole",
    ]);
    assert!(out.contains("queued again as #4 by ole"), "{out}");
    assert!(out.contains("transfer #1 is done"), "{out}");
    let status = site.status();
    assert_eq!(status["targets"][0]["queued"], 1);
    assert!(status["needs_check"].as_array().unwrap().is_empty());

    let out = site.ok(&["send", "kita"]);
    assert!(out.contains("1 record(s) delivered"), "{out}");
    // Taken twice by the receiver: refused once, imported once; the others once.
    assert_eq!(taken(&srv, bad_kind), 2);
    assert_eq!(taken(&srv, &ids[0].1), 1);
    let status = site.status();
    let states: Vec<&str> = status["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["done", "done"]);
    // Once: the newest is delivered now.
    let r = site.run(&["requeue", bad, "--reason", "again"]);
    assert!(r.stderr().contains("is delivered"), "{}", r.stderr());
    site.ok(&["send", "kita"]);
    assert_eq!(taken(&srv, bad_kind), 2);
    let audit = site.ok(&["audit", "export"]);
    let requeues: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "requeue")
        .collect();
    assert_eq!(requeues.len(), 1, "{audit}");
    assert_eq!(requeues[0]["actor"], "ole");
    assert_eq!(requeues[0]["detail"], "child added to the master data");
}

#[test]
fn retry_delivers_an_open_transfer_now_and_nothing_new() {
    // Three 503s: the send's three attempts fail and leave transfer #1 open.
    let srv = server::start(pki(), Behaviour::default().fail_first(3));
    let site = site(&srv, &pki().client);
    enqueue(&site, &children(2));
    assert_eq!(site.run(&["send", "kita"]).code(), Some(1));
    assert_eq!(site.status()["transfers"][0]["state"], "open");
    assert!(srv.records().is_empty());
    // Queued after the failure: a retry does not number or send it.
    let later = children(4)
        .lines()
        .skip(2)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    enqueue(&site, &later);

    let r = site.run(&["retry", "#1", "--reason", " "]);
    assert!(
        r.stderr().contains("a retry needs a reason"),
        "{}",
        r.stderr()
    );
    let out = site.ok(&["retry", "#1", "--reason", "receiver back up", "--as", "ole"]);
    assert!(out.contains("transfer #1 is done"), "{out}");
    assert_eq!(srv.records().len(), 2);
    let status = site.status();
    assert_eq!(status["targets"][0]["queued"], 2);
    assert_eq!(status["transfers"].as_array().unwrap().len(), 1);

    let r = site.run(&["retry", "1", "--reason", "again"]);
    assert_ne!(r.code(), Some(0));
    assert!(r.stderr().contains("transfer #1 is done"), "{}", r.stderr());
    let r = site.run(&["retry", "x1", "--reason", "again"]);
    assert!(
        r.stderr().contains("`x1` is not a transfer number"),
        "{}",
        r.stderr()
    );
    let audit = site.ok(&["audit", "export"]);
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"retry\"") && l.contains("receiver back up")),
        "{audit}"
    );
    assert_eq!(srv.records().len(), 2);
}

#[test]
fn requeue_and_retry_through_the_api() {
    let text = children(2);
    let ids = ids_of(&text);
    let srv = server::start(
        pki(),
        Behaviour::default()
            .fail_first(3)
            .reject(&ids[0].1, &["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]),
    );
    let site = site(&srv, &pki().client);
    let config = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&format!(
        "{config}\n[api]\noperator_token_env = \"HUB_OP_A\"\n"
    ));
    enqueue(&site, &text);
    // Transfer #1 left open by three 503s.
    assert_eq!(site.run(&["send", "kita"]).code(), Some(1));
    let serve = Serve::start(&site.config(), &[]);
    let c = client();
    let post = |path: &str, body: &str| {
        let r = c
            .post(serve.url(path))
            .bearer_auth(OPERATOR_A)
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        (status, body)
    };
    let (s, body) = post("/api/v1/transfers/1/retry", "{\"reason\":\"\"}");
    assert_eq!(s, 400, "{body}");
    let (s, body) = post(
        "/api/v1/transfers/1/retry",
        "{\"reason\":\"receiver back\"}",
    );
    assert_eq!(s, 202, "{body}");
    assert_eq!(body["target"], "kita");
    wait_for("the retry", Duration::from_secs(20), || {
        site.status()["transfers"][0]["state"] == "needs-check"
    });
    let (s, body) = post("/api/v1/transfers/1/retry", "{\"reason\":\"again\"}");
    assert_eq!(s, 409, "{body}");

    srv.correct(&ids[0].1);
    let path = format!("/api/v1/targets/kita/records/{}/requeue", ids[0].0);
    let (s, body) = post(&path, "{\"reason\":\"master data corrected\"}");
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["requeued"]["transfer_done"], 1);
    assert_eq!(body["requeued"]["record"]["state"], "resolved");
    let (s, body) = post(&path, "{\"reason\":\"twice\"}");
    assert_eq!(s, 409, "{body}");
    let (s, _) = post("/api/v1/targets/kita/send", "");
    assert_eq!(s, 202);
    wait_for("the requeued record", Duration::from_secs(20), || {
        srv.records()
            .iter()
            .filter(|r| r["KIND_ID_EXTERN"] == ids[0].1.as_str())
            .count()
            == 2
    });
    wait_for("its transfer done", Duration::from_secs(20), || {
        let status = site.status();
        status["needs_check"].as_array().is_some_and(Vec::is_empty)
            && status["targets"][0]["delivered"] == 2
    });
    assert_eq!(taken(&srv, &ids[1].1), 1);
}
