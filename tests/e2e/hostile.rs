//! A misbehaving plugin behind the CLI: its batch stays queued with a clear error naming
//! the plugin, and the hub still serves the next batch in the same run.

use crate::common::Site;

const HOSTILE_TARGET: &str = r#"
[[target]]
name = "evil"
plugin = "hostile"
transport = { type = "dir", path = "evil-out" }
"#;

#[test]
fn loops_bombs_and_panics_keep_their_records_queued_and_the_rest_goes() {
    let site = Site::prisme(HOSTILE_TARGET);
    // Each kind is its own batch; `ok` comes last, after three that will crash.
    let input = site.write(
        "in.ndjson",
        "{\"id\":\"l\",\"kind\":\"loop\"}\n{\"id\":\"b\",\"kind\":\"bomb\"}\n{\"id\":\"p\",\"kind\":\"panic\"}\n{\"id\":\"fine\",\"kind\":\"ok\"}\n",
    );
    site.ok(&["enqueue", "evil", input.to_str().unwrap()]);
    let r = site.run(&["send", "evil"]);
    assert_eq!(r.code(), Some(1), "{}", r.stdout());
    let err = r.stderr();
    assert!(
        err.contains("plugin hostile: encode took longer than the limit of 2000 ms"),
        "{err}"
    );
    assert!(
        err.contains("plugin hostile: encode exceeded the memory limit of 32 MiB"),
        "{err}"
    );
    assert!(err.contains("plugin hostile: encode crashed"), "{err}");
    // The well-behaved batch went through in the same run.
    assert_eq!(site.files("evil-out"), vec!["fine.txt"]);
    let status = site.status();
    let c = &status["targets"][0];
    assert_eq!(
        (c["queued"].as_u64(), c["delivered"].as_u64()),
        (Some(3), Some(1))
    );
}
