//! Exactly once at the edges: where the hub cannot know whether a delivery arrived, it
//! holds it in doubt and a person settles it; it never sends blindly again. Tested
//! against receivers the hub did not write for: a Kita-Planer server that ignores
//! idempotency keys and answers HEAD with 501, a slow one, and folders holding someone
//! else's file.

use std::collections::BTreeMap;

use hub_test_kitaplaner_server::server::{self, Behaviour, ServerHandle};

use crate::common::{Site, kill_at, postings, run_and_kill};
use crate::kitaplaner::{children, enqueue, pki, site as kita_site};

/// Valid children of all three Kitas (several data sources), without the master-data
/// failures of the examples.
pub(crate) fn many_children(n: usize) -> String {
    hub_plugin_kitaplaner::examples::records(n * 2)
        .into_iter()
        .filter(|r| !r.body.contains("FEHLGESCHLAGEN"))
        .take(n)
        .map(|r| r.body + "\n")
        .collect()
}

/// A tiny deterministic generator, so a failing run can be repeated exactly.
pub(crate) struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Runs `hub send kita` with a crash point; kills it with SIGKILL when it gets there.
/// Returns whether it was killed (a run with nothing left to do ends by itself).
fn send_maybe_kill(site: &Site, fault: &str) -> bool {
    kill_at(site, &["send", "kita"], fault).is_ok()
}

/// What an operator does: asks the receiver whether the transfer's POST arrived (here:
/// the server's log of requests, by the idempotency key that names the transfer) and
/// settles accordingly. Returns how many doubts were settled.
pub(crate) fn settle_by_asking(site: &Site, srv: &ServerHandle) -> usize {
    let doubts: serde_json::Value =
        serde_json::from_str(&site.ok(&["doubt", "list", "--json"])).unwrap();
    let requests = srv.requests();
    let mut settled = 0;
    for d in doubts.as_array().unwrap() {
        assert_eq!(d["kind"], "unknown-outcome", "{d}");
        let transfer = d["transfer_id"].as_i64().unwrap();
        let prefix = format!("hub-{transfer}-");
        let arrived = requests.iter().any(|r| {
            r.method == "POST"
                && r.status == 200
                && r.idempotency_key
                    .as_deref()
                    .is_some_and(|k| k.starts_with(&prefix))
        });
        let how = if arrived {
            "--delivered"
        } else {
            "--not-delivered"
        };
        site.ok(&[
            "doubt",
            "settle",
            &transfer.to_string(),
            how,
            "--reason",
            "checked the import log of Kita-Planer",
            "--as",
            "ole",
        ]);
        settled += 1;
    }
    settled
}

#[test]
fn kill_9_at_random_points_against_a_receiver_that_ignores_idempotency_keys() {
    // POST-only (HEAD → 501) and no idempotency: a blind resend would import twice.
    let srv = server::start(pki(), Behaviour::default().post_only());
    let site = kita_site(&srv, &pki().client);
    // Data sources of at most 4 children: many transfers, so kills keep landing.
    let text = std::fs::read_to_string(site.config()).unwrap().replacen(
        "retry = {",
        "max_batch = 4\nretry = {",
        1,
    );
    site.write_config(&text);
    let input = many_children(480);
    enqueue(&site, &input);

    let points = ["requesting", "answered", "completed", "created", "encode"];
    let mut rng = Lcg(0x5eed_2026_1127);
    let (mut kills, mut doubts) = (0, 0);
    for _ in 0..34 {
        let fault = format!(
            "{}:{}",
            points[rng.next(points.len() as u64) as usize],
            1 + rng.next(3)
        );
        if send_maybe_kill(&site, &fault) {
            kills += 1;
        }
        // Whatever the kill left in doubt is held: no second POST for it.
        let before = srv.request_count();
        let held = site.status()["in_doubt"].as_array().unwrap().len();
        if held > 0 {
            // A run finishes open transfers before it creates a new one: stopped at its
            // first new transfer, it has had every chance to send the doubted one again.
            send_maybe_kill(&site, "created:1");
            let again: Vec<_> = srv.requests()[before..]
                .iter()
                .filter(|r| r.method == "POST")
                .map(|r| r.idempotency_key.clone().unwrap_or_default())
                .collect();
            for d in site.status()["in_doubt"].as_array().unwrap() {
                let prefix = format!("hub-{}-", d["transfer_id"]);
                assert!(
                    !again.iter().any(|k| k.starts_with(&prefix)),
                    "transfer {} in doubt was sent again: {again:?}",
                    d["transfer_id"]
                );
            }
        }
        doubts += settle_by_asking(&site, &srv);
    }
    assert!(
        kills >= 30,
        "only {kills} kills reached their point ({doubts} doubts)"
    );
    // Finish: send, settle what a last kill left, until nothing is queued or in doubt.
    for _ in 0..5 {
        site.run(&["send", "kita"]);
        if settle_by_asking(&site, &srv) == 0 {
            break;
        }
    }
    assert!(
        doubts > 0,
        "no kill left anything in doubt: the test saw nothing"
    );
    eprintln!("{kills} kills, {doubts} doubts settled by asking the receiver");

    // Every record imported exactly once: no loss, no double.
    let mut imports: BTreeMap<String, usize> = BTreeMap::new();
    for k in srv.record_keys() {
        *imports.entry(k).or_default() += 1;
    }
    let doubled: Vec<_> = imports.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "imported more than once: {doubled:?}");
    assert_eq!(imports.len(), 480, "records lost");
    let status = site.status();
    let c = &status["targets"][0];
    assert_eq!(c["delivered"], 480, "{c}");
    assert_eq!(
        (c["queued"].clone(), c["in_doubt"].clone()),
        (0.into(), 0.into()),
        "{c}"
    );
    // The reachability check sent no HEAD or GET: a handshake only.
    assert!(
        srv.requests().iter().all(|r| r.method == "POST"),
        "a request other than POST reached the server"
    );
    // Killed attempts show in the protocol log, and who settled what.
    let log = site.ok(&["log"]);
    assert!(
        log.contains("settled as delivered by ole")
            || log.contains("settled as not delivered by ole"),
        "{log}"
    );
}

#[test]
fn a_slow_server_gets_one_post_then_the_transfer_waits_in_doubt_for_a_person() {
    let srv = server::start(
        pki(),
        Behaviour::default()
            .post_only()
            .delay(std::time::Duration::from_millis(1500)),
    );
    let site = kita_site(&srv, &pki().client);
    let text = std::fs::read_to_string(site.config())
        .unwrap()
        .replace("timeout_ms = 5000", "timeout_ms = 300");
    site.write_config(&text);
    enqueue(&site, &children(4));
    let out = site.run(&["send", "kita"]);
    assert_ne!(out.code(), Some(0), "a send with a doubt is not done");
    assert!(out.stderr().contains("in doubt"), "{}", out.stderr());
    assert!(out.stdout().contains("unknown-outcome"), "{}", out.stdout());
    // The server takes the records before its slow answer: 4 records = one import.
    let posts = || srv.records().len() / 4;
    assert_eq!(posts(), 1);
    // Again, and again: no second POST.
    site.run(&["send", "kita"]);
    site.run(&["send", "kita"]);
    assert_eq!(posts(), 1, "the transfer in doubt was sent again");
    let status = site.status();
    assert_eq!(status["targets"][0]["in_doubt"], 4);
    assert_eq!(status["transfers"][0]["state"], "in-doubt");
    assert_eq!(status["in_doubt"][0]["kind"], "unknown-outcome");
    let human = site.ok(&["status"]);
    assert!(human.contains("In doubt"), "{human}");
    // The person asks Kita-Planer (it did import: the server took the records).
    assert_eq!(srv.records().len(), 4);
    site.ok(&[
        "doubt",
        "settle",
        "1",
        "--delivered",
        "--reason",
        "Datenquelle imported, seen in the portal",
        "--as",
        "anna",
    ]);
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 4);
    assert_eq!(status["transfers"][0]["state"], "done");
    let listed: serde_json::Value =
        serde_json::from_str(&site.ok(&["doubt", "list", "--all", "--json"])).unwrap();
    assert_eq!(listed[0]["settled_by"], "anna");
    assert_eq!(listed[0]["settled_as"], "delivered");
    site.ok(&["send", "kita"]);
    assert_eq!(posts(), 1);
    // Settling twice is refused.
    let again = site.run(&["doubt", "settle", "1", "--delivered", "--reason", "x"]);
    assert_ne!(again.code(), Some(0));
    assert!(
        again.stderr().contains("not in doubt"),
        "{}",
        again.stderr()
    );
}

const G_FILE: &str = "out/sermersooq/test/G/522-24-001-G.txt";

#[test]
fn someone_elses_file_under_the_final_name_is_a_conflict_never_delivered_never_replaced() {
    let site = Site::prisme("");
    std::fs::create_dir_all(site.path("out/sermersooq/test/G")).unwrap();
    std::fs::write(site.path(G_FILE), "not the hub's\r\n").unwrap();
    let input = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    for _ in 0..3 {
        let out = site.run(&["send", "prisme"]);
        assert_ne!(out.code(), Some(0));
        assert_eq!(
            std::fs::read_to_string(site.path(G_FILE)).unwrap(),
            "not the hub's\r\n"
        );
        // No temporary file of ours left beside it.
        assert_eq!(site.files("out"), ["sermersooq/test/G/522-24-001-G.txt"]);
    }
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 0);
    assert_eq!(status["targets"][0]["in_doubt"], 4);
    let d = &status["in_doubt"][0];
    assert_eq!(d["kind"], "conflict");
    assert_eq!(d["payload"], "sermersooq/test/G/522-24-001-G.txt");
    assert!(d["found"].as_str().unwrap().starts_with("15 bytes"), "{d}");
    assert!(d["expected"].as_str().unwrap().contains("sha256"), "{d}");
    assert_eq!(
        status["in_doubt"].as_array().unwrap().len(),
        1,
        "one doubt, not one per run"
    );
    // The operator moves the stranger's file away and has the hub's sent.
    std::fs::remove_file(site.path(G_FILE)).unwrap();
    site.ok(&[
        "doubt",
        "settle",
        "1",
        "--not-delivered",
        "--reason",
        "foreign file moved to quarantine",
        "--as",
        "ole",
    ]);
    site.ok(&["send", "prisme"]);
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 4);
    let text = std::fs::read_to_string(site.path(G_FILE)).unwrap();
    assert_eq!(text.matches("\r\n").count(), 4, "{text}");
}

#[test]
fn a_file_found_under_the_final_name_after_a_crash_is_delivered_only_if_it_is_ours() {
    // Killed after the rename, before the store recorded it; then someone replaces it.
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    run_and_kill(&site, &["send", "prisme"], "renamed");
    std::fs::write(site.path(G_FILE), "someone else's now\r\n").unwrap();
    let out = site.run(&["send", "prisme"]);
    assert_ne!(out.code(), Some(0));
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 0);
    assert_eq!(status["in_doubt"][0]["kind"], "conflict");
    assert_eq!(
        std::fs::read_to_string(site.path(G_FILE)).unwrap(),
        "someone else's now\r\n"
    );
}

#[test]
fn a_temporary_file_gone_without_a_final_one_is_in_doubt_not_delivered() {
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    // The complete temporary file is recorded, then it disappears (a cleanup job, or the
    // receiver took a file the hub had renamed without recording it).
    run_and_kill(&site, &["send", "prisme"], "recorded-uploaded");
    let temp = site.path("out/sermersooq/test/G/.522-24-001-G.txt.hub-part");
    assert!(temp.exists());
    std::fs::remove_file(&temp).unwrap();
    let out = site.run(&["send", "prisme"]);
    assert_ne!(out.code(), Some(0));
    assert!(site.files("out").is_empty(), "{:?}", site.files("out"));
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 0);
    assert_eq!(status["targets"][0]["in_doubt"], 4);
    assert_eq!(status["in_doubt"][0]["kind"], "vanished");
    // The killed attempt shows as started with its outcome unknown until settled.
    let log: serde_json::Value = serde_json::from_str(&site.ok(&["log", "--json"])).unwrap();
    let results: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["result"].as_str().unwrap())
        .collect();
    assert!(results.contains(&"unknown"), "{results:?}");
    // The receiver's log says it took the file: a person settles it as delivered.
    site.ok(&[
        "doubt",
        "settle",
        "1",
        "--delivered",
        "--reason",
        "Prisme job log shows 522-24-001-G.txt booked",
        "--as",
        "ole",
    ]);
    assert_eq!(site.status()["targets"][0]["delivered"], 4);
    assert!(site.files("out").is_empty());
}

#[test]
fn a_killed_request_shows_in_the_log_as_started_with_its_outcome_unknown() {
    let srv = server::start(pki(), Behaviour::default().post_only());
    let site = kita_site(&srv, &pki().client);
    enqueue(&site, &children(3));
    run_and_kill(&site, &["send", "kita"], "answered");
    let log = site.ok(&["log"]);
    assert!(log.contains("started, outcome unknown"), "{log}");
    // The next run looks instead of sending again: held in doubt, still one POST.
    site.run(&["send", "kita"]);
    assert_eq!(
        srv.requests().iter().filter(|r| r.method == "POST").count(),
        1
    );
    assert_eq!(site.status()["in_doubt"][0]["kind"], "unknown-outcome");
    // An operator cannot resolve a record in doubt by the record route; settle names it.
    let r = site.run(&["resolve", "child-0", "--reason", "x"]);
    assert_ne!(r.code(), Some(0));
}

/// The same in the service: a conflict shows in the API, the page's status, the metrics;
/// settled through the API, with the token's name kept; a record posted as NDJSON and
/// again as one JSON object with its keys in another order is one record.
#[test]
fn a_conflict_is_listed_and_settled_through_the_api() {
    use crate::api::{
        OPERATOR_A, SOURCE_A, Serve, client, get_json, municipality, post_ndjson, wait_for,
    };
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let g = dir.path().join("out-a/sermersooq/test/G/522-24-001-G.txt");
    std::fs::create_dir_all(g.parent().unwrap()).unwrap();
    std::fs::write(&g, "someone else's\r\n").unwrap();
    let serve = Serve::start(&config, &[]);
    let c = client();
    let records = serve.url("/api/v1/targets/prisme/records");
    let (status, r) = post_ndjson(&records, SOURCE_A, &postings(1, 1));
    assert_eq!((status, r["queued"].clone()), (200, 2.into()), "{r}");
    // The first posting again, as application/json with its keys reversed.
    let line = postings(1, 1).lines().next().unwrap().to_string();
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line).unwrap();
    let reversed: Vec<String> = v.iter().rev().map(|(k, v)| format!("{k:?}: {v}")).collect();
    let r = c
        .post(&records)
        .bearer_auth(SOURCE_A)
        .header("content-type", "application/json")
        .body(format!("{{ {} }}", reversed.join(", ")))
        .send()
        .unwrap();
    let r: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(
        (r["queued"].clone(), r["duplicates"].clone()),
        (0.into(), 1.into()),
        "{r}"
    );

    let send = || {
        let r = c
            .post(serve.url("/api/v1/targets/prisme/send"))
            .bearer_auth(SOURCE_A)
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
    };
    send();
    let doubts = || get_json(&serve.url("/api/v1/doubts"), OPERATOR_A).1;
    wait_for("the conflict", Duration::from_secs(20), || {
        doubts()["in_doubt"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let d = doubts()["in_doubt"][0].clone();
    assert_eq!(d["kind"], "conflict", "{d}");
    assert_eq!(std::fs::read_to_string(&g).unwrap(), "someone else's\r\n");
    let (_, status) = get_json(&serve.url("/api/v1/status"), OPERATOR_A);
    let prisme = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "prisme")
        .unwrap()
        .clone();
    assert_eq!(prisme["counts"]["in_doubt"], 2, "{prisme}");
    assert_eq!(prisme["in_doubt"][0]["kind"], "conflict");
    let metrics = c.get(serve.url("/metrics")).send().unwrap().text().unwrap();
    assert!(
        metrics.contains("hub_transfers_in_doubt{config=\"a\",target=\"prisme\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hub_records{config=\"a\",target=\"prisme\",state=\"in_doubt\"} 2"));

    let settle = serve.url(&format!("/api/v1/transfers/{}/settle", d["transfer_id"]));
    let post = |token: &str, body: &str| {
        let r = c
            .post(&settle)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap())
    };
    let (status, text) = post(OPERATOR_A, r#"{"delivered": false, "reason": "  "}"#);
    assert_eq!(status, 400, "{text}");
    let (status, text) = post(OPERATOR_A, r#"{"delivered": "no", "reason": "x"}"#);
    assert_eq!(status, 400, "{text}");
    std::fs::remove_file(&g).unwrap();
    let (status, text) = post(
        OPERATOR_A,
        r#"{"delivered": false, "reason": "foreign file moved to quarantine"}"#,
    );
    assert_eq!(status, 200, "{text}");
    let (status, text) = post(OPERATOR_A, r#"{"delivered": false, "reason": "again"}"#);
    assert_eq!(status, 409, "settled twice: {text}");
    send();
    wait_for("the hub's own file", Duration::from_secs(20), || g.exists());
    wait_for("delivered", Duration::from_secs(20), || {
        get_json(&serve.url("/api/v1/targets/prisme/records/p1d"), SOURCE_A).1["records"][0]["state"]
            == "delivered"
    });
    let all = crate::api::store_status(&config);
    assert_eq!(all["in_doubt"].as_array().unwrap().len(), 0);
    let log: Vec<String> = serve.stderr.try_iter().collect();
    assert!(
        log.iter().any(|l| l.contains("api: settle")),
        "the settlement is not in the service log"
    );
}

/// A site whose `ask` target posts through the `asking` test plugin, which knows how to
/// ask the receiver about an earlier request (contract 0.1.1 `inquiry`).
fn asking_site(srv: &ServerHandle, timeout_ms: u64) -> Site {
    let site = kita_site(srv, &pki().client);
    let text = std::fs::read_to_string(site.config()).unwrap();
    let text = text.replacen(
        "[[target]]",
        &format!(
            r#"[plugins.asking]
path = "{}"

[[target]]
name = "ask"
plugin = "asking"
credential = "kita-central"
retry = {{ attempts = 2, backoff_ms = 0 }}
transport = {{ type = "http", url = "{}", ca_file = "{}", timeout_ms = {timeout_ms} }}

[[target]]"#,
            crate::common::plugin("test-asking").display(),
            srv.url(),
            pki().ca_pem.display(),
        ),
        1,
    );
    site.write_config(&text);
    site
}

#[test]
fn where_the_receiver_can_be_asked_the_hub_asks_instead_of_holding() {
    // The answer comes after the timeout, but the receiver took the records: asked, it
    // says so, and the records are delivered without a person and without a second POST.
    let srv = server::start(
        pki(),
        Behaviour::default()
            .post_only()
            .status_query()
            .delay(std::time::Duration::from_millis(1500)),
    );
    let site = asking_site(&srv, 300);
    let input = site.write("c.ndjson", &children(3));
    site.ok(&["enqueue", "ask", input.to_str().unwrap()]);
    let out = site.ok(&["send", "ask"]);
    assert!(out.contains("3 record(s) delivered"), "{out}");
    assert_eq!(srv.records().len(), 3, "imported more than once");
    let status = site.status();
    assert!(
        status["in_doubt"].as_array().unwrap().is_empty(),
        "{status}"
    );
    let log = site.ok(&["log"]);
    assert!(log.contains("asked: arrived"), "{log}");
    assert!(
        log.contains("/kitaplaner/api/import/status?key=hub-1-"),
        "{log}"
    );
}

#[test]
fn a_killed_request_the_receiver_never_got_is_sent_again_after_asking() {
    let srv = server::start(pki(), Behaviour::default().post_only().status_query());
    let site = asking_site(&srv, 5000);
    let input = site.write("c.ndjson", &children(3));
    site.ok(&["enqueue", "ask", input.to_str().unwrap()]);
    // Killed after the attempt was recorded as started, before the POST left.
    run_and_kill(&site, &["send", "ask"], "requesting");
    assert!(srv.records().is_empty());
    site.ok(&["send", "ask"]);
    assert_eq!(srv.records().len(), 3, "not sent again, or sent twice");
    let log = site.ok(&["log"]);
    assert!(log.contains("asked: not arrived"), "{log}");
    assert_eq!(site.status()["targets"][0]["delivered"], 3);
    // Killed after the answer came, before it was recorded: asked, it arrived.
    let more: String = hub_plugin_kitaplaner::examples::records(20)
        .into_iter()
        .skip(10)
        .filter(|r| r.body.contains("\"010570012\""))
        .take(2)
        .map(|r| r.body + "\n")
        .collect();
    let input = site.write("d.ndjson", &more);
    site.ok(&["enqueue", "ask", input.to_str().unwrap()]);
    run_and_kill(&site, &["send", "ask"], "answered");
    assert_eq!(srv.records().len(), 5);
    site.ok(&["send", "ask"]);
    assert_eq!(srv.records().len(), 5, "sent again although it arrived");
    let status = site.status();
    assert!(
        status["in_doubt"].as_array().unwrap().is_empty(),
        "{status}"
    );
}
