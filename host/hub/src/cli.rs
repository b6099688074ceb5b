//! The command line: `hub [--config FILE] <command>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Carries records from specialist software to the systems that must receive them,
/// exactly once, with a protocol of every attempt.
#[derive(Debug, Parser)]
#[command(name = "hub", version, about)]
pub struct Cli {
    /// The configuration file, or a folder of them (one `*.toml` per municipality).
    #[arg(long, global = true, env = "HUB_CONFIG", default_value = "hub.toml")]
    pub config: PathBuf,
    /// Of a folder of configuration files, the municipality to act on: its file's name
    /// without `.toml` (`hub status` without it shows every municipality).
    #[arg(long, global = true, env = "HUB_MUNICIPALITY")]
    pub municipality: Option<String>,
    /// More log output on stderr (-v: info, -vv: debug); `HUB_LOG` takes a full filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Act as this user: picks the user's credential, signs resolutions (default: $USER).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Log format on stderr: `text` (default) or `json` (one object a line).
    #[arg(long, global = true, env = "HUB_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented hub.toml (at --config) and create the store.
    Init(InitArgs),
    /// Queue records (NDJSON: one JSON object a line with `id` and `kind`), all or nothing.
    Enqueue(EnqueueArgs),
    /// Send what is queued (and finish what an earlier run left open).
    Send(SendArgs),
    /// Show every transfer and its state, per-target counts, and records that need checking.
    Status(StatusArgs),
    /// Show the protocol log: every attempt, what was sent, what came back.
    Log(LogArgs),
    /// Complete a rejected or failed record by hand, with a reason.
    Resolve(ResolveArgs),
    /// Show the loaded plugins with their versions and sha256.
    Plugins(JsonArg),
    /// Run unattended: schedules, real-time sending, retries, the HTTP API, the status
    /// page and metrics; stop cleanly on SIGTERM.
    Serve(ServeArgs),
    /// Check configuration, store, plugins, targets and credential files without sending.
    Check,
    /// Print shell completions: `hub completions bash|zsh|fish`.
    Completions(CompletionsArgs),
    /// Import a receipt the receiver sent back (RKI): each record of the transport it
    /// answers gets its outcome, and the transport is complete.
    Receipt(ReceiptArgs),
    /// Send a delivered transfer again, byte for byte (a re-transmission request).
    Resend(ResendArgs),
    /// Write, build and try target plugins: `hub plugin new|build|test`.
    Plugin(crate::commands::plugin::PluginArgs),
    /// Import arriving transports (SurvNet) from an inbound's inbox, strictly in each
    /// sender's order, and answer each with a receipt.
    Import(ImportArgs),
    /// SurvNet records: every imported version of one (`show`), and a readable view of a
    /// transport, sent or received (`view`).
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Deliveries whose outcome the hub cannot know, held for a person: list and settle.
    #[command(subcommand)]
    Doubt(DoubtCommand),
    /// Remove record bodies and payload bytes the targets' `retention_days` no longer
    /// allow (their SHA-256, sizes and the protocol log stay), then rewrite the store.
    Purge(PurgeArgs),
    /// The tamper-evident audit trail: `verify` the chain, `export` it as JSON lines.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent copy of the SQLite store to FILE, also while `hub serve` runs.
    Backup(BackupArgs),
    /// Re-seal record bodies and payload bytes under `[encryption] current` (from older
    /// keys, or stored plain), then rewrite the store; `--dry-run` counts per key.
    Rekey(RekeyArgs),
    /// Stop sending to a target (every worker) until `hub resume`; records still queue.
    Pause(PauseArgs),
    /// Send to a paused target again.
    Resume(ResumeArgs),
    /// Send a rejected or failed record again (e.g. after the data was corrected at the
    /// receiver): queued as a new record, the old one complete with who, when and why.
    Requeue(RequeueArgs),
    /// Deliver a transfer left open now, instead of waiting for the target's backoff or
    /// schedule; nothing new is numbered.
    Retry(RetryArgs),
}

#[derive(Debug, Args)]
pub struct RequeueArgs {
    /// The record's id, as the source gave it.
    pub record: String,
    /// Why it goes again (kept with who and when, in the audit trail).
    #[arg(long)]
    pub reason: String,
    /// The target, where the id needs checking in more than one.
    #[arg(long)]
    pub target: Option<String>,
    /// Send the target's queue at once after requeueing.
    #[arg(long)]
    pub send: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The transfer number shown by `hub status` (`#12` or `12`).
    pub transfer: String,
    /// Why (kept with who and when, in the audit trail).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The target's name, as in hub.toml.
    pub target: String,
    /// Why (kept with who and when, shown in `hub status`, in the audit trail).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The target's name, as in hub.toml.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// Count what each key sealed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Count what would go; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the chain end to end (and against `[audit] head_file`); names the first entry
    /// altered or missing, and exits non-zero then.
    Verify(JsonArg),
    /// Every entry (from `--since` on) as one JSON object a line, with its hashes.
    Export(AuditExportArgs),
    /// Encode a past transfer again with the plugin loaded now and the inputs recorded for
    /// it, and compare with the bytes sent; exits non-zero unless a re-send would carry
    /// the same bytes from the same plugin file.
    Reencode(ReencodeArgs),
}

#[derive(Debug, Args)]
pub struct ReencodeArgs {
    /// The transfer's number (`hub status`, `hub log`), e.g. `12` or `#12`.
    pub transfer: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// From this time on: RFC 3339 (`2026-01-31T00:00:00Z`) or Unix seconds.
    #[arg(long)]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file (never overwritten).
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DoubtCommand {
    /// Every delivery in doubt: what the hub saw, what it wrote, what the receiver holds.
    List(DoubtListArgs),
    /// Settle a transfer in doubt after asking the receiver: `--delivered` (its records are
    /// delivered) or `--not-delivered` (sent again, byte for byte, under the same number).
    Settle(DoubtSettleArgs),
}

#[derive(Debug, Args)]
pub struct DoubtListArgs {
    /// Only this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Also the doubts settled before, with who settled them, how and why.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["delivered", "not_delivered"])))]
pub struct DoubtSettleArgs {
    /// The transfer in doubt (its number in `hub doubt list`).
    pub transfer: i64,
    /// The receiver has it (checked there): its records are delivered.
    #[arg(long)]
    pub delivered: bool,
    /// The receiver does not have it: send it again, unchanged, under the same number.
    #[arg(long)]
    pub not_delivered: bool,
    /// What was checked and with whom (kept with who and when).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The inbound, as named in hub.toml (`[[inbound]]`).
    pub inbound: String,
    /// Import these files instead of the inbox (they stay where they are).
    pub files: Vec<PathBuf>,
    /// Also write a re-transmission request for every number missing before a held one.
    #[arg(long)]
    pub request_missing: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// Every imported version of a record (SurvNet: its GUID), oldest first.
    Show(RecordsShowArgs),
    /// A readable view of a SurvNet transport: its header, each record's attributes and
    /// fields, its documents. A sent one by its transfer (`hub records view 3`), a received
    /// one by inbound and number (`hub records view --inbound from-ga 7`). Text for the
    /// terminal, or a complete HTML page with `--html`.
    View(RecordsViewArgs),
}

#[derive(Debug, Args)]
pub struct RecordsViewArgs {
    /// The transfer (`3` or `#3`); with `--inbound`, the transport number received.
    pub number: String,
    /// The inbound (hub.toml `[[inbound]]`) the transport arrived at.
    #[arg(long)]
    pub inbound: Option<String>,
    /// The sender's site code, where several send to the inbound.
    #[arg(long, value_name = "SITE", requires = "inbound")]
    pub from: Option<String>,
    /// Write HTML (escaped, no scripts) instead of text, e.g. `> transport.html`.
    #[arg(long)]
    pub html: bool,
}

#[derive(Debug, Args)]
pub struct RecordsShowArgs {
    /// The record's id, e.g. `{6F1C…}`.
    pub record: String,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A folder of configuration files (every `*.toml`, one per municipality); each keeps
    /// its own store. Without it, `--config` (a file or a folder).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Address of the HTTP API and status page (default: `[api] listen`, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Where the plugins (`prisme.wasm`, …) are installed. Default: `$HUB_PLUGIN_DIR`,
    /// else `plugins/` beside the executable, `../plugins` (a cargo build) or
    /// `../share/hub/plugins` (an installed package), whichever holds them.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The target, as named in hub.toml.
    pub target: String,
    /// The NDJSON file; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Send at once after queueing (as a `realtime` target always does).
    #[arg(long)]
    pub send: bool,
    /// The input's character encoding (default UTF-8), e.g. `windows-1252` for exports
    /// from Windows software.
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The target to send for.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub target: Option<String>,
    /// Send for every target.
    #[arg(long)]
    pub all: bool,
    /// Encode and show the payloads, but write and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this target.
    #[arg(long)]
    pub target: Option<String>,
    /// One row per file or request body with the plugin's labels (e.g. Prisme's page,
    /// fiscal year, run number, type, municipality, environment).
    #[arg(long)]
    pub files: bool,
    /// Only payloads whose label has this value, e.g. `--where page=522 --where type=G`.
    #[arg(long = "where", value_name = "LABEL=VALUE")]
    pub filters: Vec<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this transfer.
    #[arg(long)]
    pub transfer: Option<i64>,
    /// Only this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only entries with this text in the endpoint, what was sent, what came back or the
    /// error (case-insensitive).
    #[arg(long)]
    pub grep: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

/// Which rows a listing shows: the newest `--limit` of those the filters leave, read
/// through the store's indexes (a long history costs nothing to leave out).
#[derive(Debug, Args)]
pub struct PageArgs {
    /// At most this many rows, the newest (at most 1000 a page).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Only rows from this time on: RFC 3339 in UTC (`2026-11-24T03:00:00Z`) or Unix
    /// seconds.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<hub_core::time::Timestamp>,
    /// Only rows in this state (`hub status`: a transfer's, with `--files` a file's;
    /// `hub log`: an attempt's result).
    #[arg(long)]
    pub state: Option<String>,
    /// The next page: the rows before this id (printed below a page that has more).
    #[arg(long)]
    pub before: Option<i64>,
}

fn parse_time(s: &str) -> Result<hub_core::time::Timestamp, String> {
    hub_core::time::Timestamp::parse(s)
        .ok_or_else(|| format!("`{s}` is neither RFC 3339 in UTC nor Unix seconds"))
}

impl PageArgs {
    /// The store's query for these flags.
    pub fn query(&self, target: Option<&str>) -> hub_store::Query {
        hub_store::Query {
            target: target.map(Into::into),
            state: self.state.clone(),
            since: self.since,
            before: self.before,
            limit: self.limit.max(1),
            ..hub_store::Query::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The record's id, as the source gave it.
    pub record: String,
    /// Why it is complete without import (kept with who and when).
    #[arg(long)]
    pub reason: String,
    /// The target, where the id needs checking in more than one.
    #[arg(long)]
    pub target: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct ResendArgs {
    /// The transfer number shown by `hub status` (`#12` or `12`).
    pub transfer: String,
    /// Why (kept in the protocol log), e.g. "re-transmission requested by 1.01.".
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ReceiptArgs {
    /// The target the transport was sent to.
    pub target: String,
    /// The receipt file.
    pub file: PathBuf,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Machine-readable output; its shape is stable.
    #[arg(long)]
    pub json: bool,
}

/// Logs to stderr; `HUB_LOG` (e.g. `hub=debug`) overrides `-v`. Colour only on a
/// terminal; `json` gives one JSON object a line for log collectors. Built with the
/// `otlp` feature and with `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are also exported
/// (`crate::otlp`); keep the returned [`Telemetry`] until the command ends.
pub fn init_logging(verbose: u8, format: &str) -> Telemetry {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, Registry, fmt};

    // The TLS stack's own log lines (rustls, suppaftp) repeat what the hub reports in one
    // line (an untrusted certificate); they show from -vv on.
    let default = match verbose {
        // The hub's own info lines (every send, every operator action, the API's access
        // log) by default; other crates' only from warnings.
        0 => "warn,hub=info,rustls=off,rustls_platform_verifier=off,suppaftp=off",
        1 => "info,rustls=off,rustls_platform_verifier=off,suppaftp=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let log: Box<dyn Layer<Registry> + Send + Sync> = if format == "json" {
        fmt::layer().json().with_writer(std::io::stderr).boxed()
    } else {
        use std::io::IsTerminal;
        fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed()
    };
    // Lines only: the spans (`crate::otlp`) would otherwise prefix every line logged
    // inside one (`send{…}:deliver{…}:`); the lines carry their own fields.
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    let lines = filter.and(filter_fn(|m| m.is_event()));
    let registry = tracing_subscriber::registry().with(log.with_filter(lines));
    #[cfg(feature = "otlp")]
    {
        let (provider, trouble) = if crate::otlp::wanted() {
            match crate::otlp::provider() {
                Ok(p) => (Some(p), crate::otlp::protocol_warning()),
                Err(e) => (None, Some(format!("spans not exported: {e}"))),
            }
        } else {
            (None, None)
        };
        let _ = registry
            .with(provider.as_ref().map(crate::otlp::layer))
            .try_init();
        if let Some(trouble) = trouble {
            tracing::warn!("OpenTelemetry: {trouble}");
        }
        Telemetry { provider }
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = registry.try_init();
        Telemetry {}
    }
}

/// What `init_logging` started beyond the log: with the `otlp` feature, the span
/// exporter, shut down (its last batch sent) when this is dropped at the end of `main`.
#[must_use = "dropping it ends the span export"]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

#[cfg(feature = "otlp")]
impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "OpenTelemetry: the last spans were not exported");
        }
    }
}
