//! The answers owed to senders: re-transmission requests for missing numbers, and the
//! delivery of every pending answer (receipts, requests) through the inbound's `answers`
//! transport. An answer is marked delivered only once it is in place.

use hub_core::config::InboundConfig;
use hub_core::transport::{Transport, TransportError};

use super::format::InboundFormat;
use super::{ImportError, ImportReport};
use crate::Engine;
use crate::fault;

/// Writes a re-transmission request for every pair with missing numbers.
pub(super) fn request(
    engine: &mut Engine,
    cfg: &InboundConfig,
    format: &dyn InboundFormat,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let now = engine.now();
    let created = now.civil(cfg.utc_offset_at(now));
    for pair in engine.store.inbound_pairs(&cfg.name)? {
        if pair.missing.is_empty() {
            continue;
        }
        let (name, bytes) = format.missing_request(&pair.sender, &pair.missing, created);
        let now = engine.now();
        if engine
            .store
            .inbound_request(&cfg.name, &name, &bytes, now)?
        {
            report.requests.push(name);
        }
    }
    Ok(())
}

/// Delivers every pending answer through the inbound's `answers` transport.
pub(super) fn deliver_answers(
    engine: &mut Engine,
    cfg: &InboundConfig,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let pending = engine.store.pending_answers(&cfg.name)?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut transport = match engine.open_answers(&cfg.answers) {
        Ok(t) => t,
        Err(e) => {
            report
                .answer_errors
                .push(format!("answers stay queued: {e}"));
            return Ok(());
        }
    };
    for answer in pending {
        let store = &mut engine.store;
        let mut put = |t: &mut dyn Transport| -> Result<(), TransportError> {
            let remote = t.inspect(&answer.name)?;
            if remote.final_present {
                // In place before an interruption: not written twice.
                if remote.temp_present {
                    t.remove_temp(&answer.name)?;
                }
                return Ok(());
            }
            // Streamed from the store: a receipt of any length is never held whole.
            let mut bytes = store.answer_bytes(answer.id).map_err(|e| {
                TransportError::retryable(format!("cannot read it from the store: {e}"))
            })?;
            t.put_temp_from(&answer.name, &mut bytes, answer.size)?;
            drop(bytes);
            fault::point("answer-in-temp");
            t.make_final(&answer.name)
        };
        match put(transport.as_mut()) {
            Ok(()) => {
                fault::point("answer-in-place");
                let now = engine.now();
                engine.store.answer_delivered(answer.id, now)?;
                report.answers_delivered.push(answer.name);
            }
            Err(e) => report
                .answer_errors
                .push(format!("{}: {e} (stays queued)", answer.name)),
        }
    }
    Ok(())
}
