//! Prisme specifics: the receiving job's watch.

use crate::common::{Site, postings};

fn at(site: &Site, now: &str, args: &[&str]) -> String {
    let out = site.cmd(args).env("HUB_NOW", now).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_file_left_on_the_receiver_too_long_is_reported_until_the_job_takes_it() {
    let site = Site::prisme("");
    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&text.replacen(
        "utc_offset_minutes = -120",
        "utc_offset_minutes = -120\nstuck_after_minutes = 120",
        1,
    ));
    let input = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    // Sent at 12:00 (Site's fixed clock); an hour later nothing is said.
    site.ok(&["send", "prisme"]);
    let out = at(&site, "2024-02-01T13:00:00Z", &["send", "prisme"]);
    assert!(!out.contains("still on the receiver"), "{out}");
    // Three hours later the file is still there: reported by send and by status.
    let out = at(&site, "2024-02-01T15:00:00Z", &["send", "prisme"]);
    assert!(
        out.contains(
            "sermersooq/test/G/522-24-001-G.txt is still on the receiver after 180 minutes"
        ),
        "{out}"
    );
    let status: serde_json::Value = serde_json::from_str(&site.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["stuck"][0]["minutes_waiting"], 180);
    assert!(site.ok(&["status"]).contains("Files still on the receiver"));
    // The Prisme job runs and takes the file: no longer stuck, and the time is kept.
    std::fs::remove_file(site.path("out/sermersooq/test/G/522-24-001-G.txt")).unwrap();
    let out = at(&site, "2024-02-01T16:00:00Z", &["send", "prisme"]);
    assert!(!out.contains("still on the receiver"), "{out}");
    let status: serde_json::Value = serde_json::from_str(&site.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["stuck"], serde_json::json!([]));
    let files: serde_json::Value =
        serde_json::from_str(&site.ok(&["status", "--files", "--json"])).unwrap();
    assert_eq!(files[0]["picked_up_at"], "2024-02-01T16:00:00.000Z");
}

#[test]
fn serve_runs_on_the_schedule_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let site = Site::prisme("");
    let r = site.run(&["serve"]);
    assert_eq!(r.code(), Some(1));
    assert!(r.stderr().contains("nothing to serve"), "{}", r.stderr());

    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&text.replacen(
        "utc_offset_minutes = -120",
        "utc_offset_minutes = -120\nschedule = { times = [\"05:00\", \"11:00\", \"15:00\"], timezone = \"America/Nuuk\" }",
        1,
    ));
    let mut child = site
        .cmd(&["serve"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    // Site's clock says 12:00 UTC = 10:00 in Nuuk (winter): next slot 11:00 local = 13:00 UTC.
    assert_eq!(
        first,
        "hub serve: 1 scheduled target(s) (prisme); next run 2024-02-01T13:00:00.000Z"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(lines.next().unwrap().unwrap(), "hub serve: stopped");
}
