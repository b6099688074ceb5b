//! The answers owed to senders: re-transmission requests for missing numbers, and the
//! delivery of every pending answer (receipts, requests) through the inbound's `answers`
//! transport. An answer is marked delivered only once it is in place.

use hub_core::config::InboundConfig;
use hub_plugin_rki::receiving::{Receiver, retransmission_request, retransmission_request_name};

use super::{ImportError, ImportReport};
use crate::app::App;
use crate::fault;

/// Writes a re-transmission request for every pair with missing numbers.
pub(super) fn request(
    app: &mut App,
    cfg: &InboundConfig,
    receiver: &Receiver,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let c = app.now().civil(cfg.utc_offset_minutes);
    let created = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    for pair in app.store.inbound_pairs(&cfg.name)? {
        if pair.missing.is_empty() {
            continue;
        }
        let name = retransmission_request_name(receiver.site(), &pair.sender, &pair.missing);
        let bytes = retransmission_request(receiver.site(), &pair.sender, &pair.missing, &created);
        let now = app.now();
        if app.store.inbound_request(&cfg.name, &name, &bytes, now)? {
            report.requests.push(name);
        }
    }
    Ok(())
}

/// Delivers every pending answer through the inbound's `answers` transport.
pub(super) fn deliver_answers(
    app: &mut App,
    cfg: &InboundConfig,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let pending = app.store.pending_answers(&cfg.name)?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut transport = match hub_transports::open(&cfg.answers, None) {
        Ok(t) => t,
        Err(e) => {
            report
                .answer_errors
                .push(format!("answers stay queued: {e}"));
            return Ok(());
        }
    };
    for answer in pending {
        let store = &mut app.store;
        let mut put =
            |t: &mut dyn hub_transports::Transport| -> Result<(), hub_transports::TransportError> {
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
                    hub_transports::TransportError::retryable(format!(
                        "cannot read it from the store: {e}"
                    ))
                })?;
                t.put_temp_from(&answer.name, &mut bytes, answer.size)?;
                drop(bytes);
                fault::point("answer-in-temp");
                t.make_final(&answer.name)
            };
        match put(transport.as_mut()) {
            Ok(()) => {
                fault::point("answer-in-place");
                let now = app.now();
                app.store.answer_delivered(answer.id, now)?;
                report.answers_delivered.push(answer.name);
            }
            Err(e) => report
                .answer_errors
                .push(format!("{}: {e} (stays queued)", answer.name)),
        }
    }
    Ok(())
}
