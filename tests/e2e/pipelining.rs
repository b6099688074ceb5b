//! Pipelined requests to Kita-Planer: several transfers in flight at once, over real mutual
//! TLS, against a server that shows how many imports it had in progress at once. What is
//! tested is what a receiver sees: every record once, a lost answer held in doubt while the
//! rest of its window is delivered, a refused try retried within the target's attempts.

use hub_test_kitaplaner_server::server::{self, Behaviour, ServerHandle};

use crate::common::Site;
use crate::kitaplaner::{children, enqueue, pki, site as kita_site};

/// A Kita site sending one record per POST, `extra` added to the target.
fn site(srv: &ServerHandle, extra: &str) -> Site {
    let site = kita_site(srv, &pki().client);
    let text = std::fs::read_to_string(site.config()).unwrap().replacen(
        "retry = {",
        &format!("max_batch = 1\n{extra}\nretry = {{"),
        1,
    );
    site.write_config(&text);
    site
}

/// `KIND_ID_EXTERN` of a record line.
fn child(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["KIND_ID_EXTERN"].as_str().unwrap().to_string()
}

fn assert_each_once(srv: &ServerHandle, n: usize) {
    let mut keys = srv.record_keys();
    assert_eq!(keys.len(), n, "records taken: {keys:?}");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "a record arrived twice");
}

#[test]
fn by_default_six_requests_are_in_flight_and_every_record_arrives_once() {
    // The server answers only once six imports are in progress at once (or after
    // GATHER_LIMIT): a hub sending one at a time would make it wait each time.
    let srv = server::start(pki(), Behaviour::default().gather(6));
    let site = site(&srv, "");
    enqueue(&site, &children(24));
    let started = std::time::Instant::now();
    let out = site.ok(&["send", "kita"]);
    assert!(
        out.contains("24 transfer(s) created, 24 completed, 24 record(s) delivered"),
        "{out}"
    );
    assert_eq!(srv.most_in_flight(), 6);
    assert!(
        started.elapsed() < server::GATHER_LIMIT,
        "the first window waited for the server's limit: its requests did not go together"
    );
    assert_each_once(&srv, 24);
    let log: serde_json::Value = serde_json::from_str(&site.ok(&["log", "--json"])).unwrap();
    let results: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["result"].as_str().unwrap())
        .collect();
    assert_eq!(results.len(), 24, "{results:?}");
    assert!(results.iter().all(|r| *r == "delivered"), "{results:?}");
    assert_eq!(site.status()["in_doubt"].as_array().unwrap().len(), 0);
}

#[test]
fn max_in_flight_1_sends_one_request_at_a_time() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, "max_in_flight = 1");
    enqueue(&site, &children(8));
    site.ok(&["send", "kita"]);
    assert_eq!(srv.most_in_flight(), 1);
    assert_each_once(&srv, 8);
}

#[test]
fn a_lost_answer_in_a_window_is_held_in_doubt_and_the_others_are_delivered() {
    let text = children(12);
    let lost = child(text.lines().nth(3).unwrap());
    // The server takes the import of that child and closes the connection unanswered;
    // it ignores idempotency keys, so a second POST would import the child twice.
    let srv = server::start(pki(), Behaviour::default().drop_answer(&lost));
    let site = site(&srv, "");
    enqueue(&site, &text);
    site.run(&["send", "kita"]);
    let status = site.status();
    let doubts = status["in_doubt"].as_array().unwrap();
    assert_eq!(doubts.len(), 1, "{status}");
    assert_each_once(&srv, 12);
    let posts = srv.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 12, "a request went twice");

    // A second run sends nothing for it: whether it arrived is for a person to say.
    site.run(&["send", "kita"]);
    assert_eq!(
        srv.requests().iter().filter(|r| r.method == "POST").count(),
        12
    );
    assert_eq!(site.status()["in_doubt"].as_array().unwrap().len(), 1);
}

#[test]
fn a_refused_first_try_in_a_window_is_retried_within_the_targets_attempts() {
    // 503 to the first two imports: nothing imported, a retry may help.
    let srv = server::start(pki(), Behaviour::default().fail_first(2));
    let site = site(&srv, "");
    enqueue(&site, &children(10));
    let out = site.ok(&["send", "kita"]);
    assert!(out.contains("10 record(s) delivered"), "{out}");
    assert_each_once(&srv, 10);
    let posts = srv.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 12, "two refused tries and ten imports");
}

#[test]
fn a_window_s_answers_are_on_disk_before_the_next_window_s_requests_go_out() {
    // A window's answers are committed with the next window's starts, in one flush to
    // disk. Killed as the second window's first request is about to go out, the first
    // window's six imports must already be recorded as delivered: none is held in doubt
    // or sent again. The server ignores idempotency keys: a second POST would import twice.
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, "");
    enqueue(&site, &children(12));
    crate::common::run_and_kill(&site, &["send", "kita"], "requesting:7");
    assert_eq!(
        srv.requests().iter().filter(|r| r.method == "POST").count(),
        6,
        "only the first window went out"
    );
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 6, "{status}");
    // The second window's six were started and never sent: the next run looks, and what
    // it cannot know waits for a person; nothing is imported twice.
    site.run(&["send", "kita"]);
    let keys = srv.record_keys();
    let mut once = keys.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), keys.len(), "a record arrived twice: {keys:?}");
    let status = site.status();
    let delivered = status["targets"][0]["delivered"].as_u64().unwrap();
    let doubts = status["in_doubt"].as_array().unwrap().len() as u64;
    assert!(delivered >= 6, "{status}");
    assert_eq!(delivered + doubts, 12, "{status}");
}
