//! The audit trail as a hash chain: every entry's hash is SHA-256 over the previous
//! entry's hash and the entry's canonical form, and ids run 1, 2, 3 … without gaps. An
//! entry changed afterwards no longer matches its hash; an entry removed leaves a gap in
//! the ids (or, renumbered, a broken link); a trail cut at its end is only noticed against
//! a head kept elsewhere (`[audit] head_file`), which is why the head can be written out.
//!
//! One rule in one place: both backends append through [`link`] and [`canonical`], and
//! `hub audit verify` checks through [`verify`], whatever the backend.

use hub_core::time::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Result;
use crate::protection::Protection;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    /// Who: a user for operator actions, `hub` for what the hub did by itself.
    pub actor: String,
    /// What kind of event: `delivery`, `settle`, `resolve`, `resend`, `purge`,
    /// `plugin-change`, `certificate`, `backup`.
    pub action: String,
    pub target: Option<String>,
    /// What it concerns, e.g. `transfer #12`.
    pub subject: String,
    /// What happened, one line (never a secret, never a record's body).
    pub detail: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(serialize_with = "crate::ser_display")]
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub subject: String,
    pub detail: String,
    /// The previous entry's hash.
    pub prev: String,
    pub hash: String,
}

/// The last entry of a trail: its id and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    pub id: i64,
    pub hash: String,
}

/// The fields that are hashed, in a fixed order (serde writes struct fields in
/// declaration order; the names are sorted so the form is also RFC 8785's).
#[derive(Serialize)]
struct Canonical<'a> {
    action: &'a str,
    actor: &'a str,
    at: i64,
    detail: &'a str,
    id: i64,
    subject: &'a str,
    target: Option<&'a str>,
}

/// The canonical JSON of entry `id`.
pub fn canonical(id: i64, e: &NewAuditEntry) -> String {
    let c = Canonical {
        action: &e.action,
        actor: &e.actor,
        at: e.at.0,
        detail: &e.detail,
        id,
        subject: &e.subject,
        target: e.target.as_deref(),
    };
    // A struct of strings and integers always serialises.
    serde_json::to_string(&c).unwrap_or_default()
}

/// The hash of an entry: SHA-256 over the previous hash (hex) and the canonical entry.
pub fn link(prev: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

impl AuditEntry {
    fn as_new(&self) -> NewAuditEntry {
        NewAuditEntry {
            at: self.at,
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            subject: self.subject.clone(),
            detail: self.detail.clone(),
        }
    }
}

/// A delivery outcome: one attempt with its result, as the protocol log has it (what
/// came back is left out: a receiver's answer may quote a record).
pub(crate) fn attempt_entry(
    target: String,
    a: &crate::NewAttempt,
    credential: Option<&str>,
) -> NewAuditEntry {
    let mut detail = format!("{}: sent {} to {}", a.result, a.sent, a.endpoint);
    if let Some(c) = credential {
        detail.push_str(&format!(" with credential {c}"));
    }
    if let Some(e) = &a.error {
        detail.push_str(&format!("; {e}"));
    }
    let ms = i64::try_from(a.duration_ms).unwrap_or(i64::MAX);
    NewAuditEntry {
        at: Timestamp(a.started_at.0.saturating_add(ms)),
        actor: "hub".into(),
        action: "delivery".into(),
        target: Some(target),
        subject: match a.payload_id {
            Some(p) => format!("transfer #{} payload #{p}", a.transfer_id),
            None => format!("transfer #{}", a.transfer_id),
        },
        detail,
    }
}

/// A delivered transfer opened again on request (`reason` names who asked: `(by …)`).
pub(crate) fn resend_entry(
    target: String,
    transfer_id: i64,
    reason: &str,
    now: Timestamp,
) -> NewAuditEntry {
    NewAuditEntry {
        at: now,
        actor: "operator".into(),
        action: "resend".into(),
        target: Some(target),
        subject: format!("transfer #{transfer_id}"),
        detail: reason.to_string(),
    }
}

/// A person's settlement of a transfer in doubt.
pub(crate) fn settle_entry(
    target: String,
    transfer_id: i64,
    settled_as: &str,
    who: &str,
    reason: &str,
    now: Timestamp,
) -> NewAuditEntry {
    NewAuditEntry {
        at: now,
        actor: who.to_string(),
        action: "settle".into(),
        target: Some(target),
        subject: format!("transfer #{transfer_id}"),
        detail: format!("{settled_as}: {reason}"),
    }
}

/// A transfer encoded by another plugin file than the target's previous one (`before`:
/// that transfer's `name@version` and sha256); `None` when nothing changed.
pub(crate) fn plugin_entry(
    target: &str,
    transfer_id: i64,
    stamp: &crate::PluginStamp,
    before: Option<(String, String)>,
    now: Timestamp,
) -> Option<NewAuditEntry> {
    let now_plugin = format!("{}@{} (sha256 {})", stamp.name, stamp.version, stamp.sha256);
    let detail = match before {
        Some((_, sha)) if sha == stamp.sha256 => return None,
        Some((plugin, sha)) => format!("{plugin} (sha256 {sha}) replaced by {now_plugin}"),
        None => format!("first transfer, encoded by {now_plugin}"),
    };
    Some(NewAuditEntry {
        at: now,
        actor: "hub".into(),
        action: "plugin-change".into(),
        target: Some(target.to_string()),
        subject: format!("transfer #{transfer_id}"),
        detail,
    })
}

/// The first thing wrong with a trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    /// The first entry altered or missing.
    pub entry: i64,
    pub what: String,
}

/// What `hub audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries read.
    pub entries: u64,
    /// The trail's last entry.
    pub head: Option<AuditHead>,
    /// `None`: the chain holds from the first entry to the last (and reaches the head
    /// file's entry, where one was given).
    pub problem: Option<AuditProblem>,
}

/// Entries read per query while verifying: bounded memory for any length of trail.
const PAGE: usize = 10_000;

/// Checks the whole trail, entry by entry, and names the first entry altered or missing;
/// with `expected`, the head written to the head file, a trail that ends before it (cut
/// short) or holds something else there is named too.
pub fn verify<S: Protection + ?Sized>(
    store: &mut S,
    expected: Option<&AuditHead>,
) -> Result<VerifyReport> {
    let mut prev = GENESIS.to_string();
    let mut next_id = 1i64;
    let mut entries = 0u64;
    let mut problem = None;
    let mut head = None;
    let mut after = 0;
    'pages: loop {
        let page = store.audit_page(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in page {
            entries += 1;
            if e.id != next_id {
                problem = Some(AuditProblem {
                    entry: next_id,
                    what: format!(
                        "entry {next_id} is missing (the trail goes on with entry {})",
                        e.id
                    ),
                });
                break 'pages;
            }
            if e.prev != prev {
                let before = e.id - 1;
                problem = Some(AuditProblem {
                    entry: before,
                    what: format!(
                        "entry {before} was altered or replaced: entry {} records another hash for it",
                        e.id
                    ),
                });
                break 'pages;
            }
            if link(&e.prev, &canonical(e.id, &e.as_new())) != e.hash {
                problem = Some(AuditProblem {
                    entry: e.id,
                    what: format!("entry {} was altered: it no longer matches its hash", e.id),
                });
                break 'pages;
            }
            if let Some(h) = expected
                && h.id == e.id
                && h.hash != e.hash
            {
                problem = Some(AuditProblem {
                    entry: e.id,
                    what: format!(
                        "entry {} differs from the head file's (hash {} there, {} here)",
                        e.id, h.hash, e.hash
                    ),
                });
                break 'pages;
            }
            next_id = e.id + 1;
            prev = e.hash.clone();
            head = Some(AuditHead {
                id: e.id,
                hash: e.hash,
            });
        }
    }
    if problem.is_none()
        && let Some(h) = expected
        && h.id >= next_id
    {
        problem = Some(AuditProblem {
            entry: next_id,
            what: format!(
                "the trail ends at entry {} but the head file names entry {}: entries {next_id} to {} are missing (cut short)",
                next_id - 1,
                h.id,
                h.id
            ),
        });
    }
    Ok(VerifyReport {
        entries,
        head,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_is_sorted_json_and_the_link_covers_prev_and_entry() {
        let e = NewAuditEntry {
            at: Timestamp(5),
            actor: "anna".into(),
            action: "resolve".into(),
            target: Some("t".into()),
            subject: "record r1".into(),
            detail: "booked by hand".into(),
        };
        assert_eq!(
            canonical(3, &e),
            r#"{"action":"resolve","actor":"anna","at":5,"detail":"booked by hand","id":3,"subject":"record r1","target":"t"}"#
        );
        let a = link(GENESIS, &canonical(1, &e));
        assert_eq!(a.len(), 64);
        assert_ne!(a, link(&a, &canonical(1, &e)));
        assert_ne!(a, link(GENESIS, &canonical(2, &e)));
    }
}
