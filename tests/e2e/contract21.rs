//! Contract 0.2.1 end to end, through the real `hub` binary: a record refused by its
//! kind's JSON Schema at enqueue (CLI and API), the schemas served, and a request shaped
//! by the plugin arriving at the HTTPS test server with its method, path and allowed
//! header, while a forbidden header or a path leaving the target's URL sends nothing.

use hub_test_kitaplaner_server::server::{self, Behaviour, ServerHandle};

use crate::api::{OPERATOR_A, Serve, client, post_ndjson};
use crate::common::{Site, plugin};
use crate::kitaplaner::pki;

/// A site with the contract 0.2.1 test plugin's `items` target at the test server (and
/// Kita-Planer's `kita`), proposing request shapes as `shape` says.
fn site(srv: &ServerHandle, shape: &str) -> Site {
    let site = crate::kitaplaner::site(srv, &pki().client);
    let text = std::fs::read_to_string(site.config()).unwrap();
    site.write_config(&format!(
        r#"{text}
[plugins.contract2]
path = "{plugin}"

[[target]]
name = "items"
plugin = "contract2"
credential = "kita-central"
transport = {{ type = "http", url = "{url}", ca_file = "{ca}", timeout_ms = 5000 }}
[target.settings]
prefix = "P"
shape = "{shape}"

[api]
operator_token_env = "HUB_OP_A"
"#,
        plugin = plugin("test-contract2").display(),
        url = srv.url(),
        ca = pki().ca_pem.display(),
    ));
    site
}

const BAD: &str = r#"{"id":"c-7","kind":"item","n":1,"when":"2020-13-01"}"#;
const MESSAGE: &str = r#"record c-7: /when: "2020-13-01" is not a "date""#;

#[test]
fn a_record_against_its_schema_is_refused_with_the_path_by_the_cli_and_the_api() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, "put");
    let input = site.write(
        "items.ndjson",
        &format!("{{\"id\":\"ok\",\"kind\":\"item\",\"n\":2}}\n{BAD}\n"),
    );
    let r = site.run(&["enqueue", "items", input.to_str().unwrap()]);
    assert_ne!(r.code(), Some(0));
    assert!(
        r.stderr().contains(&format!("line 2: {MESSAGE}")),
        "{}",
        r.stderr()
    );

    let schema: serde_json::Value =
        serde_json::from_str(&site.ok(&["plugin", "schema", "items", "item"])).unwrap();
    assert_eq!(schema["properties"]["when"]["format"], "date");
    let none = site.run(&["plugin", "schema", "prisme"]);
    assert!(
        none.stderr()
            .contains("plugin prisme declares no JSON Schema"),
        "{}",
        none.stderr()
    );

    let serve = Serve::start(&site.config(), &[]);
    let (status, body) = post_ndjson(&serve.url("/api/v1/targets/items/records"), OPERATOR_A, BAD);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0], format!("line 1: {MESSAGE}"), "{body}");
    let get = |target: &str| {
        let r = client()
            .get(serve.url(&format!("/api/v1/targets/{target}/schema")))
            .bearer_auth(OPERATOR_A)
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            serde_json::from_str::<serde_json::Value>(&r.text().unwrap()).unwrap(),
        )
    };
    let (status, all) = get("items");
    assert_eq!(status, 200);
    assert_eq!(all["item"]["required"][0], "n", "{all}");
    let (status, kita) = get("kita");
    assert_eq!(status, 200);
    assert!(
        kita["child"]["required"]
            .as_array()
            .unwrap()
            .contains(&"KITA_ID_EXTERN".into())
    );
    let (status, none) = get("prisme");
    assert_eq!(status, 404);
    assert!(none["error"].as_str().unwrap().contains("no JSON Schema"));
}

#[test]
fn a_shaped_request_arrives_with_its_method_path_and_header() {
    let srv = server::start(pki(), Behaviour::default());
    let site = site(&srv, "put");
    let input = site.write("items.ndjson", "{\"id\":\"a\",\"kind\":\"item\",\"n\":1}\n");
    site.ok(&["enqueue", "items", input.to_str().unwrap()]);
    // The test server imports only POSTs to its import path: the PUT gets its 404, which
    // the plugin reads as the record missing from the answer.
    site.run(&["send", "items"]);
    let requests = srv.requests();
    let put: Vec<_> = requests.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(put.len(), 1, "{requests:?}");
    assert_eq!(put[0].path, "/kitaplaner/api/import/items/items-000001.txt");
    let header = |name: &str| {
        put[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("accept"), Some("text/plain"));
    assert_eq!(header("content-type"), Some("text/plain"));
    assert!(header("idempotency-key").is_some_and(|k| k.starts_with("hub-1-")));
    assert_eq!(put[0].body, b"P a 1\n");
}

#[test]
fn a_forbidden_header_or_a_path_out_of_the_url_is_refused_and_nothing_is_sent() {
    for (shape, why) in [
        ("bad-header", "header `Authorization` is the host's own"),
        (
            "bad-path",
            "`.` and `..` segments would leave the target's path",
        ),
        (
            "refuse",
            "the plugin gives no request for it: no request for items-000001.txt",
        ),
    ] {
        let srv = server::start(pki(), Behaviour::default());
        let site = site(&srv, shape);
        let input = site.write("items.ndjson", "{\"id\":\"a\",\"kind\":\"item\",\"n\":1}\n");
        site.ok(&["enqueue", "items", input.to_str().unwrap()]);
        let r = site.run(&["send", "items"]);
        let out = format!("{}{}", r.stdout(), r.stderr());
        assert!(out.contains(why), "{shape}: {out}");
        assert!(out.contains("payload items-000001.txt"), "{shape}: {out}");
        assert!(srv.requests().is_empty(), "{shape}: {:?}", srv.requests());
        // Nothing was created: the record is still queued, no transfer exists.
        let status = site.status();
        assert_eq!(
            status["transfers"].as_array().map(Vec::len),
            Some(0),
            "{shape}: {status}"
        );
    }
}
