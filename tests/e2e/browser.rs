//! The status page in a real headless Chromium, driven over WebDriver (plain HTTP to
//! chromedriver, no downloads): it asks for the operator token, shows a failed record
//! with its message and the protocol log of a transfer, and resolving the record there
//! changes the store. Needs Debian's `chromium` and `chromium-driver`
//! (`tests/servers/install.sh`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{OPERATOR_A, Serve, client, municipality, store_status, wait_for};
use crate::common::{HUB, postings};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a free loopback port, with one browser session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        for p in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(p).exists(),
                "{p} is missing: install Debian's `chromium` and `chromium-driver` (bash tests/servers/install.sh)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            profile: tempfile::tempdir().unwrap(),
        };
        wait_for("chromedriver", Duration::from_secs(20), || {
            client()
                .get(format!("{}/status", browser.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", browser.profile.path().display()),
                ]
            }
        }}});
        let v = browser.call("POST", "/session", Some(caps));
        browser.session = v["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let c = client();
        let req = match method {
            "GET" => c.get(url),
            "DELETE" => c.delete(url),
            _ => c
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or(json!({})).to_string()),
        };
        let r = req.send().unwrap();
        let ok = r.status().is_success();
        let v: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
        assert!(ok, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.session("POST", "/url", Some(json!({ "url": url })));
    }

    /// Keeps what the page looks like now as `<target tmp>/screenshots/<name>.png`, a test
    /// artifact to look at (the assertions are on the DOM).
    fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let shot = self.session("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap_or_default())
            .unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs JavaScript in the page; its result.
    fn js(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Waits for a CSS selector to match, then returns the element's id.
    fn find(&self, css: &str) -> String {
        let q = serde_json::to_string(css).unwrap();
        wait_for(css, Duration::from_secs(20), || {
            self.js(&format!("return document.querySelector({q}) !== null")) == Value::Bool(true)
        });
        let v = self.session(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element for {css}: {v}"))
            .to_string()
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.session("GET", &format!("/element/{e}/text"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.session(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.session("POST", &format!("/element/{e}/click"), None);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = client()
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn the_status_page_shows_a_failed_record_and_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    // One balanced pair and a lonely debit the plugin refuses: one transfer, one failure.
    let mut text = postings(1, 1);
    text.push_str("{\"id\":\"lonely\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00777\",\"posting_date\":\"20240131\",\"account\":\"4210100000\",\"amount_ore\":1000,\"dk\":\"D\"}\n");
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, text).unwrap();
    // The send exits 1: a record failed and needs a person.
    for (args, code) in [
        (vec!["enqueue", "prisme", input.to_str().unwrap()], 0),
        (vec!["send", "prisme"], 1),
    ] {
        let out = Command::new(HUB)
            .arg("--config")
            .arg(&config)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(store_status(&config)["targets"][0]["failed"], 1);

    let serve = Serve::start(&config, &[]);
    let browser = Browser::start();
    browser.goto(&serve.url("/"));
    // Asked for the token once; then the targets.
    browser.type_into("#token", OPERATOR_A);
    browser.click("#signin");
    browser.find("body[data-loaded] section.target[data-target=prisme]");
    let row = browser.text("tr.failed[data-record=lonely]");
    assert!(row.contains("do not balance"), "{row}");
    assert_eq!(
        browser.text("section[data-target=prisme] .count.failed b"),
        "1"
    );
    // The protocol log of the transfer.
    browser.click("section[data-target=prisme] tr.transfer");
    let log = browser.text("#log-table tbody tr");
    assert!(log.contains("delivered"), "{log}");
    // Readable on a phone: nothing wider than the screen but the scrolling tables.
    browser.session(
        "POST",
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    );
    let overflow = browser
        .js("return document.documentElement.scrollWidth <= document.documentElement.clientWidth");
    assert_eq!(
        overflow,
        Value::Bool(true),
        "the page is wider than a phone"
    );

    browser.type_into(
        "tr.failed[data-record=lonely] input.reason",
        "booked by hand",
    );
    browser.click("tr.failed[data-record=lonely] button.resolve");
    wait_for(
        "the resolution in the store",
        Duration::from_secs(20),
        || store_status(&config)["targets"][0]["resolved"] == 1,
    );
    let st = store_status(&config);
    assert_eq!(st["targets"][0]["failed"], 0);
    assert_eq!(st["needs_check"], json!([]));
    // The page shows it too.
    wait_for("the row to go", Duration::from_secs(20), || {
        browser.js("return document.querySelector('tr.failed[data-record=lonely]') === null")
            == Value::Bool(true)
    });
}

#[test]
fn the_status_page_sends_a_failed_record_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, "{\"id\":\"lonely\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00777\",\"posting_date\":\"20240131\",\"account\":\"4210100000\",\"amount_ore\":1000,\"dk\":\"D\"}\n").unwrap();
    for args in [
        vec!["enqueue", "prisme", input.to_str().unwrap()],
        vec!["send", "prisme"],
    ] {
        Command::new(HUB)
            .arg("--config")
            .arg(&config)
            .args(&args)
            .output()
            .unwrap();
    }
    assert_eq!(store_status(&config)["targets"][0]["failed"], 1);
    let serve = Serve::start(&config, &[]);
    let browser = Browser::start();
    browser.goto(&serve.url("/"));
    browser.type_into("#token", OPERATOR_A);
    browser.click("#signin");
    browser.find("body[data-loaded] tr.failed[data-record=lonely]");
    browser.type_into(
        "tr.failed[data-record=lonely] input.reason",
        "page corrected in Prisme",
    );
    let label = browser.js(
        "return document.querySelector('tr.failed[data-record=lonely] input.reason').getAttribute('aria-label')",
    );
    assert_eq!(label, Value::String("Reason for record lonely".into()));
    browser.click("tr.failed[data-record=lonely] button.requeue");
    wait_for("the record queued again", Duration::from_secs(20), || {
        let st = store_status(&config);
        st["targets"][0]["queued"] == 1 && st["targets"][0]["failed"] == 0
    });
    assert_eq!(store_status(&config)["needs_check"], json!([]));
    wait_for("the row to go", Duration::from_secs(20), || {
        browser.js("return document.querySelector('tr.failed[data-record=lonely]') === null")
            == Value::Bool(true)
    });
}

#[test]
fn the_status_page_sums_up_first_and_filters_transfers_by_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = municipality(dir.path(), "a", "manual");
    let run = |args: &[&str]| {
        Command::new(HUB)
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    for first in [1, 2] {
        let input = dir.path().join(format!("in{first}.ndjson"));
        std::fs::write(&input, postings(1, first)).unwrap();
        run(&["enqueue", "prisme", input.to_str().unwrap()]);
        run(&["send", "prisme"]);
    }
    let lonely = dir.path().join("lonely.ndjson");
    std::fs::write(&lonely, "{\"id\":\"lonely\",\"kind\":\"posting\",\"page\":\"522\",\"fiscal_year\":\"2024\",\"machine_no\":\"00777\",\"posting_date\":\"20240131\",\"account\":\"4210100000\",\"amount_ore\":1000,\"dk\":\"D\"}\n").unwrap();
    run(&["enqueue", "prisme", lonely.to_str().unwrap()]);
    run(&["send", "prisme"]);
    let serve = Serve::start(&config, &[]);
    let browser = Browser::start();
    browser.goto(&serve.url("/"));
    browser.type_into("#token", OPERATOR_A);
    browser.click("#signin");
    browser.find("body[data-loaded] section.summary tr[data-summary=prisme]");
    // The summary comes before the targets' sections, with what needs a person.
    let first = browser.js("return document.querySelector('#targets').firstElementChild.className");
    assert_eq!(first, Value::String("summary".into()));
    let row = browser.js(
        "return [...document.querySelectorAll('tr[data-summary=prisme] td')].map(td => td.textContent)",
    );
    assert_eq!(row, json!(["prisme", "0", "0", "0", "1", "0", "4"]));
    browser.screenshot("status-desktop");
    let rows = "return document.querySelectorAll('section[data-target=prisme] table.transfers tbody tr').length";
    assert_eq!(browser.js(rows), json!(2));
    // Narrowed to open transfers through the paged route: none; then every state again.
    browser.js(
        "const s = document.querySelector('section[data-target=prisme] select.transfer-state'); s.value = 'open'; s.dispatchEvent(new Event('change')); return 0",
    );
    wait_for("no open transfers", Duration::from_secs(20), || {
        browser.js(rows) == json!(0)
    });
    browser.js(
        "const s = document.querySelector('section[data-target=prisme] select.transfer-state'); s.value = 'done'; s.dispatchEvent(new Event('change')); return 0",
    );
    wait_for("the done transfers", Duration::from_secs(20), || {
        browser.js(rows) == json!(2)
    });
    // Rows open their log from the keyboard too.
    let focusable = browser
        .js("return document.querySelector('section[data-target=prisme] tr.transfer').tabIndex");
    assert_eq!(focusable, json!(0));
    browser.session(
        "POST",
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    );
    browser.screenshot("status-phone");
    assert_eq!(
        browser.js(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ),
        Value::Bool(true),
        "the page is wider than a phone"
    );
}

#[test]
fn the_view_buttons_show_a_sent_and_a_received_transport_in_a_sandboxed_frame() {
    let site = crate::view::sent_and_received();
    let serve = Serve::start(&site.config(), &[]);
    let browser = Browser::start();
    browser.goto(&serve.url("/"));
    browser.type_into("#token", OPERATOR_A);
    browser.click("#signin");
    browser.find("body[data-loaded] section.target[data-target=rki]");
    let frame = |what: &str| {
        wait_for(what, Duration::from_secs(20), || {
            browser.js("return !document.getElementById('view').hidden && \
                 document.getElementById('view-frame').srcdoc.includes('ExposurePlace')")
                == Value::Bool(true)
        });
        browser
            .js("return document.getElementById('view-frame').srcdoc")
            .as_str()
            .unwrap()
            .to_string()
    };
    browser.click("section[data-target=rki] tr.transfer button.view");
    let sent = frame("the sent transport's view");
    assert!(sent.contains("&lt;script&gt;"), "{sent}");
    assert!(!sent.contains("<script"), "{sent}");
    assert_eq!(
        browser.js("return document.getElementById('view-frame').getAttribute('sandbox')"),
        json!("")
    );
    // Clicking View does not open the protocol log of the row as well.
    assert_eq!(
        browser.js("return document.getElementById('log').hidden"),
        Value::Bool(true)
    );
    browser.click("#view-close");
    browser.click("tr.received button.view");
    let received = frame("the received transport's view");
    assert!(received.contains("Received at from-ga"), "{received}");
}
