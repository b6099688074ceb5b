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
        match self.try_call(method, path, body) {
            Ok(v) => v,
            Err(v) => panic!("WebDriver {method} {path}: {v}"),
        }
    }

    /// One WebDriver command: its `value`, or the whole error answer.
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
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
        if ok { Ok(v["value"].clone()) } else { Err(v) }
    }

    /// Acts on the element `css` finds; found again when the page redrew it between
    /// the finding and the act, or is still drawing it (the page reloads itself and
    /// swaps a municipality's view in): for up to 10 s.
    fn on_element(&self, css: &str, what: &str, body: Option<Value>) {
        let redrawn = |v: &Value| {
            v["value"]["error"] == "stale element reference"
                || v["value"]["error"] == "element not interactable"
        };
        wait_for(
            &format!("{css} to take {what}"),
            Duration::from_secs(10),
            || {
                let e = self.find(css);
                let path = format!("/session/{}/element/{e}/{what}", self.session);
                match self.try_call("POST", &path, body.clone()) {
                    Ok(_) => true,
                    Err(v) if redrawn(&v) => false,
                    Err(v) => panic!("WebDriver POST {path}: {v}"),
                }
            },
        );
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

    /// The element's rendered text, read in one script (the page may redraw it any time).
    fn text(&self, css: &str) -> String {
        self.find(css);
        let q = serde_json::to_string(css).unwrap();
        self.js(&format!(
            "const e = document.querySelector({q}); return e ? e.innerText : ''"
        ))
        .as_str()
        .unwrap()
        .to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "value", Some(json!({ "text": text })));
    }

    fn click(&self, css: &str) {
        self.on_element(css, "click", None);
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

    // By keyboard alone: the reason typed, Enter resolves (the form's first button).
    browser.type_into(
        "tr.failed[data-record=lonely] input.reason",
        "booked by hand\u{E007}",
    );
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
    let first = browser.js(
        "return !!(document.querySelector('section.summary').compareDocumentPosition(document.querySelector('section.target')) & Node.DOCUMENT_POSITION_FOLLOWING)",
    );
    assert_eq!(first, Value::Bool(true));
    let row = browser.js(
        "return [...document.querySelectorAll('tr[data-summary=prisme] > *')].map(td => td.textContent)",
    );
    // Target, sending, queued, in flight, in doubt, needs a person, stuck, oldest
    // waiting (none), last success (a time), delivered.
    let row: Vec<String> = serde_json::from_value(row).unwrap();
    assert_eq!(
        row[..8],
        ["prisme", "manual", "0", "0", "0", "1", "0", ""],
        "{row:?}"
    );
    assert_ne!(row[8], "never", "{row:?}");
    assert_eq!(row[9], "4", "{row:?}");
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
    // Files found by a part of their name (Enter in the field), then by one nobody has.
    browser.type_into(
        "section[data-target=prisme] input.file-text",
        "522-\u{E007}",
    );
    let files = "return [...document.querySelectorAll('section[data-target=prisme] table.files tbody tr td:first-child')].map(td => td.textContent)";
    wait_for("the files found", Duration::from_secs(20), || {
        browser.js(files).as_array().is_some_and(|a| !a.is_empty())
    });
    let found: Vec<String> = serde_json::from_value(browser.js(files)).unwrap();
    assert!(found.iter().all(|f| f.contains("522-")), "{found:?}");
    browser.js("document.querySelector('section[data-target=prisme] input.file-text').value = ''; return 0");
    browser.type_into(
        "section[data-target=prisme] input.file-text",
        "no-such-file\u{E007}",
    );
    wait_for("no file found", Duration::from_secs(20), || {
        browser.js("return !document.querySelector('section[data-target=prisme] .file-search + p.empty').hidden")
            == Value::Bool(true)
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

/// The console over two municipalities: the summary across both, a failed delivery
/// retried from its row, a target paused and resumed in the other municipality, and an
/// enqueue seen without a click (the page polls; `?every=1` makes it look each second).
#[test]
fn the_console_retries_pauses_and_updates_live_across_municipalities() {
    use crate::api::SOURCE_B;
    use crate::console::{CONSOLE, two_municipalities};
    let dir = tempfile::tempdir().unwrap();
    let configs = two_municipalities(dir.path());
    let (a, b) = (configs.join("a.toml"), configs.join("b.toml"));
    // Someone left a file where a's folder for the municipality goes: the delivery
    // fails, the transfer stays open.
    std::fs::create_dir(configs.join("out-a")).unwrap();
    let blocked = configs.join("out-a").join("sermersooq");
    std::fs::write(&blocked, "not a folder").unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, postings(1, 1)).unwrap();
    for args in [
        vec!["enqueue", "prisme", input.to_str().unwrap()],
        vec!["send", "prisme"],
    ] {
        Command::new(HUB)
            .arg("--config")
            .arg(&a)
            .args(&args)
            .env_remove("HUB_CONFIG")
            .output()
            .unwrap();
    }
    let open = store_status(&a);
    assert_eq!(open["transfers"][0]["state"], "open", "{open}");

    let serve = Serve::start(&configs, &[("HUB_CONSOLE", CONSOLE)]);
    let browser = Browser::start();
    browser.goto(&serve.url("/?every=1"));
    browser.type_into("#token", CONSOLE);
    browser.click("#signin");
    browser.find("body[data-loaded] tr[data-summary=prisme][data-municipality=b]");
    let cells = |place: &str| {
        let v = browser.js(&format!(
            "return [...document.querySelectorAll('tr[data-summary=prisme][data-municipality={place}] > *')].map(c => c.textContent)"
        ));
        serde_json::from_value::<Vec<String>>(v).unwrap()
    };
    // Municipality, target, sending, queued, in flight, …
    assert_eq!(cells("a")[..5], ["a", "prisme", "manual", "0", "2"]);
    assert_eq!(cells("b")[..4], ["b", "prisme", "manual", "0"]);
    assert!(
        !browser
            .js("return document.getElementById('place').hidden")
            .as_bool()
            .unwrap()
    );
    assert!(browser.text("#who").starts_with("a "));

    // The folder is cleared; "Retry now" delivers the open transfer at once.
    std::fs::remove_file(&blocked).unwrap();
    browser.click("section[data-target=prisme] tr.transfer button.retry");
    browser.session(
        "POST",
        "/alert/text",
        Some(json!({"text": "folder cleared"})),
    );
    browser.session("POST", "/alert/accept", None);
    wait_for("the retried delivery", Duration::from_secs(20), || {
        store_status(&a)["targets"][0]["delivered"] == 2
    });

    // Over to b from its summary line; pause its prisme with a reason.
    browser.click("tr[data-summary=prisme][data-municipality=b] a");
    wait_for("b's details", Duration::from_secs(20), || {
        browser.text("#who").starts_with("b ")
    });
    browser.type_into(
        "section[data-target=prisme] .pause-form input.reason",
        "year-end closing\u{E007}",
    );
    wait_for("the pause in b's store", Duration::from_secs(20), || {
        store_status(&b)["paused"][0]["target"] == "prisme"
    });
    assert_eq!(store_status(&a)["paused"], json!([]));
    browser.find("section[data-target=prisme] .paused button.resume");
    wait_for("paused in the summary", Duration::from_secs(20), || {
        cells("b")[2] == "paused"
    });
    browser.screenshot("console-desktop");

    // A source system enqueues to b: the summary shows it without a click.
    let url = serve.url("/api/v1/targets/prisme/records");
    let r = client()
        .post(&url)
        .bearer_auth(SOURCE_B)
        .header("content-type", "application/x-ndjson")
        .body(postings(1, 70))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_for("the live update", Duration::from_secs(20), || {
        cells("b")[3] == "2"
    });

    // On a phone every action is still within reach.
    browser.session(
        "POST",
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    );
    let reachable = browser.js(
        "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('button.resume, form.pause-form button, #place-select')].every(e => { const r = e.getBoundingClientRect(); return r.left >= 0 && r.right <= w; })",
    );
    assert_eq!(reachable, Value::Bool(true));
    browser.screenshot("console-phone");
    browser.click("section[data-target=prisme] button.resume");
    wait_for("the resume in b's store", Duration::from_secs(20), || {
        store_status(&b)["paused"] == json!([])
    });
}
