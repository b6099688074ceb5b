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

/// The Prisme target of `site` delivering through `transport` (TOML inline table).
fn use_transport(site: &Site, transport: &str) {
    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&text.replacen(
        "transport = { type = \"dir\", path = \"out\" }",
        &format!("transport = {transport}"),
        1,
    ));
}

fn ftps(site: &Site, server: &hub_test_ftp_server::FtpServer, municipality: &str) {
    std::fs::write(site.path("ftp.pw"), format!("{}\n", server.password)).unwrap();
    use_transport(
        site,
        &format!(
            "{{ type = \"ftps\", host = \"localhost\", port = {}, user = \"{}\", password_file = \"ftp.pw\", ca_file = \"{}\", municipality = \"{municipality}\", timeout_ms = 10000 }}",
            server.port,
            server.user,
            server.ca_pem.display()
        ),
    );
}

fn sftp(site: &Site, server: &hub_test_ssh_server::SshServer) {
    use_transport(
        site,
        &format!(
            "{{ type = \"sftp\", host = \"127.0.0.1\", port = {}, user = \"{}\", key_file = \"{}\", passphrase_env = \"HUB_TEST_SSH_PASSPHRASE\", host_key = \"{}\", municipality = \"sermersooq\", timeout_ms = 10000 }}",
            server.port,
            server.user,
            server.client_key_encrypted.display(),
            server.host_key
        ),
    );
}

/// Every file under `root`, relative, sorted.
fn tree(root: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The same records through `dir`, for the bytes the server must hold.
fn expected_bytes(input: &str) -> Vec<(String, Vec<u8>)> {
    let site = Site::prisme("");
    let file = site.write("in.ndjson", input);
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    site.ok(&["send", "prisme"]);
    site.files("out")
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(site.path(&format!("out/{f}"))).unwrap();
            (f, bytes)
        })
        .collect()
}

fn run_and_kill(site: &Site, fault: &str, env: &[(&str, &str)]) {
    use std::io::{BufRead, BufReader};
    let mut cmd = site.cmd(&["send", "prisme"]);
    cmd.env("HUB_FAULT", fault)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let reached = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .any(|l| l.unwrap_or_default().starts_with("HUB-FAULT"));
    assert!(reached, "hub never reached {fault}");
    child.kill().unwrap();
    child.wait().unwrap();
}

fn input() -> String {
    let mut text = postings(3, 1);
    text.push_str(
        "{\"id\":\"deb1\",\"kind\":\"debtor\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"debtor_no\":\"0101901234\",\"amount_ore\":200000,\"due_date\":\"20240301\",\"founded_date\":\"20240131\",\"period_from\":\"20240101\",\"period_to\":\"20240131\",\"reconciliation_key\":\"K-1\",\"texts\":[\"Vuggestue jan 2024: 2.500,00\",\"Friplads: -500,00\"]}\n",
    );
    text
}

#[test]
fn over_ftps_every_file_arrives_once_byte_for_byte_even_after_kill_9_before_the_rename() {
    let server = hub_test_ftp_server::FtpServer::start("sermersooq").expect("proftpd");
    let site = Site::prisme("");
    ftps(&site, &server, "sermersooq");
    let input = input();
    let file = site.write("in.ndjson", &input);
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    // Killed after the upload, before the rename was made.
    run_and_kill(&site, "recorded-uploaded", &[]);
    let home = server.home();
    assert!(
        tree(&home).iter().any(|f| f.ends_with(".hub-part")),
        "{:?}",
        tree(&home)
    );
    let out = site.ok(&["send", "prisme"]);
    assert!(out.contains("7 record(s) delivered"), "{out}");
    let want = expected_bytes(&input);
    let got: Vec<(String, Vec<u8>)> = tree(&home)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(home.join(&f)).unwrap();
            (f, b)
        })
        .collect();
    assert_eq!(got, want, "server holds other files or other bytes");
    let files: serde_json::Value =
        serde_json::from_str(&site.ok(&["status", "--files", "--json"])).unwrap();
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["state"] == "delivered")
    );
}

#[test]
fn over_ftps_a_file_gone_before_the_rerun_is_held_in_doubt_and_a_strangers_file_is_a_conflict() {
    let server = hub_test_ftp_server::FtpServer::start("sermersooq").expect("proftpd");
    let site = Site::prisme("");
    ftps(&site, &server, "sermersooq");
    let file = site.write("in.ndjson", &postings(2, 1));
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    run_and_kill(&site, "renamed", &[]);
    let g = server.home().join("sermersooq/test/G/522-24-001-G.txt");
    std::fs::remove_file(&g).unwrap(); // the Prisme job moved it away, or someone deleted it
    let r = site.run(&["send", "prisme"]);
    assert_ne!(r.code(), Some(0));
    assert!(
        tree(&server.home()).is_empty(),
        "{:?}",
        tree(&server.home())
    );
    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 0);
    assert_eq!(status["in_doubt"][0]["kind"], "vanished");
    site.ok(&[
        "doubt",
        "settle",
        "1",
        "--delivered",
        "--reason",
        "in the job's log",
        "--as",
        "ole",
    ]);
    assert_eq!(site.status()["targets"][0]["delivered"], 4);

    // Someone else's file under the name of the next transfer: read back over FTPS,
    // recognised as foreign, never replaced, the records not delivered.
    let next = server.home().join("sermersooq/test/G/522-24-002-G.txt");
    std::fs::write(&next, "fremd\r\n").unwrap();
    let more = site.write("more.ndjson", &postings(1, 50));
    site.ok(&["enqueue", "prisme", more.to_str().unwrap()]);
    let r = site.run(&["send", "prisme"]);
    assert_ne!(r.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&next).unwrap(), "fremd\r\n");
    assert_eq!(tree(&server.home()), ["sermersooq/test/G/522-24-002-G.txt"]);
    let status = site.status();
    assert_eq!(status["in_doubt"][0]["kind"], "conflict");
    assert!(
        status["in_doubt"][0]["found"]
            .as_str()
            .unwrap()
            .starts_with("7 bytes")
    );
    assert_eq!(status["targets"][0]["in_doubt"], 2);
}

#[test]
fn over_ftps_a_wrong_password_or_municipality_is_refused_and_records_stay_queued() {
    let server = hub_test_ftp_server::FtpServer::start("sermersooq").expect("proftpd");
    let site = Site::prisme("");
    ftps(&site, &server, "sermersooq");
    std::fs::write(site.path("ftp.pw"), "wrong\n").unwrap();
    let file = site.write("in.ndjson", &postings(1, 1));
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    let r = site.run(&["send", "prisme"]);
    assert_eq!(r.code(), Some(1));
    assert!(r.stderr().contains("refused"), "{}", r.stderr());
    assert!(!r.stderr().contains("530 530"), "{}", r.stderr());
    assert!(!r.stderr().contains(&server.password));
    assert_eq!(site.status()["targets"][0]["queued"], 2);

    // The login is Sermersooq's but the plugin writes for Qeqqata: refused by hub.toml's
    // check (the user name must name the municipality).
    let other = Site::prisme("");
    ftps(&other, &server, "qeqqata");
    let r = other.run(&["status"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr()
            .contains("is not the user of municipality `qeqqata`"),
        "{}",
        r.stderr()
    );
    assert!(tree(&server.home()).is_empty());
}

#[test]
fn over_sftp_with_a_key_every_file_arrives_once_even_after_kill_9_before_the_rename() {
    let server = hub_test_ssh_server::SshServer::start("sermersooq").expect("sshd");
    let site = Site::prisme("");
    sftp(&site, &server);
    let pass = [(
        "HUB_TEST_SSH_PASSPHRASE",
        server.client_key_passphrase.as_str(),
    )];
    let input = input();
    let file = site.write("in.ndjson", &input);
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    run_and_kill(&site, "recorded-uploaded", &pass);
    let out = site
        .cmd(&["send", "prisme"])
        .env(pass[0].0, pass[0].1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = server.root();
    let got: Vec<(String, Vec<u8>)> = tree(&root)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(root.join(&f)).unwrap();
            (f, b)
        })
        .collect();
    assert_eq!(got, expected_bytes(&input));
    assert_eq!(site.status()["targets"][0]["delivered"], 7);
    // Without the passphrase the error says where it was looked for.
    let more = site.write("more.ndjson", &postings(1, 50));
    site.ok(&["enqueue", "prisme", more.to_str().unwrap()]);
    let r = site.run(&["send", "prisme"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains("HUB_TEST_SSH_PASSPHRASE"),
        "{}",
        r.stderr()
    );
    assert!(!r.stderr().contains(&server.client_key_passphrase));

    // Someone else's file under the final name over SFTP: a conflict, left untouched.
    let foreign = root.join("sermersooq/test/G/522-24-002-G.txt");
    std::fs::write(&foreign, "fremd\r\n").unwrap();
    let r = site
        .cmd(&["send", "prisme"])
        .env(pass[0].0, pass[0].1)
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "fremd\r\n");
    let status = site.status();
    assert_eq!(status["in_doubt"][0]["kind"], "conflict", "{status}");
    assert_eq!(status["targets"][0]["in_doubt"], 2);
    assert!(
        !tree(&root).iter().any(|f| f.contains(".hub-part")),
        "{:?}",
        tree(&root)
    );
}

#[test]
fn over_ftps_an_untrusted_certificate_is_one_line_without_the_tls_stacks_log() {
    let server = hub_test_ftp_server::FtpServer::start("sermersooq").expect("proftpd");
    let site = Site::prisme("");
    ftps(&site, &server, "sermersooq");
    // No ca_file: the platform's roots, which do not know the test CA.
    let text = std::fs::read_to_string(site.config()).unwrap();
    let ca = format!(", ca_file = \"{}\"", server.ca_pem.display());
    site.write_config(&text.replacen(&ca, "", 1));
    let file = site.write("in.ndjson", &postings(1, 1));
    site.ok(&["enqueue", "prisme", file.to_str().unwrap()]);
    let r = site.run(&["send", "prisme"]);
    assert_eq!(r.code(), Some(1));
    let err = r.stderr();
    assert!(err.contains("TLS"), "{err}");
    assert!(!err.contains("ERROR") && !err.contains("WARN"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
