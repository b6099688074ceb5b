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

use hub_core::input::{InputErrors, LineError, parse_ndjson_all};
use hub_core::names::{check_key, check_payload_name};
use hub_core::state::AttemptResult;
use hub_core::time::Timestamp;
use hub_plugin_sdk::{
    Context, DateTime, EncodeError, InterpretError, OutcomeStatus, Payload as PluginPayload, Record,
};
use hub_runtime::PluginError;
use hub_store::{
    Batch, Completion, EnqueueReport, NewAttempt, NewPayload, NewRecord, RecordOutcome, StoreError,
    StoredRecord,
};
use hub_transports::{Transport, TransportError};
use serde::Serialize;
use thiserror::Error;

use crate::app::{App, AppError, TargetRuntime};
use crate::fault;

mod deliver;
use deliver::deliver;

/// A person's decision about a transfer in doubt, from the CLI, the API or the page: the
/// one place that knows a delivered file of a receipt target still awaits its receipt.
pub fn settle(
    app: &mut App,
    transfer_id: i64,
    delivered: bool,
    who: &str,
    reason: &str,
) -> Result<hub_core::state::TransferState, SendError> {
    let transfer = app.store.transfer(transfer_id)?;
    let awaits_receipt = app.target(&transfer.target)?.plugin.info().delivery
        == hub_plugin_sdk::Delivery::FileDropWithReceipt;
    let settlement = match (delivered, awaits_receipt) {
        (true, true) => hub_store::Settlement::DeliveredAwaitingReceipt,
        (true, false) => hub_store::Settlement::Delivered,
        (false, _) => hub_store::Settlement::NotDelivered,
    };
    let now = app.now();
    let state = app
        .store
        .settle(transfer_id, settlement, who, reason.trim(), now)?;
    tracing::info!(transfer = transfer_id, target_name = %transfer.target, delivered, %who, "doubt settled");
    Ok(state)
}

/// Records validated per plugin call at enqueue.
const VALIDATE_CHUNK: usize = 1_000;

/// Why records could not be enqueued. Nothing was queued.
#[derive(Debug, Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Input(#[from] InputErrors),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a send stopped for a target.
#[derive(Debug, Error)]
pub enum SendError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
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
    #[error("target {target}: plugin {plugin}: {message}; the records stay queued")]
    Encode {
        target: String,
        plugin: String,
        message: String,
    },
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
    app: &mut App,
    target: &str,
    transport: &mut dyn Transport,
    stuck_after: u64,
) -> Result<Vec<StuckFile>, SendError> {
    let now = app.now();
    let mut stuck = Vec::new();
    for p in app.store.unclaimed_payloads(target)? {
        let remote = transport
            .inspect(&p.name)
            .map_err(|e| SendError::Unreachable {
                target: target.to_string(),
                message: format!("cannot look for {}: {}", p.name, e.message),
            })?;
        app.store.mark_checked(p.id, !remote.final_present, now)?;
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

/// Reads NDJSON and queues it for `target`, all or nothing: every line is checked by the
/// host and validated by the target's plugin before the first record is stored.
pub fn enqueue(app: &mut App, target: &str, text: &str) -> Result<EnqueueReport, EnqueueError> {
    let t = app.target(target)?;
    let (input, mut errors) = parse_ndjson_all(text);
    let kinds: HashSet<&str> = t
        .plugin
        .info()
        .record_kinds
        .iter()
        .map(String::as_str)
        .collect();
    let mut records = Vec::with_capacity(input.len());
    // The input line of each record, to name it when the store refuses it.
    let mut lines = Vec::with_capacity(input.len());
    for chunk in input.chunks(VALIDATE_CHUNK) {
        let batch: Vec<Record> = chunk
            .iter()
            .map(|r| Record {
                id: r.id.clone(),
                kind: r.kind.clone(),
                body: r.body.clone(),
            })
            .collect();
        let answers = t
            .plugin
            .validate(&t.settings, &batch)
            .map_err(AppError::from)?;
        for (input, answer) in chunk.iter().zip(answers) {
            let line = input.line;
            if !kinds.contains(input.kind.as_str()) {
                errors.push(LineError {
                    line,
                    message: format!(
                        "record {}: kind `{}` is not one target {target} takes ({})",
                        input.id,
                        input.kind,
                        t.plugin.info().record_kinds.join(", ")
                    ),
                });
                continue;
            }
            match answer {
                Ok(meta) => {
                    let keys = std::iter::once(&meta.batch_key)
                        .chain(meta.sequence_scope.as_ref())
                        .chain(meta.supersede_key.as_ref());
                    if let Some(problem) = keys.filter_map(|k| check_key(k).err()).next() {
                        errors.push(LineError {
                            line,
                            message: format!(
                                "record {}: plugin {} proposed a bad key: {problem}",
                                input.id,
                                t.plugin.name()
                            ),
                        });
                        continue;
                    }
                    lines.push(line);
                    records.push(NewRecord {
                        id: input.id.clone(),
                        kind: input.kind.clone(),
                        body: input.body.clone(),
                        content_sha256: input.content_sha256.clone(),
                        change: t.plugin.change_of(&input.kind),
                        meta,
                    });
                }
                Err(e) => errors.push(LineError {
                    line,
                    message: e.to_string(),
                }),
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(InputErrors(errors).into());
    }
    let now = app.now();
    match app.store.enqueue(target, &records, now) {
        Ok(report) => Ok(report),
        Err(StoreError::RecordsRefused(refused)) => {
            let mut errors: Vec<LineError> = refused
                .into_iter()
                .filter_map(|(i, message)| lines.get(i).map(|&line| LineError { line, message }))
                .collect();
            errors.sort_by_key(|e| e.line);
            Err(InputErrors(errors).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends everything queued for `target`: first finishes transfers an earlier run left
/// open, then encodes and delivers new ones batch by batch. With `dry_run` nothing is
/// written or sent; the payloads are returned instead.
pub fn send(app: &mut App, target: &str, dry_run: bool) -> Result<SendReport, SendError> {
    let t = app.target(target)?;
    let mut report = SendReport {
        target: target.to_string(),
        ..SendReport::default()
    };
    let before = counts(app, target)?;
    let mut transport: Option<Box<dyn Transport>> = None;
    let mut claimed = HashSet::new();
    if !dry_run {
        app.lock_for_sending()?;
        let open = app.store.open_transfers(target)?;
        let watching = t.config.stuck_after_minutes.is_some()
            && hub_transports::delivers_files(&t.config.transport)
            && !app.store.unclaimed_payloads(target)?.is_empty();
        if open.is_empty() && app.store.queued_batches(target)?.is_empty() && !watching {
            return Ok(report);
        }
        // Credentials and reachability are checked before anything new is numbered, so
        // a wrong password or a refused certificate leaves the records queued.
        let unreachable = |e: TransportError| SendError::Unreachable {
            target: target.to_string(),
            message: e.message,
        };
        let identity = app.identity(&t.config)?;
        let mut opened =
            hub_transports::open(&t.config.transport, identity).map_err(unreachable)?;
        // A server that is down or overloaded gets the target's retries, with backoff.
        let mut tries = 1;
        while let Err(e) = opened.health() {
            if e.kind == hub_transports::ErrorKind::Permanent || tries >= t.config.retry.attempts {
                return Err(unreachable(e));
            }
            tries += 1;
            let wait = t
                .config
                .retry
                .backoff(tries)
                .max(e.retry_after.unwrap_or_default());
            tracing::warn!(target_name = target, error = %e.message, try_no = tries, wait_ms = wait.as_millis() as u64, "target not reachable; retrying");
            std::thread::sleep(wait);
        }
        deliver_claimed(app, &t, opened.as_mut(), &mut claimed, &mut report)?;
        transport = Some(opened);
    }
    let max = t
        .plugin
        .info()
        .max_batch
        .min(t.config.max_batch.unwrap_or(u32::MAX));
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut dry_taken: HashSet<i64> = HashSet::new();
    let total = app
        .store
        .counts(Some(target))?
        .first()
        .map_or(0, |c| c.queued);
    let mut done = 0;
    for batch in app.store.queued_batches(target)? {
        loop {
            if app.stop.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::info!(target_name = target, "stopping: no new transfer started");
                break;
            }
            let mut records = app.store.queued_records(target, &batch, max)?;
            if dry_run {
                records.retain(|r| !dry_taken.contains(&r.seq));
            }
            if let Err(e) = one_transfer(&t, &mut records) {
                // This batch stays queued; the next batch may do fine.
                tracing::error!(error = %e, "batch not formed");
                report.errors.push(e.to_string());
                break;
            }
            if records.is_empty() {
                break;
            }
            done += records.len();
            match create(app, &t, &batch, &records, dry_run, &mut report) {
                Ok(Created::Transfer(id)) => {
                    tracing::debug!(target_name = target, transfer = id, "transfer created");
                    report.transfers_created += 1;
                    // Through a claim, not directly: another worker may hold an earlier
                    // transfer of the same scope, or have taken this one already.
                    if let Some(transport) = transport.as_mut() {
                        deliver_claimed(app, &t, transport.as_mut(), &mut claimed, &mut report)?;
                    }
                }
                Ok(Created::DryRun) => dry_taken.extend(records.iter().map(|r| r.seq)),
                Ok(Created::DryRunFailed(seqs)) => dry_taken.extend(seqs),
                Ok(Created::RecordsFailed) => {}
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
            if let Some(hook) = app.progress.as_mut() {
                hook(crate::progress::Step {
                    what: "records",
                    done: done.min(total),
                    total,
                });
            }
        }
    }
    if let (Some(minutes), Some(transport)) = (t.config.stuck_after_minutes, transport.as_mut())
        && transport.delivers_files()
    {
        report.stuck = watch(app, target, transport.as_mut(), minutes)?;
    }
    let after = counts(app, target)?;
    report.records_delivered = after.0.saturating_sub(before.0);
    report.records_to_check = after.1.saturating_sub(before.1);
    Ok(report)
}

/// (delivered, failed) records of a target.
fn counts(app: &mut App, target: &str) -> Result<(usize, usize), SendError> {
    Ok(app
        .store
        .counts(Some(target))?
        .first()
        .map_or((0, 0), |c| (c.delivered, c.failed)))
}

/// Ends a transfer before the first record that may not travel with the ones before it:
/// a repeated source id (an id enqueued twice with different bodies and no supersede key,
/// so the plugin's per-record answers stay unambiguous), or a repeated key the plugin
/// declares once per transfer (contract 0.1.2 `batching`; SurvNet: a GUID, so version 2
/// of a record waits for the transport after version 1's). The transfer is cut rather
/// than the record skipped: the records queued behind it wait too, so nothing overtakes
/// it and every receiver gets its records in queue order. They stay queued and form the
/// next transfer.
fn one_transfer(t: &TargetRuntime, records: &mut Vec<StoredRecord>) -> Result<(), PluginError> {
    let keys = t.plugin.once_keys(&t.settings, &to_sdk(records))?;
    let cut = first_repeat(records, keys.as_deref());
    if let Some(cut) = cut {
        tracing::debug!(
            target_name = %t.config.name,
            record = %records[cut].id,
            "record waits for the next transfer: it repeats an id or key of this one"
        );
        records.truncate(cut);
    }
    Ok(())
}

/// The position of the first record repeating the id or a once-per-transfer key of a
/// record before it.
fn first_repeat(records: &[StoredRecord], keys: Option<&[Vec<String>]>) -> Option<usize> {
    let mut ids = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    records.iter().enumerate().position(|(i, r)| {
        let own = keys.and_then(|k| k.get(i)).map_or(&[][..], Vec::as_slice);
        let repeats = !ids.insert(r.id.as_str()) || own.iter().any(|k| seen.contains(k.as_str()));
        seen.extend(own.iter().map(String::as_str));
        repeats
    })
}

enum Created {
    Transfer(i64),
    DryRun,
    RecordsFailed,
    /// A dry run's refused records (sequence numbers): left out, as a real send fails them.
    DryRunFailed(Vec<i64>),
}

enum CreateFail {
    Plugin(PluginError),
    Records(Vec<hub_plugin_sdk::RecordError>),
    Other(String),
    DryRun(Vec<DryRunPayload>),
}

fn datetime(now: Timestamp, offset: i32) -> DateTime {
    let c = now.civil(offset);
    DateTime {
        unix_seconds: now.unix_seconds(),
        utc_offset_minutes: offset,
        year: c.year,
        month: c.month,
        day: c.day,
        hour: c.hour,
        minute: c.minute,
        second: c.second,
    }
}

fn context(
    t: &TargetRuntime,
    batch: &Batch,
    id: i64,
    sequence: Option<u64>,
    now: Timestamp,
) -> Context {
    Context {
        target: t.config.name.clone(),
        settings: t.settings.clone(),
        sender: t.config.sender.clone(),
        receiver: t.config.receiver.clone(),
        batch_key: batch.batch_key.clone(),
        sequence_scope: batch.sequence_scope.clone(),
        sequence,
        transfer_id: u64::try_from(id).unwrap_or(0),
        now: datetime(now, t.config.utc_offset_minutes),
    }
}

/// Checks what a plugin returned before it is stored: names the host can deliver safely,
/// no name twice, only records of this batch, and every record carried by some payload
/// (a record in no payload would never get an outcome).
pub(crate) fn check_payloads(
    plugin: &str,
    payloads: &[PluginPayload],
    by_id: &HashMap<&str, i64>,
) -> Result<Vec<NewPayload>, String> {
    if payloads.is_empty() {
        return Err(format!("plugin {plugin} produced no payload"));
    }
    let mut names = HashSet::new();
    let mut carried = HashSet::new();
    let mut out = Vec::with_capacity(payloads.len());
    for p in payloads {
        check_payload_name(&p.name)
            .map_err(|e| format!("plugin {plugin} proposed a bad payload name: {e}"))?;
        if !names.insert(p.name.as_str()) {
            return Err(format!(
                "plugin {plugin} proposed the payload name `{}` twice",
                p.name
            ));
        }
        let mut seqs = Vec::with_capacity(p.records.len());
        for id in &p.records {
            let seq = by_id.get(id.as_str()).ok_or_else(|| {
                format!(
                    "plugin {plugin}: payload {} names record {id}, which is not in this transfer",
                    p.name
                )
            })?;
            carried.insert(*seq);
            seqs.push(*seq);
        }
        check_labels(&p.labels).map_err(|e| format!("plugin {plugin}: payload {}: {e}", p.name))?;
        out.push(NewPayload {
            name: p.name.clone(),
            media_type: p.media_type.clone(),
            bytes: p.bytes.clone(),
            records: seqs,
            labels: p.labels.clone(),
        });
    }
    if let Some((id, _)) = by_id.iter().find(|(_, seq)| !carried.contains(seq)) {
        return Err(format!("plugin {plugin}: record {id} is in no payload"));
    }
    Ok(out)
}

/// Labels are shown and filtered by people: short printable keys and values, few of them.
fn check_labels(labels: &[(String, String)]) -> Result<(), String> {
    if labels.len() > 16 {
        return Err(format!("{} labels, at most 16 are allowed", labels.len()));
    }
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 32
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !key_ok {
            return Err(format!(
                "bad label key `{k}` (lower-case letters, digits, `-`)"
            ));
        }
        if v.len() > 200 || v.chars().any(char::is_control) {
            return Err(format!(
                "label {k}: value longer than 200 bytes or with control characters"
            ));
        }
    }
    Ok(())
}

/// Delivers the target's open transfers this worker can claim, each under a lease that
/// [`deliver`] renews before every step with the receiver; other workers on the same
/// store take the others. A transfer is claimed once per run: one left open (a
/// retryable failure) waits for the next run.
fn deliver_claimed(
    app: &mut App,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    done: &mut HashSet<i64>,
    report: &mut SendReport,
) -> Result<(), SendError> {
    loop {
        let now = app.now();
        let until = lease_until(app, now);
        let Some(id) = app.store.claim_transfer(
            &t.config.name,
            &app.worker,
            until,
            t.config.max_in_flight,
            now,
        )?
        else {
            return Ok(());
        };
        if !done.insert(id) {
            app.store.release_lease(id, &app.worker)?;
            return Ok(());
        }
        let result = deliver(app, t, transport, id, report);
        app.store.release_lease(id, &app.worker)?;
        result?;
    }
}

/// When a lease taken or renewed now runs out.
pub(super) fn lease_until(app: &App, now: hub_core::time::Timestamp) -> hub_core::time::Timestamp {
    let ms = i64::try_from(app.config.store.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    hub_core::time::Timestamp(now.0.saturating_add(ms))
}

fn create(
    app: &mut App,
    t: &TargetRuntime,
    batch: &Batch,
    records: &[StoredRecord],
    dry_run: bool,
    report: &mut SendReport,
) -> Result<Created, SendError> {
    let plugin = t.plugin.clone();
    let stamp = crate::app::stamp(&plugin);
    let sdk_records = to_sdk(records);
    let by_id: HashMap<&str, i64> = records.iter().map(|r| (r.id.as_str(), r.seq)).collect();
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    let now = app.now();
    let target = t.config.name.clone();
    let result = hub_store::create_transfer_with(
        &mut *app.store,
        &target,
        batch,
        &seqs,
        &stamp,
        now,
        |draft| {
            let ctx = context(t, batch, draft.id, draft.sequence, now);
            fault::point("encode");
            let payloads = match plugin.encode(&ctx, &sdk_records) {
                Err(e) => return Err(CreateFail::Plugin(e)),
                Ok(Err(EncodeError::Records(errs))) => return Err(CreateFail::Records(errs)),
                Ok(Err(EncodeError::Settings(m))) => {
                    return Err(CreateFail::Other(format!("settings refused: {m}")));
                }
                Ok(Err(EncodeError::Other(m))) => return Err(CreateFail::Other(m)),
                Ok(Ok(p)) => p,
            };
            let mut checked =
                check_payloads(plugin.name(), &payloads, &by_id).map_err(CreateFail::Other)?;
            if t.config.package == Some(hub_core::config::Package::Zip) {
                let archive = crate::package::zip(checked, now.civil(t.config.utc_offset_minutes))
                    .map_err(CreateFail::Other)?;
                check_payload_name(&archive.name)
                    .map_err(|e| CreateFail::Other(format!("archive name: {e}")))?;
                checked = vec![archive];
            }
            if dry_run {
                return Err(CreateFail::DryRun(
                    checked
                        .into_iter()
                        .map(|p| DryRunPayload {
                            sequence: draft.sequence,
                            size: p.bytes.len(),
                            records: p.records.len(),
                            name: p.name,
                            media_type: p.media_type,
                            bytes: p.bytes,
                        })
                        .collect(),
                ));
            }
            Ok(checked)
        },
    )?;
    match result {
        Ok(id) => {
            fault::point("created");
            Ok(Created::Transfer(id))
        }
        Err(CreateFail::DryRun(payloads)) => {
            report.dry_run.extend(payloads);
            Ok(Created::DryRun)
        }
        Err(CreateFail::Plugin(e)) => Err(e.into()),
        Err(CreateFail::Other(message)) => Err(SendError::Encode {
            target,
            plugin: plugin.name().to_string(),
            message,
        }),
        Err(CreateFail::Records(errs)) => {
            let mut failures = Vec::new();
            for e in &errs {
                match by_id.get(e.record_id.as_str()) {
                    Some(seq) => failures.push((*seq, e.to_string())),
                    None => {
                        return Err(SendError::Encode {
                            target,
                            plugin: plugin.name().to_string(),
                            message: format!(
                                "refused record {}, which is not in this batch",
                                e.record_id
                            ),
                        });
                    }
                }
            }
            if failures.is_empty() {
                return Err(SendError::Encode {
                    target,
                    plugin: plugin.name().to_string(),
                    message: "refused the batch without naming a record".into(),
                });
            }
            if dry_run {
                // Nothing is written in a dry run: report what a real send would fail and
                // encode the rest without it, as a real send does.
                report
                    .dry_run_failed
                    .extend(failures.iter().map(|(_, m)| m.clone()));
                return Ok(Created::DryRunFailed(
                    failures.iter().map(|(s, _)| *s).collect(),
                ));
            }
            for (_, message) in &failures {
                tracing::warn!(target_name = %target, error = %message, "record failed");
            }
            app.store.fail_records(&failures, now)?;
            Ok(Created::RecordsFailed)
        }
    }
}

fn summary(p: &hub_store::Payload) -> String {
    format!(
        "{} ({} bytes, sha256 {})",
        p.name,
        p.size,
        p.sha256.get(..16).unwrap_or(&p.sha256)
    )
}

/// What importing a receipt did.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptReport {
    pub transfer: i64,
    pub sequence_no: Option<u64>,
    pub delivered: usize,
    pub rejected: usize,
    pub state: String,
}

/// Imports a receipt for a transfer of `target` whose files were sent: the plugin says
/// which transfer it answers (it refuses receipts for others) and gives each record its
/// outcome. "Mit dem Import der Quittungsdatei beim Absender ist der Transportvorgang
/// abgeschlossen."
pub fn import_receipt(
    app: &mut App,
    target: &str,
    receipt: &[u8],
) -> Result<ReceiptReport, SendError> {
    let t = app.target(target)?;
    let response = hub_plugin_sdk::Response {
        status: None,
        headers: Vec::new(),
        body: receipt.to_vec(),
    };
    let mut refusals = Vec::new();
    for id in app.store.sent_transfers(target)? {
        let transfer = app.store.transfer(id)?;
        let batch = Batch {
            batch_key: transfer.batch_key.clone(),
            sequence_scope: transfer.sequence_scope.clone(),
        };
        let ctx = context(
            &t,
            &batch,
            transfer.id,
            transfer.sequence_no,
            transfer.created_at,
        );
        // Every payload that carries records must accept the receipt before any outcome
        // is written, so a receipt for another transport changes nothing.
        let mut answers = Vec::new();
        for p in transfer.payloads.iter() {
            let records = app.store.payload_records(p.id)?;
            if records.is_empty() {
                continue;
            }
            let sdk_records = to_sdk(&records);
            match t.plugin.interpret(&ctx, &p.name, &sdk_records, &response)? {
                Ok(outcomes) => answers.push((p.clone(), records, outcomes)),
                Err(
                    InterpretError::Failed { message, .. } | InterpretError::Malformed(message),
                ) => {
                    refusals.push(format!("#{}: {message}", transfer.id));
                    answers.clear();
                    break;
                }
            }
        }
        if answers.is_empty() {
            continue;
        }
        let now = app.now();
        let (mut delivered, mut rejected) = (0, 0);
        let mut state = transfer.state;
        for (p, records, outcomes) in answers {
            let outcomes = per_record(
                t.plugin.name(),
                &records,
                outcomes,
                "the receipt does not mention this record",
            );
            delivered += outcomes
                .iter()
                .filter(|o| o.status == OutcomeStatus::Delivered)
                .count();
            rejected += outcomes
                .iter()
                .filter(|o| o.status == OutcomeStatus::Rejected)
                .count();
            let attempt = NewAttempt {
                begun: None,
                transfer_id: transfer.id,
                payload_id: Some(p.id),
                started_at: now,
                duration_ms: 0,
                endpoint: "receipt".into(),
                credential: None,
                sent: summary(&p),
                received: Some(format!(
                    "receipt, {} bytes: {}",
                    receipt.len(),
                    excerpt(receipt)
                )),
                result: AttemptResult::Delivered,
                error: None,
            };
            state =
                app.store
                    .complete_payload(p.id, Completion::Outcomes(&outcomes), &attempt, now)?;
        }
        return Ok(ReceiptReport {
            transfer: transfer.id,
            sequence_no: transfer.sequence_no,
            delivered,
            rejected,
            state: state.to_string(),
        });
    }
    Err(SendError::Receipt {
        target: target.to_string(),
        message: if refusals.is_empty() {
            "no transfer is waiting for a receipt".into()
        } else {
            format!(
                "the receipt answers no transfer waiting for one ({})",
                refusals.join("; ")
            )
        },
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: i64, id: &str) -> StoredRecord {
        StoredRecord {
            seq,
            id: id.into(),
            kind: "case".into(),
            body: "{}".into(),
        }
    }

    #[test]
    fn a_transfer_ends_before_a_repeated_id_or_once_key() {
        let records = [rec(1, "a"), rec(2, "b"), rec(3, "c"), rec(4, "a")];
        assert_eq!(first_repeat(&records, None), Some(3));
        let keys = |k: &[&[&str]]| -> Vec<Vec<String>> {
            k.iter()
                .map(|ks| ks.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        // b repeats a's GUID: b and everything behind it wait.
        let k = keys(&[&["g1", "t1"], &["g1"], &["g2"], &[]]);
        assert_eq!(first_repeat(&records, Some(&k)), Some(1));
        // One record may name a key twice; no keys at all cut nothing but ids.
        let k = keys(&[&["g1", "g1"], &["g2"], &[], &[]]);
        assert_eq!(first_repeat(&records[..3], Some(&k)), None);
        assert_eq!(first_repeat(&[], Some(&[])), None);
    }
}
