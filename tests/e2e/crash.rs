//! `kill -9` at every step of a send, then a normal run: every record arrives exactly once.
//!
//! The hub stops at a named step when `HUB_FAULT` says so and waits there; the test then
//! kills it with SIGKILL (no destructors, no flush, like a power cut of the process), runs
//! `hub send` again and counts files and records on the target side.

use crate::common::{Site, postings, run_and_kill};

/// Two pages → two transfers, four files (G and Q each).
pub(crate) fn input() -> String {
    let mut text = postings(3, 1);
    text.push_str(&postings(2, 50).replace("\"522\"", "\"586\""));
    for (id, page) in [("deb1", "522"), ("deb2", "586")] {
        text.push_str(&format!(
            "{{\"id\":\"{id}\",\"kind\":\"debtor\",\"page\":\"{page}\",\"fiscal_year\":\"2024\",\"debtor_no\":\"0101901234\",\"amount_ore\":200000,\"due_date\":\"20240301\",\"founded_date\":\"20240131\",\"period_from\":\"20240101\",\"period_to\":\"20240131\",\"reconciliation_key\":\"K-{id}\",\"texts\":[\"Vuggestue jan 2024\"]}}\n"
        ));
    }
    text
}

const EXPECTED_FILES: [&str; 4] = [
    "sermersooq/test/G/522-24-001-G.txt",
    "sermersooq/test/G/586-24-001-G.txt",
    "sermersooq/test/Q/522-24-001-Q.txt",
    "sermersooq/test/Q/586-24-001-Q.txt",
];

/// Runs `hub send prisme` until it reaches `fault`, then kills it with SIGKILL.
fn send_and_kill(site: &Site, fault: &str) {
    run_and_kill(site, &["send", "prisme"], fault);
}

/// Lines of every delivered file, and the hidden temporary files left over.
fn target_side(site: &Site) -> (Vec<String>, usize, usize) {
    let files = site.files("out");
    let (temps, finals): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|f| f.rsplit('/').next().is_some_and(|n| n.starts_with('.')));
    let lines = finals
        .iter()
        .map(|f| {
            std::fs::read(site.path(&format!("out/{f}")))
                .unwrap()
                .windows(2)
                .filter(|w| w == b"\r\n")
                .count()
        })
        .sum();
    (finals, lines, temps.len())
}

pub(crate) fn assert_exactly_once(site: &Site, fault: &str) {
    let (files, lines, temps) = target_side(site);
    assert_eq!(files, EXPECTED_FILES, "after {fault}");
    // 10 postings = 10 G lines; 2 debtors = 2 × (Trans 10 + 24 + one 26) Q lines.
    assert_eq!(lines, 10 + 6, "after {fault}: records missing or doubled");
    assert_eq!(temps, 0, "after {fault}: temporary files left behind");
    let status = site.status();
    let c = &status["targets"][0];
    assert_eq!(c["delivered"], 12, "after {fault}: {c}");
    assert_eq!(c["queued"], 0, "after {fault}");
    assert_eq!(c["in_flight"], 0, "after {fault}");
    let transfers = status["transfers"].as_array().unwrap();
    assert_eq!(
        transfers.len(),
        2,
        "after {fault}: a number was used twice or skipped"
    );
    for t in transfers {
        assert_eq!(t["state"], "done", "after {fault}: {t}");
        assert_eq!(t["sequence_no"], 1, "after {fault}: {t}");
    }
}

#[test]
fn kill_9_at_every_step_then_a_rerun_delivers_exactly_once() {
    for fault in [
        "encode",
        "created",
        "uploading",
        "uploaded-temp",
        "recorded-uploaded",
        "renamed",
        "completed",
        "uploaded-temp:3",
        "renamed:4",
        "created:2",
    ] {
        let site = Site::prisme("");
        let input = site.write("in.ndjson", &input());
        site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
        send_and_kill(&site, fault);
        let out = site.ok(&["send", "prisme"]);
        assert!(out.contains("prisme:"), "{out}");
        assert_exactly_once(&site, fault);
        // And a third run changes nothing.
        site.ok(&["send", "prisme"]);
        assert_exactly_once(&site, fault);
    }
}

#[test]
fn a_file_the_receiver_took_away_before_the_rerun_is_held_in_doubt_not_guessed() {
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    // Killed after the rename, before the store recorded it.
    send_and_kill(&site, "renamed");
    let file = site.path("out/sermersooq/test/G/522-24-001-G.txt");
    assert!(file.exists());
    // The Prisme job moves the file out of the folder.
    std::fs::create_dir_all(site.path("processed")).unwrap();
    std::fs::rename(&file, site.path("processed/522-24-001-G.txt")).unwrap();
    // Taken by the receiver, or removed by someone? The hub cannot know: not sent again,
    // not called delivered, held for a person.
    let out = site.run(&["send", "prisme"]);
    assert_ne!(out.code(), Some(0));
    assert!(
        site.files("out").is_empty(),
        "sent again: {:?}",
        site.files("out")
    );
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 0);
    assert_eq!(status["targets"][0]["in_doubt"], 4);
    assert_eq!(status["in_doubt"][0]["kind"], "vanished");
    site.ok(&[
        "doubt",
        "settle",
        "1",
        "--delivered",
        "--reason",
        "in the Prisme job's processed folder",
        "--as",
        "ole",
    ]);
    site.ok(&["send", "prisme"]);
    assert!(site.files("out").is_empty());
    assert_eq!(site.status()["targets"][0]["delivered"], 4);
}
