//! Conversions between wasmtime's generated types (one set per contract line) and the
//! SDK's plain ones, so the rest of the host speaks one Rust spelling of the contract.

pub(crate) mod v1;
pub(crate) mod v2;

use hub_plugin_sdk as sdk;

/// At most this many diagnostics a call are kept, each cut to [`NOTE_BYTES`].
const NOTES: usize = 64;
const NOTE_BYTES: usize = 1024;

/// A plugin's diagnostics as the host keeps them: bounded, control characters replaced
/// (a plugin must not be able to forge lines in the hub's log).
pub(crate) fn bounded_notes(notes: Vec<sdk::Diagnostic>) -> Vec<sdk::Diagnostic> {
    let clean = |s: String| -> String {
        let mut out: String = s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if out.len() > NOTE_BYTES {
            let mut end = NOTE_BYTES;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push('…');
        }
        out
    };
    notes
        .into_iter()
        .take(NOTES)
        .map(|d| sdk::Diagnostic {
            level: d.level,
            record_id: d.record_id.map(clean),
            message: clean(d.message),
        })
        .collect()
}

pub(crate) fn kind_change(
    c: crate::identity_bindings::exports::hub::plugin0_1_2::identity::KindChange,
) -> (String, sdk::Change) {
    use crate::identity_bindings::exports::hub::plugin0_1_2::identity::Change;
    (
        c.kind,
        match c.change {
            Change::Snapshot => sdk::Change::Snapshot,
            Change::Version => sdk::Change::Version,
            Change::Refuse => sdk::Change::Refuse,
        },
    )
}
