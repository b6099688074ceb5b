//! An operator pauses a target: `hub send` refuses and says why and how to resume, nothing
//! is numbered or written, records still queue; `hub status` shows the pause; a resume
//! sends everything once; both are in the audit trail.

use crate::common::{Site, postings};

#[test]
fn a_paused_target_sends_nothing_until_resumed_and_then_everything_once() {
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    let out = site.ok(&[
        "pause",
        "prisme",
        "--reason",
        "Prisme job stuck, ticket 4711",
    ]);
    assert!(out.contains("paused"), "{out}");
    let unknown = site.run(&["pause", "prisme2", "--reason", "typo"]);
    assert!(
        unknown.code() != Some(0) && unknown.stderr().contains("no target `prisme2`"),
        "{}",
        unknown.stderr()
    );

    let refused = site.run(&["send", "prisme"]);
    assert!(refused.code() != Some(0), "{}", refused.stdout());
    let err = refused.stderr();
    assert!(
        err.contains("target prisme is paused")
            && err.contains("ticket 4711")
            && err.contains("hub resume prisme"),
        "{err}"
    );
    assert!(site.files("out").is_empty(), "{:?}", site.files("out"));
    // Records still queue while it is paused.
    let more = site.write("more.ndjson", &postings(1, 3));
    site.ok(&["enqueue", "prisme", more.to_str().unwrap()]);
    let status = site.status();
    assert_eq!(status["paused"][0]["target"], "prisme", "{status}");
    assert_eq!(
        status["paused"][0]["reason"],
        "Prisme job stuck, ticket 4711"
    );
    assert_eq!(
        status["transfers"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    assert!(site.ok(&["status"]).contains("paused: prisme"));

    site.ok(&["resume", "prisme"]);
    site.ok(&["send", "prisme"]);
    let files = site.files("out");
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(site.path(&format!("out/{}", files[0]))).unwrap();
    assert_eq!(text.matches("Posting").count(), 6, "{text}");
    site.ok(&["send", "prisme"]);
    assert_eq!(site.files("out").len(), 1, "sent once");
    let trail = site.ok(&["audit", "export"]);
    let actions: Vec<String> = trail
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .filter(|a| a == "pause" || a == "resume")
        .collect();
    assert_eq!(actions, ["pause", "resume"], "{trail}");
}
