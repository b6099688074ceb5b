//! A person's "retry now" for a transfer left open (a receiver that was down, a refused
//! login): the target's backoff is cleared, the action audited, and the open transfers
//! delivered at once. Nothing new is numbered; the queue waits for its send.

use std::collections::HashSet;

use hub_core::state::TransferState;
use hub_store::StoreError;
use hub_store::audit::NewAuditEntry;

use super::{SendError, SendReport, Work, begin, counts};
use crate::Engine;

/// Checks that transfer `id` can be retried, clears its target's backoff and keeps who
/// asked and why in the audit trail; returns the target. A transfer in doubt is never
/// sent again this way (a person settles it), and a delivered one only by `resend`.
pub fn ask_retry(
    engine: &mut Engine,
    id: i64,
    who: &str,
    reason: &str,
) -> Result<String, SendError> {
    if reason.trim().is_empty() {
        return Err(StoreError::Refused("a retry needs a reason (--reason)".into()).into());
    }
    let transfer = engine.store.transfer(id)?;
    match transfer.state {
        TransferState::Open => {}
        TransferState::InDoubt => {
            return Err(StoreError::Refused(format!(
                "transfer #{id} is in doubt: whether it arrived is unknown; ask the receiver, \
                 then settle it (hub doubt settle {id})"
            ))
            .into());
        }
        state => {
            return Err(StoreError::Refused(format!(
                "transfer #{id} is {state}, not waiting to be sent; `hub resend {id}` sends a \
                 delivered transfer again when the receiver asks for it"
            ))
            .into());
        }
    }
    engine.target(&transfer.target)?;
    engine.store.set_backoff(&transfer.target, None)?;
    let now = engine.now();
    engine.store.audit_append(&[NewAuditEntry {
        at: now,
        actor: who.to_string(),
        action: "retry".into(),
        target: Some(transfer.target.clone()),
        subject: format!("transfer #{id}"),
        detail: reason.trim().to_string(),
    }])?;
    Ok(transfer.target)
}

/// Delivers `target`'s open transfers now, whatever its backoff or schedule.
#[tracing::instrument(name = "retry", skip_all, fields(target_name = target))]
pub fn retry(engine: &mut Engine, target: &str) -> Result<SendReport, SendError> {
    let t = engine.target(target)?;
    let mut report = SendReport {
        target: target.to_string(),
        ..SendReport::default()
    };
    let before = counts(engine, target)?;
    let mut claimed = HashSet::new();
    begin(engine, &t, Work::Open, &mut claimed, &mut report)?;
    let after = counts(engine, target)?;
    report.records_delivered = after.0.saturating_sub(before.0);
    report.records_to_check = after.1.saturating_sub(before.1);
    Ok(report)
}
