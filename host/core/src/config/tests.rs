use super::*;
use hub_plugin_sdk::{SettingSpec, SettingType};

const GOOD: &str = r#"
version = 1
[store]
path = "data/hub.db"
[plugins.prisme]
path = "plugins/prisme.wasm"
[[target]]
name = "prisme"
plugin = "prisme"
transport = { type = "dir", path = "out" }
settings = { municipality = "sermersooq", run_limit = 5, strict = true }
"#;

#[test]
fn resolves_paths_relative_to_the_file() {
    let c = Config::parse(Path::new("/etc/hub/hub.toml"), GOOD).unwrap();
    assert_eq!(c.store.path, PathBuf::from("/etc/hub/data/hub.db"));
    assert_eq!(
        c.runtime.cache_dir,
        Some(PathBuf::from("/etc/hub/data/cache"))
    );
    assert_eq!(
        c.plugins["prisme"].path,
        PathBuf::from("/etc/hub/plugins/prisme.wasm")
    );
    let TransportConfig::Dir { path } = &c.targets[0].transport else {
        panic!("dir expected")
    };
    assert_eq!(path, &PathBuf::from("/etc/hub/out"));
    assert_eq!(c.runtime.memory_limit_mb, 64);
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let bad = GOOD.replace("[store]", "[store]\ncolour = \"red\"");
    let e = Config::parse(Path::new("hub.toml"), &bad).unwrap_err();
    assert!(e.to_string().contains("unknown field `colour`"), "{e}");
    assert!(e.to_string().starts_with("hub.toml:"), "{e}");

    let bad = GOOD
        .replace("plugin = \"prisme\"", "plugin = \"nope\"")
        .replace("version = 1", "version = 2");
    let e = Config::parse(Path::new("hub.toml"), &bad).unwrap_err();
    let ConfigError::Invalid { problems, .. } = e else {
        panic!("expected Invalid")
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("version = 2"));
    assert!(problems[1].contains("plugin `nope` is not defined"));

    let bad = GOOD.replace(
        "path = \"plugins/prisme.wasm\"",
        "path = \"p.wasm\"\nsha256 = \"abc\"",
    );
    let e = Config::parse(Path::new("hub.toml"), &bad).unwrap_err();
    assert!(
        e.to_string()
            .contains("plugins.prisme.sha256 must be 64 hex digits")
    );

    let bad = GOOD.replace("type = \"dir\"", "type = \"carrier-pigeon\"");
    let e = Config::parse(Path::new("hub.toml"), &bad).unwrap_err();
    assert!(e.to_string().contains("carrier-pigeon"), "{e}");
}

#[test]
fn transports_and_credentials_are_checked() {
    let with = |transport: &str, extra: &str| {
        let text = GOOD.replace(
            "transport = { type = \"dir\", path = \"out\" }",
            &format!("transport = {transport}\n{extra}"),
        );
        match Config::parse(Path::new("/site/hub.toml"), &text) {
            Ok(c) => Ok(c),
            Err(ConfigError::Invalid { problems, .. }) => Err(problems.join("; ")),
            Err(e) => Err(e.to_string()),
        }
    };
    let e = with(
        "{ type = \"ftps\", host = \"h\", user = \"ftp-winformatik-sermersooq\", password_file = \"a\", password_env = \"B\", municipality = \"sermersooq\" }",
        "",
    )
    .unwrap_err();
    assert!(
        e.contains("give exactly one of password_file, password_env"),
        "{e}"
    );
    let e = with(
        "{ type = \"ftps\", host = \"h\", user = \"ftp-winformatik-sermersooq\", password_env = \"B\", municipality = \"qeqqata\" }",
        "",
    )
    .unwrap_err();
    assert!(
        e.contains("is not the user of municipality `qeqqata`"),
        "{e}"
    );
    let e = with(
        "{ type = \"http\", url = \"http://plain\" }",
        "credential = \"nope\"",
    )
    .unwrap_err();
    assert!(e.contains("must start with https://"), "{e}");
    assert!(e.contains("credential `nope` is not defined"), "{e}");
    let c = with(
        "{ type = \"sftp\", host = \"h\", user = \"u\", key_file = \"keys/id\", host_key = \"ssh-ed25519 AAAA\", municipality = \"sermersooq\" }",
        "",
    )
    .unwrap();
    let TransportConfig::Sftp { key_file, port, .. } = &c.targets[0].transport else {
        panic!("sftp expected")
    };
    assert_eq!(key_file.as_deref(), Some(Path::new("/site/keys/id")));
    assert_eq!(*port, 22);
}

#[test]
fn file_layouts_plain_without_municipality_and_prisme_with_it() {
    let with = |transport: &str| {
        let text = GOOD.replace(
            "transport = { type = \"dir\", path = \"out\" }",
            &format!("transport = {transport}"),
        );
        match Config::parse(Path::new("/site/hub.toml"), &text) {
            Ok(c) => Ok(c),
            Err(ConfigError::Invalid { problems, .. }) => Err(problems.join("; ")),
            Err(e) => Err(e.to_string()),
        }
    };
    let c = with(
        "{ type = \"sftp\", host = \"h\", user = \"rki\", key_file = \"id\", host_key = \"ssh-ed25519 AAAA\", layout = \"plain\", root = \"/upload\" }",
    )
    .unwrap();
    let TransportConfig::Sftp {
        layout,
        municipality,
        ..
    } = &c.targets[0].transport
    else {
        panic!("sftp expected")
    };
    assert_eq!((*layout, municipality), (Some(FileLayout::Plain), &None));
    // Plain over FTPS: any user name, no municipality.
    with("{ type = \"ftps\", host = \"h\", user = \"gesundheitsamt\", password_env = \"P\", layout = \"plain\" }").unwrap();
    // Prisme, named, needs its municipality.
    for transport in [
        "{ type = \"ftps\", host = \"h\", user = \"ftp-winformatik-sermersooq\", password_env = \"P\", layout = \"prisme\" }",
        "{ type = \"sftp\", host = \"h\", user = \"u\", key_file = \"id\", host_key = \"ssh-ed25519 AAAA\", layout = \"prisme\" }",
    ] {
        let e = with(transport).unwrap_err();
        assert!(
            e.contains("layout = \"prisme\"") && e.contains("needs `municipality`"),
            "{e}"
        );
        assert!(e.contains("layout = \"plain\""), "{e}");
    }
    let c = with(
        "{ type = \"ftps\", host = \"h\", user = \"ftp-winformatik-sermersooq\", password_env = \"P\", layout = \"prisme\", municipality = \"sermersooq\" }",
    )
    .unwrap();
    let TransportConfig::Ftps { layout, .. } = &c.targets[0].transport else {
        panic!("ftps expected")
    };
    assert_eq!(*layout, Some(FileLayout::Prisme));
    // Unnamed, the layout follows the configuration: a municipality means Prisme's tree
    // (every configuration from before `layout`), none means plain: no receiver's tree is
    // a generic transport's default.
    assert_eq!(FileLayout::of(None, Some("sermersooq")), FileLayout::Prisme);
    assert_eq!(FileLayout::of(None, None), FileLayout::Plain);
    with("{ type = \"sftp\", host = \"h\", user = \"u\", key_file = \"id\", host_key = \"ssh-ed25519 AAAA\" }").unwrap();
    let e = with(
        "{ type = \"ftps\", host = \"h\", user = \"ftp-winformatik\", password_env = \"P\", municipality = \"sermersooq\" }",
    )
    .unwrap_err();
    assert!(
        e.contains("sermersooq"),
        "the implied Prisme layout checks the user: {e}"
    );
    // A municipality does not belong to the plain layout; an unknown layout is named.
    let e = with(
        "{ type = \"ftps\", host = \"h\", user = \"u\", password_env = \"P\", layout = \"plain\", municipality = \"sermersooq\" }",
    )
    .unwrap_err();
    assert!(
        e.contains("`municipality` belongs to layout = \"prisme\""),
        "{e}"
    );
    let e = with(
        "{ type = \"ftps\", host = \"h\", user = \"u\", password_env = \"P\", layout = \"flat\" }",
    )
    .unwrap_err();
    assert!(e.contains("flat"), "{e}");
}

#[test]
fn settings_are_checked_against_the_plugin() {
    let c = Config::parse(Path::new("hub.toml"), GOOD).unwrap();
    let specs = vec![
        SettingSpec::required("municipality", SettingType::Text, "folder name"),
        SettingSpec::required("environment", SettingType::Text, "prod or test"),
        SettingSpec::optional("run_limit", SettingType::Integer, "9", "runs"),
        SettingSpec::optional("page", SettingType::Integer, "522", "page"),
    ];
    let problems = check_settings("prisme", &specs, &c.targets[0].settings).unwrap_err();
    assert_eq!(
        problems,
        vec![
            "target prisme: unknown setting `strict` (the plugin takes: municipality, environment, run_limit, page)",
            "target prisme: missing setting `environment` (prod or test)",
        ]
    );
    let mut given = c.targets[0].settings.clone();
    given.remove("strict");
    given.insert("environment".into(), "test".into());
    let ok = check_settings("prisme", &specs, &given).unwrap();
    assert_eq!(
        ok,
        vec![
            ("municipality".to_string(), "sermersooq".to_string()),
            ("environment".to_string(), "test".to_string()),
            ("run_limit".to_string(), "5".to_string()),
            ("page".to_string(), "522".to_string()),
        ]
    );
    given.insert("run_limit".into(), "five".into());
    let problems = check_settings("prisme", &specs, &given).unwrap_err();
    assert_eq!(
        problems,
        vec!["target prisme: setting `run_limit` must be an integer, found `five`"]
    );
}

#[test]
fn syntax_errors_keep_their_lines_and_caret() {
    let text = "version = 1\n[store]\npath = \"x\" extra\n";
    let e = Config::parse(Path::new("/site/hub.toml"), text).unwrap_err();
    let shown = e.to_string();
    assert!(shown.starts_with("/site/hub.toml: "), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.len() >= 4, "multi-line: {shown}");
    let source = lines.iter().position(|l| l.contains("path = \"x\" extra"));
    let source = source.expect("the offending line is shown");
    let caret = lines[source + 1];
    let column = caret.find('^').expect("a caret under the mistake");
    assert_eq!(&lines[source][column..column + 5], "extra", "{shown}");
}

#[test]
fn a_target_key_below_the_settings_line_says_where_it_landed() {
    let text = r#"
version = 1
[plugins.prisme]
path = "p.wasm"
[[target]]
name = "prisme"
plugin = "prisme"
transport = { type = "dir", path = "out" }
[target.settings]
municipality = "sermersooq"
schedule = { times = ["05:00"], timezone = "America/Nuuk" }
"#;
    let e = Config::parse(Path::new("/site/hub.toml"), text).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("`schedule` landed in the settings table")
            && shown.contains("move it above `[target.settings]`"),
        "{shown}"
    );
    assert!(!shown.contains("must be a string"), "{shown}");
    // A scalar of the same name as a target key may be a plugin setting (RKI's `sender`).
    let ok = text.replace(
        "schedule = { times = [\"05:00\"], timezone = \"America/Nuuk\" }",
        "sender = \"1.01.0.02.\"",
    );
    Config::parse(Path::new("/site/hub.toml"), &ok).unwrap();
}

#[test]
fn senders_match_a_code_or_a_prefix() {
    let list = |l: &[&str]| -> Vec<String> { l.iter().map(|s| s.to_string()).collect() };
    let allowed = list(&["1.01.0.02.", "1.03.*"]);
    assert!(sender_matches(&allowed, "1.01.0.02."));
    assert!(!sender_matches(&allowed, "1.01.0.03."));
    assert!(sender_matches(&allowed, "1.03.0.01."));
    assert!(!sender_matches(&allowed, "1."));
    assert!(!sender_matches(&[], "1."));
}

#[test]
fn a_postgres_store_names_its_password_source_and_never_holds_the_password() {
    let with = |store: &str| {
        Config::parse(
            Path::new("/etc/hub/hub.toml"),
            &GOOD.replace("path = \"data/hub.db\"", store),
        )
    };
    let c = with(
        "url = \"postgres://hub@db:5432/hub?sslmode=verify-full\"\n\
         password_file = \"db.pw\"\nca_file = \"db-ca.pem\"",
    )
    .unwrap();
    assert_eq!(
        c.store.url.as_deref(),
        Some("postgres://hub@db:5432/hub?sslmode=verify-full")
    );
    assert_eq!(
        c.store.password_source(),
        Some(crate::api::SecretSource::File(PathBuf::from(
            "/etc/hub/db.pw"
        )))
    );
    assert_eq!(c.store.ca_file, Some(PathBuf::from("/etc/hub/db-ca.pem")));
    // A password in the URL is refused, and the message does not quote it.
    for url in [
        "postgres://hub:s3cret-pw@db/hub",
        "postgresql://db/hub?password=s3cret-pw",
    ] {
        let e = with(&format!("url = \"{url}\"")).unwrap_err().to_string();
        assert!(e.contains("store.url holds a password"), "{e}");
        assert!(!e.contains("s3cret-pw"), "{e}");
    }
    let e = with("url = \"mysql://db/hub\"").unwrap_err().to_string();
    assert!(e.contains("must be a PostgreSQL URL"), "{e}");
    let e = with("url = \"postgres://db/hub\"\npassword_env = \"A\"\npassword_file = \"b\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not both"), "{e}");
    let e = with("password_env = \"A\"").unwrap_err().to_string();
    assert!(e.contains("are for a PostgreSQL store"), "{e}");
}

#[test]
fn a_targets_timezone_is_known_and_not_given_beside_a_fixed_offset() {
    let with = |line: &str| {
        GOOD.replace(
            "plugin = \"prisme\"\n",
            &format!("plugin = \"prisme\"\n{line}\n"),
        )
    };
    let c = Config::parse(Path::new("hub.toml"), &with("timezone = \"America/Nuuk\"")).unwrap();
    let winter = crate::time::Timestamp::parse("2024-01-15T12:00:00Z").unwrap();
    let summer = crate::time::Timestamp::parse("2024-07-15T12:00:00Z").unwrap();
    assert_eq!(
        (
            c.targets[0].utc_offset_at(winter),
            c.targets[0].utc_offset_at(summer)
        ),
        (-120, -60)
    );
    // The older key still works, as a fixed offset.
    let c = Config::parse(Path::new("hub.toml"), &with("utc_offset_minutes = -120")).unwrap();
    assert_eq!(c.targets[0].utc_offset_at(summer), -120);
    let e = Config::parse(Path::new("hub.toml"), &with("timezone = \"Mars/Olympus\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`Mars/Olympus` is not a known time zone"), "{e}");
    let e = Config::parse(
        Path::new("hub.toml"),
        &with("timezone = \"Europe/Berlin\"\nutc_offset_minutes = 60"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn an_inbounds_timezone_follows_summer_time_for_the_times_in_its_answers() {
    let inbound = |line: &str| {
        format!(
            "{GOOD}\n[[inbound]]\nname = \"in\"\nformat = \"survnet\"\ninbox = \"inbox\"\n{line}\nanswers = {{ type = \"dir\", path = \"answers\" }}\n"
        )
    };
    let c = Config::parse(
        Path::new("hub.toml"),
        &inbound("timezone = \"Europe/Berlin\""),
    )
    .unwrap();
    let winter = crate::time::Timestamp::parse("2024-01-15T12:00:00Z").unwrap();
    let summer = crate::time::Timestamp::parse("2024-07-15T12:00:00Z").unwrap();
    let i = c.inbound("in").unwrap();
    assert_eq!(
        (i.utc_offset_at(winter), i.utc_offset_at(summer)),
        (60, 120)
    );
    let c = Config::parse(Path::new("hub.toml"), &inbound("utc_offset_minutes = 60")).unwrap();
    assert_eq!(c.inbound("in").unwrap().utc_offset_at(summer), 60);
    let e = Config::parse(
        Path::new("hub.toml"),
        &inbound("timezone = \"Europe/Berlin\"\nutc_offset_minutes = 60"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("inbound in: give timezone or utc_offset_minutes, not both"),
        "{e}"
    );
    let e = Config::parse(
        Path::new("hub.toml"),
        &inbound("timezone = \"Nowhere/Else\""),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("inbound in: timezone `Nowhere/Else`"), "{e}");
}

#[test]
fn encryption_keys_name_one_source_and_the_current_key_is_among_them() {
    let with = |s: &str| format!("{GOOD}\n[encryption]\n{s}\n");
    let c = Config::parse(
        Path::new("/etc/hub/hub.toml"),
        &with("current = \"k1\"\nkeys = { k1 = { file = \"keys/k1\" }, k0 = { env = \"K0\" } }"),
    )
    .unwrap();
    let e = c.encryption.unwrap();
    assert_eq!(e.keys["k1"].file, Some(PathBuf::from("/etc/hub/keys/k1")));
    let e = Config::parse(
        Path::new("hub.toml"),
        &with("current = \"k2\"\nkeys = { k1 = { file = \"a\", env = \"B\" }, Bad_Id = { env = \"C\" } }"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("encryption.keys.k1: give exactly one of file and env"),
        "{e}"
    );
    assert!(e.contains("encryption.keys.Bad_Id"), "{e}");
    assert!(e.contains("current = `k2` is not one of"), "{e}");
}

#[test]
fn an_included_file_shares_api_and_plugins_and_the_file_wins_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("_shared.toml"),
        r#"
version = 1
[api]
listen = "127.0.0.1:9090"
[plugins.prisme]
path = "plugins/prisme.wasm"
[runtime]
memory_limit_mb = 128
"#,
    )
    .unwrap();
    let text = r#"
include = "_shared.toml"
version = 1
[store]
path = "data/hub.db"
[runtime]
call_timeout_ms = 500
[[target]]
name = "prisme"
plugin = "prisme"
transport = { type = "dir", path = "out" }
settings = { municipality = "sermersooq" }
"#;
    let c = Config::parse(&dir.path().join("nuuk.toml"), text).unwrap();
    assert_eq!(
        c.api.as_ref().and_then(|a| a.listen.as_deref()),
        Some("127.0.0.1:9090")
    );
    assert_eq!(
        c.plugins["prisme"].path,
        dir.path().join("plugins/prisme.wasm")
    );
    // Tables merged key by key: the shared limit and the file's own timeout.
    assert_eq!(c.runtime.memory_limit_mb, 128);
    assert_eq!(c.runtime.call_timeout_ms, 500);

    // What belongs to one municipality cannot be shared.
    std::fs::write(
        dir.path().join("bad.toml"),
        "version = 1\n[store]\npath = \"one.db\"\n",
    )
    .unwrap();
    let e = Config::parse(
        &dir.path().join("x.toml"),
        "include = \"bad.toml\"\nversion = 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("bad.toml") && e.contains("store cannot be shared"),
        "{e}"
    );
    let e = Config::parse(
        &dir.path().join("x.toml"),
        "include = \"gone.toml\"\nversion = 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("cannot read") && e.contains("gone.toml"), "{e}");
}
