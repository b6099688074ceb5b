//! The hub's store: the outbox, transfers with their bytes and sequence numbers, the
//! protocol log, per-record outcomes and manual resolutions.
//!
//! The pipeline sees only the [`Store`] trait. Every method is one transaction, and the
//! sequence number of a transfer is allocated in the transaction that creates it, so
//! numbers have no gaps and are never reused. SQLite ([`SqliteStore`]) is the default; a
//! PostgreSQL backend for several workers implements the same trait (sequence rows
//! locked `FOR UPDATE`, transfers claimed with `SKIP LOCKED`).

/// The condition on `state` that `records_by_state_seq` is partial on (schema 024): the
/// record states few records are in at a time, those that want a person or that a record
/// reached off the main path. Queued and delivered records, nearly all of them, are paged
/// by target, or newest first through the table itself. A query reading records by state
/// without a target repeats this condition (SQLite and PostgreSQL use a partial index only
/// where the query's condition names the index's), and a test checks the migrations carry
/// the same text.
macro_rules! few_states {
    () => {
        "state IN ('in-doubt', 'rejected', 'failed', 'resolved', 'superseded')"
    };
}

pub mod audit;
pub mod by_hand;
pub mod enqueueing;
mod identity;
pub mod inbound;
pub mod migrations;
mod open;
pub mod pause;
mod postgres;
pub mod protection;
mod query;
pub mod seal;
mod sqlite;
pub mod views;

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};
use hub_core::time::Timestamp;
pub use hub_plugin_sdk::Change;
use hub_plugin_sdk::{OutcomeStatus, RecordMeta};
use serde::Serialize;
use thiserror::Error;

pub use open::{is_shared, open};
pub use postgres::{PgOptions, PgStore, describe_store};
pub use sqlite::SqliteStore;
pub use views::{FileRow, Page, Pages, Query, TargetLimits, TargetSummary};

/// Protocol-log entries of one target with one result (for metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptStats {
    pub target: String,
    pub result: String,
    pub count: u64,
    pub duration_ms: u64,
}

/// A target whose last sends failed (see [`Store::backoffs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub target: String,
    /// Failed sends in a row.
    pub failures: u32,
    /// Not to be tried before this.
    pub next_at: Timestamp,
}

/// Everything the hub asks of a store: the sending side and the receiving side. One
/// boxed `dyn HubStore` is what the pipeline, the API and the commands hold, whatever
/// the backend.
pub trait HubStore:
    Store
    + inbound::InboundStore
    + Pages
    + protection::Protection
    + seal::Sealing
    + pause::Pausing
    + by_hand::Requeuing
    + Send
{
}

impl<
    T: Store
        + inbound::InboundStore
        + Pages
        + protection::Protection
        + seal::Sealing
        + pause::Pausing
        + by_hand::Requeuing
        + Send,
> HubStore for T
{
}

/// A store operation that failed. Each names what it was doing.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store {path}: {message}")]
    Open { path: String, message: String },
    #[error("store: {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("store: {context}: {message}")]
    Postgres {
        context: &'static str,
        /// The database's own message (with its SQLSTATE) or the connection's.
        message: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error("store: {context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A sealed body or payload that cannot be opened (its key missing or another), or a
    /// key the store knows under another value.
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    #[error("store holds data this hub cannot read ({0}); was it written by a newer hub?")]
    Corrupt(String),
    /// Stored bytes that are not what was recorded (damaged on disk, or changed outside
    /// the hub): nothing of them is sent, and another try would read the same.
    #[error(
        "{0}; not sent: another try would send the same damaged bytes. Restore the store \
         from a backup (README: Backup and restore)"
    )]
    Damaged(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    /// Work another worker took first (records no longer queued, a lease held): not an
    /// error of this worker's, it moves on.
    #[error("{0}")]
    Taken(String),
    /// Records refused at enqueue (by their index in the call), each with its reason;
    /// nothing was queued.
    #[error("{} records refused", .0.len())]
    RecordsRefused(Vec<(usize, String)>),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A validated record to queue.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub id: String,
    pub kind: String,
    pub body: String,
    /// SHA-256 of the body's canonical JSON: with the id, the record's identity.
    pub content_sha256: String,
    /// What this body means when the id is known with another body (the plugin's
    /// declaration for the record's kind).
    pub change: Change,
    pub meta: RecordMeta,
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EnqueueReport {
    /// Records added to the outbox.
    pub queued: usize,
    /// Records skipped because the same id with the same body was enqueued before.
    pub duplicates: usize,
    /// Older queued records replaced by newer snapshots.
    pub superseded: usize,
    /// Records queued again with a changed body after an earlier body under the same id
    /// was delivered (a newer snapshot or a new version, as the plugin declares).
    pub changed: usize,
}

/// A record as the pipeline hands it to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The host's record number.
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub body: String,
}

/// A group of queued records that may travel together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub batch_key: String,
    pub sequence_scope: Option<String>,
}

/// What the store tells the encoder before the transfer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferDraft {
    pub id: i64,
    pub sequence: Option<u64>,
}

/// One payload of a transfer being created.
#[derive(Debug, Clone)]
pub struct NewPayload {
    pub name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// Record numbers (`StoredRecord::seq`) the payload carries.
    pub records: Vec<i64>,
    /// What the status view shows and filters by (checked by the host).
    pub labels: Vec<(String, String)>,
    /// How a request-response payload is sent, where the plugin shaped it (checked by the
    /// host); `None`: a `POST` to the target's URL.
    pub request: Option<hub_plugin_sdk::RequestShape>,
}

/// Which plugin encoded a transfer: stored with it when it is created, shown in the
/// protocol log (after a live reload, transfers before and after differ here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginStamp {
    /// The name the plugin describes itself with.
    pub name: String,
    /// The version it describes.
    pub version: String,
    /// The component file's sha256, hex.
    pub sha256: String,
}

impl std::fmt::Display for PluginStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{} (sha256 {})",
            self.name,
            self.version,
            self.sha256.get(..16).unwrap_or(&self.sha256)
        )
    }
}

/// What a transfer was encoded from, as the store keeps it (`hub audit reencode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedInputs {
    /// The engine's record of the context it encoded with (JSON it writes and reads);
    /// `None` for a transfer created before the store kept it (migration 013).
    pub context: Option<String>,
    /// Every record the transfer's payloads carry, by record number.
    pub records: Vec<InputRecord>,
}

/// A record a transfer carries, with what proves its body unchanged since enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    /// The body as enqueued (opened if sealed); empty once purged.
    pub body: String,
    /// SHA-256 of the body as enqueued, hex; kept after a purge.
    pub body_sha256: String,
    /// When the body was purged under the target's retention.
    pub purged_at: Option<Timestamp>,
}

/// A transfer as `hub status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub id: i64,
    pub target: String,
    pub batch_key: String,
    pub sequence_scope: Option<String>,
    pub sequence_no: Option<u64>,
    #[serde(serialize_with = "ser_display")]
    pub state: TransferState,
    /// `name@version` of the plugin that encoded it.
    pub plugin: String,
    /// The plugin's name as it describes itself (empty for transfers of stores before
    /// migration 003 whose `plugin` had no version).
    pub plugin_name: String,
    /// The plugin's version.
    pub plugin_version: String,
    /// The plugin file's sha256.
    pub plugin_sha256: String,
    #[serde(serialize_with = "ser_display")]
    pub created_at: Timestamp,
    #[serde(serialize_with = "ser_opt_display")]
    pub done_at: Option<Timestamp>,
    pub records: usize,
    pub attempts: usize,
    pub last_error: Option<String>,
    pub payloads: Vec<Payload>,
}

/// A payload without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Payload {
    pub id: i64,
    pub transfer_id: i64,
    pub name: String,
    pub media_type: String,
    pub size: usize,
    pub sha256: String,
    #[serde(serialize_with = "ser_display")]
    pub state: PayloadState,
    #[serde(serialize_with = "ser_opt_display")]
    pub delivered_at: Option<Timestamp>,
    /// The plugin's labels, in its order (`--json`: an object).
    #[serde(serialize_with = "ser_labels")]
    pub labels: Vec<(String, String)>,
    /// Entries in the protocol log for this payload.
    pub attempts: usize,
    /// When the hub last looked whether the receiver took the delivered file.
    #[serde(serialize_with = "ser_opt_display")]
    pub checked_at: Option<Timestamp>,
    /// When the hub first saw the file taken away by the receiver.
    #[serde(serialize_with = "ser_opt_display")]
    pub gone_at: Option<Timestamp>,
    /// When its bytes were purged under the target's retention (name, size and sha256
    /// stay).
    #[serde(serialize_with = "ser_opt_display")]
    pub purged_at: Option<Timestamp>,
}

impl Payload {
    /// The value of a label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One entry of the protocol log, to be written.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// The entry written as `started` before the remote side was touched, which this one
    /// completes; `None`: a new entry.
    pub begun: Option<i64>,
    pub transfer_id: i64,
    pub payload_id: Option<i64>,
    pub started_at: Timestamp,
    pub duration_ms: u64,
    /// Where it went (a URL, a folder, a host), never with credentials.
    pub endpoint: String,
    /// The credential's name, never the secret.
    pub credential: Option<String>,
    /// What was sent: name, size, sha256.
    pub sent: String,
    /// What came back, if anything (status, a bounded excerpt of the body).
    pub received: Option<String>,
    pub result: AttemptResult,
    pub error: Option<String>,
}

/// One entry of the protocol log, as read back.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub id: i64,
    pub transfer_id: i64,
    pub target: String,
    pub payload: Option<String>,
    #[serde(serialize_with = "ser_display")]
    pub started_at: Timestamp,
    pub duration_ms: u64,
    pub endpoint: String,
    pub credential: Option<String>,
    pub sent: String,
    pub received: Option<String>,
    #[serde(serialize_with = "ser_display")]
    pub result: AttemptResult,
    pub error: Option<String>,
    /// The plugin that encoded the transfer this attempt delivered.
    pub plugin: PluginStamp,
}

/// What delivering a payload means for its records.
#[derive(Debug, Clone, Copy)]
pub enum Completion<'a> {
    /// A file in place: its records are delivered once every payload carrying them is.
    InPlace,
    /// A file in place whose records get their outcomes from a receipt later.
    AwaitingReceipt,
    /// The target's answer, one outcome per record.
    Outcomes(&'a [RecordOutcome]),
}

/// A record's outcome from the target.
#[derive(Debug, Clone)]
pub struct RecordOutcome {
    pub seq: i64,
    pub status: OutcomeStatus,
    pub messages: Vec<String>,
}

impl RecordOutcome {
    /// The state the outcome puts its record in: `retry-later` queues it again (a later
    /// run's transfer takes it); `unknown` is the engine's to hold in doubt with its
    /// payload before anything reaches the store, so here it can only mean in doubt.
    pub fn record_state(&self) -> RecordState {
        match self.status {
            OutcomeStatus::Delivered => RecordState::Delivered,
            OutcomeStatus::Rejected => RecordState::Rejected,
            OutcomeStatus::RetryLater => RecordState::Queued,
            OutcomeStatus::Unknown => RecordState::InDoubt,
        }
    }
}

/// A record as `hub status` lists it when it needs a person.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    pub seq: i64,
    pub target: String,
    pub id: String,
    pub kind: String,
    #[serde(serialize_with = "ser_display")]
    pub state: RecordState,
    pub transfer_id: Option<i64>,
    pub messages: Vec<String>,
    #[serde(serialize_with = "ser_display")]
    pub updated_at: Timestamp,
}

/// Why a delivery is in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoubtKind {
    /// A request whose answer was lost or late, or a crash between sending and recording.
    UnknownOutcome,
    /// A file the hub did not write is under the payload's final name.
    Conflict,
    /// The hub's complete temporary file is gone and no final file is there.
    Vanished,
}

impl DoubtKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DoubtKind::UnknownOutcome => "unknown-outcome",
            DoubtKind::Conflict => "conflict",
            DoubtKind::Vanished => "vanished",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "unknown-outcome" => Some(DoubtKind::UnknownOutcome),
            "conflict" => Some(DoubtKind::Conflict),
            "vanished" => Some(DoubtKind::Vanished),
            _ => None,
        }
    }
}

/// A doubt to record.
#[derive(Debug, Clone)]
pub struct NewDoubt {
    pub kind: DoubtKind,
    /// What the hub saw, one line.
    pub detail: String,
    /// What the hub wrote (size, sha256), for conflicts.
    pub expected: Option<String>,
    /// What the receiver holds (size, sha256), for conflicts.
    pub found: Option<String>,
}

/// A delivery in doubt, as `hub doubt list` and `hub status` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Doubt {
    pub id: i64,
    pub target: String,
    pub transfer_id: i64,
    pub sequence_no: Option<u64>,
    pub payload: String,
    pub kind: DoubtKind,
    pub detail: String,
    pub expected: Option<String>,
    pub found: Option<String>,
    /// Records the payload carries.
    pub records: usize,
    #[serde(serialize_with = "ser_display")]
    pub opened_at: Timestamp,
    #[serde(serialize_with = "ser_opt_display")]
    pub settled_at: Option<Timestamp>,
    pub settled_by: Option<String>,
    /// `delivered` or `not-delivered`.
    pub settled_as: Option<String>,
    pub reason: Option<String>,
}

/// A person's decision about a transfer in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// It arrived: its records are delivered (for request targets without the target's
    /// per-record answer, which is lost).
    Delivered,
    /// It arrived; its records get their outcomes from the receipt still to come.
    DeliveredAwaitingReceipt,
    /// It did not arrive: it is sent again, byte for byte, under the same number.
    NotDelivered,
}

/// Per-target counts of records by state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub target: String,
    pub queued: usize,
    pub in_flight: usize,
    /// Records whose delivery is in doubt (held for a look or a person).
    pub in_doubt: usize,
    pub delivered: usize,
    /// Records that need a person: rejected by the target or failed in the plugin.
    pub failed: usize,
    /// Of `failed`, those the target rejected (`/metrics` shows them apart).
    pub rejected: usize,
    pub resolved: usize,
    pub superseded: usize,
}

/// Everything `hub status` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub targets: Vec<Counts>,
    pub transfers: Vec<Transfer>,
    pub needs_check: Vec<RecordView>,
    /// Deliveries in doubt, not yet settled.
    pub in_doubt: Vec<Doubt>,
}

/// What a manual resolution did.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    pub record: RecordView,
    /// The transfer, if the resolution completed it.
    pub transfer_done: Option<i64>,
}

/// The one interface the pipeline uses. Each method is one transaction.
pub trait Store: enqueueing::BeginEnqueue {
    /// Queues validated records all or nothing: duplicates (same id and body as before)
    /// are skipped, and a record with a supersede key replaces older queued ones. (A
    /// whole input at once; a large one goes through [`enqueueing::BeginEnqueue`].)
    fn enqueue(
        &mut self,
        target: &str,
        records: &[NewRecord],
        now: Timestamp,
    ) -> Result<EnqueueReport> {
        let mut s = self.begin_enqueue(target, now)?;
        let refused = s.add(records)?;
        if !refused.is_empty() {
            return Err(StoreError::RecordsRefused(refused));
        }
        s.finish()
    }

    /// The batches that have queued records, oldest first.
    fn queued_batches(&mut self, target: &str) -> Result<Vec<Batch>>;

    /// Up to `limit` queued records of a batch, in enqueue order.
    fn queued_records(
        &mut self,
        target: &str,
        batch: &Batch,
        limit: usize,
    ) -> Result<Vec<StoredRecord>>;

    /// Creates a transfer for `records` in one transaction: allocates the next number in
    /// the batch's scope, calls `encode` with it, stores the payloads and moves the
    /// records into the transfer. If `encode` gives up (`None`) nothing is written: no
    /// number is used and `None` is returned. Records no longer queued (another worker
    /// took them) are refused. `inputs` (the engine's JSON of what it encodes from) is
    /// kept with the transfer for [`Store::recorded_inputs`]. [`create_transfer_with`]
    /// carries the encoder's error out.
    #[allow(clippy::too_many_arguments)]
    fn create_transfer(
        &mut self,
        target: &str,
        batch: &Batch,
        records: &[i64],
        plugin: &PluginStamp,
        inputs: Option<&str>,
        now: Timestamp,
        encode: &mut dyn FnMut(TransferDraft) -> Option<Vec<NewPayload>>,
    ) -> Result<Option<i64>>;

    /// Fails queued records the plugin could not encode, each with its reason.
    fn fail_records(&mut self, failures: &[(i64, String)], now: Timestamp) -> Result<()>;

    /// Transfers of a target that still have payloads to deliver, oldest first.
    fn open_transfers(&mut self, target: &str) -> Result<Vec<i64>>;

    /// Claims the next transfer of a target to deliver for `worker` until `until`: the
    /// oldest open one whose lease is free or expired (or already this worker's), and of
    /// each sequence scope only the lowest open one, so numbers go out in order. With
    /// `limit`, no more than that many of the target's transfers are leased at once
    /// across all workers. `None`: nothing to claim now.
    fn claim_transfer(
        &mut self,
        target: &str,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<Option<i64>>;

    /// Claims one transfer this worker has just created, as [`Store::claim_transfer`]
    /// would (open, its lease free, the lowest open one of its sequence scope, and
    /// within `limit` leases of other workers); whether it did. A pipelined send claims
    /// the transfers it puts in flight this way, each by its id.
    fn claim_created(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        limit: Option<u32>,
        now: Timestamp,
    ) -> Result<bool>;

    /// Starts a group: the writes until [`Store::end_group`] are committed together, with
    /// one flush to disk, each still all-or-nothing on its own. A pipelined send groups
    /// the steps it takes between two trips to the receiver; nothing goes to a receiver
    /// while a group is open. A store that cannot group commits each write on its own.
    fn begin_group(&mut self) -> Result<()> {
        Ok(())
    }

    /// Commits the group [`Store::begin_group`] opened (nothing when none is open).
    fn end_group(&mut self) -> Result<()> {
        Ok(())
    }

    /// Extends a lease before the next step with the remote side; `false` when `worker`
    /// no longer holds it (it expired and another worker took the transfer over), and
    /// the worker must stop touching that transfer.
    fn renew_lease(
        &mut self,
        transfer_id: i64,
        worker: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;

    /// Gives a lease back (the transfer is finished, held, or left for a later run).
    fn release_lease(&mut self, transfer_id: i64, worker: &str) -> Result<()>;

    /// Whether `worker` would find something to do for `target` now: queued records, or
    /// an open transfer it could claim. Cheap (indexed lookups): `hub serve` asks it every
    /// tick, so work enqueued or settled by another process or machine is picked up
    /// without a wake-up.
    fn has_work(&mut self, target: &str, worker: &str, now: Timestamp) -> Result<bool>;

    /// Targets whose last sends failed: how often in a row and when to try again, as
    /// every worker on the store sees it.
    fn backoffs(&mut self) -> Result<Vec<Backoff>>;

    /// Records a failed send (`Some((failures in a row, next try))`) or a good one (`None`).
    fn set_backoff(&mut self, target: &str, backoff: Option<(u32, Timestamp)>) -> Result<()>;

    /// When each scheduled target's schedule was last looked at, by any worker.
    fn schedule_looks(&mut self) -> Result<Vec<(String, Timestamp)>>;

    /// Notes `at` as the last look at `target`'s schedule unless one is noted already.
    fn first_look(&mut self, target: &str, at: Timestamp) -> Result<()>;

    /// Takes the slot of `target` that fell due at `slot`, for this worker: true (and the
    /// look noted at `now`) unless some worker looked at or after `slot` already.
    fn take_slot(&mut self, target: &str, slot: Timestamp, now: Timestamp) -> Result<bool>;

    /// Frees every lease not held by `worker`. Only for a worker that knows it is the one
    /// sender on the store (SQLite under the send lock): a killed run's leases then do not
    /// hold its transfers for the lease's length. Returns how many were freed.
    fn free_leases(&mut self, worker: &str) -> Result<usize>;

    /// Transfers of a target whose files are in place and whose receipt is awaited.
    fn sent_transfers(&mut self, target: &str) -> Result<Vec<i64>>;

    /// One transfer with its payloads (without their bytes).
    fn transfer(&mut self, id: i64) -> Result<Transfer>;

    /// A payload's bytes, as created.
    fn payload_bytes(&mut self, payload_id: i64) -> Result<Vec<u8>>;

    /// Hands a payload's bytes to `send` as a reader with their size, so a large file goes
    /// out without being held whole in memory (SQLite: incremental BLOB I/O). `send`'s
    /// own error is its business: it keeps it and returns `Err(())`, which comes back as
    /// `Ok(Err(()))`. The default reads the bytes whole (sealed payloads, PostgreSQL).
    fn send_payload(
        &mut self,
        payload_id: i64,
        send: &mut dyn FnMut(&mut dyn std::io::Read, u64) -> std::result::Result<(), ()>,
    ) -> Result<std::result::Result<(), ()>> {
        let bytes = self.payload_bytes(payload_id)?;
        Ok(send(&mut bytes.as_slice(), bytes.len() as u64))
    }

    /// How a payload's request is sent, as recorded when it was created; `None`: a `POST`
    /// to the target's URL.
    fn payload_request(&mut self, payload_id: i64) -> Result<Option<hub_plugin_sdk::RequestShape>>;

    /// The records a payload carries.
    fn payload_records(&mut self, payload_id: i64) -> Result<Vec<StoredRecord>>;

    /// What a transfer was encoded from: the inputs given at creation and every record
    /// its payloads carry, with their bodies (empty where purged) and enqueue hashes.
    fn recorded_inputs(&mut self, transfer_id: i64) -> Result<RecordedInputs>;

    /// Records a delivery step of a payload (before the remote side is touched).
    fn set_payload_state(&mut self, payload_id: i64, state: PayloadState) -> Result<()>;

    /// Adds an entry to the protocol log (or completes the `begun` one).
    fn log_attempt(&mut self, attempt: &NewAttempt) -> Result<i64>;

    /// Records a delivery step and writes its attempt as `started`, in one transaction,
    /// before the remote side is touched: a run killed in the middle leaves an attempt
    /// that says so. Returns the attempt's id for [`NewAttempt::begun`].
    fn begin_attempt(
        &mut self,
        payload_id: i64,
        state: PayloadState,
        attempt: &NewAttempt,
    ) -> Result<i64>;

    /// Holds a payload in doubt: the payload, its records and its transfer become
    /// `in-doubt`, the doubt and the attempt are recorded; nothing is sent again until
    /// it is settled.
    fn hold(
        &mut self,
        payload_id: i64,
        doubt: &NewDoubt,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<i64>;

    /// Deliveries in doubt (with `settled`, also those settled before), oldest first.
    fn doubts(&mut self, target: Option<&str>, settled: bool) -> Result<Vec<Doubt>>;

    /// A person settles a transfer in doubt: delivered (its records are delivered) or not
    /// delivered (its payloads are sent again, byte for byte, under the same number).
    fn settle(
        &mut self,
        transfer_id: i64,
        settlement: Settlement,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<TransferState>;

    /// Marks a payload delivered, logs the attempt, and applies what that means for its
    /// records in one transaction. The transfer becomes done, sent or needs-check when its
    /// last payload is delivered.
    fn complete_payload(
        &mut self,
        payload_id: i64,
        completion: Completion<'_>,
        attempt: &NewAttempt,
        now: Timestamp,
    ) -> Result<TransferState>;

    /// Completes a rejected or failed record by hand, keeping who, when and why; the
    /// transfer is done once its last such record is resolved.
    fn resolve(
        &mut self,
        target: Option<&str>,
        record_id: &str,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Resolution>;

    /// Every record a source sent under `id` for `target`, oldest first (a newer snapshot
    /// or a changed body is a new record with the same id).
    fn records_by_id(&mut self, target: &str, id: &str) -> Result<Vec<RecordView>>;

    /// Attempts and their summed durations per target and result (for metrics).
    fn attempt_stats(&mut self) -> Result<Vec<AttemptStats>>;

    /// Records per target and state (cheap: no transfer is loaded).
    fn counts(&mut self, target: Option<&str>) -> Result<Vec<Counts>>;

    /// Counts, transfers and the records that need a person.
    fn status(&mut self, target: Option<&str>) -> Result<Status>;

    /// The protocol log, of one transfer or all.
    fn attempts(&mut self, transfer: Option<i64>) -> Result<Vec<Attempt>>;

    /// Opens a delivered transfer again so its payloads, byte for byte as created, are
    /// delivered once more (a re-transmission the receiver asked for); `reason` goes into
    /// the protocol log.
    fn reopen_for_resend(&mut self, transfer_id: i64, reason: &str, now: Timestamp) -> Result<()>;

    /// Delivered payloads of a target the receiver has not been seen to take away yet.
    fn unclaimed_payloads(&mut self, target: &str) -> Result<Vec<Payload>>;

    /// Records a look at the receiver: the file was gone, or still there.
    fn mark_checked(&mut self, payload_id: i64, gone: bool, now: Timestamp) -> Result<()>;
}

/// [`Store::create_transfer`] with an encoder that says why it gave up.
#[allow(clippy::too_many_arguments)]
pub fn create_transfer_with<S: Store + ?Sized, E>(
    store: &mut S,
    target: &str,
    batch: &Batch,
    records: &[i64],
    plugin: &PluginStamp,
    inputs: Option<&str>,
    now: Timestamp,
    encode: impl FnOnce(TransferDraft) -> std::result::Result<Vec<NewPayload>, E>,
) -> Result<std::result::Result<i64, E>> {
    let mut encode = Some(encode);
    let mut failed = None;
    let created =
        store.create_transfer(target, batch, records, plugin, inputs, now, &mut |draft| {
            let encode = encode.take()?;
            match encode(draft) {
                Ok(payloads) => Some(payloads),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            }
        })?;
    match (created, failed) {
        (Some(id), _) => Ok(Ok(id)),
        (None, Some(e)) => Ok(Err(e)),
        (None, None) => Err(StoreError::Refused(
            "the encoder was called twice for one transfer".into(),
        )),
    }
}

/// A payload's recorded request shape as stored (JSON), or `None`.
/// Whether a transfer in `state` (`None`: there is none) may be sent again on request
/// ([`Store::reopen_for_resend`]): only one that was delivered. Both backends ask here.
pub(crate) fn may_reopen(transfer_id: i64, state: Option<&str>) -> Result<()> {
    match state {
        None => Err(StoreError::NotFound(format!(
            "transfer #{transfer_id} does not exist"
        ))),
        Some("open") => Err(StoreError::Refused(format!(
            "transfer #{transfer_id} is not delivered yet; `hub send` finishes it"
        ))),
        Some("in-doubt") => Err(StoreError::Refused(format!(
            "transfer #{transfer_id} is in doubt; ask the receiver and settle it \
             (`hub doubt settle {transfer_id} --not-delivered` sends it again)"
        ))),
        Some(_) => Ok(()),
    }
}

pub(crate) fn request_json(p: &NewPayload) -> Option<String> {
    p.request
        .as_ref()
        .and_then(|r| serde_json::to_string(r).ok())
}

/// A recorded request shape read back; text that does not parse is refused rather than
/// sent as the default, which would be another request than the first.
pub(crate) fn parse_request(
    payload_id: i64,
    text: Option<String>,
) -> Result<Option<hub_plugin_sdk::RequestShape>> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            StoreError::Corrupt(format!(
                "payload {payload_id}: its recorded request shape does not parse: {e}"
            ))
        })
    })
    .transpose()
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(
    v: &T,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ser_labels<S: serde::Serializer>(
    labels: &[(String, String)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(labels.len()))?;
    for (k, v) in labels {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

fn ser_opt_display<T: std::fmt::Display, S: serde::Serializer>(
    v: &Option<T>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}
