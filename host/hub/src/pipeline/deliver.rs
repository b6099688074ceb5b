//! Delivering one transfer's payloads, and what the hub does when it cannot know whether
//! a payload arrived: it says so, looks where the receiver can be looked at, and holds the
//! payload in doubt for a person where looking cannot settle it. It never guesses.
//!
//! Every attempt is written as `started` before the remote side is touched, so a run
//! killed in the middle leaves an entry in the protocol log that says so.

use std::time::Instant;

use hub_core::config::OnUnknown;
use hub_core::state::{AttemptResult, PayloadState, TransferState};
use hub_core::time::Timestamp;
use hub_plugin_sdk::{Delivery, InterpretError};
use hub_store::{Batch, Completion, DoubtKind, NewAttempt, NewDoubt, Transfer};
use hub_transports::{Digest, ErrorKind, Transport, TransportError};

use super::{Held, SendError, SendReport, context, excerpt, per_record, summary, to_sdk};
use crate::app::{App, TargetRuntime};
use crate::fault;

/// What became of one payload in this run.
enum Step {
    Done(TransferState),
    /// Held in doubt: nothing more is sent for it until it is settled.
    Held(TransferState, DoubtKind, String),
}

/// Delivers every payload of a transfer not yet delivered, resuming where an earlier run
/// stopped. A payload in doubt is not touched.
pub(super) fn deliver(
    app: &mut App,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    transfer_id: i64,
    report: &mut SendReport,
) -> Result<(), SendError> {
    let transfer = app.store.transfer(transfer_id)?;
    let mut state = transfer.state;
    let retry = t.config.retry;
    let pending: Vec<_> = transfer
        .payloads
        .iter()
        .filter(|p| !matches!(p.state, PayloadState::Delivered | PayloadState::InDoubt))
        .cloned()
        .collect();
    for mut p in pending {
        let mut tries = 1;
        let step = loop {
            // Still ours? A worker that was too slow has lost the transfer to another.
            let now = app.now();
            let until = super::lease_until(app, now);
            if !app
                .store
                .renew_lease(transfer.id, &app.worker, until, now)?
            {
                return Err(SendError::LeaseLost {
                    target: transfer.target.clone(),
                    transfer: transfer.id,
                });
            }
            let result = if transport.delivers_files() {
                let receipt = t.plugin.info().delivery == Delivery::FileDropWithReceipt;
                deliver_file(app, transport, &transfer, &p, receipt)
            } else {
                deliver_request(app, t, transport, &transfer, &p)
            };
            match result {
                Ok(s) => break s,
                Err(SendError::Delivery {
                    retryable: true,
                    message,
                    retry_after,
                    ..
                }) if tries < retry.attempts => {
                    tries += 1;
                    let wait = retry.backoff(tries).max(retry_after.unwrap_or_default());
                    tracing::warn!(transfer = transfer.id, payload = %p.name, error = %message, try_no = tries, wait_ms = wait.as_millis() as u64, "retrying");
                    std::thread::sleep(wait);
                    // The failed try may have advanced the payload's recorded step.
                    if let Some(now) = app
                        .store
                        .transfer(transfer.id)?
                        .payloads
                        .into_iter()
                        .find(|x| x.id == p.id)
                    {
                        p = now;
                    }
                }
                Err(e) => return Err(e),
            }
        };
        match step {
            Step::Done(s) => state = s,
            Step::Held(s, kind, detail) => {
                state = s;
                tracing::warn!(transfer = transfer.id, payload = %p.name, kind = kind.as_str(), %detail, "delivery in doubt: held for a look or a person (hub doubt list)");
                report.in_doubt.push(Held {
                    transfer: transfer.id,
                    payload: p.name.clone(),
                    kind,
                    detail,
                });
                // The transfer's other payloads wait with it: it is settled as a whole.
                break;
            }
        }
    }
    if !matches!(state, TransferState::Open | TransferState::InDoubt) {
        report.transfers_completed += 1;
    }
    Ok(())
}

/// The attempt as it is written before the remote side is touched.
fn new_attempt(
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
fn failed(
    app: &mut App,
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
    if let Err(store_error) = app.store.log_attempt(&attempt) {
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
fn hold(
    app: &mut App,
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
    let now = app.now();
    app.store.hold(p.id, &doubt, &attempt, now)?;
    let state = app.store.transfer(attempt.transfer_id)?.state;
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
    app: &mut App,
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
    let mut attempt = new_attempt(transport, transfer, p, app.now());
    if p.state == PayloadState::Uploaded {
        // The upload completed before an interruption: look before doing anything.
        attempt.begun = Some(app.store.log_attempt(&attempt)?);
        let remote = transport
            .inspect(&p.name)
            .map_err(|e| failed(app, &attempt, transfer, p, started, &e))?;
        if remote.final_present {
            let found = transport
                .digest(&p.name)
                .map_err(|e| failed(app, &attempt, transfer, p, started, &e))?;
            match found.as_ref().map(|f| judge_found(p, f)) {
                Some(Ok(())) => {
                    if remote.temp_present {
                        transport
                            .remove_temp(&p.name)
                            .map_err(|e| failed(app, &attempt, transfer, p, started, &e))?;
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
                    return hold(app, &attempt, p, started, conflict);
                }
                // Gone between the two looks: the receiver took it, or someone removed it.
                None => return vanished(app, &attempt, p, started),
            }
        } else if remote.temp_present {
            if let Err(e) = transport.make_final(&p.name) {
                return look_after_failed_rename(app, transport, &attempt, file, e);
            }
            attempt.received = Some("renamed into place after an interruption".into());
        } else {
            return vanished(app, &attempt, p, started);
        }
    } else {
        attempt.begun = Some(
            app.store
                .begin_attempt(p.id, PayloadState::Uploading, &attempt)?,
        );
        fault::point("uploading");
        let bytes = app.store.payload_bytes(p.id)?;
        transport
            .put_temp(&p.name, &bytes)
            .map_err(|e| failed(app, &attempt, transfer, p, started, &e))?;
        fault::point("uploaded-temp");
        app.store.set_payload_state(p.id, PayloadState::Uploaded)?;
        fault::point("recorded-uploaded");
        if let Err(e) = transport.make_final(&p.name) {
            return look_after_failed_rename(app, transport, &attempt, file, e);
        }
        fault::point("renamed");
    }
    attempt.duration_ms = started.elapsed().as_millis() as u64;
    if attempt.result == AttemptResult::Started {
        attempt.result = AttemptResult::Delivered;
    }
    let now = app.now();
    let completion = if receipt {
        Completion::AwaitingReceipt
    } else {
        Completion::InPlace
    };
    let state = app
        .store
        .complete_payload(p.id, completion, &attempt, now)?;
    fault::point("completed");
    Ok(Step::Done(state))
}

/// The hub's complete temporary file is gone and no final file is there: the receiver may
/// have taken the file after a rename the hub did not record, or someone removed it.
fn vanished(
    app: &mut App,
    attempt: &NewAttempt,
    p: &hub_store::Payload,
    started: Instant,
) -> Result<Step, SendError> {
    hold(
        app,
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
    app: &mut App,
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
        Err(_) => return Err(failed(app, attempt, transfer, p, started, &e)),
    };
    match found.as_ref().map(|f| judge_found(p, f)) {
        None => Err(failed(app, attempt, transfer, p, started, &e)),
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
            let now = app.now();
            let completion = if receipt {
                Completion::AwaitingReceipt
            } else {
                Completion::InPlace
            };
            Ok(Step::Done(
                app.store
                    .complete_payload(p.id, completion, &attempt, now)?,
            ))
        }
        Some(Err(conflict)) => {
            let _ = transport.remove_temp(&p.name);
            hold(app, attempt, p, started, conflict)
        }
    }
}

/// A request whose outcome is unknown.
struct Unknown<'a> {
    transfer: &'a Transfer,
    p: &'a hub_store::Payload,
    /// The `Idempotency-Key` it was sent with.
    key: &'a str,
    started: Instant,
}

/// Where the plugin knows how to ask the receiver about an earlier request (contract
/// 0.1.1 `inquiry`), the hub asks: arrived → delivered; not arrived → sent again; no
/// answer that says → held in doubt for a person, as without a question.
fn look_or_hold(
    app: &mut App,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    attempt: &NewAttempt,
    u: Unknown<'_>,
    detail: String,
) -> Result<Step, SendError> {
    let Unknown {
        transfer,
        p,
        key,
        started,
    } = u;
    let held = |app: &mut App, detail: String| {
        hold(
            app,
            attempt,
            p,
            started,
            NewDoubt {
                kind: DoubtKind::UnknownOutcome,
                detail,
                expected: None,
                found: None,
            },
        )
    };
    let id = u64::try_from(transfer.id).unwrap_or(0);
    let question = match t.plugin.ask(&t.settings, id, &p.name, key) {
        Ok(Some(q)) => q,
        Ok(None) => return held(app, detail),
        Err(e) => {
            return held(
                app,
                format!("{detail}; the plugin's status question failed: {e}"),
            );
        }
    };
    let answer = match transport.ask(&question) {
        Ok(a) => a,
        Err(e) => {
            return held(
                app,
                format!("{detail}; asking the receiver failed: {}", e.message),
            );
        }
    };
    let status = answer.status.unwrap_or(0);
    let finding = t
        .plugin
        .judge(&t.settings, &p.name, status, &answer.body)
        .unwrap_or(hub_plugin_sdk::Finding::Unknown);
    let asked = format!("{} {} → status {status}", question.method, question.path);
    match finding {
        hub_plugin_sdk::Finding::Arrived => {
            let records = app.store.payload_records(p.id)?;
            let note = format!("confirmed by the receiver's status query ({asked})");
            let outcomes: Vec<hub_store::RecordOutcome> = records
                .iter()
                .map(|r| hub_store::RecordOutcome {
                    seq: r.seq,
                    status: hub_plugin_sdk::OutcomeStatus::Delivered,
                    messages: vec![note.clone()],
                })
                .collect();
            let attempt = NewAttempt {
                duration_ms: started.elapsed().as_millis() as u64,
                result: AttemptResult::Recovered,
                received: Some(format!("{detail}; asked: arrived ({asked})")),
                ..attempt.clone()
            };
            let now = app.now();
            Ok(Step::Done(app.store.complete_payload(
                p.id,
                Completion::Outcomes(&outcomes),
                &attempt,
                now,
            )?))
        }
        hub_plugin_sdk::Finding::NotArrived => {
            let attempt = NewAttempt {
                duration_ms: started.elapsed().as_millis() as u64,
                result: AttemptResult::Retryable,
                error: Some(format!(
                    "{detail}; asked: not arrived ({asked}), sent again"
                )),
                ..attempt.clone()
            };
            app.store.log_attempt(&attempt)?;
            app.store.set_payload_state(p.id, PayloadState::Pending)?;
            Err(SendError::Delivery {
                target: transfer.target.clone(),
                transfer: transfer.id,
                message: format!(
                    "{}: the receiver says it did not arrive; sent again",
                    p.name
                ),
                retryable: true,
                retry_after: None,
            })
        }
        hub_plugin_sdk::Finding::Unknown => held(
            app,
            format!("{detail}; the receiver's answer ({asked}) did not say"),
        ),
    }
}

/// One request: the answer is interpreted by the plugin into per-record outcomes. Where
/// the outcome is unknown (no answer, an answer not understood, an attempt a crash cut
/// off), the payload is held in doubt, unless the target's `on_unknown = "resend"` says
/// its receiver deduplicates by the `Idempotency-Key`.
fn deliver_request(
    app: &mut App,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    transfer: &Transfer,
    p: &hub_store::Payload,
) -> Result<Step, SendError> {
    let started = Instant::now();
    let resend = t.config.on_unknown == OnUnknown::Resend;
    let mut attempt = new_attempt(transport, transfer, p, app.now());
    let key = format!("hub-{}-{}", transfer.id, p.sha256);
    if p.state != PayloadState::Pending {
        // An earlier attempt started and was cut off before its outcome was recorded.
        if !resend {
            attempt.begun = Some(app.store.log_attempt(&attempt)?);
            return look_or_hold(
                app,
                t,
                transport,
                &attempt,
                Unknown {
                    transfer,
                    p,
                    key: &key,
                    started,
                },
                format!(
                    "{}: an earlier attempt was cut off after it started (a crash or a \
                         kill); the receiver may have imported it",
                    p.name
                ),
            );
        }
        attempt.sent = format!(
            "{} (sent again after an unknown outcome, key {key}; on_unknown = resend)",
            summary(p)
        );
    }
    attempt.begun = Some(
        app.store
            .begin_attempt(p.id, PayloadState::Uploading, &attempt)?,
    );
    fault::point("requesting");
    let bytes = app.store.payload_bytes(p.id)?;
    let response = match transport.request(&p.name, &p.media_type, &bytes, &key) {
        Ok(r) => r,
        Err(e) if e.kind == ErrorKind::Unknown && !resend => {
            return look_or_hold(
                app,
                t,
                transport,
                &attempt,
                Unknown {
                    transfer,
                    p,
                    key: &key,
                    started,
                },
                e.message.clone(),
            );
        }
        Err(e) => {
            let err = failed(app, &attempt, transfer, p, started, &e);
            if e.kind != ErrorKind::Unknown {
                // Nothing reached the receiver: the payload is untouched.
                app.store.set_payload_state(p.id, PayloadState::Pending)?;
            }
            return Err(err);
        }
    };
    fault::point("answered");
    let records = app.store.payload_records(p.id)?;
    let sdk_records = to_sdk(&records);
    let batch = Batch {
        batch_key: transfer.batch_key.clone(),
        sequence_scope: transfer.sequence_scope.clone(),
    };
    let ctx = context(
        t,
        &batch,
        transfer.id,
        transfer.sequence_no,
        transfer.created_at,
    );
    attempt.duration_ms = started.elapsed().as_millis() as u64;
    attempt.received = Some(format!(
        "status {}, {} bytes: {}",
        response.status.map_or("-".to_string(), |s| s.to_string()),
        response.body.len(),
        excerpt(&response.body)
    ));
    attempt.result = AttemptResult::Delivered;
    let outcomes = match t.plugin.interpret(&ctx, &p.name, &sdk_records, &response) {
        Ok(Ok(o)) => o,
        Ok(Err(InterpretError::Failed { message, retryable })) => {
            // The receiver refused the whole request: nothing was imported.
            attempt.result = if retryable {
                AttemptResult::Retryable
            } else {
                AttemptResult::Failed
            };
            attempt.error = Some(message.clone());
            app.store.log_attempt(&attempt)?;
            app.store.set_payload_state(p.id, PayloadState::Pending)?;
            return Err(SendError::Delivery {
                target: transfer.target.clone(),
                transfer: transfer.id,
                message,
                retryable,
                retry_after: hub_transports::retry_after(
                    &response.headers,
                    std::time::SystemTime::now(),
                ),
            });
        }
        Ok(Err(InterpretError::Malformed(message))) => {
            return look_or_hold(
                app,
                t,
                transport,
                &attempt,
                Unknown {
                    transfer,
                    p,
                    key: &key,
                    started,
                },
                format!("{}: answer not understood: {message}", p.name),
            );
        }
        Err(e) => {
            return look_or_hold(
                app,
                t,
                transport,
                &attempt,
                Unknown {
                    transfer,
                    p,
                    key: &key,
                    started,
                },
                format!("{}: the answer could not be read: {e}", p.name),
            );
        }
    };
    let outcomes = per_record(
        t.plugin.name(),
        &records,
        outcomes,
        "the target's answer did not mention this record",
    );
    let now = app.now();
    let state = app
        .store
        .complete_payload(p.id, Completion::Outcomes(&outcomes), &attempt, now)?;
    fault::point("completed");
    Ok(Step::Done(state))
}
