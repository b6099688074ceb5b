//! The hub.toml model: one file per municipality (or carrier, or health office).
//!
//! Parsing is strict: unknown keys are errors, every problem is collected and reported
//! together with the file's name, and relative paths are taken relative to the file.
//! Secrets never live here: a credential names the file or environment variable that
//! holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hub_plugin_sdk::{SettingSpec, SettingType};
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
}

/// `[store]`: where the SQLite database lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Path of the database file (default `hub-data/hub.db`).
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: default_store_path(),
        }
    }
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

/// `[credentials.NAME]`: a client certificate (.p12) and where its password comes from.
/// The password itself never appears in hub.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// The PKCS#12 file with the certificate and its key.
    pub p12: PathBuf,
    /// A file holding the password (its first line is used).
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    pub password_env: Option<String>,
}

/// How a transfer's payloads are packed for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Package {
    /// One zip archive per transfer.
    Zip,
}

/// When a target's records are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sending {
    /// On `hub send` (and on the schedule of `hub serve`).
    #[default]
    Manual,
    /// Also at once after each enqueue; if the target cannot be reached the records wait
    /// in the outbox for the next try.
    Realtime,
}

/// `[target.retry]`: how often a delivery worth retrying is tried within one send.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Tries per payload in one run (1 = no retry).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Wait before the second try; doubled for each further one.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// The longest wait between two tries.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            backoff_ms: default_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

impl RetryConfig {
    /// The wait before try number `n` (2, 3, …).
    pub fn backoff(&self, n: u32) -> std::time::Duration {
        let factor = 1u64 << n.saturating_sub(2).min(30);
        std::time::Duration::from_millis(
            self.backoff_ms
                .saturating_mul(factor)
                .min(self.max_backoff_ms),
        )
    }
}

const fn default_attempts() -> u32 {
    3
}
const fn default_backoff_ms() -> u64 {
    1_000
}
const fn default_max_backoff_ms() -> u64 {
    60_000
}
const fn default_connect_timeout_ms() -> u64 {
    10_000
}
const fn default_timeout_ms() -> u64 {
    60_000
}

/// `[[target]]`: one receiving system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The target's name, used on the command line (`hub send prisme`).
    pub name: String,
    /// The `[plugins.NAME]` entry that encodes for this target.
    pub plugin: String,
    /// This side's code towards the target (e.g. a SurvNet site code), passed to the plugin.
    pub sender: Option<String>,
    /// The target's code, passed to the plugin.
    pub receiver: Option<String>,
    /// Offset from UTC for the dates plugins write (e.g. -120 for Greenland, 60 for Germany in winter).
    #[serde(default)]
    pub utc_offset_minutes: i32,
    pub transport: TransportConfig,
    /// `manual` or `realtime`.
    #[serde(default)]
    pub sending: Sending,
    /// The central credential, used when the user running the hub has none of their own.
    pub credential: Option<String>,
    /// Per-user credentials: user name = credential name.
    #[serde(default)]
    pub user_credentials: BTreeMap<String, String>,
    #[serde(default)]
    pub retry: RetryConfig,
    /// At most this many records per transfer (the plugin's own limit still applies).
    pub max_batch: Option<u32>,
    /// When `hub serve` sends this target's queue (times of day or an interval).
    pub schedule: Option<crate::schedule::ScheduleConfig>,
    /// File targets: a delivered file still on the receiver after this many minutes means
    /// the receiving job is not running; `hub status` and the log report it.
    pub stuck_after_minutes: Option<u64>,
    /// Targets with receipts (RKI): a transport still without its receipt after this many
    /// minutes is reported by `hub status`.
    pub receipt_after_minutes: Option<u64>,
    /// `"zip"`: every payload of a transfer travels in one zip archive (SurvNet).
    pub package: Option<Package>,
    /// The plugin's settings, checked against what the plugin describes.
    #[serde(default)]
    pub settings: toml::Table,
}

/// `[[inbound]]`: transports that arrive for this office (SurvNet: from the health
/// offices below it, or from the RKI above). `hub import` reads them from the inbox,
/// strictly in each sender's numbering order, and answers each with a receipt.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundConfig {
    /// The name used on the command line (`hub import rki-in`).
    pub name: String,
    /// The exchange format; `survnet` is the one the hub reads.
    pub format: InboundFormat,
    /// The folder transports arrive in (`hub serve` watches it). Imported files leave
    /// it; refused ones move to `refused/` beside a note saying why.
    pub inbox: PathBuf,
    /// Where receipts and re-transmission requests go: any file transport.
    pub answers: TransportConfig,
    /// Offset from UTC for the times written into answers.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// Limits against hostile archives.
    #[serde(default)]
    pub limits: InboundLimits,
    /// The senders whose transports this inbound takes: site codes (`1.01.0.02.`) or
    /// prefixes ending in `*` (`1.01.*`: every site whose code starts with `1.01.`).
    /// Transports from any other sender are refused, naming it. Unset: the RKI (`1.`)
    /// and the sites of this office's own state (`1.NN.*`).
    #[serde(default)]
    pub senders: Option<Vec<String>>,
    /// The format's settings (SurvNet: this office's `sender` site code and `role`, and
    /// the action codes, as for an `rki` target).
    #[serde(default)]
    pub settings: toml::Table,
}

/// The formats `[[inbound]]` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InboundFormat {
    /// RKI SurvNet transport archives (`RKI_<sender>_<receiver>_<nnnnnnnn>.zip`).
    Survnet,
}

/// `[inbound.limits]`: an archive beyond these is refused before anything is imported.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundLimits {
    /// The archive file itself.
    #[serde(default = "default_max_archive_mb")]
    pub max_archive_mb: u64,
    /// Everything in it, unpacked (a zip bomb stops here, counted as it unpacks).
    #[serde(default = "default_max_unpacked_mb")]
    pub max_unpacked_mb: u64,
    /// Entries in the archive.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// One value (a field's `Value`, a record attribute), as written, in KiB.
    #[serde(default = "default_max_value_kb")]
    pub max_value_kb: u64,
    /// One record with everything in it, as written, in KiB. What an import holds in
    /// memory is a small multiple of this, whatever the transport's size.
    #[serde(default = "default_max_record_kb")]
    pub max_record_kb: u64,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            max_archive_mb: default_max_archive_mb(),
            max_unpacked_mb: default_max_unpacked_mb(),
            max_entries: default_max_entries(),
            max_value_kb: default_max_value_kb(),
            max_record_kb: default_max_record_kb(),
        }
    }
}

const fn default_max_archive_mb() -> u64 {
    256
}
const fn default_max_unpacked_mb() -> u64 {
    2048
}
const fn default_max_entries() -> usize {
    10_000
}
const fn default_max_value_kb() -> u64 {
    1024
}
const fn default_max_record_kb() -> u64 {
    4096
}

impl InboundConfig {
    /// The senders allowed, as configured or by default (see [`InboundConfig::senders`]);
    /// `own` is this office's site code.
    pub fn allowed_senders(&self, own: &str) -> Vec<String> {
        if let Some(list) = &self.senders {
            return list.clone();
        }
        // `1.01.0.02.` → state `1.01.`: the first two dot-terminated parts.
        let state: String = own.split_inclusive('.').take(2).collect();
        let mut out = vec!["1.".to_string()];
        if state.len() > 2 && state != "1." {
            out.push(format!("{state}*"));
        }
        out
    }

    /// Whether `sender` is among [`InboundConfig::allowed_senders`].
    pub fn sender_allowed(&self, own: &str, sender: &str) -> bool {
        self.allowed_senders(own)
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => sender.starts_with(prefix),
                None => sender == p,
            })
    }
}

/// `[target.transport]`: how payloads reach the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TransportConfig {
    /// Files into a local folder tree (written under a temporary name, fsynced, renamed).
    Dir {
        /// The root folder; payload names are relative to it.
        path: PathBuf,
    },
    /// One HTTPS POST per payload, with the target's client certificate.
    Http {
        /// The URL payloads are POSTed to (`https://…`).
        url: String,
        /// PEM file of the CA that signed the server's certificate (default: the system's).
        ca_file: Option<PathBuf>,
        #[serde(default = "default_connect_timeout_ms")]
        connect_timeout_ms: u64,
        /// Limit for one whole request, from connect to the last byte of the answer.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
    /// Files over FTP with explicit TLS (Prisme's file drive, or any other receiver with
    /// `layout = "plain"`): a hidden temporary name, then the final name, never replacing a
    /// file.
    Ftps {
        host: String,
        #[serde(default = "default_ftp_port")]
        port: u16,
        /// The FTP user; in the Prisme layout the municipality's, its name must contain the
        /// municipality.
        user: String,
        /// A file holding the password (first line), or:
        password_file: Option<PathBuf>,
        /// an environment variable holding it.
        password_env: Option<String>,
        /// PEM of the CA (or the server's own certificate) to trust; default: the system's.
        ca_file: Option<PathBuf>,
        /// The remote folder the payload names are below (Prisme: the municipality folders).
        #[serde(default = "default_root")]
        root: String,
        /// Which payload names are accepted: `prisme` (the default) or `plain`.
        layout: Option<FileLayout>,
        /// Prisme layout only: the first folder level; payloads for another municipality are
        /// refused.
        municipality: Option<String>,
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
    /// Files over SFTP, with the server's host key pinned.
    Sftp {
        host: String,
        #[serde(default = "default_ssh_port")]
        port: u16,
        user: String,
        password_file: Option<PathBuf>,
        password_env: Option<String>,
        /// A private key file instead of a password …
        key_file: Option<PathBuf>,
        /// … and, if it is encrypted, where its passphrase is.
        passphrase_file: Option<PathBuf>,
        passphrase_env: Option<String>,
        /// The server's public key in OpenSSH form (`ssh-ed25519 AAAA…`); any other is refused.
        host_key: String,
        #[serde(default = "default_root")]
        root: String,
        /// As for `ftps`.
        layout: Option<FileLayout>,
        /// As for `ftps`.
        municipality: Option<String>,
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
}

/// How an `ftps` or `sftp` transport maps payload names to folders on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileLayout {
    /// Prisme's tree `<municipality>/<prod|test>/<G|Q>/<file>`; its folders are never created.
    /// Needs `municipality`. The default, so configurations from before `layout` keep working.
    #[default]
    Prisme,
    /// Any safe relative payload name below `root`; missing folders below it are created.
    Plain,
}

const fn default_ftp_port() -> u16 {
    21
}
const fn default_ssh_port() -> u16 {
    22
}
fn default_root() -> String {
    "/".into()
}

impl TransportConfig {
    /// Makes every file path absolute (relative paths are relative to hub.toml).
    fn resolve_paths(&mut self, resolve: &impl Fn(&Path) -> PathBuf) {
        let files: Vec<&mut PathBuf> = match self {
            TransportConfig::Dir { path } => vec![path],
            TransportConfig::Http { ca_file, .. } => ca_file.iter_mut().collect(),
            TransportConfig::Ftps {
                password_file,
                ca_file,
                ..
            } => password_file.iter_mut().chain(ca_file.iter_mut()).collect(),
            TransportConfig::Sftp {
                password_file,
                key_file,
                passphrase_file,
                ..
            } => password_file
                .iter_mut()
                .chain(key_file.iter_mut())
                .chain(passphrase_file.iter_mut())
                .collect(),
        };
        for f in files {
            *f = resolve(f);
        }
    }

    /// The transport's type as spelled in hub.toml.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportConfig::Dir { .. } => "dir",
            TransportConfig::Http { .. } => "http",
            TransportConfig::Ftps { .. } => "ftps",
            TransportConfig::Sftp { .. } => "sftp",
        }
    }
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
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
            if !(-14 * 60..=14 * 60).contains(&t.utc_offset_minutes) {
                problems.push(format!(
                    "target {}: utc_offset_minutes must be within ±840",
                    t.name
                ));
            }
            for (key, value) in &t.settings {
                if setting_text(value).is_none() {
                    problems.push(format!(
                        "target {}: setting `{key}` must be a string, integer or boolean",
                        t.name
                    ));
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
                if setting_text(value).is_none() {
                    problems.push(format!(
                        "inbound {}: setting `{key}` must be a string, integer or boolean",
                        i.name
                    ));
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
        Ok(Config {
            file: file.to_path_buf(),
            store,
            runtime,
            plugins,
            credentials,
            targets,
            inbound,
            api,
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

/// The file-drive rules: secrets come from exactly one place; in the Prisme layout (the
/// default) the municipality is given and the municipality's FTP user name names it. (The
/// transports also refuse any payload outside `<municipality>/<prod|test>/<G|Q>/`, or in the
/// plain layout any unsafe name.)
fn check_file_transport(t: &TransportConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let (user, layout, municipality, password, key) = match t {
        TransportConfig::Ftps {
            user,
            layout,
            municipality,
            password_file,
            password_env,
            ..
        } => (
            user,
            layout,
            municipality,
            [password_file.is_some(), password_env.is_some()],
            false,
        ),
        TransportConfig::Sftp {
            user,
            layout,
            municipality,
            password_file,
            password_env,
            key_file,
            ..
        } => (
            user,
            layout,
            municipality,
            [password_file.is_some(), password_env.is_some()],
            key_file.is_some(),
        ),
        _ => return problems,
    };
    let sources = password.iter().filter(|x| **x).count() + usize::from(key);
    if sources != 1 {
        problems.push(format!(
            "transport {}: give exactly one of password_file, password_env{} (never the password itself)",
            t.kind(),
            if matches!(t, TransportConfig::Sftp { .. }) {
                ", key_file"
            } else {
                ""
            }
        ));
    }
    match (layout.unwrap_or_default(), municipality) {
        (FileLayout::Plain, None) => {}
        (FileLayout::Plain, Some(_)) => problems.push(format!(
            "transport {}: `municipality` belongs to layout = \"prisme\"; layout = \"plain\" delivers any relative name below root",
            t.kind()
        )),
        (FileLayout::Prisme, None) => problems.push(format!(
            "transport {}: layout = \"prisme\"{} needs `municipality` (the first folder of every payload name); other receivers use layout = \"plain\"",
            t.kind(),
            if layout.is_none() { " (the default)" } else { "" }
        )),
        (FileLayout::Prisme, Some(municipality)) => {
            if municipality.is_empty()
                || !municipality
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "transport {}: municipality `{municipality}` must be the lower-case folder name",
                    t.kind()
                ));
            } else if matches!(t, TransportConfig::Ftps { .. })
                && !user.to_ascii_lowercase().contains(municipality.as_str())
            {
                // The seed's rule for the municipality's FTP user; SFTP logins are site-specific.
                problems.push(format!(
                    "transport {}: user `{user}` is not the user of municipality `{municipality}` (its name must contain the municipality)",
                    t.kind()
                ));
            }
        }
    }
    problems
}

pub fn setting_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Checks a target's settings against what its plugin describes: unknown and missing
/// settings and values of the wrong type are errors naming them; defaults are filled in.
/// Returns the settings in the plugin's declared order.
pub fn check_settings(
    target: &str,
    specs: &[SettingSpec],
    given: &toml::Table,
) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut problems = Vec::new();
    for key in given.keys() {
        if !specs.iter().any(|s| &s.name == key) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            problems.push(format!(
                "target {target}: unknown setting `{key}` (the plugin takes: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
    }
    let mut out = Vec::new();
    for spec in specs {
        let value = match given.get(&spec.name).and_then(setting_text) {
            Some(v) => v,
            None if spec.required => {
                problems.push(format!(
                    "target {target}: missing setting `{}` ({})",
                    spec.name, spec.description
                ));
                continue;
            }
            None => match &spec.default_value {
                Some(d) => d.clone(),
                None => continue,
            },
        };
        let ok = match spec.setting_type {
            SettingType::Text => true,
            SettingType::Integer => value.parse::<i64>().is_ok(),
            SettingType::Boolean => value == "true" || value == "false",
        };
        if !ok {
            problems.push(format!(
                "target {target}: setting `{}` must be {}, found `{value}`",
                spec.name,
                match spec.setting_type {
                    SettingType::Integer => "an integer",
                    SettingType::Boolean => "true or false",
                    SettingType::Text => "text",
                }
            ));
            continue;
        }
        out.push((spec.name.clone(), value));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Prisme, explicit or by default, needs its municipality.
        for transport in [
            "{ type = \"ftps\", host = \"h\", user = \"ftp-winformatik-sermersooq\", password_env = \"P\", layout = \"prisme\" }",
            "{ type = \"sftp\", host = \"h\", user = \"u\", key_file = \"id\", host_key = \"ssh-ed25519 AAAA\" }",
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
    fn senders_default_to_the_rki_and_the_own_state() {
        let inbound = |extra: &str| -> InboundConfig {
            toml::from_str(&format!(
                "name = \"in\"\nformat = \"survnet\"\ninbox = \"inbox\"\nanswers = {{ type = \"dir\", path = \"a\" }}\n{extra}"
            ))
            .unwrap()
        };
        let i = inbound("");
        assert_eq!(i.allowed_senders("1.01."), ["1.", "1.01.*"]);
        assert_eq!(i.allowed_senders("1.01.0.02."), ["1.", "1.01.*"]);
        assert!(i.sender_allowed("1.01.", "1.01.0.02."));
        assert!(i.sender_allowed("1.01.", "1."));
        assert!(!i.sender_allowed("1.01.", "1.02.0.01."));
        assert!(!i.sender_allowed("1.01.", "1.010.0.01."));
        let i = inbound("senders = [\"1.01.0.02.\", \"1.03.*\"]");
        assert!(i.sender_allowed("1.01.", "1.01.0.02."));
        assert!(!i.sender_allowed("1.01.", "1.01.0.03."));
        assert!(i.sender_allowed("1.01.", "1.03.0.01."));
        assert!(!i.sender_allowed("1.01.", "1."));
    }
}
