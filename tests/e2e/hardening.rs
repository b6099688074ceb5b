//! `hub serve` under slow and many clients, on loopback: slow headers and slow bodies are
//! cut off, a stop does not wait for them past its deadline, a burst of status calls is
//! shed while `/healthz`, `/metrics` and an enqueue still answer within a second, every
//! answer carries the security headers, requests and refused logins are logged, and
//! `/readyz` says when the store is stalled.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::api::{OPERATOR_A, SOURCE_A, Serve, client, municipality, post_ndjson};
use crate::common::postings;

/// Municipality `a` of `api.rs` with `[api.limits]` as given.
fn with_limits(dir: &Path, limits: &str) -> PathBuf {
    let config = municipality(dir, "a", "manual");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "[[api.tokens]]",
        &format!("[api.limits]\n{limits}\n\n[[api.tokens]]"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn host_port(serve: &Serve) -> String {
    serve.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or 10 s pass); what it said, and when.
fn read_until_closed(mut s: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn slow_headers_and_slow_bodies_are_cut_off_and_a_stop_does_not_wait_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(
        dir.path(),
        "header_timeout_ms = 300\nrequest_timeout_ms = 600\nshutdown_deadline_ms = 30000",
    );
    let serve = Serve::start(&config, &[]);
    let addr = host_port(&serve);
    // Headers that never end: the connection is closed after the header deadline.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        .unwrap();
    let (said, took) = read_until_closed(slow);
    assert!(took < Duration::from_secs(5), "slow headers kept {took:?}");
    assert!(!said.contains("200 OK"), "{said}");
    // A body that stops after one byte: 408 after the request deadline, nothing queued.
    let mut slow = TcpStream::connect(&addr).unwrap();
    write!(
        slow,
        "POST /api/v1/targets/prisme/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SOURCE_A}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let (said, took) = read_until_closed(slow);
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(took < Duration::from_secs(5), "a slow body kept {took:?}");
    drop(serve);

    // A stop waits for requests under way only until its deadline.
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(
        dir.path(),
        "request_timeout_ms = 60000\nshutdown_deadline_ms = 300",
    );
    let mut serve = Serve::start(&config, &[]);
    let mut slow = TcpStream::connect(host_port(&serve)).unwrap();
    write!(
        slow,
        "POST /api/v1/targets/prisme/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SOURCE_A}\r\n\
         Content-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    // Connections are accepted in order: once a later one is answered, the slow one is
    // being served (were it not, nothing would wait for the deadline, and the log line
    // asserted below would be missing).
    let r = client().get(serve.url("/healthz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let started = Instant::now();
    let status = serve.terminate();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "the stop took {took:?}");
    assert!(status.success(), "{status:?}");
    let log: Vec<String> = serve.stderr.try_iter().collect();
    assert!(
        log.iter().any(|l| l.contains("shutdown deadline")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn a_burst_of_status_calls_is_shed_while_health_metrics_and_enqueue_answer_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(dir.path(), "max_concurrent_reads = 2");
    let serve = Serve::start(&config, &[]);
    let (code, _) = post_ndjson(
        &serve.url("/api/v1/targets/prisme/records"),
        SOURCE_A,
        &postings(50, 1),
    );
    assert_eq!(code, 200);
    // 256 status calls from 64 clients at once.
    let status_url = serve.url("/api/v1/status");
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let url = status_url.clone();
            std::thread::spawn(move || {
                let c = client();
                (0..4)
                    .map(|_| {
                        let r = c.get(&url).bearer_auth(OPERATOR_A).send().unwrap();
                        let retry = r
                            .headers()
                            .get("retry-after")
                            .map(|v| v.to_str().unwrap().to_string());
                        (r.status().as_u16(), retry)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let c = client();
    let timed = |what: &str, f: &dyn Fn() -> u16| {
        let started = Instant::now();
        let code = f();
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{what} took {took:?} during the burst"
        );
        code
    };
    for round in 0..3 {
        assert_eq!(
            timed("/healthz", &|| c
                .get(serve.url("/healthz"))
                .send()
                .unwrap()
                .status()
                .as_u16()),
            200
        );
        assert_eq!(
            timed("/metrics", &|| c
                .get(serve.url("/metrics"))
                .send()
                .unwrap()
                .status()
                .as_u16()),
            200
        );
        assert_eq!(
            timed("an enqueue", &|| post_ndjson(
                &serve.url("/api/v1/targets/prisme/records"),
                SOURCE_A,
                &postings(1, 1000 + round),
            )
            .0),
            200
        );
    }
    let mut answers = Vec::new();
    for t in burst {
        answers.extend(t.join().unwrap());
    }
    assert_eq!(answers.len(), 256);
    for (code, retry) in &answers {
        match code {
            200 => {}
            503 => assert_eq!(retry.as_deref(), Some("1")),
            other => panic!("a status call got {other}"),
        }
    }
    // Every answer carries the security headers; requests and a refused login are logged.
    let page = c.get(serve.url("/")).send().unwrap();
    let h = page.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'self'")
    );
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let refused = c
        .get(serve.url("/api/v1/status"))
        .bearer_auth("not-a-token-at-all-000")
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    crate::api::wait_for("the access log", Duration::from_secs(10), || {
        let log: Vec<String> = serve.stderr.try_iter().collect();
        log.iter().any(|l| l.contains("login refused"))
    });
}

#[test]
fn readyz_reports_a_store_that_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(dir.path(), "ready_timeout_ms = 300");
    // The second store access of the API hangs (holding the site's store).
    let serve = Serve::start(&config, &[("HUB_FAULT", "api-store:2")]);
    let c = client();
    let r = c.get(serve.url("/readyz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for _ in 0..2 {
        let started = Instant::now();
        let r = c.get(serve.url("/readyz")).send().unwrap();
        assert_eq!(r.status().as_u16(), 503);
        let text = r.text().unwrap();
        assert!(text.contains("stalled"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // Health is the process, not the store.
    let r = c.get(serve.url("/healthz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// The next stderr line of `serve` that contains `text` (10 s at most).
fn await_stderr(serve: &Serve, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match serve.stderr.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(e) => panic!("no `{text}` on stderr: {e}"),
        }
    }
}

#[test]
fn reads_answer_while_a_write_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(dir.path(), "ready_timeout_ms = 300");
    // The first write of the API hangs while it holds the site's writing hub.
    let serve = Serve::start(&config, &[("HUB_FAULT", "api-store:1")]);
    let url = serve.url("/api/v1/targets/prisme/records");
    let held = std::thread::spawn(move || {
        // Answered only when the server goes away.
        let _ = reqwest::blocking::Client::new()
            .post(&url)
            .bearer_auth(SOURCE_A)
            .header("content-type", "application/x-ndjson")
            .body(postings(1, 1))
            .send();
    });
    await_stderr(&serve, "HUB-FAULT api-store");
    let c = client();
    for path in [
        "/api/v1/status",
        "/api/v1/targets/prisme/transfers?limit=5",
        "/api/v1/doubts",
        "/metrics",
    ] {
        let started = Instant::now();
        let r = c
            .get(serve.url(path))
            .bearer_auth(OPERATOR_A)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} waited {:?} for the write",
            started.elapsed()
        );
    }
    // Readiness names the writer that does not answer, and only it.
    let r = c.get(serve.url("/readyz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let text = r.text().unwrap();
    assert!(text.contains("a: the store is stalled"), "{text}");
    assert!(!text.contains("(reads)"), "{text}");
    drop(serve);
    held.join().unwrap();
}

#[test]
fn reads_answer_while_another_connection_holds_a_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(dir.path(), "ready_timeout_ms = 300");
    let serve = Serve::start(&config, &[]);
    let (code, _) = post_ndjson(
        &serve.url("/api/v1/targets/prisme/records"),
        SOURCE_A,
        &postings(3, 1),
    );
    assert_eq!(code, 200);
    // A writer elsewhere (another worker, `hub import`) in the middle of its transaction:
    // the store is in WAL, so the API's reads go on beside it.
    let db = rusqlite::Connection::open(dir.path().join("data-a/hub.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE; DELETE FROM schedule_looks;")
        .unwrap();
    let r = client()
        .get(serve.url("/api/v1/status"))
        .bearer_auth(OPERATOR_A)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    // Three balanced pairs: six postings.
    assert_eq!(body["targets"][0]["counts"]["queued"], 6, "{body}");
    db.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn readyz_reports_reads_that_do_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(dir.path(), "ready_timeout_ms = 300");
    // The second read of the API hangs (holding one read hub).
    let serve = Serve::start(&config, &[("HUB_FAULT", "api-read-store:2")]);
    let c = client();
    assert_eq!(c.get(serve.url("/readyz")).send().unwrap().status(), 200);
    let r = c.get(serve.url("/readyz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let text = r.text().unwrap();
    assert!(text.contains("the store (reads) is stalled"), "{text}");
}

/// 64 clients × 4 calls at once with room for one read: the same read from all of them
/// shares readings and is answered every time; different reads (each its own page) pass
/// the limit one by one, and the others are shed.
#[test]
fn identical_reads_share_one_reading_and_different_ones_are_shed_beyond_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_limits(dir.path(), "max_concurrent_reads = 1");
    let serve = Serve::start(&config, &[]);
    let (code, _) = post_ndjson(
        &serve.url("/api/v1/targets/prisme/records"),
        SOURCE_A,
        &postings(50, 1),
    );
    assert_eq!(code, 200);
    let burst = |path: &dyn Fn(usize) -> String| -> Vec<u16> {
        let threads: Vec<_> = (0..64)
            .map(|i| {
                let urls: Vec<String> = (0..4).map(|j| serve.url(&path(i * 4 + j))).collect();
                std::thread::spawn(move || {
                    let c = client();
                    urls.iter()
                        .map(|u| {
                            c.get(u)
                                .bearer_auth(OPERATOR_A)
                                .send()
                                .unwrap()
                                .status()
                                .as_u16()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    };
    let same = burst(&|_| "/api/v1/status".to_string());
    assert_eq!(same.len(), 256);
    assert!(same.iter().all(|&c| c == 200), "{same:?}");
    let different = burst(&|n| format!("/api/v1/targets/prisme/transfers?before={}", n + 1));
    assert!(
        different.iter().all(|&c| c == 200 || c == 503),
        "{different:?}"
    );
    assert!(different.contains(&503), "nothing was shed: {different:?}");
    assert!(
        different.contains(&200),
        "nothing was answered: {different:?}"
    );
}
