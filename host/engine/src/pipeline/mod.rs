//! The one pipeline every target shares:
//!
//! ```text
//! enqueue ─▶ outbox ─batch─▶ plugin.encode ─▶ payloads ─▶ transport ─▶ outcomes ─▶ status
//! ```
//!
//! Each step is recorded in the store before the next touches the remote side, so an
//! interrupted run (a crash, `kill -9`, a lost connection) is finished by the next one:
//! it inspects the remote side and completes, re-uploads or recognises a delivered file,
//! and never sends a file twice.

use std::collections::{HashMap, HashSet};

use hub_core::transport::{Transport, TransportError};
use hub_plugin_sdk::{OutcomeStatus, Record};
use hub_store::{RecordOutcome, StoreError, StoredRecord};
use serde::Serialize;
use thiserror::Error;

use crate::ports::{EncoderError, OpenError};
use crate::{Engine, EngineError, TargetRuntime};

mod backoff;
mod create;
mod deliver;
mod enqueue;
mod receipt;
mod reencode;
mod retry;
mod window;

pub use create::check_payloads;
use create::{Created, context, create, one_transfer};
use deliver::deliver;
pub use enqueue::{EnqueueError, enqueue, enqueue_lines};
pub use receipt::{ReceiptReport, import_receipt};
pub use reencode::{
    EncodeInputs, PayloadCheck, ReencodeReport, Verdict, first_difference, reencode,
};
pub use retry::{ask_retry, retry};
pub use window::DEFAULT_DEPTH;

/// A person's decision about a transfer in doubt, from the CLI, the API or the page: the
/// one place that knows a delivered file of a receipt target still awaits its receipt.
pub fn settle(
    engine: &mut Engine,
    transfer_id: i64,
    delivered: bool,
    who: &str,
    reason: &str,
) -> Result<hub_core::state::TransferState, SendError> {
    let transfer = engine.store.transfer(transfer_id)?;
    let awaits_receipt = engine.target(&transfer.target)?.plugin.info().delivery
        == hub_plugin_sdk::Delivery::FileDropWithReceipt;
    let settlement = match (delivered, awaits_receipt) {
        (true, true) => hub_store::Settlement::DeliveredAwaitingReceipt,
        (true, false) => hub_store::Settlement::Delivered,
        (false, _) => hub_store::Settlement::NotDelivered,
    };
    let now = engine.now();
    let state = engine
        .store
        .settle(transfer_id, settlement, who, reason.trim(), now)?;
    tracing::info!(transfer = transfer_id, target_name = %transfer.target, delivered, %who, "doubt settled");
    Ok(state)
}

/// Why a send stopped for a target.
#[derive(Debug, Error)]
pub enum SendError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plugin(#[from] EncoderError),
    #[error("target {target}: transfer #{transfer}: {message}")]
    Delivery {
        target: String,
        transfer: i64,
        message: String,
        retryable: bool,
        /// How long the receiver asked us to wait (`Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    #[error("target {target}: {message}; the records stay queued")]
    Unreachable { target: String, message: String },
    /// Another worker took the transfer over after this one's lease ran out.
    #[error(
        "target {target}: transfer #{transfer}: another worker took it over (this worker's \
         lease ran out; store.lease_seconds); this worker stops touching it"
    )]
    LeaseLost { target: String, transfer: i64 },
    #[error("target {target}: {message}; nothing was changed")]
    Receipt { target: String, message: String },
    /// An operator paused the target (`hub pause`).
    #[error(
        "target {target} is paused (by {by} at {since}: {reason}); nothing was sent, the \
         records stay queued; `hub resume {target}` sends again"
    )]
    Paused {
        target: String,
        by: String,
        since: hub_core::time::Timestamp,
        reason: String,
    },
    #[error("target {target}: plugin {plugin}: {message}; the records stay queued")]
    Encode {
        target: String,
        plugin: String,
        message: String,
    },
}

impl From<hub_store::pause::Pause> for SendError {
    fn from(p: hub_store::pause::Pause) -> Self {
        SendError::Paused {
            target: p.target,
            by: hub_plugin_sdk::text::excerpt(&p.by),
            since: p.since,
            reason: hub_plugin_sdk::text::excerpt(&p.reason),
        }
    }
}

/// What a send did for one target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendReport {
    pub target: String,
    pub transfers_created: usize,
    pub transfers_completed: usize,
    /// Records the target took in this run.
    pub records_delivered: usize,
    /// Records that now need a person (rejected by the target or refused by the plugin).
    pub records_to_check: usize,
    /// Payloads encoded but not sent (`--dry-run`).
    pub dry_run: Vec<DryRunPayload>,
    /// Records the plugin refuses, which a real send would fail (`--dry-run`); the rest of
    /// their batch is encoded without them, as a real send does.
    pub dry_run_failed: Vec<String>,
    /// Batches the plugin could not encode (a crash, a timeout, a refusal naming no
    /// record); their records stay queued and the other batches still go.
    pub errors: Vec<String>,
    /// Delivered files the receiver has left in place too long (its job is not running).
    pub stuck: Vec<StuckFile>,
    /// Deliveries this run held in doubt: whether they arrived is unknown, nothing more
    /// is sent for them until they are settled (`hub doubt`).
    pub in_doubt: Vec<Held>,
}

/// A delivery held in doubt by a run.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub transfer: i64,
    pub payload: String,
    pub kind: hub_store::DoubtKind,
    pub detail: String,
}

/// A delivered file still on the receiver after `stuck_after_minutes`.
#[derive(Debug, Clone, Serialize)]
pub struct StuckFile {
    pub transfer: i64,
    pub name: String,
    pub delivered_at: String,
    pub minutes_waiting: i64,
}

/// Looks whether the receiver took each delivered file away. The Prisme job moves files
/// out of the folders; one left for longer than `stuck_after` minutes means the job did
/// not run. Files seen gone are not looked at again.
pub fn watch(
    engine: &mut Engine,
    target: &str,
    transport: &mut dyn Transport,
    stuck_after: u64,
) -> Result<Vec<StuckFile>, SendError> {
    let now = engine.now();
    let mut stuck = Vec::new();
    for p in engine.store.unclaimed_payloads(target)? {
        let remote = transport
            .inspect(&p.name)
            .map_err(|e| SendError::Unreachable {
                target: target.to_string(),
                message: format!("cannot look for {}: {}", p.name, e.message),
            })?;
        engine
            .store
            .mark_checked(p.id, !remote.final_present, now)?;
        let Some(delivered) = p.delivered_at else {
            continue;
        };
        let waiting = (now.0 - delivered.0) / 60_000;
        if remote.final_present && waiting >= i64::try_from(stuck_after).unwrap_or(i64::MAX) {
            tracing::warn!(target_name = target, file = %p.name, minutes = waiting, "file still on the receiver: its receiving job may not be running");
            stuck.push(StuckFile {
                transfer: p.transfer_id,
                name: p.name.clone(),
                delivered_at: delivered.to_string(),
                minutes_waiting: waiting,
            });
        }
    }
    Ok(stuck)
}

/// A payload as `send --dry-run` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunPayload {
    pub sequence: Option<u64>,
    pub name: String,
    pub media_type: String,
    pub size: usize,
    pub records: usize,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Sends everything queued for `target`: first finishes transfers an earlier run left
/// open, then encodes and delivers new ones batch by batch. With `dry_run` nothing is
/// written or sent; the payloads are returned instead.
#[tracing::instrument(name = "send", skip_all, fields(target_name = target, dry_run = dry_run))]
pub fn send(engine: &mut Engine, target: &str, dry_run: bool) -> Result<SendReport, SendError> {
    let t = engine.target(target)?;
    let mut report = SendReport {
        target: target.to_string(),
        ..SendReport::default()
    };
    let before = counts(engine, target)?;
    let mut transport: Option<Box<dyn Transport>> = None;
    let mut claimed = HashSet::new();
    if !dry_run {
        match begin(engine, &t, Work::All, &mut claimed, &mut report)? {
            Some(opened) => transport = Some(opened),
            None => return Ok(report),
        }
    }
    let mut window = window::Window::of(&t, transport.as_deref());
    let filled = fill(
        engine,
        &t,
        &mut transport,
        &mut window,
        &mut claimed,
        dry_run,
        &mut report,
    );
    if let (Some(w), Some(transport)) = (window.as_mut(), transport.as_mut()) {
        // What is ready goes out (after an error too: its attempts are recorded as
        // started); a group that cannot be committed is rolled back and nothing is sent.
        let flushed = w.finish(engine, &t, transport.as_mut(), &mut report);
        if let Err(e) = &flushed
            && filled.is_err()
        {
            tracing::error!(error = %e, "the requests made ready before an error were not sent");
        }
        filled?;
        flushed?;
    } else {
        filled?;
    }
    if let (Some(minutes), Some(transport)) = (t.config.stuck_after_minutes, transport.as_mut())
        && transport.delivers_files()
    {
        report.stuck = watch(engine, target, transport.as_mut(), minutes)?;
    }
    let after = counts(engine, target)?;
    report.records_delivered = after.0.saturating_sub(before.0);
    report.records_to_check = after.1.saturating_sub(before.1);
    Ok(report)
}

/// The queue of a send, batch by batch, into transfers, each delivered as it is created
/// (or, with a `window`, made ready to go with others).
fn fill(
    engine: &mut Engine,
    t: &TargetRuntime,
    transport: &mut Option<Box<dyn Transport>>,
    window: &mut Option<window::Window>,
    claimed: &mut HashSet<i64>,
    dry_run: bool,
    report: &mut SendReport,
) -> Result<(), SendError> {
    let target = t.config.name.as_str();
    let max = t
        .plugin
        .info()
        .max_batch
        .min(t.config.max_batch.unwrap_or(u32::MAX));
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut dry_taken: HashSet<i64> = HashSet::new();
    // Records put in a transfer in this run: one the receiver answered `retry-later` is
    // queued again and waits for the next run instead of going round again now. A
    // bitmap of record numbers (runs of them): a backlog of 1,000,000 records held 16 MB
    // or more as a hash set.
    let mut taken = roaring::RoaringTreemap::new();
    let total = engine
        .store
        .counts(Some(target))?
        .first()
        .map_or(0, |c| c.queued);
    let mut done = 0;
    for batch in engine.store.queued_batches(target)? {
        // Smaller than `max` after a batch hit the plugin's memory limit: the rest of the
        // batch goes in transfers of the size that fit.
        let mut size = max;
        loop {
            if engine.stop.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::info!(target_name = target, "stopping: no new transfer started");
                break;
            }
            let mut records = engine.store.queued_records(target, &batch, size)?;
            if dry_run {
                records.retain(|r| !dry_taken.contains(&r.seq));
            }
            records.retain(|r| u64::try_from(r.seq).is_ok_and(|seq| !taken.contains(seq)));
            if let Err(e) = one_transfer(t, &mut records) {
                // This batch stays queued; the next batch may do fine.
                tracing::error!(error = %e, "batch not formed");
                report.errors.push(e.to_string());
                break;
            }
            if records.is_empty() {
                break;
            }
            done += records.len();
            if let (Some(w), Some(transport)) = (window.as_mut(), transport.as_mut()) {
                if !w.admits(&records) {
                    w.flush(engine, t, transport.as_mut(), report)?;
                }
                w.open(engine)?;
            }
            match create(engine, t, &batch, &records, dry_run, report) {
                Ok(Created::Transfer(id)) => {
                    taken.extend(records.iter().filter_map(|r| u64::try_from(r.seq).ok()));
                    tracing::debug!(target_name = target, transfer = id, "transfer created");
                    report.transfers_created += 1;
                    // Through a claim, not directly: another worker may hold an earlier
                    // transfer of the same scope, or have taken this one already.
                    match (window.as_mut(), transport.as_mut()) {
                        (Some(w), Some(transport)) => {
                            w.add(engine, t, transport.as_mut(), id, &records, report)?;
                        }
                        (None, Some(transport)) => {
                            deliver_claimed(engine, t, transport.as_mut(), claimed, report)?;
                        }
                        _ => {}
                    }
                }
                Ok(Created::DryRun) => dry_taken.extend(records.iter().map(|r| r.seq)),
                Ok(Created::DryRunFailed(seqs)) => dry_taken.extend(seqs),
                Ok(Created::RecordsFailed) => {}
                // Too big for the plugin's memory limit: nothing was written and no
                // number used; the same records go again in transfers half the size.
                Err(SendError::Plugin(e)) if e.is_too_big() && records.len() > 1 => {
                    done -= records.len();
                    size = records.len() / 2;
                    tracing::warn!(target_name = target, records = records.len(), next = size, error = %e, "batch too big for the plugin's memory limit; trying smaller transfers");
                    continue;
                }
                // This batch stays queued; the next batch may encode fine.
                Err(e @ (SendError::Plugin(_) | SendError::Encode { .. })) => {
                    tracing::error!(error = %e, "batch not encoded");
                    report.errors.push(e.to_string());
                    break;
                }
                // Another worker took these records first; it delivers them.
                Err(SendError::Store(StoreError::Taken(why))) => {
                    tracing::info!(target_name = target, %why, "batch taken by another worker");
                    break;
                }
                Err(e) => return Err(e),
            }
            if let Some(hook) = engine.progress.as_mut() {
                hook(crate::progress::Step {
                    what: "records",
                    done: done.min(total),
                    total,
                });
            }
        }
    }
    Ok(())
}

/// What a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Open transfers, then the queue.
    All,
    /// Open transfers only (`retry`).
    Open,
}

/// The start of every run that sends: refuses a paused target, takes the send lock,
/// opens the transport and checks the receiver answers (with the target's retries), and
/// delivers the transfers left open. `None` when there is nothing to do.
fn begin(
    engine: &mut Engine,
    t: &TargetRuntime,
    work: Work,
    claimed: &mut HashSet<i64>,
    report: &mut SendReport,
) -> Result<Option<Box<dyn Transport>>, SendError> {
    let target = t.config.name.as_str();
    if let Some(p) = engine.store.paused(target)? {
        return Err(p.into());
    }
    engine.lock_for_sending()?;
    let open = engine.store.open_transfers(target)?;
    let watching = t.config.stuck_after_minutes.is_some()
        && hub_core::transport::delivers_files(&t.config.transport)
        && !engine.store.unclaimed_payloads(target)?.is_empty();
    let nothing = match work {
        Work::All => {
            // The kept counts, not the batches: grouping a backlog of 1,000,000 queued
            // records to see whether there is one took 0.37 s.
            let queued = engine
                .store
                .counts(Some(target))?
                .first()
                .map_or(0, |c| c.queued);
            open.is_empty() && queued == 0 && !watching
        }
        Work::Open => open.is_empty(),
    };
    if nothing {
        return Ok(None);
    }
    // Credentials and reachability are checked before anything new is numbered, so
    // a wrong password or a refused certificate leaves the records queued.
    let unreachable = |e: TransportError| SendError::Unreachable {
        target: target.to_string(),
        message: e.message,
    };
    let mut opened = match engine.open_transport(&t.config) {
        Ok(opened) => opened,
        Err(OpenError::Setup(message)) => {
            return Err(EngineError::Target(vec![message]).into());
        }
        Err(OpenError::Transport(e)) => return Err(unreachable(e)),
    };
    // A server that is down or overloaded gets the target's retries, with backoff.
    backoff::with_retries(
        &t.config.retry,
        |_| opened.health(),
        |e| {
            (e.kind != hub_core::transport::ErrorKind::Permanent)
                .then(|| e.retry_after.unwrap_or_default())
        },
        |e, tries, wait| {
            tracing::warn!(target_name = target, error = %e.message, try_no = tries, wait_ms = wait.as_millis() as u64, "target not reachable; retrying");
        },
    )
    .map_err(unreachable)?;
    deliver_claimed(engine, t, opened.as_mut(), claimed, report)?;
    Ok(Some(opened))
}

/// (delivered, failed) records of a target.
fn counts(engine: &mut Engine, target: &str) -> Result<(usize, usize), SendError> {
    Ok(engine
        .store
        .counts(Some(target))?
        .first()
        .map_or((0, 0), |c| (c.delivered, c.failed)))
}

/// Delivers the target's open transfers this worker can claim, each under a lease that
/// [`deliver`] renews before every step with the receiver; other workers on the same
/// store take the others. A transfer is claimed once per run: one left open (a
/// retryable failure) waits for the next run.
fn deliver_claimed(
    engine: &mut Engine,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    done: &mut HashSet<i64>,
    report: &mut SendReport,
) -> Result<(), SendError> {
    loop {
        let now = engine.now();
        let until = lease_until(engine, now);
        let Some(id) = engine.store.claim_transfer(
            &t.config.name,
            &engine.worker,
            until,
            t.config.max_in_flight,
            now,
        )?
        else {
            return Ok(());
        };
        if !done.insert(id) {
            engine.store.release_lease(id, &engine.worker)?;
            return Ok(());
        }
        let result = deliver(engine, t, transport, id, until, None, report);
        engine.store.release_lease(id, &engine.worker)?;
        result?;
    }
}

/// When a lease taken or renewed now runs out.
pub(super) fn lease_until(
    engine: &Engine,
    now: hub_core::time::Timestamp,
) -> hub_core::time::Timestamp {
    let ms =
        i64::try_from(engine.config.store.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    hub_core::time::Timestamp(now.0.saturating_add(ms))
}

/// Whether a lease that runs out at `until` has more than half of its time left at `now`:
/// then no other worker can have taken it, and it needs no renewal before the next step.
pub(super) fn lease_fresh(
    engine: &Engine,
    until: hub_core::time::Timestamp,
    now: hub_core::time::Timestamp,
) -> bool {
    let half =
        i64::try_from(engine.config.store.lease_seconds.saturating_mul(500)).unwrap_or(i64::MAX);
    until.0.saturating_sub(now.0) > half
}

fn summary(p: &hub_store::Payload) -> String {
    format!(
        "{} ({} bytes, sha256 {})",
        p.name,
        p.size,
        p.sha256.get(..16).unwrap_or(&p.sha256)
    )
}

/// Records as a plugin sees them.
fn to_sdk(records: &[StoredRecord]) -> Vec<Record> {
    records
        .iter()
        .map(|r| Record {
            id: r.id.clone(),
            kind: r.kind.clone(),
            body: r.body.clone(),
        })
        .collect()
}

/// One outcome for every record of a payload, in record order. Outcomes naming records
/// the payload did not carry are ignored (and logged); a record the answer skipped is
/// rejected with `missing`, so nothing leaves the outbox without an outcome.
fn per_record(
    plugin: &str,
    records: &[StoredRecord],
    outcomes: Vec<hub_plugin_sdk::Outcome>,
    missing: &str,
) -> Vec<RecordOutcome> {
    let by_id: HashMap<&str, i64> = records.iter().map(|r| (r.id.as_str(), r.seq)).collect();
    let mut given: HashMap<i64, RecordOutcome> = HashMap::new();
    for o in outcomes {
        match by_id.get(o.record_id.as_str()) {
            Some(seq) => {
                given.insert(
                    *seq,
                    RecordOutcome {
                        seq: *seq,
                        status: o.status,
                        messages: o.messages,
                    },
                );
            }
            None => {
                tracing::warn!(plugin, record = %o.record_id, "outcome for a record not in the payload ignored")
            }
        }
    }
    records
        .iter()
        .map(|r| {
            given.remove(&r.seq).unwrap_or_else(|| RecordOutcome {
                seq: r.seq,
                status: OutcomeStatus::Rejected,
                messages: vec![missing.to_string()],
            })
        })
        .collect()
}

/// The first 512 characters of a body, for the protocol log.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(512).collect();
    if text.chars().count() > 512 {
        out.push('…');
    }
    out
}
