//! `[[target]]` and what hangs off it: credentials, retry, sending, packaging.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::TransportConfig;

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
    /// The CA (PEM) that issued this certificate: `hub check` verifies the chain against it.
    pub ca_file: Option<PathBuf>,
    /// `hub check`, `hub status` and the log warn this many days before the certificate
    /// expires.
    #[serde(default = "default_expiry_warning_days")]
    pub expiry_warning_days: u32,
}

const fn default_expiry_warning_days() -> u32 {
    30
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
    /// The wait before try number `n` (2, 3, …): `backoff_ms` doubled per try up to
    /// `max_backoff_ms`, of which a random half ("equal jitter"): many hubs (or targets)
    /// that lost the same receiver at once do not all come back at the same instant, and
    /// no wait is shorter than half or longer than the configured one.
    pub fn backoff(&self, n: u32) -> std::time::Duration {
        let full = self.full_backoff_ms(n);
        std::time::Duration::from_millis(full - fastrand::u64(0..=full / 2))
    }

    /// The wait before try `n` without jitter.
    fn full_backoff_ms(&self, n: u32) -> u64 {
        let factor = 1u64 << n.saturating_sub(2).min(30);
        self.backoff_ms
            .saturating_mul(factor)
            .min(self.max_backoff_ms)
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
pub(super) const fn default_connect_timeout_ms() -> u64 {
    10_000
}
pub(super) const fn default_timeout_ms() -> u64 {
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
    /// A fixed offset from UTC for the dates plugins write (e.g. -120). Fixed all year:
    /// prefer `timezone`, which follows summer time.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// The IANA time zone of the dates plugins write (`America/Nuuk`, `Europe/Berlin`),
    /// from the tz database built in; replaces `utc_offset_minutes`.
    pub timezone: Option<String>,
    pub transport: TransportConfig,
    /// `manual` or `realtime`.
    #[serde(default)]
    pub sending: Sending,
    /// The central credential, used when the user running the hub has none of their own.
    pub credential: Option<String>,
    /// Per-user credentials: user name = credential name.
    #[serde(default)]
    pub user_credentials: BTreeMap<String, String>,
    /// Per-user plugin settings: user name = settings laid over `[target.settings]` when
    /// that user sends (`--as anna`), so what the body says (Kita Planer's `benutzer_id`)
    /// follows the certificate in use.
    #[serde(default)]
    pub user_settings: BTreeMap<String, toml::Table>,
    #[serde(default)]
    pub retry: RetryConfig,
    /// What happens when the hub cannot know whether a payload arrived (a lost answer, a
    /// crash between sending and recording): `hold` (the default) keeps it in doubt for a
    /// look or a person; `resend` sends the same bytes again, only for receivers known to
    /// honour the `Idempotency-Key`.
    #[serde(default)]
    pub on_unknown: OnUnknown,
    /// At most this many records per transfer (the plugin's own limit still applies).
    pub max_batch: Option<u32>,
    /// At most this many of this target's transfers delivered at once, across every
    /// worker on the store (e.g. 1: one session per municipality's server). Transfers of
    /// one sequence scope always go one after another, in number order. A worker sends
    /// up to this many requests side by side to a request-response target (unset: 6).
    pub max_in_flight: Option<u32>,
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
    /// Days a record's body and its transfer's bytes are kept once the record is final
    /// (delivered, resolved, superseded) and its transfer done; then `hub purge` (and
    /// `hub serve`, hourly) removes them, keeping their SHA-256, sizes and the protocol
    /// log. Unset: kept for ever.
    pub retention_days: Option<u32>,
    /// The plugin's settings, checked against what the plugin describes.
    #[serde(default)]
    pub settings: toml::Table,
}

/// `on_unknown` of a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnknown {
    /// Hold the payload in doubt until the receiver is looked at or a person settles it.
    #[default]
    Hold,
    /// Send the same bytes again with the same idempotency key: only where the receiver
    /// is known to deduplicate (a repeated import is a double booking otherwise).
    Resend,
}

impl TargetConfig {
    /// The offset from UTC, in minutes, of the dates a plugin writes at `at`: the
    /// `timezone`'s at that moment (summer time included), else `utc_offset_minutes`.
    pub fn utc_offset_at(&self, at: crate::time::Timestamp) -> i32 {
        crate::time::offset_at(self.timezone.as_deref(), self.utc_offset_minutes, at)
    }
}

#[cfg(test)]
mod tests {
    use super::RetryConfig;

    #[test]
    fn the_backoff_doubles_up_to_the_maximum_and_jitters_within_its_upper_half() {
        let r = RetryConfig {
            attempts: 10,
            backoff_ms: 1_000,
            max_backoff_ms: 60_000,
        };
        assert_eq!(
            (2..=9).map(|n| r.full_backoff_ms(n)).collect::<Vec<_>>(),
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        let waits: Vec<u128> = (0..200).map(|_| r.backoff(4).as_millis()).collect();
        assert!(
            waits.iter().all(|w| (2_000..=4_000).contains(w)),
            "{waits:?}"
        );
        // Spread, not one value: 200 draws from 2,001 land on more than a few.
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 20, "{distinct:?}");
        assert_eq!(
            RetryConfig {
                attempts: 2,
                backoff_ms: 0,
                max_backoff_ms: 0
            }
            .backoff(2),
            std::time::Duration::ZERO
        );
    }
}
