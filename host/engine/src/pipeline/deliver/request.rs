//! Delivering a payload as a request (request-response targets), and what the hub does
//! when the answer is lost: with an inquiry the plugin offers, it asks the receiver;
//! otherwise, or when the answer cannot settle it, the payload is held in doubt. A
//! blind second POST happens only where the target says the receiver deduplicates
//! (`on_unknown = "resend"`).

use std::time::Instant;

use hub_core::config::OnUnknown;
use hub_core::state::{AttemptResult, PayloadState};
use hub_core::transport::{ErrorKind, Outgoing, Transport};
use hub_plugin_sdk::InterpretError;
use hub_store::{Batch, Completion, DoubtKind, NewAttempt, NewDoubt, Transfer};

use super::super::{SendError, context, excerpt, per_record, summary, to_sdk};
use super::{Step, failed, hold, new_attempt};
use crate::fault;
use crate::{Engine, TargetRuntime};

/// A request whose outcome is unknown.
#[derive(Clone, Copy)]
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
    engine: &mut Engine,
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
    let held = |engine: &mut Engine, detail: String| {
        hold(
            engine,
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
        Ok(None) => return held(engine, detail),
        Err(e) => {
            return held(
                engine,
                format!("{detail}; the plugin's status question failed: {e}"),
            );
        }
    };
    let answer = match transport.ask(&question) {
        Ok(a) => a,
        Err(e) => {
            return held(
                engine,
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
            let records = engine.store.payload_records(p.id)?;
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
            let now = engine.now();
            Ok(Step::Done(engine.store.complete_payload(
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
            engine.store.log_attempt(&attempt)?;
            engine
                .store
                .set_payload_state(p.id, PayloadState::Pending)?;
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
            engine,
            format!("{detail}; the receiver's answer ({asked}) did not say"),
        ),
    }
}

/// Where the plugin read `unknown` for any record (contract 0.2): what a person settling
/// the doubt needs, every record's outcome as the plugin read it.
fn unknown_outcomes(payload: &str, outcomes: &[hub_plugin_sdk::Outcome]) -> Option<String> {
    use hub_plugin_sdk::OutcomeStatus as S;
    if !outcomes.iter().any(|o| o.status == S::Unknown) {
        return None;
    }
    let each: Vec<String> = outcomes
        .iter()
        .map(|o| {
            let status = match o.status {
                S::Delivered => "delivered",
                S::Rejected => "rejected",
                S::RetryLater => "retry-later",
                S::Unknown => "unknown",
            };
            if o.messages.is_empty() {
                format!("{} {status}", o.record_id)
            } else {
                format!("{} {status} ({})", o.record_id, o.messages.join("; "))
            }
        })
        .collect();
    Some(format!(
        "{payload}: the answer does not say whether every record arrived: {}",
        each.join(", ")
    ))
}

/// A request made ready to go: its attempt recorded as started, its bytes and shape read.
pub(in crate::pipeline) struct Ready {
    pub(in crate::pipeline) transfer: Transfer,
    pub(in crate::pipeline) p: hub_store::Payload,
    attempt: NewAttempt,
    key: String,
    shape: Option<hub_plugin_sdk::RequestShape>,
    bytes: Vec<u8>,
    started: Instant,
    resend: bool,
}

impl Ready {
    /// The request as the transport takes it.
    pub(in crate::pipeline) fn outgoing(&self) -> Outgoing<'_> {
        Outgoing {
            name: &self.p.name,
            media_type: &self.p.media_type,
            bytes: &self.bytes,
            idempotency_key: &self.key,
            shape: self.shape.as_ref(),
        }
    }
}

/// The `Idempotency-Key` a payload is sent with: the same on every try.
fn idempotency_key(transfer: &Transfer, p: &hub_store::Payload) -> String {
    format!("hub-{}-{}", transfer.id, p.sha256)
}

/// The steps before a request goes out: the attempt is written as started (the state
/// before the request, durable once its transaction or group commits) and the bytes and
/// the recorded shape are read. For a payload an earlier attempt left cut off, `note`
/// says so in the attempt (only with `on_unknown = "resend"`; otherwise it is looked at
/// first, see [`deliver_request`]).
pub(in crate::pipeline) fn prepare(
    engine: &mut Engine,
    t: &TargetRuntime,
    transport: &dyn Transport,
    transfer: &Transfer,
    p: &hub_store::Payload,
) -> Result<Ready, SendError> {
    let resend = t.config.on_unknown == OnUnknown::Resend;
    let mut attempt = new_attempt(transport, transfer, p, engine.now());
    let key = idempotency_key(transfer, p);
    if p.state != PayloadState::Pending {
        attempt.sent = format!(
            "{} (sent again after an unknown outcome, key {key}; on_unknown = resend)",
            summary(p)
        );
    }
    // The shape recorded when the payload was created: a retry sends the same request.
    // Read before the attempt begins, so a store that cannot give it leaves no attempt
    // that looks cut off after it started.
    let shape = engine.store.payload_request(p.id)?;
    attempt.begun = Some(
        engine
            .store
            .begin_attempt(p.id, PayloadState::Uploading, &attempt)?,
    );
    let bytes = engine.store.payload_bytes(p.id)?;
    Ok(Ready {
        transfer: transfer.clone(),
        p: p.clone(),
        attempt,
        key,
        shape,
        bytes,
        started: Instant::now(),
        resend,
    })
}

/// One request: the answer is interpreted by the plugin into per-record outcomes. Where
/// the outcome is unknown (no answer, an answer not understood, an attempt a crash cut
/// off), the payload is held in doubt, unless the target's `on_unknown = "resend"` says
/// its receiver deduplicates by the `Idempotency-Key`.
pub(super) fn deliver_request(
    engine: &mut Engine,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    transfer: &Transfer,
    p: &hub_store::Payload,
) -> Result<Step, SendError> {
    let resend = t.config.on_unknown == OnUnknown::Resend;
    if p.state != PayloadState::Pending && !resend {
        // An earlier attempt started and was cut off before its outcome was recorded.
        let started = Instant::now();
        let mut attempt = new_attempt(transport, transfer, p, engine.now());
        let key = idempotency_key(transfer, p);
        attempt.begun = Some(engine.store.log_attempt(&attempt)?);
        let unknown = Unknown {
            transfer,
            p,
            key: &key,
            started,
        };
        return look_or_hold(
            engine,
            t,
            transport,
            &attempt,
            unknown,
            format!(
                "{}: an earlier attempt was cut off after it started (a crash or a \
                     kill); the receiver may have imported it",
                p.name
            ),
        );
    }
    let ready = prepare(engine, t, transport, transfer, p)?;
    fault::point("requesting");
    let answer = transport.request(
        &ready.p.name,
        &ready.p.media_type,
        &ready.bytes,
        &ready.key,
        ready.shape.as_ref(),
    );
    fault::point("answered");
    let step = finish(engine, t, transport, ready, answer)?;
    fault::point("completed");
    Ok(step)
}

/// The steps after a request: its answer (or why none came) recorded, interpreted by the
/// plugin into per-record outcomes, or looked at and held where it cannot say.
pub(in crate::pipeline) fn finish(
    engine: &mut Engine,
    t: &TargetRuntime,
    transport: &mut dyn Transport,
    ready: Ready,
    answer: Result<hub_plugin_sdk::Response, hub_core::transport::TransportError>,
) -> Result<Step, SendError> {
    let Ready {
        transfer,
        p,
        mut attempt,
        key,
        started,
        resend,
        ..
    } = ready;
    let (transfer, p) = (&transfer, &p);
    let unknown = Unknown {
        transfer,
        p,
        key: &key,
        started,
    };
    let response = match answer {
        Ok(r) => r,
        Err(e) if e.kind == ErrorKind::Unknown && !resend => {
            return look_or_hold(engine, t, transport, &attempt, unknown, e.message.clone());
        }
        Err(e) => {
            let err = failed(engine, &attempt, transfer, p, started, &e);
            if e.kind != ErrorKind::Unknown {
                // Nothing reached the receiver: the payload is untouched.
                engine
                    .store
                    .set_payload_state(p.id, PayloadState::Pending)?;
            }
            return Err(err);
        }
    };
    let records = engine.store.payload_records(p.id)?;
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
            engine.store.log_attempt(&attempt)?;
            engine
                .store
                .set_payload_state(p.id, PayloadState::Pending)?;
            return Err(SendError::Delivery {
                target: transfer.target.clone(),
                transfer: transfer.id,
                message,
                retryable,
                retry_after: hub_core::transport::retry_after(
                    &response.headers,
                    std::time::SystemTime::now(),
                ),
            });
        }
        Ok(Err(InterpretError::Malformed(message))) => {
            return look_or_hold(
                engine,
                t,
                transport,
                &attempt,
                unknown,
                format!("{}: answer not understood: {message}", p.name),
            );
        }
        Err(e) => {
            return look_or_hold(
                engine,
                t,
                transport,
                &attempt,
                unknown,
                format!("{}: the answer could not be read: {e}", p.name),
            );
        }
    };
    if let Some(detail) = unknown_outcomes(&p.name, &outcomes) {
        // The answer does not say for some records: the payload is one unit of bytes, so
        // it is asked about or held as a whole, as an answer not understood is.
        return look_or_hold(engine, t, transport, &attempt, unknown, detail);
    }
    let outcomes = per_record(
        t.plugin.name(),
        &records,
        outcomes,
        "the target's answer did not mention this record",
    );
    let now = engine.now();
    let state =
        engine
            .store
            .complete_payload(p.id, Completion::Outcomes(&outcomes), &attempt, now)?;
    Ok(Step::Done(state))
}
