//! One console across municipalities: a folder of municipality files that include one
//! shared file naming the console token. The console reaches every municipality and
//! names one per request; an operator token stays in its own; the summary across them
//! shows what waits, since when, and what is paused.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::api::{OPERATOR_A, SOURCE_A, SOURCE_B, Serve, client, municipality, post_ndjson};
use crate::common::{HUB, postings};

pub const CONSOLE: &str = "console-token-cccccccccccc";

/// `conf.d/` with `_shared.toml` (the console token from `HUB_CONSOLE`) and the
/// municipalities `a` and `b`, each including it.
pub fn two_municipalities(dir: &Path) -> PathBuf {
    let configs = dir.join("conf.d");
    std::fs::create_dir(&configs).unwrap();
    std::fs::write(
        configs.join("_shared.toml"),
        "[api]\nconsole_token_env = \"HUB_CONSOLE\"\n",
    )
    .unwrap();
    for name in ["a", "b"] {
        let file = municipality(&configs, name, "manual");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("include = \"_shared.toml\"\n{text}")).unwrap();
    }
    configs
}

/// A GET with the token and, if given, the municipality header: status, ETag, body.
pub fn get(
    serve: &Serve,
    path: &str,
    token: &str,
    place: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut req = client().get(serve.url(path)).bearer_auth(token);
    if let Some(p) = place {
        req = req.header("X-Hub-Municipality", p);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (
        status,
        etag,
        serde_json::from_str(&r.text().unwrap()).unwrap_or_default(),
    )
}

/// The console line of `target` in municipality `place`.
fn line<'a>(console: &'a Value, place: &str, target: &str) -> &'a Value {
    console["municipalities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == place)
        .and_then(|m| {
            m["targets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["target"] == target)
        })
        .unwrap_or_else(|| panic!("no line for {place}/{target} in {console}"))
}

#[test]
fn the_console_token_spans_every_municipality_and_names_one_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let configs = two_municipalities(dir.path());
    let serve = Serve::start(&configs, &[("HUB_CONSOLE", CONSOLE)]);
    let url = serve.url("/api/v1/targets/prisme/records");
    assert_eq!(post_ndjson(&url, SOURCE_A, &postings(1, 1)).0, 200);
    assert_eq!(post_ndjson(&url, SOURCE_B, &postings(2, 50)).0, 200);

    let (s, _, who) = get(&serve, "/api/v1/whoami", CONSOLE, None);
    assert_eq!(s, 200, "{who}");
    assert_eq!(who["console"], true);
    assert_eq!(who["municipalities"], serde_json::json!(["a", "b"]));
    assert_eq!(who["config"], Value::Null);

    // Details need a municipality named; the answer says which there are.
    let (s, _, body) = get(&serve, "/api/v1/status", CONSOLE, None);
    assert_eq!(s, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("X-Hub-Municipality") && error.contains("a, b"),
        "{error}"
    );
    let (s, _, body) = get(&serve, "/api/v1/status", CONSOLE, Some("b"));
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["config"], "b");
    assert_eq!(body["targets"].as_array().unwrap().len(), 2);
    assert_eq!(body["targets"][0]["paused"], Value::Null);

    // The summary across both: what waits, since when; nothing delivered yet.
    let (s, etag, console) = get(&serve, "/api/v1/console", CONSOLE, None);
    assert_eq!(s, 200, "{console}");
    assert_eq!(line(&console, "a", "prisme")["records"]["queued"], 2);
    assert_eq!(line(&console, "b", "prisme")["records"]["queued"], 4);
    assert_eq!(line(&console, "b", "other")["records"]["queued"], 0);
    assert!(line(&console, "a", "prisme")["oldest_queued_at"].is_string());
    assert_eq!(line(&console, "a", "prisme")["last_done_at"], Value::Null);
    // Asked again with its ETag: nothing new, nothing sent.
    let r = client()
        .get(serve.url("/api/v1/console"))
        .bearer_auth(CONSOLE)
        .header("If-None-Match", etag.unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);

    // The console acts in the municipality it names, and only there.
    let r = client()
        .post(serve.url("/api/v1/targets/prisme/pause"))
        .bearer_auth(CONSOLE)
        .header("X-Hub-Municipality", "b")
        .header("content-type", "application/json")
        .body(r#"{"reason": "year-end closing in Prisme"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, console) = get(&serve, "/api/v1/console", CONSOLE, None);
    let paused = &line(&console, "b", "prisme")["paused"];
    assert_eq!(paused["reason"], "year-end closing in Prisme", "{console}");
    assert!(paused["by"].as_str().unwrap().contains("console"));
    assert_eq!(line(&console, "a", "prisme")["paused"], Value::Null);
    assert_eq!(line(&console, "b", "prisme")["sending"], "manual");

    // An operator token sees its own municipality only, and may name no other.
    let (s, _, own) = get(&serve, "/api/v1/console", OPERATOR_A, None);
    assert_eq!(s, 200);
    assert_eq!(own["municipalities"].as_array().unwrap().len(), 1, "{own}");
    assert_eq!(own["municipalities"][0]["name"], "a");
    let (s, _, body) = get(&serve, "/api/v1/status", OPERATOR_A, Some("b"));
    assert_eq!(s, 403, "{body}");
    let (s, _, body) = get(&serve, "/api/v1/status", OPERATOR_A, Some("a"));
    assert_eq!(s, 200, "{body}");
    let (s, _, body) = get(&serve, "/api/v1/status", OPERATOR_A, Some("nowhere"));
    assert_eq!(s, 403, "{body}");
    assert!(!body["error"].as_str().unwrap().contains("there are"));
    let (s, _, body) = get(&serve, "/api/v1/status", CONSOLE, Some("nowhere"));
    assert_eq!(s, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("there are: a, b"));
    // A source system's summary has its own targets only.
    let (_, _, src) = get(&serve, "/api/v1/console", SOURCE_B, None);
    let targets = src["municipalities"][0]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{src}");
    assert_eq!(targets[0]["target"], "prisme");
}

#[test]
fn a_console_token_that_is_also_an_operator_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let configs = two_municipalities(dir.path());
    let out = Command::new(HUB)
        .arg("--config")
        .arg(&configs)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HUB_OP_A", OPERATOR_A)
        .env("HUB_SRC_A", SOURCE_A)
        .env("HUB_OP_B", "operator-token-bbbbbbbbbbbb")
        .env("HUB_SRC_B", SOURCE_B)
        .env("HUB_CONSOLE", OPERATOR_A)
        .env_remove("HUB_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("configured twice (also `console`") && err.contains("the console its own"),
        "{err}"
    );
    assert!(!err.contains(OPERATOR_A), "the token leaked: {err}");
}
