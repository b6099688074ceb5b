//! Data protection and proof end to end: a purge takes a name out of the store's files
//! while `hub status` and `hub log` keep the transfers and their hashes; `hub audit verify`
//! names an altered entry and a trail cut short; `hub backup` during `hub serve`, restored,
//! continues without a record lost, doubled or a number skipped.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::api::{Serve, municipality, wait_for};
use crate::common::{Site, postings};

/// A name that only the records carry.
const NAME: &str = "Kristiansen";

fn holds_name(site: &Site) -> bool {
    let mut bytes = std::fs::read(site.path("data/hub.db")).unwrap();
    bytes.extend(std::fs::read(site.path("data/hub.db-wal")).unwrap_or_default());
    bytes.windows(NAME.len()).any(|w| w == NAME.as_bytes())
}

/// The Prisme site with a retention of 30 days and an audit head file.
fn site_with_retention() -> Site {
    let site = Site::prisme("");
    let text = std::fs::read_to_string(site.config()).unwrap();
    let text = text.replacen(
        "transport = { type = \"dir\", path = \"out\" }",
        "transport = { type = \"dir\", path = \"out\" }\nretention_days = 30",
        1,
    );
    let text = text.replacen(
        "[[target]]",
        "[audit]\nhead_file = \"audit-head\"\n\n[[target]]",
        1,
    );
    site.write_config(&text);
    site
}

#[test]
fn a_purge_takes_the_name_out_of_the_store_files_and_keeps_status_log_and_hashes() {
    let site = site_with_retention();
    let input = postings(3, 1).replace("Posting ", &format!("{NAME} "));
    let file = site.write("in.ndjson", &input);
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    site.ok(&["send", "prisme"]);
    assert!(
        holds_name(&site),
        "the name should be in the store before a purge"
    );
    let files = site.files("out");
    assert_eq!(files.len(), 1, "{files:?}");
    let delivered = std::fs::read(site.path("out").join(&files[0])).unwrap();
    assert!(String::from_utf8_lossy(&delivered).contains(NAME));
    let sha = hex::encode(Sha256::digest(&delivered));

    // Within the 30 days nothing goes; 60 days later a dry run counts and keeps.
    let later = "2024-04-01T00:00:00Z";
    let dry = site
        .cmd(&["purge", "--dry-run", "--json"])
        .env("HUB_NOW", later)
        .output()
        .unwrap();
    assert!(dry.status.success());
    let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(dry["targets"][0]["records"], 6);
    assert_eq!(dry["targets"][0]["payloads"], 1);
    assert!(holds_name(&site));
    let now: serde_json::Value = serde_json::from_str(&site.ok(&["purge", "--json"])).unwrap();
    assert_eq!(now["targets"][0]["records"], 0, "within the retention");

    let out = site.cmd(&["purge"]).env("HUB_NOW", later).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Store rewritten"), "{said}");
    assert!(
        !holds_name(&site),
        "the name is still in hub.db or hub.db-wal"
    );

    // What remains: the transfer with the delivered file's hash, the protocol log.
    let status = site.status();
    let t = &status["transfers"][0];
    assert_eq!(t["state"], "done");
    assert_eq!(t["payloads"][0]["sha256"], sha.as_str());
    assert_eq!(t["payloads"][0]["purged_at"], "2024-04-01T00:00:00.000Z");
    let text = site.ok(&["status"]);
    assert!(text.contains("delivered, purged]"), "{text}");
    assert_eq!(status["targets"][0]["delivered"], 6);
    let log = site.ok(&["log"]);
    assert!(log.contains(&sha[..16]), "{log}");

    // The receiver took the file; a re-send now is refused with the reason.
    std::fs::remove_file(site.path("out").join(&files[0])).unwrap();
    let r = site.run(&["resend", "1", "--reason", "asked again"]);
    assert_ne!(r.code(), Some(0));
    assert!(r.stderr().contains("was purged"), "{}", r.stderr());

    // The trail holds the delivery and the purge and checks out against the head file.
    let verify = site.ok(&["audit", "verify"]);
    assert!(
        verify.contains("intact") && verify.contains("head file"),
        "{verify}"
    );
    let export = site.ok(&["audit", "export", "--since", "2024-03-01T00:00:00Z"]);
    let actions: Vec<String> = export
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(actions, vec!["purge"], "{export}");
    assert!(!export.contains(NAME));
}

#[test]
fn audit_verify_fails_naming_an_altered_entry_and_a_trail_cut_short() {
    let site = site_with_retention();
    let file = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    site.ok(&["send", "prisme"]);
    site.ok(&["audit", "verify"]);
    let db = rusqlite::Connection::open(site.path("data/hub.db")).unwrap();
    let n: i64 = db
        .query_row("SELECT max(id) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert!(n >= 2, "a plugin entry and a delivery at least");
    db.execute("UPDATE audit SET detail = detail || ' ' WHERE id = 2", [])
        .unwrap();
    let r = site.run(&["audit", "verify"]);
    assert_eq!(r.code(), Some(1));
    assert!(r.stderr().contains("FAILED at entry 2"), "{}", r.stderr());
    db.execute("UPDATE audit SET detail = rtrim(detail) WHERE id = 2", [])
        .unwrap();
    site.ok(&["audit", "verify"]);
    db.execute("DELETE FROM audit WHERE id = ?1", [n]).unwrap();
    let r = site.run(&["audit", "verify"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains(&format!("FAILED at entry {n}")) && r.stderr().contains("cut short"),
        "{}",
        r.stderr()
    );
}

#[test]
fn a_backup_during_serve_restored_continues_without_loss_doubles_or_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let text = std::fs::read_to_string(&config).unwrap();
    // Two records (one balanced pair) per file, so there are many transfers to be in the
    // middle of. Queued while the target is manual; `hub serve` sends them as real-time.
    let with = |sending: &str| {
        let t = text.replacen(
            "sending = \"manual\"",
            &format!("sending = \"{sending}\"\nmax_batch = 2"),
            1,
        );
        std::fs::write(&config, t).unwrap();
    };
    with("manual");
    let pairs = 400;
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, postings(pairs, 1)).unwrap();
    let hub = |args: &[&str]| {
        let out = std::process::Command::new(crate::common::HUB)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("HUB_NOW", "2024-02-01T12:00:00Z")
            .env_remove("HUB_FAULT")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hub {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    hub(&["enqueue", "prisme", input.to_str().unwrap()]);
    with("realtime");
    let out = dir.path().join("out-a/sermersooq/test/G");
    let count = || std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    // The service stops (pauses) right after the 150th file is renamed into place and
    // before it records that: the backup is taken in the middle of a delivery.
    let mut serve = Serve::start(
        &config,
        &[
            ("HUB_NOW", "2024-02-01T12:00:00Z"),
            ("HUB_FAULT", "renamed:150"),
            ("HUB_FAULT_MODE", "pause"),
        ],
    );
    let mut paused = false;
    wait_for(
        "the pause at the 150th file",
        Duration::from_secs(120),
        || {
            paused |= serve
                .stderr
                .try_iter()
                .any(|l| l.contains("HUB-FAULT renamed"));
            paused
        },
    );
    let backup = dir.path().join("backup.db");
    let said = hub(&["backup", backup.to_str().unwrap()]);
    assert!(said.contains("checked"), "{said}");
    {
        let copy = rusqlite::Connection::open(&backup).unwrap();
        let delivered: i64 = copy
            .query_row(
                "SELECT count(*) FROM records WHERE state = 'delivered'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let uploaded: i64 = copy
            .query_row(
                "SELECT count(*) FROM payloads WHERE state = 'uploaded'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            (delivered, uploaded),
            (2 * 149, 1),
            "the copy is that moment"
        );
    }
    // The service finishes the file it is on and stops; the hub sends the rest.
    assert!(serve.terminate().success());
    hub(&["send", "prisme"]);
    assert_eq!(count(), pairs);

    // The machine is lost; the backup comes back in the store's place.
    let store = dir.path().join("data-a");
    for f in ["hub.db-wal", "hub.db-shm"] {
        let _ = std::fs::remove_file(store.join(f));
    }
    std::fs::copy(&backup, store.join("hub.db")).unwrap();
    // The source system sends its export again: what the backup has is a duplicate.
    hub(&["enqueue", "prisme", input.to_str().unwrap()]);
    hub(&["send", "prisme"]);

    // Every transfer, not the newest page of 100 that `hub status` shows by default.
    let status: serde_json::Value =
        serde_json::from_str(&hub(&["status", "--json", "--limit", "1000"])).unwrap();
    let c = &status["targets"][0];
    assert_eq!(
        (
            c["delivered"].as_u64(),
            c["queued"].as_u64(),
            c["in_doubt"].as_u64(),
            c["failed"].as_u64()
        ),
        (Some(2 * pairs as u64), Some(0), Some(0), Some(0)),
        "{c}"
    );
    // Every number once, none skipped: run numbers 1..=pairs in the file names.
    let mut runs: Vec<u32> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.split('-').nth(2).unwrap().parse().unwrap()
        })
        .collect();
    runs.sort_unstable();
    assert_eq!(runs, (1..=pairs as u32).collect::<Vec<_>>());
    // Every record in exactly one transfer of two: none doubled (the store's identity
    // skipped what the backup held), none lost (all delivered).
    let transfers = status["transfers"].as_array().unwrap();
    assert_eq!(transfers.len(), pairs);
    assert!(
        transfers
            .iter()
            .all(|t| t["records"] == 2 && t["state"] == "done")
    );
}

/// A site with the credentials `which` names: `good` (the test CA's client, its chain
/// checked against that CA), `untrusted` (another CA's client, checked against the test
/// CA), `expired`, and `wrong` (a wrong password).
fn site_with_credentials(which: &[&str]) -> Site {
    let pki = crate::kitaplaner::pki();
    let site = Site::prisme("");
    let test_ca = format!("ca_file = \"{}\"\n", pki.ca_pem.display());
    let mut creds = String::new();
    for name in which {
        let (id, password, ca) = match *name {
            "good" => (&pki.client, pki.client.password.as_str(), test_ca.as_str()),
            "untrusted" => (
                &pki.client_untrusted,
                pki.client_untrusted.password.as_str(),
                test_ca.as_str(),
            ),
            "expired" => (
                &pki.client_expired,
                pki.client_expired.password.as_str(),
                "",
            ),
            _ => (&pki.client, "not-the-password", ""),
        };
        std::fs::write(site.path(&format!("{name}.pw")), format!("{password}\n")).unwrap();
        creds.push_str(&format!(
            "[credentials.{name}]\np12 = \"{}\"\npassword_file = \"{name}.pw\"\n{ca}\n",
            id.p12.display()
        ));
    }
    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&text.replacen("[[target]]", &format!("{creds}[[target]]"), 1));
    site
}

#[test]
fn check_opens_every_credential_and_fails_on_a_wrong_password_or_an_expired_certificate() {
    let good = site_with_credentials(&["good"]);
    let out = good.ok(&["check"]);
    assert!(
        out.contains("credential good: CN=kita-client") && out.contains("chain verified"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");

    for (name, said) in [
        ("wrong", "wrong password"),
        ("expired", "expired on"),
        ("untrusted", "not issued by the CA"),
    ] {
        let site = site_with_credentials(&[name]);
        let r = site.run(&["check"]);
        assert_eq!(r.code(), Some(1), "{name}: {}", r.stdout());
        assert!(r.stderr().contains(said), "{name}: {}", r.stderr());
        assert!(!r.stderr().contains("not-the-password"));
    }

    // Twelve days before the certificate's end (rcgen's default: 4096-01-01): a warning
    // in `hub check` (still OK) and in `hub status`.
    let late = "4095-12-20T00:00:00Z";
    let out = good.cmd(&["check"]).env("HUB_NOW", late).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("warning: credential good: the certificate"),
        "{said}"
    );
    assert!(said.contains("expires in 12 days"), "{said}");
    let file = good.write("in.ndjson", &postings(1, 1));
    good.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    let out = good
        .cmd(&["status", "--json"])
        .env("HUB_NOW", late)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["certificates"][0]["days_left"], 12, "{status}");

    // The page's status (for the operator) and `/metrics` of a running `hub serve` say
    // the same: the warning, the expiry time, and that the credential is usable.
    let text = std::fs::read_to_string(good.config()).unwrap();
    good.write_config(&format!(
        "{text}\n[api]\noperator_token_env = \"HUB_OP_A\"\n"
    ));
    let serve = crate::api::Serve::start(&good.config(), &[("HUB_NOW", late)]);
    let (code, body) = crate::api::get_json(&serve.url("/api/v1/status"), crate::api::OPERATOR_A);
    assert_eq!(code, 200, "{body}");
    assert!(
        body["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("expires in 12 days"),
        "{body}"
    );
    let metrics = crate::api::client()
        .get(serve.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("hub_certificate_usable{config=\"hub\",credential=\"good\"} 1")
            && metrics
                .contains("hub_certificate_expiry_seconds{config=\"hub\",credential=\"good\"} 6"),
        "{metrics}"
    );
}
