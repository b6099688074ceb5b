//! The hub.toml model: one file per municipality (or carrier, or health office).
//!
//! Parsing is strict: unknown keys are errors, every problem is collected and reported
//! together with the file's name, and relative paths are taken relative to the file.
//! Secrets never live here: a credential names the file or environment variable that
//! holds it.

mod encryption;
mod inbound;
mod include;
mod settings;
mod target;
#[cfg(test)]
mod tests;
mod transport;

pub use encryption::{EncryptionConfig, KeySource};
pub use inbound::{InboundConfig, InboundFormat, InboundLimits, sender_matches};
pub use settings::{check_settings, setting_text};
pub use target::{CredentialConfig, OnUnknown, Package, RetryConfig, Sending, TargetConfig};
use transport::check_file_transport;
pub use transport::{FileLayout, TransportConfig};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::names::check_config_name;

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: {}", .problems.join("; "))]
    Invalid {
        file: PathBuf,
        problems: Vec<String>,
    },
}

/// The whole file, with paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from.
    pub file: PathBuf,
    pub store: StoreConfig,
    pub runtime: RuntimeConfig,
    pub plugins: BTreeMap<String, PluginConfig>,
    pub credentials: BTreeMap<String, CredentialConfig>,
    pub targets: Vec<TargetConfig>,
    /// The receiving side: transports this office takes in (`hub import`).
    pub inbound: Vec<InboundConfig>,
    /// `[api]`: `hub serve`'s HTTP API (absent: no API for this file).
    pub api: Option<crate::api::ApiConfig>,
    /// `[encryption]`: this file's keys for what the store keeps (absent: kept plain).
    pub encryption: Option<EncryptionConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: u32,
    #[serde(default)]
    store: StoreConfig,
    #[serde(default)]
    runtime: RuntimeConfig,
    #[serde(default)]
    plugins: BTreeMap<String, PluginConfig>,
    #[serde(default)]
    credentials: BTreeMap<String, CredentialConfig>,
    #[serde(default, rename = "target")]
    targets: Vec<TargetConfig>,
    #[serde(default)]
    inbound: Vec<InboundConfig>,
    api: Option<crate::api::ApiConfig>,
    #[serde(default)]
    audit: AuditConfig,
    encryption: Option<EncryptionConfig>,
}

/// `[audit]`: the audit trail's safeguards outside the store.
///
/// ```toml
/// [audit]
/// head_file = "/var/log/hub/audit-head"   # the trail's last id and hash, rewritten on each append
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// A file (best on another disk or a log host) that holds the trail's last entry's id
    /// and hash; `hub audit verify` then notices a trail cut short, which the chain alone
    /// cannot.
    pub head_file: Option<PathBuf>,
}

/// `[store]`: where the database lives: a SQLite file (the default), or PostgreSQL for
/// several workers.
///
/// ```toml
/// [store]
/// path = "hub-data/hub.db"              # SQLite (also where cache/ goes by default)
/// # url = "postgres://hub@db.example:5432/hub?sslmode=verify-full"
/// # password_file = "/run/secrets/hub-db"   # or password_env = "HUB_DB_PASSWORD"
/// # ca_file = "/etc/hub/db-ca.pem"          # else the platform's trusted roots
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Path of the database file (default `hub-data/hub.db`).
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// A PostgreSQL database instead of the file: `postgres://user@host:port/db`, with
    /// `?sslmode=` `disable`, `prefer`, `require`, `verify-ca` or `verify-full`. Never
    /// with the password in it.
    pub url: Option<String>,
    /// The database password: a file whose first line it is …
    pub password_file: Option<PathBuf>,
    /// … or an environment variable.
    pub password_env: Option<String>,
    /// The CA (PEM) that signs the database server's certificate.
    pub ca_file: Option<PathBuf>,
    /// How long a worker holds a transfer it delivers without renewing its lease, in
    /// seconds. A worker renews before every step with the receiver; one that dies loses
    /// the transfer to another worker after this long. Longer than any one step takes
    /// (a request or upload with its retries), or a slow worker would be overtaken.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
    /// `[audit] head_file`, resolved: the store writes the trail's head there.
    #[serde(skip)]
    pub audit_head_file: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: default_store_path(),
            url: None,
            password_file: None,
            password_env: None,
            ca_file: None,
            lease_seconds: default_lease_seconds(),
            audit_head_file: None,
        }
    }
}

impl StoreConfig {
    /// Where the database password comes from, if one is configured.
    pub fn password_source(&self) -> Option<crate::api::SecretSource> {
        crate::api::SecretSource::from_pair(&self.password_env, &self.password_file)
            .and_then(Result::ok)
    }

    /// Problems with `[store]` (never quoting the URL: it might hold a password).
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match &self.url {
            Some(url) => {
                let rest = url
                    .strip_prefix("postgres://")
                    .or_else(|| url.strip_prefix("postgresql://"));
                match rest {
                    None => problems.push(
                        "store.url must be a PostgreSQL URL (postgres://user@host:port/db)".into(),
                    ),
                    Some(rest) => {
                        let authority = rest.split(['/', '?']).next().unwrap_or_default();
                        if authority
                            .rsplit_once('@')
                            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
                            || url.contains("password=")
                        {
                            problems.push(
                                "store.url holds a password: give it in password_file or \
                                 password_env (never the password itself)"
                                    .into(),
                            );
                        }
                    }
                }
                if crate::api::SecretSource::from_pair(&self.password_env, &self.password_file)
                    .is_some_and(|r| r.is_err())
                {
                    problems
                        .push("store: give one of password_file and password_env, not both".into());
                }
            }
            None => {
                if self.password_file.is_some()
                    || self.password_env.is_some()
                    || self.ca_file.is_some()
                {
                    problems.push(
                        "store: password_file, password_env and ca_file are for a PostgreSQL \
                         store (store.url)"
                            .into(),
                    );
                }
            }
        }
        problems
    }
}

/// A target's or inbound's time for the dates written for it: a known IANA `timezone`,
/// or a fixed `utc_offset_minutes` within ±14 h, not both. `who` names it in a problem.
fn check_time(who: &str, timezone: Option<&str>, offset: i32, problems: &mut Vec<String>) {
    if let Some(tz) = timezone {
        if jiff::tz::TimeZone::get(tz).is_err() {
            problems.push(format!(
                "{who}: timezone `{tz}` is not a known time zone (IANA, e.g. America/Nuuk)"
            ));
        }
        if offset != 0 {
            problems.push(format!(
                "{who}: give timezone or utc_offset_minutes, not both"
            ));
        }
    }
    if !(-14 * 60..=14 * 60).contains(&offset) {
        problems.push(format!("{who}: utc_offset_minutes must be within ±840"));
    }
}

fn default_lease_seconds() -> u64 {
    300
}

fn default_store_path() -> PathBuf {
    PathBuf::from("hub-data/hub.db")
}

/// `[runtime]`: the plugin sandbox's limits and the compile cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached (default: `cache/` beside the database).
    pub cache_dir: Option<PathBuf>,
    /// Linear memory one plugin call may use, in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_limit_mb: u64,
    /// Wall-clock time one plugin call may take, in milliseconds.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            memory_limit_mb: default_memory_mb(),
            call_timeout_ms: default_call_timeout_ms(),
        }
    }
}

const fn default_memory_mb() -> u64 {
    64
}
const fn default_call_timeout_ms() -> u64 {
    5_000
}

/// `[plugins.NAME]`: one plugin component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Path of the component (`.wasm`).
    pub path: PathBuf,
    /// Optional pin: the component's sha256 in hex; a different file is refused.
    pub sha256: Option<String>,
}

impl Config {
    /// Reads and checks a hub.toml.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Self::parse(file, &text)
    }

    /// Parses and checks hub.toml text; `file` names it in errors and anchors relative paths.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            file: file.to_path_buf(),
            // Multi-line as toml writes it: the caret under the mistake must stay aligned.
            message: e.to_string().trim_end().to_string(),
        };
        let raw: RawConfig = match include::resolve(file, text)? {
            // Parsed from the text: errors point into it.
            None => toml::from_str(text).map_err(syntax)?,
            Some(merged) => merged.try_into().map_err(syntax)?,
        };
        let mut problems = Vec::new();
        if raw.version != 1 {
            problems.push(format!(
                "version = {} is not supported; this hub reads version = 1",
                raw.version
            ));
        }
        if raw.runtime.memory_limit_mb == 0 || raw.runtime.memory_limit_mb > 4096 {
            problems.push("runtime.memory_limit_mb must be between 1 and 4096".into());
        }
        if raw.runtime.call_timeout_ms < 10 {
            problems.push("runtime.call_timeout_ms must be at least 10".into());
        }
        if raw.store.lease_seconds == 0 {
            problems.push("store.lease_seconds must be at least 1".into());
        }
        for (name, plugin) in &raw.plugins {
            if let Err(e) = check_config_name(name) {
                problems.push(format!("plugins.{name}: {e}"));
            }
            if let Some(pin) = &plugin.sha256
                && (pin.len() != 64 || !pin.chars().all(|c| c.is_ascii_hexdigit()))
            {
                problems.push(format!(
                    "plugins.{name}.sha256 must be 64 hex digits, found `{pin}`"
                ));
            }
        }
        problems.extend(raw.store.problems());
        problems.extend(raw.encryption.iter().flat_map(EncryptionConfig::problems));
        for (name, c) in &raw.credentials {
            if let Err(e) = check_config_name(name) {
                problems.push(format!("credentials.{name}: {e}"));
            }
            match (&c.password_file, &c.password_env) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => problems.push(format!(
                    "credentials.{name}: give exactly one of password_file and password_env (never the password itself)"
                )),
            }
        }
        let mut seen = BTreeSet::new();
        for t in &raw.targets {
            for cred in t.credential.iter().chain(t.user_credentials.values()) {
                if !raw.credentials.contains_key(cred) {
                    problems.push(format!(
                        "target {}: credential `{cred}` is not defined under [credentials]",
                        t.name
                    ));
                }
            }
            if let TransportConfig::Http { url, .. } = &t.transport
                && !url.starts_with("https://")
            {
                problems.push(format!(
                    "target {}: transport url must start with https:// (found `{url}`)",
                    t.name
                ));
            }
            problems.extend(
                check_file_transport(&t.transport)
                    .into_iter()
                    .map(|p| format!("target {}: {p}", t.name)),
            );
            if t.retry.attempts == 0 {
                problems.push(format!(
                    "target {}: retry.attempts must be at least 1",
                    t.name
                ));
            }
            if let Some(s) = &t.schedule
                && let Err(e) = crate::schedule::Schedule::from_config(s)
            {
                problems.push(format!("target {}: {e}", t.name));
            }
            if t.max_batch == Some(0) {
                problems.push(format!("target {}: max_batch must be at least 1", t.name));
            }
            if t.max_in_flight == Some(0) {
                problems.push(format!(
                    "target {}: max_in_flight must be at least 1",
                    t.name
                ));
            }
            if let Err(e) = check_config_name(&t.name) {
                problems.push(format!("target {}: {e}", t.name));
            }
            if !seen.insert(t.name.clone()) {
                problems.push(format!("target {} is defined twice", t.name));
            }
            if !raw.plugins.contains_key(&t.plugin) {
                problems.push(format!(
                    "target {}: plugin `{}` is not defined under [plugins]",
                    t.name, t.plugin
                ));
            }
            check_time(
                &format!("target {}", t.name),
                t.timezone.as_deref(),
                t.utc_offset_minutes,
                &mut problems,
            );
            for (user, table) in &t.user_settings {
                for (key, value) in table {
                    if setting_text(value).is_none() {
                        problems.push(format!(
                            "target {}: user_settings.{user}.{key} must be a string, integer or boolean",
                            t.name
                        ));
                    }
                }
            }
            for (key, value) in &t.settings {
                // A scalar may be a plugin setting of the same name (RKI's `sender`);
                // only a value no setting can have is named as a misplaced key here.
                if setting_text(value).is_none() {
                    problems.push(
                        settings::landed_in_settings("target", &t.name, key).unwrap_or_else(|| {
                            format!(
                                "target {}: setting `{key}` must be a string, integer or boolean",
                                t.name
                            )
                        }),
                    );
                }
            }
        }
        for i in &raw.inbound {
            if let Err(e) = check_config_name(&i.name) {
                problems.push(format!("inbound {}: {e}", i.name));
            }
            if raw.targets.iter().any(|t| t.name == i.name)
                || raw.inbound.iter().filter(|o| o.name == i.name).count() > 1
            {
                problems.push(format!(
                    "inbound {}: the name is used twice (targets and inbounds share names)",
                    i.name
                ));
            }
            if matches!(i.answers, TransportConfig::Http { .. }) {
                problems.push(format!(
                    "inbound {}: answers go as files (dir, ftps or sftp), not http",
                    i.name
                ));
            }
            problems.extend(
                check_file_transport(&i.answers)
                    .into_iter()
                    .map(|p| format!("inbound {}: {p}", i.name)),
            );
            check_time(
                &format!("inbound {}", i.name),
                i.timezone.as_deref(),
                i.utc_offset_minutes,
                &mut problems,
            );
            if i.limits.max_entries == 0
                || i.limits.max_archive_mb == 0
                || i.limits.max_unpacked_mb == 0
                || i.limits.max_value_kb == 0
                || i.limits.max_record_kb == 0
            {
                problems.push(format!("inbound {}: limits must be at least 1", i.name));
            }
            for s in i.senders.iter().flatten() {
                let code = s.strip_suffix('*').unwrap_or(s);
                let ok = !code.is_empty()
                    && code.starts_with("1.")
                    && code.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && !code.contains('*');
                if !ok {
                    problems.push(format!(
                        "inbound {}: senders: `{}` is neither a site code (`1.01.0.02.`) nor a prefix ending in `*` (`1.01.*`)",
                        i.name,
                        s.escape_debug()
                    ));
                }
            }
            for (key, value) in &i.settings {
                // A scalar may be a plugin setting of the same name (RKI's `sender`);
                // only a value no setting can have is named as a misplaced key here.
                if setting_text(value).is_none() {
                    problems.push(
                        settings::landed_in_settings("inbound", &i.name, key).unwrap_or_else(|| {
                            format!(
                                "inbound {}: setting `{key}` must be a string, integer or boolean",
                                i.name
                            )
                        }),
                    );
                }
            }
        }
        if let Some(api) = &raw.api {
            let names: Vec<&str> = raw.targets.iter().map(|t| t.name.as_str()).collect();
            problems.extend(api.problems(&names));
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                problems,
            });
        }
        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let store = StoreConfig {
            path: resolve(&raw.store.path),
            password_file: raw.store.password_file.as_deref().map(&resolve),
            ca_file: raw.store.ca_file.as_deref().map(&resolve),
            audit_head_file: raw.audit.head_file.as_deref().map(&resolve),
            ..raw.store
        };
        let runtime = RuntimeConfig {
            cache_dir: Some(match &raw.runtime.cache_dir {
                Some(dir) => resolve(dir),
                None => store.path.parent().unwrap_or(Path::new(".")).join("cache"),
            }),
            ..raw.runtime
        };
        let plugins = raw
            .plugins
            .into_iter()
            .map(|(name, p)| {
                let path = resolve(&p.path);
                (
                    name,
                    PluginConfig {
                        path,
                        sha256: p.sha256.map(|s| s.to_ascii_lowercase()),
                    },
                )
            })
            .collect();
        let credentials = raw
            .credentials
            .into_iter()
            .map(|(name, c)| {
                let c = CredentialConfig {
                    p12: resolve(&c.p12),
                    password_file: c.password_file.as_deref().map(&resolve),
                    password_env: c.password_env,
                    ca_file: c.ca_file.as_deref().map(&resolve),
                    expiry_warning_days: c.expiry_warning_days,
                };
                (name, c)
            })
            .collect();
        let targets = raw
            .targets
            .into_iter()
            .map(|mut t| {
                t.transport.resolve_paths(&resolve);
                t
            })
            .collect();
        let inbound = raw
            .inbound
            .into_iter()
            .map(|mut i| {
                i.inbox = resolve(&i.inbox);
                i.answers.resolve_paths(&resolve);
                i
            })
            .collect();
        let api = raw.api.map(|mut a| {
            a.resolve_paths(&resolve);
            a
        });
        let encryption = raw.encryption.map(|mut e| {
            e.resolve_paths(&resolve);
            e
        });
        Ok(Config {
            file: file.to_path_buf(),
            store,
            runtime,
            plugins,
            credentials,
            targets,
            inbound,
            api,
            encryption,
        })
    }

    /// The inbound of that name.
    pub fn inbound(&self, name: &str) -> Option<&InboundConfig> {
        self.inbound.iter().find(|i| i.name == name)
    }

    /// The target of that name.
    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name)
    }
}
