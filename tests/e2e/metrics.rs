//! `/metrics` of a real `hub serve`, checked by Prometheus' own `promtool check metrics`
//! (Debian's `prometheus` package, installed by tests/servers/install.sh): names, types,
//! `_total` counters, no stray `_sum`, a series for a target without records, the gauges
//! per target and the build info.

use std::io::Write;
use std::process::{Command, Stdio};

use std::time::Duration;

use crate::api::{SOURCE_A, Serve, client, municipality, post_ndjson, wait_for};
use crate::common::postings;

/// promtool, or why not (a missing tool fails in CI, as a missing PostgreSQL does).
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("promtool");
    }
    let reason = "promtool not installed (Debian package `prometheus`, tests/servers/install.sh)";
    assert!(std::env::var_os("CI").is_none(), "{reason}");
    eprintln!("skipped: {reason}");
    None
}

#[test]
fn a_real_scrape_passes_promtool_and_has_a_series_for_every_target() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let serve = Serve::start(&config, &[]);
    let (code, _) = post_ndjson(
        &serve.url("/api/v1/targets/prisme/records"),
        SOURCE_A,
        &postings(3, 1),
    );
    assert_eq!(code, 200);
    // Sent, so the protocol log and this process's send runs have counters.
    let sent = client()
        .post(serve.url("/api/v1/targets/prisme/send"))
        .bearer_auth(SOURCE_A)
        .send()
        .unwrap();
    assert_eq!(sent.status().as_u16(), 202);
    let delivered = "hub_records{config=\"a\",target=\"prisme\",state=\"delivered\"} 6";
    wait_for("the send", Duration::from_secs(30), || {
        let m = client().get(serve.url("/metrics")).send().unwrap();
        m.text().unwrap().contains(delivered)
    });
    let r = client().get(serve.url("/metrics")).send().unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().unwrap();
    for line in [
        "hub_records{config=\"a\",target=\"prisme\",state=\"queued\"} 0",
        "hub_attempts_total{config=\"a\",target=\"prisme\",result=\"delivered\"} 1",
        "hub_sends_total{config=\"a\",target=\"prisme\",outcome=\"ok\"} 1",
        // A configured target with no records has its series.
        "hub_records{config=\"a\",target=\"other\",state=\"queued\"} 0",
        "hub_records{config=\"a\",target=\"other\",state=\"rejected\"} 0",
        "hub_transfers_in_doubt{config=\"a\",target=\"other\"} 0",
        "hub_files_stuck{config=\"a\",target=\"prisme\"} 0",
        "hub_receipts_missing{config=\"a\",target=\"prisme\"} 0",
        "hub_last_success_timestamp_seconds{config=\"a\",target=\"other\"} 0",
        "# TYPE hub_attempts_total counter",
        "hub_build_info{version=\"",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
    assert!(
        text.contains("hub_oldest_queued_age_seconds{config=\"a\",target=\"prisme\"}"),
        "{text}"
    );
    assert!(!text.contains("_sum"), "{text}");
    let Some(tool) = promtool() else { return };
    let mut check = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
