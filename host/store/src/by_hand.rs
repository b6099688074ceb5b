//! A person finishing a record the target refused or the hub could not encode: resolve it
//! (complete without import) or requeue it (send it again as a new record, e.g. after the
//! data was corrected at the receiver). Both close the old record the same way, so its
//! transfer can be done; the rule that finds the record lives once per backend.

use hub_core::time::Timestamp;
use serde::Serialize;

use crate::{RecordView, Resolution, Result, StoreError};

/// What a person does with a rejected or failed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByHand {
    /// Completed without import.
    Resolve,
    /// Sent again: the record is copied to the outbox, queued, and this one is complete.
    Requeue,
}

impl ByHand {
    /// The word in refusals: "only rejected or failed records can be {verb}".
    pub(crate) fn verb(self) -> &'static str {
        match self {
            ByHand::Resolve => "resolved",
            ByHand::Requeue => "requeued",
        }
    }

    /// The audit trail's action.
    pub(crate) fn action(self) -> &'static str {
        match self {
            ByHand::Resolve => "resolve",
            ByHand::Requeue => "requeue",
        }
    }

    /// The old record's message.
    pub(crate) fn message(self, who: &str, reason: &str) -> String {
        match self {
            ByHand::Resolve => format!("completed without import by {who}: {reason}"),
            ByHand::Requeue => format!("queued again as a new record by {who}: {reason}"),
        }
    }

    /// A reason is required, whatever the caller checked.
    pub(crate) fn check_reason(self, reason: &str) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(StoreError::Refused(match self {
                ByHand::Resolve => "a resolution needs a reason (--reason)".into(),
                ByHand::Requeue => "a requeue needs a reason (--reason)".into(),
            }));
        }
        Ok(())
    }
}

/// The refusal when no rejected or failed record matched: says what the newest one is.
pub(crate) fn not_found(record_id: &str, state: Option<String>, how: ByHand) -> StoreError {
    match state {
        Some(state) if state == "in-doubt" => StoreError::Refused(format!(
            "record {record_id} is in doubt: whether it arrived is unknown; ask the \
             receiver, then settle its transfer (hub doubt list, hub doubt settle)"
        )),
        Some(state) => StoreError::Refused(format!(
            "record {record_id} is {state}; only rejected or failed records can be {}",
            how.verb()
        )),
        None => StoreError::NotFound(format!("no record {record_id}")),
    }
}

/// The refusal when the record needs checking in several targets.
pub(crate) fn ambiguous(record_id: &str, targets: &[&str]) -> StoreError {
    StoreError::Refused(format!(
        "record {record_id} needs checking in more than one place ({}); name the target with --target",
        targets.join(", ")
    ))
}

/// The refusal of a requeue when the source has sent the record again since (a newer
/// snapshot or body): sending the old one would overwrite it at the receiver.
pub(crate) fn newer_exists(record_id: &str, newer: i64, state: &str) -> StoreError {
    StoreError::Refused(format!(
        "record {record_id} has a newer record #{newer} ({state}); only the newest is sent \
         again: resolve this one"
    ))
}

/// The refusal of a requeue when retention removed the body.
pub(crate) fn purged(record_id: &str) -> StoreError {
    StoreError::Refused(format!(
        "record {record_id}: its body was removed under retention_days, so it cannot be sent \
         again; enqueue it anew from the source"
    ))
}

/// A record sent again.
#[derive(Debug, Clone, Serialize)]
pub struct Requeued {
    /// The old record, now complete.
    pub record: RecordView,
    /// The new record's number in the outbox (queued).
    pub queued: i64,
    /// The old record's transfer, if this completed it.
    pub transfer_done: Option<i64>,
}

impl Requeued {
    pub(crate) fn new(resolution: Resolution, queued: i64) -> Self {
        Self {
            record: resolution.record,
            queued,
            transfer_done: resolution.transfer_done,
        }
    }
}

/// Sending a rejected or failed record again; every backend implements it.
pub trait Requeuing {
    /// Copies the rejected or failed record `record_id` (of `target`, where it needs
    /// naming) to the outbox as a new queued record, and completes the old one with who,
    /// when and why, in one transaction. Refused for a record in doubt, one the source
    /// has sent a newer version of, and one whose body retention removed.
    fn requeue(
        &mut self,
        target: Option<&str>,
        record_id: &str,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Requeued>;
}
