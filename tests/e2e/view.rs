//! A readable view of a SurvNet transport, sent or received: `hub records view` and the
//! status page's view route, with a hostile value that must come out escaped.

use serde_json::json;

use crate::api::{OPERATOR_A, SOURCE_A, Serve, client};
use crate::common::{Site, plugin};
use crate::import::{GA, LS, case, line};

const HOSTILE: &str = "<script>alert('x')</script> & \"Kita\"";

/// One site that sends to the state office (zip into `rki-out/`) and, as the state
/// office, imports from there: a sent and a received transport in one store.
fn site() -> Site {
    Site::prisme(&format!(
        r#"
[plugins.rki]
path = "{rki}"

[api]
operator_token_env = "HUB_OP_A"
[[api.tokens]]
name = "prisme-only"
token_env = "HUB_SRC_A"
targets = ["prisme"]

[[target]]
name = "rki"
plugin = "rki"
utc_offset_minutes = 60
package = "zip"
transport = {{ type = "dir", path = "rki-out" }}
[target.settings]
sender = "{GA}"
role = "health-office"

[[inbound]]
name = "from-ga"
format = "survnet"
inbox = "rki-out"
utc_offset_minutes = 60
answers = {{ type = "dir", path = "answers" }}
[inbound.settings]
sender = "{LS}"
role = "state-office"
"#,
        rki = plugin("rki").display()
    ))
}

/// Sends case 7 (with the hostile value) and a document, then imports the transport.
pub(crate) fn sent_and_received() -> Site {
    let site = site();
    let doc = json!({
        "receiver": LS, "origin": GA, "number": 12345678, "version": 1, "type": "txt",
        "content_base64": "SGFsbG8="
    });
    let text = line("sal-7", "case", &case(7, 1, LS, HOSTILE)) + &line("doc-1", "document", &doc);
    let f = site.write("in.ndjson", &text);
    site.ok(&["enqueue", "rki", f.to_str().unwrap()]);
    site.ok(&["send", "rki"]);
    site.ok(&["import", "from-ga"]);
    site
}

/// What every view of the transport must show, and never raw.
fn assert_html_view(html: &str) {
    for shown in [
        "Transport number",
        "1.01.0.02.",
        "{A1B2C3D4-0000-4000-8000-000000000007}",
        "ExposurePlace",
        "Exposure",
        "Gr\u{fc}\u{df}e",
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Kita&quot;",
        "RKI_1.01.0.02._12345678_001.txt",
        "SAL-7",
    ] {
        assert!(html.contains(shown), "{shown} not in:\n{html}");
    }
    assert!(!html.contains("<script"), "{html}");
}

#[test]
fn hub_records_view_shows_a_sent_and_a_received_transport_as_text_or_escaped_html() {
    let site = sent_and_received();
    let text = site.ok(&["records", "view", "1"]);
    assert!(
        text.starts_with("Transfer #1 to rki, transport number 1"),
        "{text}"
    );
    assert!(text.contains("ExposurePlace"), "{text}");
    assert!(text.contains(HOSTILE), "{text}");
    // A line break in a value stays on its line in the terminal.
    assert!(text.contains("a\\r\\nb\\ttab"), "{text}");
    assert_html_view(&site.ok(&["records", "view", "#1", "--html"]));

    let text = site.ok(&["records", "view", "--inbound", "from-ga", "1"]);
    assert!(
        text.starts_with(
            "Received at from-ga: transport number 1 from 1.01.0.02. to 1.01., imported"
        ),
        "{text}"
    );
    assert!(text.contains("ExposurePlace"), "{text}");
    assert_html_view(&site.ok(&[
        "records",
        "view",
        "--inbound",
        "from-ga",
        "1",
        "--from",
        GA,
        "--html",
    ]));

    let r = site.run(&["records", "view", "--inbound", "from-ga", "2"]);
    assert!(
        r.stderr()
            .contains("no transport number 2 has arrived at from-ga"),
        "{}",
        r.stderr()
    );
    let r = site.run(&["records", "view", "--inbound", "elsewhere", "1"]);
    assert!(
        r.stderr().contains("no inbound `elsewhere`"),
        "{}",
        r.stderr()
    );
}

#[test]
fn the_status_page_links_a_view_of_each_sent_and_received_transport() {
    let site = sent_and_received();
    // A Prisme transfer has no SurvNet transport to view.
    let f = site.write("p.ndjson", &crate::common::postings(1, 1));
    site.ok(&["enqueue", "prisme", f.to_str().unwrap()]);
    site.ok(&["send", "prisme"]);
    let serve = Serve::start(&site.config(), &[]);
    let c = client();
    let (_, status) = crate::api::get_json(&serve.url("/api/v1/status"), OPERATOR_A);
    let rki = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "rki")
        .unwrap();
    assert_eq!(rki["viewable"], json!([1]), "{status}");
    let prisme = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "prisme")
        .unwrap();
    assert_eq!(prisme["viewable"], json!([]), "{status}");
    let received = &status["received"][0];
    assert_eq!(
        (received["inbound"].as_str(), received["number"].as_u64()),
        (Some("from-ga"), Some(1)),
        "{status}"
    );

    let get = |path: &str, token: &str| {
        let r = c.get(serve.url(path)).bearer_auth(token).send().unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().unwrap())
    };
    for path in [
        "/api/v1/transfers/1/view".to_string(),
        format!("/api/v1/received/{}/view", received["id"]),
    ] {
        let (s, headers, html) = get(&path, OPERATOR_A);
        assert_eq!(s, 200, "{path}: {html}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_html_view(&html);
    }
    // The Prisme transfer (#2) is no transport; a source token sees neither view.
    let (s, _, body) = get("/api/v1/transfers/2/view", OPERATOR_A);
    assert_eq!(s, 404, "{body}");
    assert!(body.contains("carries no SurvNet transport"), "{body}");
    let (s, _, _) = get("/api/v1/transfers/1/view", SOURCE_A);
    assert_eq!(s, 403);
    let (s, _, _) = get(
        &format!("/api/v1/received/{}/view", received["id"]),
        SOURCE_A,
    );
    assert_eq!(s, 403);
    let (_, status) = crate::api::get_json(&serve.url("/api/v1/status"), SOURCE_A);
    assert_eq!(status["received"], json!([]), "{status}");
    // The page has the buttons that open them, in a sandboxed frame.
    let js = c
        .get(serve.url("/status.js"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(js.contains("/api/v1/transfers/${x.id}/view"), "{js}");
    assert!(js.contains("/api/v1/received/${x.id}/view"), "{js}");
    let page = c.get(serve.url("/")).send().unwrap().text().unwrap();
    assert!(
        page.contains("<iframe id=\"view-frame\" sandbox=\"\""),
        "{page}"
    );
}
