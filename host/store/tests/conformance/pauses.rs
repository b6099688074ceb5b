//! A paused target stays paused for every worker and across a reopen; the first pause
//! stands; a pause and a resume are each an entry of the audit trail.

use hub_core::time::Timestamp;
use hub_store::pause::Pausing;
use hub_store::protection::Protection;

use crate::Backend;

pub fn a_pause_is_shared_kept_and_audited_until_resumed(b: &impl Backend) {
    let mut s = b.open().unwrap();
    assert!(s.paused("prisme").unwrap().is_none());
    assert!(
        s.pause_target("prisme", "anna", "receiver's job stuck", Timestamp(5))
            .unwrap()
    );
    assert!(
        !s.pause_target("prisme", "ben", "again", Timestamp(6))
            .unwrap(),
        "the first pause stands"
    );
    // Another connection (another worker) sees it.
    let mut other = b.open().unwrap();
    let p = other.paused("prisme").unwrap().unwrap();
    assert_eq!(
        (p.by.as_str(), p.reason.as_str(), p.since),
        ("anna", "receiver's job stuck", Timestamp(5))
    );
    assert!(other.paused("kita").unwrap().is_none());
    assert!(other.resume_target("prisme", "ben", Timestamp(7)).unwrap());
    assert!(!other.resume_target("prisme", "ben", Timestamp(8)).unwrap());
    assert!(s.paused_targets().unwrap().is_empty());
    let trail = s.audit_page(0, 100).unwrap();
    let acts: Vec<(&str, &str, &str)> = trail
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        acts,
        vec![
            ("pause", "anna", "receiver's job stuck"),
            ("resume", "ben", "sending resumed")
        ]
    );
}
