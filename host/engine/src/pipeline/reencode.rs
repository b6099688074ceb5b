//! Encoding a past transfer again (`hub audit reencode`): with the plugin the target
//! loads now and the inputs the store recorded when the transfer was created, through the
//! same checks and packaging as `hub send`, and comparing the bytes with what was sent.
//!
//! A byte-identical re-send is claimed only when every payload comes out the same *and*
//! the plugin loaded now is the file that encoded the transfer (its sha256) *and* every
//! record body still has the hash it had at enqueue. Anything else is a finding, named.

use hub_core::time::Timestamp;
use hub_plugin_sdk::{Context, Settings};
use hub_store::{PluginStamp, RecordedInputs, StoredRecord, Transfer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::create::{check_payloads, datetime};
use super::{SendError, to_sdk};
use crate::ports::Encoder;
use crate::{Engine, stamp};

/// What a transfer is encoded from beyond what its row holds (target, batch key, scope,
/// number, id): kept as JSON with the transfer (store migration 013).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodeInputs {
    /// The settings in the context, as given (defaults and the user's own applied).
    pub settings: Vec<(String, String)>,
    pub sender: Option<String>,
    pub receiver: Option<String>,
    /// The context's time, Unix ms, and its offset from UTC.
    pub now_ms: i64,
    pub utc_offset_minutes: i32,
    /// Whether the payloads were packed into one zip (`package = "zip"`).
    pub zip: bool,
    /// Record numbers in the order `encode` was given them.
    pub records: Vec<i64>,
}

impl EncodeInputs {
    /// The inputs of a transfer about to be encoded with `ctx` (its id and number aside).
    pub(super) fn of(ctx: &Context, now: Timestamp, zip: bool, records: &[StoredRecord]) -> Self {
        Self {
            settings: ctx.settings.0.clone(),
            sender: ctx.sender.clone(),
            receiver: ctx.receiver.clone(),
            now_ms: now.0,
            utc_offset_minutes: ctx.now.utc_offset_minutes,
            zip,
            records: records.iter().map(|r| r.seq).collect(),
        }
    }

    pub(super) fn to_json(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }
}

/// What encoding a transfer again showed.
#[derive(Debug, Clone, Serialize)]
pub struct ReencodeReport {
    pub transfer: i64,
    pub target: String,
    pub sequence: Option<u64>,
    /// The plugin that encoded the transfer, as recorded.
    pub recorded_plugin: PluginStamp,
    /// The plugin the target loads now; `None` when it was not needed (nothing to encode).
    pub loaded_plugin: Option<PluginStamp>,
    pub verdict: Verdict,
    /// Each payload as sent beside the one encoded now.
    pub payloads: Vec<PayloadCheck>,
    /// Why the re-encoding is not a proof of a byte-identical re-send, one line each.
    pub findings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Same plugin file, same inputs, same bytes.
    Reproduced,
    /// Encoded again, but something differs (see the findings).
    NotReproduced,
    /// Could not be encoded again at all: inputs purged or never recorded.
    CannotReencode,
}

#[derive(Debug, Clone, Serialize)]
pub struct PayloadCheck {
    pub name: String,
    /// SHA-256 of the bytes as sent (kept after a purge).
    pub sent_sha256: String,
    /// SHA-256 of the bytes encoded now; `None`: no payload in its place.
    pub now_sha256: Option<String>,
    pub same: bool,
    /// Where and how it differs, in one line.
    pub difference: Option<String>,
}

/// Encodes transfer `transfer_id` again and compares (see the module docs). Store and
/// plugin-loading failures are errors; every other outcome is in the report.
pub fn reencode(engine: &mut Engine, transfer_id: i64) -> Result<ReencodeReport, SendError> {
    let transfer = engine.store.transfer(transfer_id)?;
    let recorded = engine.store.recorded_inputs(transfer_id)?;
    let mut report = ReencodeReport {
        transfer: transfer.id,
        target: transfer.target.clone(),
        sequence: transfer.sequence_no,
        recorded_plugin: PluginStamp {
            name: transfer.plugin_name.clone(),
            version: transfer.plugin_version.clone(),
            sha256: transfer.plugin_sha256.clone(),
        },
        loaded_plugin: None,
        verdict: Verdict::CannotReencode,
        payloads: transfer
            .payloads
            .iter()
            .map(|p| PayloadCheck {
                name: p.name.clone(),
                sent_sha256: p.sha256.clone(),
                now_sha256: None,
                same: false,
                difference: None,
            })
            .collect(),
        findings: Vec::new(),
    };
    let inputs = match usable_inputs(&transfer, &recorded) {
        Ok(inputs) => inputs,
        Err(why) => {
            report.findings.push(why);
            return Ok(report);
        }
    };
    let records = ordered_records(&inputs, &recorded, &mut report.findings);
    let t = engine.target(&transfer.target)?;
    let loaded = stamp(t.plugin.as_ref());
    if loaded.sha256 != transfer.plugin_sha256 {
        report.findings.push(format!(
            "the plugin loaded now is {loaded}, not the one that encoded the transfer ({}): the same bytes would prove nothing about a re-send",
            report.recorded_plugin
        ));
    }
    report.loaded_plugin = Some(loaded);
    report.verdict = Verdict::NotReproduced;
    let ctx = Context {
        target: transfer.target.clone(),
        settings: Settings(inputs.settings.clone()),
        sender: inputs.sender.clone(),
        receiver: inputs.receiver.clone(),
        batch_key: transfer.batch_key.clone(),
        sequence_scope: transfer.sequence_scope.clone(),
        sequence: transfer.sequence_no,
        transfer_id: u64::try_from(transfer.id).unwrap_or(0),
        now: datetime(Timestamp(inputs.now_ms), inputs.utc_offset_minutes),
    };
    let now = match encode_again(t.plugin.as_ref(), &ctx, &records, &inputs) {
        Ok(payloads) => payloads,
        Err(why) => {
            report.findings.push(why);
            return Ok(report);
        }
    };
    compare(engine, &transfer, &now, &mut report);
    if report.findings.is_empty() && report.payloads.iter().all(|p| p.same) {
        report.verdict = Verdict::Reproduced;
    }
    Ok(report)
}

/// The recorded inputs, or why the transfer cannot be encoded again.
fn usable_inputs(transfer: &Transfer, recorded: &RecordedInputs) -> Result<EncodeInputs, String> {
    let purged = recorded
        .records
        .iter()
        .filter_map(|r| r.purged_at)
        .chain(transfer.payloads.iter().filter_map(|p| p.purged_at))
        .min();
    if let Some(at) = purged {
        return Err(format!(
            "its record bodies were purged on {at} under the target's retention: it cannot be \
             re-encoded; only each payload's size and sha256 remain as proof of what was sent"
        ));
    }
    let Some(json) = &recorded.context else {
        return Err(
            "it was created before the hub recorded what a transfer is encoded from (store \
             migration 013): it cannot be re-encoded"
                .into(),
        );
    };
    serde_json::from_str(json)
        .map_err(|e| format!("its recorded inputs cannot be read ({e}): it cannot be re-encoded"))
}

/// The records in the order `encode` was given them, noting any body whose hash is no
/// longer the one recorded at enqueue and any mismatch between the recorded list and
/// the records the payloads carry.
fn ordered_records(
    inputs: &EncodeInputs,
    recorded: &RecordedInputs,
    findings: &mut Vec<String>,
) -> Vec<StoredRecord> {
    let mut out = Vec::with_capacity(inputs.records.len());
    for seq in &inputs.records {
        match recorded.records.iter().find(|r| r.seq == *seq) {
            Some(r) => {
                let now = hex::encode(Sha256::digest(r.body.as_bytes()));
                if now != r.body_sha256 {
                    findings.push(format!(
                        "record {} (#{}) does not have the body it was enqueued with (sha256 then {}, now {})",
                        r.id,
                        r.seq,
                        short(&r.body_sha256),
                        short(&now)
                    ));
                }
                out.push(StoredRecord {
                    seq: r.seq,
                    id: r.id.clone(),
                    kind: r.kind.clone(),
                    body: r.body.clone(),
                });
            }
            None => findings.push(format!(
                "record #{seq} was encoded into the transfer but no payload of it carries the record now"
            )),
        }
    }
    for r in &recorded.records {
        if !inputs.records.contains(&r.seq) {
            findings.push(format!(
                "record {} (#{}) is carried by a payload but was not among the records encoded",
                r.id, r.seq
            ));
        }
    }
    out
}

/// Encodes as `hub send` does: the plugin, the host's checks of its payloads, packaging.
fn encode_again(
    plugin: &dyn Encoder,
    ctx: &Context,
    records: &[StoredRecord],
    inputs: &EncodeInputs,
) -> Result<Vec<hub_store::NewPayload>, String> {
    let payloads = match plugin.encode(ctx, &to_sdk(records)) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(format!("the plugin refuses to encode it again: {e:?}")),
        Err(e) => return Err(format!("the plugin failed to encode it again: {e}")),
    };
    let by_id: std::collections::HashMap<&str, i64> =
        records.iter().map(|r| (r.id.as_str(), r.seq)).collect();
    let checked = check_payloads(plugin.name(), &payloads, &by_id)?;
    if inputs.zip {
        let when = Timestamp(inputs.now_ms).civil(inputs.utc_offset_minutes);
        return crate::package::zip(checked, when).map(|p| vec![p]);
    }
    Ok(checked)
}

/// Each payload sent beside the one encoded now, in order.
fn compare(
    engine: &mut Engine,
    transfer: &Transfer,
    now: &[hub_store::NewPayload],
    report: &mut ReencodeReport,
) {
    for (i, sent) in transfer.payloads.iter().enumerate() {
        let check = &mut report.payloads[i];
        let Some(again) = now.get(i) else {
            check.difference = Some("no such payload when encoded again".into());
            continue;
        };
        let sha = hex::encode(Sha256::digest(&again.bytes));
        check.now_sha256 = Some(sha.clone());
        check.difference = if again.name != sent.name {
            Some(format!("encoded now under the name `{}`", again.name))
        } else if again.media_type != sent.media_type {
            Some(format!(
                "media type {} now, {} when sent",
                again.media_type, sent.media_type
            ))
        } else if sha != sent.sha256 {
            // The bytes as sent, where kept, say where; their hash always says whether.
            Some(match engine.store.payload_bytes(sent.id) {
                Ok(bytes) => match first_difference(&bytes, &again.bytes) {
                    Some(at) => format!(
                        "differs from byte offset {at} on ({} bytes sent, {} now)",
                        bytes.len(),
                        again.bytes.len()
                    ),
                    None => "the stored bytes no longer match their recorded sha256".into(),
                },
                Err(_) => format!(
                    "sha256 {} now, {} when sent",
                    short(&sha),
                    short(&sent.sha256)
                ),
            })
        } else {
            None
        };
        check.same = check.difference.is_none();
    }
    for extra in now.iter().skip(transfer.payloads.len()) {
        report.findings.push(format!(
            "encoding again makes a payload `{}` the transfer did not have",
            extra.name
        ));
    }
}

/// The offset of the first byte that differs, or where the shorter one ends; `None`:
/// the same bytes.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(at) => Some(at),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

fn short(sha: &str) -> &str {
    sha.get(..16).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_is_where_bytes_or_lengths_part() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
        assert_eq!(first_difference(b"", b""), None);
    }

    #[test]
    fn inputs_survive_their_json() {
        let i = EncodeInputs {
            settings: vec![("customer".into(), "4711".into())],
            sender: Some("1.01.".into()),
            receiver: None,
            now_ms: 1_706_788_800_000,
            utc_offset_minutes: -120,
            zip: true,
            records: vec![3, 1, 2],
        };
        let json = i.to_json().unwrap_or_default();
        let back: EncodeInputs = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, i);
    }
}
