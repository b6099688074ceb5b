//! Making a transfer: where a batch ends, the context a plugin encodes with, the host's
//! checks of what it returns (names, labels, which records each payload carries), and
//! the one transaction that numbers the transfer and stores its payloads.

use std::collections::{HashMap, HashSet};

use hub_core::names::check_payload_name;
use hub_core::time::Timestamp;
use hub_plugin_sdk::{Context, DateTime, EncodeError, Payload as PluginPayload};
use hub_store::{Batch, NewPayload, StoredRecord};

use super::reencode::EncodeInputs;
use super::{DryRunPayload, SendError, SendReport, to_sdk};
use crate::fault;
use crate::ports::EncoderError;
use crate::{Engine, TargetRuntime};

/// Ends a transfer before the first record that may not travel with the ones before it:
/// a repeated source id (an id enqueued twice with different bodies and no supersede key,
/// so the plugin's per-record answers stay unambiguous), or a repeated key the plugin
/// declares once per transfer (contract 0.1.2 `batching`; SurvNet: a GUID, so version 2
/// of a record waits for the transport after version 1's). The transfer is cut rather
/// than the record skipped: the records queued behind it wait too, so nothing overtakes
/// it and every receiver gets its records in queue order. They stay queued and form the
/// next transfer.
pub(super) fn one_transfer(
    t: &TargetRuntime,
    records: &mut Vec<StoredRecord>,
) -> Result<(), EncoderError> {
    // One record repeats nothing: no sandbox for the question (a transfer per record is
    // how Kita-Planer goes at `max_batch = 1`, and each call is a fresh instance).
    if records.len() < 2 {
        return Ok(());
    }
    let keys = t.plugin.once_keys(&t.settings, &to_sdk(records))?;
    let cut = first_repeat(records, keys.as_deref());
    if let Some(cut) = cut {
        tracing::debug!(
            target_name = %t.config.name,
            record = %records[cut].id,
            "record waits for the next transfer: it repeats an id or key of this one"
        );
        records.truncate(cut);
    }
    Ok(())
}

/// The position of the first record repeating the id or a once-per-transfer key of a
/// record before it.
fn first_repeat(records: &[StoredRecord], keys: Option<&[Vec<String>]>) -> Option<usize> {
    let mut ids = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    records.iter().enumerate().position(|(i, r)| {
        let own = keys.and_then(|k| k.get(i)).map_or(&[][..], Vec::as_slice);
        let repeats = !ids.insert(r.id.as_str()) || own.iter().any(|k| seen.contains(k.as_str()));
        seen.extend(own.iter().map(String::as_str));
        repeats
    })
}

pub(super) enum Created {
    Transfer(i64),
    DryRun,
    RecordsFailed,
    /// A dry run's refused records (sequence numbers): left out, as a real send fails them.
    DryRunFailed(Vec<i64>),
}

enum CreateFail {
    Plugin(EncoderError),
    Records(Vec<hub_plugin_sdk::RecordError>),
    Other(String),
    DryRun(Vec<DryRunPayload>),
}

pub(super) fn datetime(now: Timestamp, offset: i32) -> DateTime {
    let c = now.civil(offset);
    DateTime {
        unix_seconds: now.unix_seconds(),
        utc_offset_minutes: offset,
        year: c.year,
        month: c.month,
        day: c.day,
        hour: c.hour,
        minute: c.minute,
        second: c.second,
    }
}

pub(super) fn context(
    t: &TargetRuntime,
    batch: &Batch,
    id: i64,
    sequence: Option<u64>,
    now: Timestamp,
) -> Context {
    Context {
        target: t.config.name.clone(),
        settings: t.settings.clone(),
        sender: t.config.sender.clone(),
        receiver: t.config.receiver.clone(),
        batch_key: batch.batch_key.clone(),
        sequence_scope: batch.sequence_scope.clone(),
        sequence,
        transfer_id: u64::try_from(id).unwrap_or(0),
        now: datetime(now, t.config.utc_offset_at(now)),
    }
}

/// Checks what a plugin returned before it is stored: names the host can deliver safely,
/// no name twice, only records of this batch, and every record carried by some payload
/// (a record in no payload would never get an outcome).
pub fn check_payloads(
    plugin: &str,
    payloads: &[PluginPayload],
    by_id: &HashMap<&str, i64>,
) -> Result<Vec<NewPayload>, String> {
    if payloads.is_empty() {
        return Err(format!("plugin {plugin} produced no payload"));
    }
    let mut names = HashSet::new();
    let mut carried = HashSet::new();
    let mut out = Vec::with_capacity(payloads.len());
    for p in payloads {
        check_payload_name(&p.name)
            .map_err(|e| format!("plugin {plugin} proposed a bad payload name: {e}"))?;
        if !names.insert(p.name.as_str()) {
            return Err(format!(
                "plugin {plugin} proposed the payload name `{}` twice",
                p.name
            ));
        }
        let mut seqs = Vec::with_capacity(p.records.len());
        for id in &p.records {
            let seq = by_id.get(id.as_str()).ok_or_else(|| {
                format!(
                    "plugin {plugin}: payload {} names record {id}, which is not in this transfer",
                    p.name
                )
            })?;
            carried.insert(*seq);
            seqs.push(*seq);
        }
        check_labels(&p.labels).map_err(|e| format!("plugin {plugin}: payload {}: {e}", p.name))?;
        out.push(NewPayload {
            name: p.name.clone(),
            media_type: p.media_type.clone(),
            bytes: p.bytes.clone(),
            records: seqs,
            labels: p.labels.clone(),
            request: None,
        });
    }
    if let Some((id, _)) = by_id.iter().find(|(_, seq)| !carried.contains(seq)) {
        return Err(format!("plugin {plugin}: record {id} is in no payload"));
    }
    Ok(out)
}

/// Labels are shown and filtered by people: short printable keys and values, few of them.
fn check_labels(labels: &[(String, String)]) -> Result<(), String> {
    if labels.len() > 16 {
        return Err(format!("{} labels, at most 16 are allowed", labels.len()));
    }
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 32
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !key_ok {
            return Err(format!(
                "bad label key `{k}` (lower-case letters, digits, `-`)"
            ));
        }
        if v.len() > 200 || v.chars().any(char::is_control) {
            return Err(format!(
                "label {k}: value longer than 200 bytes or with control characters"
            ));
        }
    }
    Ok(())
}

enum ShapeFail {
    Plugin(EncoderError),
    Refused(String),
}

/// Asks the plugin how each payload's request is sent (contract 0.2.1 `request-shape`)
/// and checks the answer, so what is stored with the payload, and later sent and re-sent,
/// is a request the host allows. Any refusal stops the transfer: nothing is stored.
fn shape_requests(
    t: &TargetRuntime,
    transfer_id: i64,
    payloads: &mut [NewPayload],
) -> Result<(), ShapeFail> {
    let id = u64::try_from(transfer_id).unwrap_or(0);
    for p in payloads {
        let shape = t
            .plugin
            .request_shape(&t.settings, id, &p.name, &p.media_type)
            .map_err(ShapeFail::Plugin)?
            .map_err(|m| {
                ShapeFail::Refused(format!(
                    "payload {}: the plugin gives no request for it: {}",
                    p.name,
                    hub_plugin_sdk::text::excerpt(&m)
                ))
            })?;
        if let Some(shape) = &shape {
            hub_core::request::check_shape(shape).map_err(|m| {
                ShapeFail::Refused(format!(
                    "payload {}: the plugin's request refused: {m}; nothing was sent",
                    p.name
                ))
            })?;
        }
        p.request = shape;
    }
    Ok(())
}

pub(super) fn create(
    engine: &mut Engine,
    t: &TargetRuntime,
    batch: &Batch,
    records: &[StoredRecord],
    dry_run: bool,
    report: &mut SendReport,
) -> Result<Created, SendError> {
    let plugin = t.plugin.clone();
    let stamp = crate::stamp(plugin.as_ref());
    let sdk_records = to_sdk(records);
    let by_id: HashMap<&str, i64> = records.iter().map(|r| (r.id.as_str(), r.seq)).collect();
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    let now = engine.now();
    let target = t.config.name.clone();
    // Each plugin file's first transfer in this process is encoded twice (see
    // `same_again`); later ones once.
    let verify = !engine.deterministic.contains(plugin.sha256());
    // What `hub audit reencode` needs to encode this transfer again, kept with it.
    let zip = t.config.package == Some(hub_core::config::Package::Zip);
    let inputs = EncodeInputs::of(&context(t, batch, 0, None, now), now, zip, records).to_json();
    let result = hub_store::create_transfer_with(
        &mut *engine.store,
        &target,
        batch,
        &seqs,
        &stamp,
        inputs.as_deref(),
        now,
        |draft| {
            let ctx = context(t, batch, draft.id, draft.sequence, now);
            fault::point("encode");
            let payloads = match plugin.encode(&ctx, &sdk_records) {
                Err(e) => return Err(CreateFail::Plugin(e)),
                Ok(Err(EncodeError::Records(errs))) => return Err(CreateFail::Records(errs)),
                Ok(Err(EncodeError::Settings(e))) => {
                    return Err(CreateFail::Other(format!(
                        "settings refused: {}",
                        hub_plugin_sdk::SettingError::join(&e)
                    )));
                }
                Ok(Err(EncodeError::Other(m))) => return Err(CreateFail::Other(m)),
                Ok(Ok(p)) => p,
            };
            if verify {
                same_again(plugin.as_ref(), &ctx, &sdk_records, &payloads)
                    .map_err(CreateFail::Other)?;
            }
            let mut checked =
                check_payloads(plugin.name(), &payloads, &by_id).map_err(CreateFail::Other)?;
            if zip {
                let archive = crate::package::zip(checked, now.civil(t.config.utc_offset_at(now)))
                    .map_err(CreateFail::Other)?;
                check_payload_name(&archive.name)
                    .map_err(|e| CreateFail::Other(format!("archive name: {e}")))?;
                checked = vec![archive];
            }
            if plugin.info().delivery == hub_plugin_sdk::Delivery::RequestResponse {
                shape_requests(t, draft.id, &mut checked).map_err(|e| match e {
                    ShapeFail::Plugin(e) => CreateFail::Plugin(e),
                    ShapeFail::Refused(m) => CreateFail::Other(m),
                })?;
            }
            if dry_run {
                return Err(CreateFail::DryRun(
                    checked
                        .into_iter()
                        .map(|p| DryRunPayload {
                            sequence: draft.sequence,
                            size: p.bytes.len(),
                            records: p.records.len(),
                            name: p.name,
                            media_type: p.media_type,
                            bytes: p.bytes,
                        })
                        .collect(),
                ));
            }
            Ok(checked)
        },
    )?;
    match result {
        Ok(id) => {
            fault::point("created");
            engine.deterministic.insert(plugin.sha256().to_string());
            Ok(Created::Transfer(id))
        }
        Err(CreateFail::DryRun(payloads)) => {
            report.dry_run.extend(payloads);
            Ok(Created::DryRun)
        }
        Err(CreateFail::Plugin(e)) => Err(e.into()),
        Err(CreateFail::Other(message)) => Err(SendError::Encode {
            target,
            plugin: plugin.name().to_string(),
            message,
        }),
        Err(CreateFail::Records(errs)) => {
            let mut failures = Vec::new();
            for e in &errs {
                match by_id.get(e.record_id.as_str()) {
                    Some(seq) => failures.push((*seq, e.to_string())),
                    None => {
                        return Err(SendError::Encode {
                            target,
                            plugin: plugin.name().to_string(),
                            message: format!(
                                "refused record {}, which is not in this batch",
                                e.record_id
                            ),
                        });
                    }
                }
            }
            if failures.is_empty() {
                return Err(SendError::Encode {
                    target,
                    plugin: plugin.name().to_string(),
                    message: "refused the batch without naming a record".into(),
                });
            }
            if dry_run {
                // Nothing is written in a dry run: report what a real send would fail and
                // encode the rest without it, as a real send does.
                report
                    .dry_run_failed
                    .extend(failures.iter().map(|(_, m)| m.clone()));
                return Ok(Created::DryRunFailed(
                    failures.iter().map(|(s, _)| *s).collect(),
                ));
            }
            for (_, message) in &failures {
                tracing::warn!(target_name = %target, error = %message, "record failed");
            }
            engine.store.fail_records(&failures, now)?;
            Ok(Created::RecordsFailed)
        }
    }
}

/// Encodes the same records with the same context again and compares: the contract
/// says a plugin is a pure function, and re-sending, `hub plugin test` and any later
/// audit of what was sent rely on it. A plugin that writes a random number or the wall
/// clock into its payload is refused by name, and the batch stays queued; nothing is
/// numbered or sent. Done once per plugin file and process, so it costs one extra
/// encode of one batch.
fn same_again(
    plugin: &dyn crate::ports::Encoder,
    ctx: &Context,
    records: &[hub_plugin_sdk::Record],
    first: &[PluginPayload],
) -> Result<(), String> {
    let again = match plugin.encode(ctx, records) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return Err(format!(
                "plugin {} is not deterministic: the same records encoded a second time were refused ({e:?})",
                plugin.name()
            ));
        }
        Err(e) => {
            return Err(format!(
                "plugin {}: the second encode of the same records failed: {e}",
                plugin.name()
            ));
        }
    };
    if again.len() != first.len() {
        return Err(format!(
            "plugin {} is not deterministic: the same records gave {} payload(s), then {}",
            plugin.name(),
            first.len(),
            again.len()
        ));
    }
    for (a, b) in first.iter().zip(&again) {
        if a != b {
            return Err(format!(
                "plugin {} is not deterministic: the same records encoded twice gave different {} for payload {} (a plugin must not use randomness or the wall clock; the time is in its context)",
                plugin.name(),
                if a.bytes != b.bytes {
                    "bytes"
                } else {
                    "names, records or labels"
                },
                a.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_store::StoredRecord;

    fn rec(seq: i64, id: &str) -> StoredRecord {
        StoredRecord {
            seq,
            id: id.into(),
            kind: "case".into(),
            body: "{}".into(),
        }
    }

    #[test]
    fn a_transfer_ends_before_a_repeated_id_or_once_key() {
        let records = [rec(1, "a"), rec(2, "b"), rec(3, "c"), rec(4, "a")];
        assert_eq!(first_repeat(&records, None), Some(3));
        let keys = |k: &[&[&str]]| -> Vec<Vec<String>> {
            k.iter()
                .map(|ks| ks.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        // b repeats a's GUID: b and everything behind it wait.
        let k = keys(&[&["g1", "t1"], &["g1"], &["g2"], &[]]);
        assert_eq!(first_repeat(&records, Some(&k)), Some(1));
        // One record may name a key twice; no keys at all cut nothing but ids.
        let k = keys(&[&["g1", "g1"], &["g2"], &[], &[]]);
        assert_eq!(first_repeat(&records[..3], Some(&k)), None);
        assert_eq!(first_repeat(&[], Some(&[])), None);
    }
}
