//! A folder of municipality files on the command line: every command takes the folder
//! with `--municipality NAME`, `hub status` without it shows each municipality in turn,
//! and a command that needs one says which there are.

use std::path::Path;
use std::process::{Command, Output};

use crate::api::municipality;
use crate::common::{HUB, postings};

fn hub(config: &Path, args: &[&str]) -> Output {
    Command::new(HUB)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("HUB_CONFIG")
        .env_remove("HUB_MUNICIPALITY")
        .env("HUB_OP_KUJALLEQ", "operator-token-kujalleq-0001")
        .env("HUB_OP_SERMERSOOQ", "operator-token-sermersooq-01")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_folder_of_municipalities_is_read_one_by_name_or_all_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.d");
    std::fs::create_dir(&conf).unwrap();
    municipality(&conf, "kujalleq", "manual");
    municipality(&conf, "sermersooq", "manual");
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, postings(2, 1)).unwrap();

    // A command for one municipality needs its name; the error lists them.
    let out = hub(&conf, &["enqueue", "prisme", input.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("holds 2 municipalities (kujalleq, sermersooq); name one with --municipality"),
        "{err}"
    );
    let out = hub(
        &conf,
        &[
            "--municipality",
            "sermersooq",
            "enqueue",
            "prisme",
            input.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = hub(&conf, &["--municipality", "nuuk", "status"]);
    assert!(
        text(&out.stderr).contains("no municipality nuuk in")
            && text(&out.stderr).contains("kujalleq, sermersooq"),
        "{}",
        text(&out.stderr)
    );

    // One by name, as JSON: only its own records.
    let out = hub(&conf, &["--municipality", "sermersooq", "status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["targets"][0]["queued"], 4);
    let out = hub(&conf, &["--municipality", "kujalleq", "status", "--json"]);
    let k: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(k["targets"].as_array().map(Vec::len), Some(0));

    // All in turn, each under its name, in name order.
    let out = hub(&conf, &["status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = text(&out.stdout);
    let (a, b) = (
        all.find("== kujalleq ==").unwrap(),
        all.find("== sermersooq ==").unwrap(),
    );
    assert!(a < b, "{all}");
    assert!(all[b..].contains("prisme"), "{all}");
    let out = hub(&conf, &["status", "--json"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("with --json name one with --municipality"));
}

#[test]
fn municipality_files_share_plugins_and_api_settings_through_one_included_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.d");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("_shared.toml"),
        format!(
            "version = 1\n[runtime]\ncache_dir = \"{}\"\n[plugins.prisme]\npath = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
            crate::common::shared_cache().display(),
            crate::common::plugin("prisme").display()
        ),
    )
    .unwrap();
    for name in ["kujalleq", "sermersooq"] {
        std::fs::write(
            conf.join(format!("{name}.toml")),
            format!(
                r#"include = "_shared.toml"
version = 1
[store]
path = "data-{name}/hub.db"
[api]
operator_token_env = "HUB_OP_{upper}"
[[target]]
name = "prisme"
plugin = "prisme"
transport = {{ type = "dir", path = "out-{name}" }}
[target.settings]
municipality = "{name}"
environment = "test"
organisation_unit = "0956"
"#,
                upper = name.to_uppercase()
            ),
        )
        .unwrap();
    }
    // The shared file is not a municipality: two files checked, both with the plugin.
    let out = hub(&conf, &["check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 configuration file(s) OK"),
        "{}",
        text(&out.stdout)
    );
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, postings(1, 1)).unwrap();
    let out = hub(
        &conf,
        &[
            "--municipality",
            "kujalleq",
            "enqueue",
            "prisme",
            input.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = hub(&conf, &["--municipality", "kujalleq", "send", "prisme"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_dir(conf.join("out-kujalleq"))
            .unwrap()
            .count(),
        1
    );
    assert!(!conf.join("out-sermersooq").exists());
}
