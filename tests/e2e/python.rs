//! The Python plugin (`plugins/csvdrop`, built by componentize-py): records in, one CSV
//! file out on a `dir` target, through the real binary and the WASI sandbox.

use std::path::PathBuf;

use crate::common::{Site, plugin_dir, shared_cache};

/// The built Python plugin; missing means componentize-py was not there at build time.
fn csvdrop() -> PathBuf {
    let p = plugin_dir().join("csvdrop.wasm");
    assert!(
        p.exists(),
        "{} is missing: `cargo xtask plugins` builds it with the pinned componentize-py, which it \
         installs into <target dir>/py; its output says in one line why it could not",
        p.display()
    );
    p
}

fn site() -> Site {
    let site = Site {
        dir: tempfile::tempdir().unwrap(),
    };
    site.write_config(&format!(
        r#"version = 1
[store]
path = "data/hub.db"
[runtime]
cache_dir = "{cache}"
call_timeout_ms = 10000
[plugins.csvdrop]
path = "{plugin}"

[[target]]
name = "kita-export"
plugin = "csvdrop"
utc_offset_minutes = 60
transport = {{ type = "dir", path = "out" }}
[target.settings]
columns = "name,born,fee,note,active"
delimiter = "semicolon"
prefix = "kitas"
"#,
        cache = shared_cache().display(),
        plugin = csvdrop().display(),
    ));
    site
}

#[test]
fn records_become_one_quoted_csv_file_on_the_dir_target() {
    let site = site();
    let plugins = site.ok(&["plugins"]);
    assert!(plugins.contains("csvdrop"), "{plugins}");
    let input = site.write(
        "in.ndjson",
        concat!(
            r#"{"id":"k1","kind":"row","name":"Kita Sonnenschein","born":"2019-04-01","fee":0.10,"note":null,"active":true}"#,
            "\n",
            r#"{"id":"k2","kind":"row","name":"Müller; Söhne","born":"2020-12-31","fee":12345678901234567890,"note":"sagt \"hallo\"","active":false}"#,
            "\n",
            r#"{"id":"k3","kind":"row","name":"Zwei\r\nZeilen","born":"","fee":-3,"note":"","active":null}"#,
            "\n",
        ),
    );
    site.ok(&["enqueue", "kita-export", input.to_str().unwrap()]);
    let out = site.ok(&["send", "kita-export"]);
    assert!(out.contains("3 record(s) delivered"), "{out}");
    assert_eq!(site.files("out"), vec!["kitas-20240201-000001.csv"]);
    let bytes = std::fs::read(site.path("out/kitas-20240201-000001.csv")).unwrap();
    let want = concat!(
        "id;name;born;fee;note;active\r\n",
        "k1;Kita Sonnenschein;2019-04-01;0.10;;true\r\n",
        "k2;\"Müller; Söhne\";2020-12-31;12345678901234567890;\"sagt \"\"hallo\"\"\";false\r\n",
        "k3;\"Zwei\r\nZeilen\";;-3;;\r\n",
    );
    assert_eq!(String::from_utf8(bytes).unwrap(), want);
    let files: serde_json::Value =
        serde_json::from_str(&site.ok(&["status", "--files", "--json"])).unwrap();
    let text = files.to_string();
    for label in [r#""rows""#, r#""3""#, r#""date""#, r#""2024-02-01""#] {
        assert!(text.contains(label), "{label} not in {text}");
    }
    assert_eq!(site.status()["targets"][0]["delivered"], 3);
}

#[test]
fn a_bad_record_is_refused_with_its_id_and_field() {
    let site = site();
    let input = site.write(
        "in.ndjson",
        concat!(
            r#"{"id":"good","kind":"row","name":"A","born":"2019-04-01","fee":1,"note":"","active":true}"#,
            "\n",
            r#"{"id":"bad-fee","kind":"row","name":"B","born":"2019-04-01","fee":{"eur":1},"note":"","active":true}"#,
            "\n",
            r#"{"id":"bad-extra","kind":"row","name":"C","born":"2019-04-01","fee":1,"note":"","active":true,"colour":"red"}"#,
            "\n",
            r#"{"id":"bad-missing","kind":"row","name":"D","fee":1,"note":"","active":true}"#,
            "\n",
        ),
    );
    let r = site.run(&["enqueue", "kita-export", input.to_str().unwrap()]);
    assert_ne!(r.code(), Some(0), "{}", r.stdout());
    let err = r.stderr();
    for want in [
        "record bad-fee: field fee: must be a string, number, boolean or null, not an object",
        "record bad-extra: field colour: is not a column of this target (columns: name, born, fee, note, active)",
        "record bad-missing: field born: is required (null for an empty cell)",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    assert!(!err.contains("record good"), "{err}");
    // All or nothing: the good record was not queued either, so a send delivers nothing.
    let status = site.status();
    assert!(
        status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["queued"] == 0),
        "{status}"
    );
    site.ok(&["send", "kita-export"]);
    assert!(site.files("out").is_empty(), "{:?}", site.files("out"));
}
