//! A target paused by an operator: nothing is numbered or sent for it until it is resumed
//! (queued records stay queued, enqueue goes on). Kept in the store, so every worker and
//! every restart sees it; each pause and resume is an entry of the audit trail.

use hub_core::time::Timestamp;
use serde::Serialize;

use crate::Result;
use crate::audit::NewAuditEntry;

/// A target's pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub target: String,
    #[serde(serialize_with = "crate::ser_display")]
    pub since: Timestamp,
    pub by: String,
    pub reason: String,
}

/// Pausing and resuming targets; every backend implements it.
pub trait Pausing {
    /// Pauses `target`; `false` when it was paused already (the first pause stands).
    fn pause_target(
        &mut self,
        target: &str,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool>;

    /// Resumes `target`; `false` when it was not paused.
    fn resume_target(&mut self, target: &str, by: &str, now: Timestamp) -> Result<bool>;

    /// Every paused target, by name.
    fn paused_targets(&mut self) -> Result<Vec<Pause>>;

    /// `target`'s pause, if it is paused.
    fn paused(&mut self, target: &str) -> Result<Option<Pause>> {
        Ok(self
            .paused_targets()?
            .into_iter()
            .find(|p| p.target == target))
    }
}

/// The audit entry of a pause (`reason`) or a resume (`None`).
pub(crate) fn entry(target: &str, by: &str, reason: Option<&str>, now: Timestamp) -> NewAuditEntry {
    NewAuditEntry {
        at: now,
        actor: by.to_string(),
        action: if reason.is_some() { "pause" } else { "resume" }.into(),
        target: Some(target.to_string()),
        subject: format!("target {target}"),
        detail: reason.unwrap_or("sending resumed").to_string(),
    }
}
