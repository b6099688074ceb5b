//! `[[inbound]]`: the receiving side.

use std::path::PathBuf;

use serde::Deserialize;

use super::TransportConfig;

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
    /// A fixed offset from UTC for the times written into answers, all year: prefer
    /// `timezone`, which follows summer time.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// The IANA time zone of the times written into answers (`Europe/Berlin`); replaces
    /// `utc_offset_minutes`.
    pub timezone: Option<String>,
    /// Limits against hostile archives.
    #[serde(default)]
    pub limits: InboundLimits,
    /// The senders whose transports this inbound takes: site codes (`1.01.0.02.`) or
    /// prefixes ending in `*` (`1.01.*`: every site whose code starts with `1.01.`).
    /// Transports from any other sender are refused, naming it. Unset: the format's
    /// default (SurvNet: the RKI `1.` and the sites of this office's own state `1.NN.*`).
    #[serde(default)]
    pub senders: Option<Vec<String>>,
    /// The format's settings (SurvNet: this office's `sender` site code and `role`, and
    /// the action codes, as for an `rki` target).
    #[serde(default)]
    pub settings: toml::Table,
}

impl InboundConfig {
    /// The offset from UTC of the times written into answers at `at`: `timezone`'s at
    /// that moment (summer time included), else `utc_offset_minutes`.
    pub fn utc_offset_at(&self, at: crate::time::Timestamp) -> i32 {
        crate::time::offset_at(self.timezone.as_deref(), self.utc_offset_minutes, at)
    }
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

/// Whether `sender` matches one of `patterns`: a site code, or a prefix ending in `*`.
/// Which senders an inbound allows when it lists none is its format's to say.
pub fn sender_matches(patterns: &[String], sender: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => sender.starts_with(prefix),
        None => sender == p,
    })
}
