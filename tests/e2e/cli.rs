//! The command line end to end: config errors, pins, NDJSON errors, all-or-nothing
//! enqueue, send through `dir`, status, log, resolve.

use crate::common::{Site, plugin, postings};

#[test]
fn enqueue_send_status_log_through_dir() {
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &postings(3, 1));
    let out = site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert!(out.contains("6 queued for prisme"), "{out}");
    // The same file again is recognised, not queued twice.
    let out = site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert!(
        out.contains("0 queued") && out.contains("6 duplicate(s)"),
        "{out}"
    );

    let dry = site.ok(&["send", "prisme", "--dry-run"]);
    assert!(
        dry.contains("would send sermersooq/test/G/522-24-001-G.txt"),
        "{dry}"
    );
    assert!(site.files("out").is_empty(), "a dry run wrote files");

    let out = site.ok(&["send", "prisme"]);
    assert!(
        out.contains("1 transfer(s) created, 1 completed, 6 record(s) delivered"),
        "{out}"
    );
    assert_eq!(
        site.files("out"),
        vec!["sermersooq/test/G/522-24-001-G.txt"]
    );
    let g = std::fs::read_to_string(site.path("out/sermersooq/test/G/522-24-001-G.txt")).unwrap();
    assert_eq!(g.matches("\r\n").count(), 6);
    assert!(g.starts_with("000G6900001095601NORFLYD&10300123"), "{g}");

    let status = site.status();
    assert_eq!(status["targets"][0]["delivered"], 6);
    assert_eq!(status["targets"][0]["queued"], 0);
    let t = &status["transfers"][0];
    assert_eq!(t["state"], "done");
    assert_eq!(t["sequence_no"], 1);
    assert_eq!(t["done_at"], "2024-02-01T12:00:00.000Z");
    assert_eq!(t["payloads"][0]["state"], "delivered");

    // A second run finds nothing to do and numbers the next run 2.
    let out = site.ok(&["send", "prisme"]);
    assert!(out.contains("0 transfer(s) created"), "{out}");
    let more = site.write("more.ndjson", &postings(1, 100));
    site.ok(&["enqueue", "prisme", more.to_str().unwrap()]);
    site.ok(&["send", "--all"]);
    assert_eq!(
        site.files("out"),
        vec![
            "sermersooq/test/G/522-24-001-G.txt",
            "sermersooq/test/G/522-24-002-G.txt"
        ]
    );

    let log: serde_json::Value = serde_json::from_str(&site.ok(&["log", "--json"])).unwrap();
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[0]["result"], "delivered");
    assert!(log[0]["endpoint"].as_str().unwrap().starts_with("dir:"));
    let human = site.ok(&["status"]);
    assert!(human.contains("522-24-002-G.txt [delivered]"), "{human}");
    // The file view (page 333): one row per file with the plugin's labels, filterable.
    let files: serde_json::Value =
        serde_json::from_str(&site.ok(&["status", "--files", "--json", "--where", "run=002"]))
            .unwrap();
    let files = files.as_array().unwrap();
    assert_eq!(files.len(), 1);
    let f = &files[0];
    assert_eq!(f["name"], "sermersooq/test/G/522-24-002-G.txt");
    assert_eq!(f["labels"]["page"], "522");
    assert_eq!(f["labels"]["type"], "G");
    assert_eq!(f["labels"]["municipality"], "sermersooq");
    assert_eq!(f["labels"]["environment"], "test");
    assert_eq!(f["state"], "delivered");
    assert_eq!(f["attempts"], 1);
    let table = site.ok(&["status", "--files", "--where", "type=Q"]);
    assert_eq!(table.trim(), "No files match.");
    let r = site.run(&["status", "--where", "page"]);
    assert!(
        r.stderr().contains("--where takes LABEL=VALUE"),
        "{}",
        r.stderr()
    );
}

#[test]
fn bad_lines_are_reported_with_their_numbers_and_nothing_is_queued() {
    let site = Site::prisme("");
    let mut text = postings(2, 1);
    text.push_str("{\"id\":\"x1\",\"kind\":\"posting\",\"page\":\"522\"}\n");
    text.push_str("not json\n");
    text.push_str("{\"id\":\"x2\",\"kind\":\"invoice\"}\n");
    text.push_str(&postings(1, 10).replace("\"00123\"", "\"00123&\""));
    let input = site.write("in.ndjson", &text);
    let r = site.run(&["enqueue", "prisme", input.to_str().unwrap()]);
    assert_eq!(r.code(), Some(1));
    let err = r.stderr();
    assert!(
        err.contains("in.ndjson: line 5: record x1: field "),
        "{err}"
    );
    assert!(err.contains("line 6: not valid JSON"), "{err}");
    assert!(
        err.contains(
            "line 7: record x2: kind `invoice` is not one target prisme takes (posting, debtor)"
        ),
        "{err}"
    );
    assert!(
        err.contains("line 8: record p10d: field machine_no"),
        "{err}"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("hub: ") && last.contains("nothing was queued"),
        "{last}"
    );
    // All or nothing: the four good lines were not queued either.
    assert_eq!(site.status()["targets"], serde_json::json!([]));
}

#[test]
fn config_errors_name_the_file_and_the_problem() {
    let site = Site::prisme("");
    let text = std::fs::read_to_string(site.config()).unwrap();

    site.write_config(&text.replace("[runtime]", "[runtime]\ncolour = \"blue\""));
    let r = site.run(&["status"]);
    assert_eq!(r.code(), Some(1));
    // TOML's own report: the file and line first, the caret under the key, the reason.
    let first = r.stderr().lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("hub: ") && first.contains("hub.toml") && first.contains("line 5"),
        "{}",
        r.stderr()
    );
    assert!(
        r.stderr().contains("unknown field `colour`"),
        "{}",
        r.stderr()
    );

    site.write_config(&text.replace(
        "organisation_unit = \"0956\"",
        "organisation_unit = \"0956\"\nshoe_size = 42",
    ));
    let r = site.run(&["send", "prisme"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr()
            .contains("target prisme: unknown setting `shoe_size`"),
        "{}",
        r.stderr()
    );

    site.write_config(&text.replace("organisation_unit = \"0956\"\n", ""));
    let r = site.run(&["send", "prisme"]);
    assert!(
        r.stderr()
            .contains("target prisme: missing setting `organisation_unit`"),
        "{}",
        r.stderr()
    );

    site.write_config(&text);
    let r = site.run(&["send", "nowhere"]);
    assert!(r.stderr().contains("no target `nowhere`"), "{}", r.stderr());
    let r = std::process::Command::new(crate::common::HUB)
        .args(["--config", "/nonexistent/hub.toml", "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("cannot read /nonexistent/hub.toml"), "{err}");
}

#[test]
fn a_pinned_plugin_that_changed_is_refused_with_both_hashes() {
    let site = Site::prisme("");
    let text = std::fs::read_to_string(site.config()).unwrap();
    let wrong = "ab".repeat(32);
    let pinned = text.replacen(
        &format!("path = \"{}\"", plugin("prisme").display()),
        &format!(
            "path = \"{}\"\nsha256 = \"{wrong}\"",
            plugin("prisme").display()
        ),
        1,
    );
    site.write_config(&pinned);
    let r = site.run(&["plugins"]);
    assert_eq!(r.code(), Some(1));
    let err = r.stderr();
    assert!(err.contains(&format!("pinned sha256 {wrong}")), "{err}");
    assert!(err.contains("file has sha256 "), "{err}");
    site.write_config(&text);
    let out = site.ok(&["plugins", "--json"]);
    let plugins: serde_json::Value = serde_json::from_str(&out).unwrap();
    let prisme = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "prisme")
        .unwrap();
    assert_eq!(prisme["version"], "0.1.0");
    assert_eq!(prisme["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn unbalanced_postings_fail_with_their_reason_and_are_resolved_by_hand() {
    let site = Site::prisme("");
    let mut text = postings(1, 1);
    // Machine 00777 debits 10.00 with no credit: refused, the rest still goes.
    text.push_str("{\"id\":\"lonely\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00777\",\"posting_date\":\"20240131\",\"account\":\"4210100000\",\"amount_ore\":1000,\"dk\":\"D\"}\n");
    let input = site.write("in.ndjson", &text);
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    let r = site.run(&["send", "prisme"]);
    assert_eq!(
        r.code(),
        Some(1),
        "a failed record is not done: {}",
        r.stderr()
    );
    let out = r.stdout();
    assert!(
        out.contains("2 record(s) delivered, 1 need checking"),
        "{out}"
    );
    let status = site.status();
    assert_eq!(status["targets"][0]["failed"], 1);
    let rec = &status["needs_check"][0];
    assert_eq!(rec["id"], "lonely");
    assert_eq!(rec["state"], "failed");
    let msg = rec["messages"][0].as_str().unwrap();
    assert!(
        msg.contains("00777") && msg.contains("do not balance"),
        "{msg}"
    );

    let r = site.run(&["resolve", "lonely", "--reason", ""]);
    assert_eq!(r.code(), Some(1));
    let out = site.ok(&[
        "resolve",
        "lonely",
        "--reason",
        "booked by hand in Prisme",
        "--as",
        "anna",
    ]);
    assert!(out.contains("completed without import by anna"), "{out}");
    let status = site.status();
    assert_eq!(status["targets"][0]["resolved"], 1);
    assert_eq!(status["needs_check"], serde_json::json!([]));
    let r = site.run(&["resolve", "lonely", "--reason", "again"]);
    assert!(
        r.stderr().contains("record lonely is resolved"),
        "{}",
        r.stderr()
    );
}

#[test]
fn init_writes_a_config_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site/hub.toml");
    let r = std::process::Command::new(crate::common::HUB)
        .args(["--config", config.to_str().unwrap(), "init"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(dir.path().join("site/hub-data/hub.db").exists());
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[[target]]") && text.contains("# "));
    // Refuses to overwrite without --force.
    let r = std::process::Command::new(crate::common::HUB)
        .args(["--config", config.to_str().unwrap(), "init"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("already exists"));
    // The written file parses and the store opens.
    let r = std::process::Command::new(crate::common::HUB)
        .args(["--config", config.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn init_in_an_empty_folder_passes_check_where_the_plugins_are_installed() {
    let plugins = crate::common::plugin("prisme");
    let plugins = plugins.parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    let hub = |args: &[&str]| {
        std::process::Command::new(crate::common::HUB)
            .current_dir(dir.path())
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("HUB_PLUGIN_DIR", plugins)
            .output()
            .unwrap()
    };
    let r = hub(&["init"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let r = hub(&["check"]);
    assert!(
        r.status.success(),
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    // --plugin-dir overrides; a folder without the plugins is named at once.
    let r = hub(&["init", "--force", "--plugin-dir", "/nonexistent/plugins"]);
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("no prisme.wasm in /nonexistent/plugins"),
        "{err}"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("path = \"/nonexistent/plugins/prisme.wasm\""),
        "{text}"
    );
}

#[test]
fn a_toml_syntax_error_keeps_its_caret_under_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, "version = 1\n[store]\npath = \"x\" extra\n").unwrap();
    let r = std::process::Command::new(crate::common::HUB)
        .arg("--config")
        .arg(&config)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("path = \"x\" extra"))
        .unwrap_or_else(|| panic!("{err}"));
    let column = lines[at + 1].find('^').unwrap_or_else(|| panic!("{err}"));
    assert_eq!(&lines[at][column..column + 5], "extra", "{err}");
}

#[test]
fn a_progress_bar_only_on_a_terminal() {
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &crate::common::postings(3, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    // Off a terminal (a pipe): no bar, no control characters.
    let piped = site.run(&["send", "prisme"]);
    assert!(
        !piped.stderr().contains('\r') && !piped.stderr().contains('\u{1b}'),
        "{:?}",
        piped.stderr()
    );
    // On a terminal (a pseudo-terminal from util-linux `script`): a bar with the count.
    site.ok(&[
        "enqueue",
        "prisme",
        site.write("more.ndjson", &crate::common::postings(2, 50))
            .to_str()
            .unwrap(),
    ]);
    let line = format!(
        "{} --config {} send prisme",
        crate::common::HUB,
        site.config().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HUB_NOW", "2024-02-01T12:00:00Z")
        .output()
        .expect("util-linux `script` runs the hub on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // indicatif draws at most 20 times a second, the first step always, and clears the
    // bar for the command's summary.
    assert!(
        text.contains("prisme: [") && text.contains("/4"),
        "{text:?}"
    );
    assert!(text.contains("\u{1b}[2K"), "{text:?}");
}

#[test]
fn without_user_variables_a_resolution_is_signed_by_the_os_user() {
    let site = Site::prisme("");
    let text = "{\"id\":\"lonely\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00777\",\"posting_date\":\"20240131\",\"account\":\"4210100000\",\"amount_ore\":1000,\"dk\":\"D\"}\n";
    let input = site.write("in.ndjson", text);
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    // The record fails: the send is not done (exit 1) until a person resolves it.
    assert_eq!(site.run(&["send", "prisme"]).code(), Some(1));
    let out = site
        .cmd(&["resolve", "lonely", "--reason", "booked by hand"])
        .env_remove("USER")
        .env_remove("USERNAME")
        .env_remove("LOGNAME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    assert!(!stdout.contains("by unknown"), "{stdout}");
    assert!(
        stdout.contains(&format!("completed without import by {me}")),
        "{stdout}"
    );
}

#[test]
fn a_dry_run_ends_like_the_real_send_when_part_of_a_batch_is_refused() {
    let site = Site::prisme("");
    let mut text = postings(1, 1);
    text.push_str("{\"id\":\"lonely\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00777\",\"posting_date\":\"20240131\",\"account\":\"4210100000\",\"amount_ore\":1000,\"dk\":\"D\"}\n");
    let input = site.write("in.ndjson", &text);
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    let dry = site.run(&["send", "prisme", "--dry-run"]);
    let real_code = {
        let dry_out = dry.stdout();
        // Not done, as the real send is not: a record would fail.
        assert_eq!(dry.code(), Some(1), "{dry_out}{}", dry.stderr());
        assert!(
            dry.stderr().contains("1 record(s) would fail"),
            "{}",
            dry.stderr()
        );
        assert!(
            dry_out.contains("would send sermersooq/test/G/522-24-001-G.txt"),
            "{dry_out}"
        );
        assert!(dry_out.contains("would fail record lonely"), "{dry_out}");
        assert!(!dry_out.contains("nothing queued"), "{dry_out}");
        assert!(site.files("out").is_empty(), "a dry run wrote files");
        site.run(&["send", "prisme"]).code()
    };
    assert_eq!(real_code, dry.code());
}

/// `hub status | head` and the like: a reader that went away ends the command quietly
/// (killed by SIGPIPE, as Unix filters are), never with a panic (exit 101). The read end
/// is closed before the command writes anything, so its first line meets the closed pipe.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let site = Site::prisme("");
    let input = site.write("in.ndjson", &postings(3, 1));
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    site.ok(&["send", "prisme"]);
    for args in [
        vec!["status"],
        vec!["log"],
        vec!["status", "--json"],
        vec!["completions", "zsh"],
    ] {
        let mut child = site
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "hub {args:?}: {err}");
        assert!(
            out.status.success() || out.status.signal() == Some(13),
            "hub {args:?}: {:?} {err}",
            out.status
        );
    }
}

/// `hub status` and `hub log` show the newest `--limit` rows of what their filters leave,
/// and say how to see the older ones.
#[test]
fn status_and_log_page_and_filter() {
    let site = Site::prisme("");
    for i in 0..3 {
        let input = site.write("in.ndjson", &postings(1, 10 * i + 1));
        site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
        site.ok(&["send", "prisme"]);
    }
    let all = site.status();
    assert_eq!(all["transfers"].as_array().unwrap().len(), 3);
    let page: serde_json::Value =
        serde_json::from_str(&site.ok(&["status", "--json", "--limit", "2"])).unwrap();
    let ids: Vec<i64> = page["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    // The newest two, oldest first; `next` continues before them.
    assert_eq!(ids, [2, 3]);
    assert_eq!(page["next"], 2);
    let rest: serde_json::Value =
        serde_json::from_str(&site.ok(&["status", "--json", "--limit", "2", "--before", "2"]))
            .unwrap();
    assert_eq!(rest["transfers"][0]["id"], 1);
    assert!(rest["next"].is_null());
    let text = site.ok(&["status", "--limit", "1"]);
    assert!(text.contains("(older rows: --before 3"), "{text}");
    let none = site.ok(&["status", "--state", "open", "--json"]);
    let none: serde_json::Value = serde_json::from_str(&none).unwrap();
    assert!(none["transfers"].as_array().unwrap().is_empty());
    let r = site.run(&["status", "--state", "finished"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains("unknown transfer state `finished`"),
        "{}",
        r.stderr()
    );
    let log: serde_json::Value = serde_json::from_str(&site.ok(&[
        "log",
        "--json",
        "--limit",
        "1",
        "--target",
        "prisme",
        "--state",
        "delivered",
    ]))
    .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["transfer_id"], 3);
    let files = site.ok(&["status", "--files", "--where", "page=522", "--json"]);
    let files: serde_json::Value = serde_json::from_str(&files).unwrap();
    assert_eq!(files.as_array().unwrap().len(), 3);
    // A mistyped label is named; a known one without a match is simply empty.
    let r = site.run(&["status", "--files", "--where", "pge=522"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().contains("no file has a label `pge`"),
        "{}",
        r.stderr()
    );
    assert!(
        site.ok(&["status", "--files", "--where", "page=999"])
            .contains("No files match.")
    );
}

/// `--log-format json`: one `message` key per object (log collectors reject or mangle a
/// second one), and the send is logged at the default level.
#[test]
fn json_logs_carry_one_message_key_and_every_send() {
    let site = Site::prisme("");
    let mut text = postings(1, 1);
    text.push_str("{\"id\":\"lonely\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00777\",\"posting_date\":\"20240131\",\"account\":\"4210100000\",\"amount_ore\":1000,\"dk\":\"D\"}\n");
    let input = site.write("in.ndjson", &text);
    site.ok(&["enqueue", "prisme", input.to_str().unwrap()]);
    let r = site.run(&["--log-format", "json", "send", "prisme"]);
    let err = r.stderr();
    let objects: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
    assert!(objects.iter().any(|l| l.contains("record failed")), "{err}");
    assert!(objects.iter().any(|l| l.contains("send done")), "{err}");
    for o in objects {
        assert_eq!(o.matches("\"message\":").count(), 1, "{o}");
    }
}
