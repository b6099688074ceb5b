//! Delivering one transfer's payloads, and what the hub does when it cannot know whether
//! a payload arrived: it says so, looks where the receiver can be looked at, and holds the
//! payload in doubt for a person where looking cannot settle it. It never guesses.
//!
//! Every attempt is written as `started` before the remote side is touched, so a run
//! killed in the middle leaves an entry in the protocol log that says so.

use std::time::Instant;

use hub_core::state::{AttemptResult, PayloadState, TransferState};
use hub_core::time::Timestamp;
use hub_core::transport::{Digest, ErrorKind, Transport, TransportError};
use hub_plugin_sdk::Delivery;
use hub_store::{Completion, DoubtKind, NewAttempt, NewDoubt, Transfer};

use super::{Held, SendError, SendReport, summary};
use crate::fault;
use crate::{Engine, TargetRuntime};

mod group;
mod request;
use request::deliver_request;
pub(super) use request::{Ready, finish, prepare};

/// What became of one payload in this run.
pub(super) enum Step {
    Done(TransferState),
    /// Held in doubt: nothing more is sent for it until it is settled.
    Held(TransferState, DoubtKind, String),
}

/// Delivers every payload of a transfer not yet delivered, resuming where an earlier run
/// stopped. A payload in doubt is not touched. `leased_until`: when the lease this worker
/// holds on the transfer runs out. `first`: how the first try at its first payload
/// failed, when a pipelined send made it (the retries go on from there).
#[tracing::instrument(name = "deliver", skip_all, fields(target_name = %t.config.name, transfer = transfer_id))]
pub(super) fn deliver(
    engine: &mut Engine,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    transfer_id: i64,
    mut leased_until: Timestamp,
    mut first: Option<SendError>,
    report: &mut SendReport,
) -> Result<(), SendError> {
    let transfer = engine.store.transfer(transfer_id)?;
    let mut state = transfer.state;
    let retry = t.config.retry;
    let mut pending: Vec<_> = transfer
        .payloads
        .iter()
        .filter(|p| !matches!(p.state, PayloadState::Delivered | PayloadState::InDoubt))
        .cloned()
        .collect();
    let files = transport.delivers_files();
    let receipt = t.plugin.info().delivery == Delivery::FileDropWithReceipt;
    let mut i = 0;
    // A group that settled nothing and named no error leaves its first file to go alone.
    let mut alone = false;
    'payloads: while i < pending.len() {
        // Small files with nothing recorded yet go in groups (one commit per step for the
        // group); the rest, and every retry, one at a time below.
        let grouped = if files && first.is_none() && !std::mem::take(&mut alone) {
            group::extent(&pending[i..])
        } else {
            0
        };
        if grouped >= 2 {
            let ran = group::deliver_group(
                engine,
                transport,
                &transfer,
                &pending[i..i + grouped],
                receipt,
                &mut leased_until,
            )?;
            i += ran.steps.len();
            alone = ran.steps.is_empty() && ran.next.is_none();
            for (name, step) in ran.steps {
                let held = matches!(step, Step::Held(..));
                state = noted(report, transfer.id, &name, step);
                if held {
                    break 'payloads;
                }
            }
            first = ran.next;
            // What the group recorded for the payload it stopped before.
            if let Some(p) = pending.get(i).map(|p| p.id)
                && let Some(now) = engine
                    .store
                    .transfer(transfer.id)?
                    .payloads
                    .into_iter()
                    .find(|x| x.id == p)
            {
                pending[i] = now;
            }
            continue;
        }
        let mut p = pending[i].clone();
        i += 1;
        let name = p.name.clone();
        let step = super::backoff::with_retries_after(
            &retry,
            first.take(),
            |tries| {
                // The failed try before may have advanced the payload's recorded step.
                if tries > 1
                    && let Some(now) = engine
                        .store
                        .transfer(transfer.id)?
                        .payloads
                        .into_iter()
                        .find(|x| x.id == p.id)
                {
                    p = now;
                }
                keep_lease(engine, &transfer, &mut leased_until)?;
                // One span per attempt at a payload: its name and try, never its content.
                let attempt = tracing::info_span!(
                    "attempt",
                    transfer = transfer.id,
                    payload = %p.name,
                    try_no = tries,
                    outcome = tracing::field::Empty,
                );
                let result = attempt.in_scope(|| {
                    if files {
                        deliver_file(engine, transport, &transfer, &p, receipt)
                    } else {
                        deliver_request(engine, t, transport, &transfer, &p)
                    }
                });
                attempt.record(
                    "outcome",
                    match &result {
                        Ok(Step::Done(_)) => "done",
                        Ok(Step::Held(..)) => "in_doubt",
                        Err(SendError::Delivery {
                            retryable: true, ..
                        }) => "retryable",
                        Err(_) => "failed",
                    },
                );
                result
            },
            |e| match e {
                SendError::Delivery {
                    retryable: true,
                    retry_after,
                    ..
                } => Some(retry_after.unwrap_or_default()),
                _ => None,
            },
            |e, tries, wait| {
                tracing::warn!(transfer = transfer.id, payload = %name, error = %e, try_no = tries, wait_ms = wait.as_millis() as u64, "retrying");
            },
        )?;
        let held = matches!(step, Step::Held(..));
        state = noted(report, transfer.id, &p.name, step);
        if held {
            // The transfer's other payloads wait with it: it is settled as a whole.
            break;
        }
    }
    if !matches!(state, TransferState::Open | TransferState::InDoubt) {
        report.transfers_completed += 1;
    }
    Ok(())
}

/// Still ours? A worker that was too slow has lost the transfer to another. No other
/// worker can take a lease before it runs out, so one with more than half its time left
/// is ours without asking (and without a commit).
fn keep_lease(
    engine: &mut Engine,
    transfer: &Transfer,
    leased_until: &mut Timestamp,
) -> Result<(), SendError> {
    let now = engine.now();
    if super::lease_fresh(engine, *leased_until, now) {
        return Ok(());
    }
    let until = super::lease_until(engine, now);
    if !engine
        .store
        .renew_lease(transfer.id, &engine.worker, until, now)?
    {
        return Err(SendError::LeaseLost {
            target: transfer.target.clone(),
            transfer: transfer.id,
        });
    }
    *leased_until = until;
    Ok(())
}

/// What became of one payload, told to the report (a hold, with a warning in the log);
/// the transfer's state after it.
pub(super) fn noted(
    report: &mut SendReport,
    transfer: i64,
    payload: &str,
    step: Step,
) -> TransferState {
    match step {
        Step::Done(s) => s,
        Step::Held(s, kind, detail) => {
            tracing::warn!(transfer, payload, kind = kind.as_str(), %detail, "delivery in doubt: held for a look or a person (hub doubt list)");
            report.in_doubt.push(Held {
                transfer,
                payload: payload.to_string(),
                kind,
                detail,
            });
            s
        }
    }
}

/// The attempt as it is written before the remote side is touched.
pub(super) fn new_attempt(
    transport: &dyn Transport,
    transfer: &Transfer,
    p: &hub_store::Payload,
    started: Timestamp,
) -> NewAttempt {
    NewAttempt {
        begun: None,
        transfer_id: transfer.id,
        payload_id: Some(p.id),
        started_at: started,
        duration_ms: 0,
        endpoint: transport.endpoint(),
        credential: transport.credential(),
        sent: summary(p),
        received: None,
        result: AttemptResult::Started,
        error: None,
    }
}

/// Completes the attempt as failed and turns the error into the send's error.
pub(super) fn failed(
    engine: &mut Engine,
    attempt: &NewAttempt,
    transfer: &Transfer,
    p: &hub_store::Payload,
    started: Instant,
    e: &TransportError,
) -> SendError {
    let attempt = NewAttempt {
        duration_ms: started.elapsed().as_millis() as u64,
        result: match e.kind {
            ErrorKind::Retryable => AttemptResult::Retryable,
            ErrorKind::Permanent => AttemptResult::Failed,
            ErrorKind::Unknown => AttemptResult::Unknown,
        },
        error: Some(e.message.clone()),
        ..attempt.clone()
    };
    if let Err(store_error) = engine.store.log_attempt(&attempt) {
        return store_error.into();
    }
    SendError::Delivery {
        target: transfer.target.clone(),
        transfer: transfer.id,
        message: format!("{}: {}", p.name, e.message),
        retryable: e.kind != ErrorKind::Permanent,
        retry_after: e.retry_after,
    }
}

/// Holds a payload in doubt, completing its attempt as `unknown`.
pub(super) fn hold(
    engine: &mut Engine,
    attempt: &NewAttempt,
    p: &hub_store::Payload,
    started: Instant,
    doubt: NewDoubt,
) -> Result<Step, SendError> {
    let attempt = NewAttempt {
        duration_ms: started.elapsed().as_millis() as u64,
        result: AttemptResult::Unknown,
        error: Some(doubt.detail.clone()),
        ..attempt.clone()
    };
    let now = engine.now();
    engine.store.hold(p.id, &doubt, &attempt, now)?;
    let state = engine.store.transfer(attempt.transfer_id)?.state;
    Ok(Step::Held(state, doubt.kind, doubt.detail))
}

/// What the hub wrote, in the words of a [`Digest`].
fn ours(p: &hub_store::Payload) -> Digest {
    Digest {
        size: p.size as u64,
        sha256: p.sha256.clone(),
    }
}

/// A file is under the final name: it is ours only if its size and SHA-256, read back,
/// are what the hub wrote. Anything else is someone else's file: a conflict, never
/// delivered and never replaced.
fn judge_found(p: &hub_store::Payload, found: &Digest) -> Result<(), NewDoubt> {
    let expected = ours(p);
    if *found == expected {
        return Ok(());
    }
    Err(NewDoubt {
        kind: DoubtKind::Conflict,
        detail: format!(
            "{} is on the receiver with other content ({found}); the hub wrote {expected}: \
             not the hub's file, left untouched",
            p.name
        ),
        expected: Some(expected.to_string()),
        found: Some(found.to_string()),
    })
}

/// One file: temp name, then final name, each step recorded first. After an interruption
/// the recorded step and what the receiver holds (read back) say what is left to do.
fn deliver_file(
    engine: &mut Engine,
    transport: &mut dyn Transport,
    transfer: &Transfer,
    p: &hub_store::Payload,
    receipt: bool,
) -> Result<Step, SendError> {
    let started = Instant::now();
    let file = FileTry {
        transfer,
        p,
        started,
        receipt,
    };
    let mut attempt = new_attempt(transport, transfer, p, engine.now());
    if p.state == PayloadState::Uploaded {
        // The upload completed before an interruption: look before doing anything.
        attempt.begun = Some(engine.store.log_attempt(&attempt)?);
        let remote = transport
            .inspect(&p.name)
            .map_err(|e| failed(engine, &attempt, transfer, p, started, &e))?;
        if remote.final_present {
            let found = transport
                .digest(&p.name)
                .map_err(|e| failed(engine, &attempt, transfer, p, started, &e))?;
            match found.as_ref().map(|f| judge_found(p, f)) {
                Some(Ok(())) => {
                    if remote.temp_present {
                        transport
                            .remove_temp(&p.name)
                            .map_err(|e| failed(engine, &attempt, transfer, p, started, &e))?;
                    }
                    attempt.result = AttemptResult::Recovered;
                    attempt.received = Some(
                        "found in place after an interruption; size and sha256 read back match"
                            .into(),
                    );
                }
                Some(Err(conflict)) => {
                    // Ours stays unsent: remove our temporary copy, keep theirs as found.
                    let _ = transport.remove_temp(&p.name);
                    return hold(engine, &attempt, p, started, conflict);
                }
                // Gone between the two looks: the receiver took it, or someone removed it.
                None => return vanished(engine, &attempt, p, started),
            }
        } else if remote.temp_present {
            if let Err(e) = transport.make_final(&p.name) {
                return look_after_failed_rename(engine, transport, &attempt, file, e);
            }
            attempt.received = Some("renamed into place after an interruption".into());
        } else {
            return vanished(engine, &attempt, p, started);
        }
    } else {
        // Nothing is recorded before the upload: under its temporary name the file is
        // never taken by the receiver, so a run cut off here uploads it again (one commit
        // per file less; the protocol log's entry starts with the durable "uploaded").
        fault::point("uploading");
        // Streamed from the store to the connection: a large file is never held whole.
        let mut upload = None;
        let streamed = engine.store.send_payload(p.id, &mut |bytes, size| {
            transport
                .put_temp_from(&p.name, bytes, size)
                .map_err(|e| upload = Some(e))
        })?;
        if streamed.is_err() {
            let e = upload.unwrap_or_else(|| {
                TransportError::retryable(format!("{}: the upload stopped", p.name))
            });
            return Err(failed(engine, &attempt, transfer, p, started, &e));
        }
        fault::point("uploaded-temp");
        // The durable point before the rename: from here a run cut off looks before it
        // does anything (the receiver may take the file the moment it is renamed).
        attempt.begun = Some(
            engine
                .store
                .begin_attempt(p.id, PayloadState::Uploaded, &attempt)?,
        );
        fault::point("recorded-uploaded");
        if let Err(e) = transport.make_final(&p.name) {
            return look_after_failed_rename(engine, transport, &attempt, file, e);
        }
        fault::point("renamed");
    }
    attempt.duration_ms = started.elapsed().as_millis() as u64;
    if attempt.result == AttemptResult::Started {
        attempt.result = AttemptResult::Delivered;
    }
    let now = engine.now();
    let completion = if receipt {
        Completion::AwaitingReceipt
    } else {
        Completion::InPlace
    };
    let state = engine
        .store
        .complete_payload(p.id, completion, &attempt, now)?;
    fault::point("completed");
    Ok(Step::Done(state))
}

/// The hub's complete temporary file is gone and no final file is there: the receiver may
/// have taken the file after a rename the hub did not record, or someone removed it.
fn vanished(
    engine: &mut Engine,
    attempt: &NewAttempt,
    p: &hub_store::Payload,
    started: Instant,
) -> Result<Step, SendError> {
    hold(
        engine,
        attempt,
        p,
        started,
        NewDoubt {
            kind: DoubtKind::Vanished,
            detail: format!(
                "{}: the hub's complete temporary file is gone and no file is under the final \
                 name; the receiver may have taken it, or someone removed it",
                p.name
            ),
            expected: Some(ours(p).to_string()),
            found: None,
        },
    )
}

/// The file being delivered, for the look after a failed rename.
#[derive(Clone, Copy)]
struct FileTry<'a> {
    transfer: &'a Transfer,
    p: &'a hub_store::Payload,
    started: Instant,
    receipt: bool,
}

/// The rename failed: a file under the final name is either ours (the rename went through
/// and only its answer was lost) or someone else's (a conflict); with none there, the
/// error stands.
fn look_after_failed_rename(
    engine: &mut Engine,
    transport: &mut dyn Transport,
    attempt: &NewAttempt,
    file: FileTry<'_>,
    e: TransportError,
) -> Result<Step, SendError> {
    let FileTry {
        transfer,
        p,
        started,
        receipt,
    } = file;
    let found = match transport.digest(&p.name) {
        Ok(found) => found,
        Err(_) => return Err(failed(engine, attempt, transfer, p, started, &e)),
    };
    match found.as_ref().map(|f| judge_found(p, f)) {
        None => Err(failed(engine, attempt, transfer, p, started, &e)),
        Some(Ok(())) => {
            let _ = transport.remove_temp(&p.name);
            let attempt = NewAttempt {
                duration_ms: started.elapsed().as_millis() as u64,
                result: AttemptResult::Recovered,
                received: Some(format!(
                    "the rename reported `{}`, but the file under the final name is the hub's \
                     (size and sha256 read back match)",
                    e.message
                )),
                ..attempt.clone()
            };
            let now = engine.now();
            let completion = if receipt {
                Completion::AwaitingReceipt
            } else {
                Completion::InPlace
            };
            Ok(Step::Done(
                engine
                    .store
                    .complete_payload(p.id, completion, &attempt, now)?,
            ))
        }
        Some(Err(conflict)) => {
            let _ = transport.remove_temp(&p.name);
            hold(engine, attempt, p, started, conflict)
        }
    }
}
