//! SurvNet transports as the receiving office reads them: every file of the archive is
//! named as Handbuch 72.1.1 says, every transport file carries the same header, which
//! matches its name and this office, and each record version gets a verdict.

use hub_plugin_rki::receiving::{FileKind, Receiver, classify, receipt_name, version_json};
use hub_plugin_rki::{ParsedTransport, Receipt, ReceiptRecord, ReceiptResult, parse_transport};

use super::archive::Entry;

/// A transport read and checked, before the store decides about its number.
#[derive(Debug)]
pub struct Transport {
    pub sender: String,
    pub receiver: String,
    pub number: u64,
    pub guid: String,
    /// The record versions in file order, with the file each came from.
    pub versions: Vec<(String, hub_plugin_rki::RecordVersion)>,
    pub documents: Vec<String>,
    first: ParsedTransport,
}

/// Reads the entries of one archive (or a single transport file) into a transport.
pub fn read(receiver: &Receiver, entries: &[Entry]) -> Result<Transport, String> {
    let mut header: Option<(String, ParsedTransport)> = None;
    let mut versions = Vec::new();
    let mut documents = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in entries {
        match classify(&e.name)? {
            FileKind::Document { .. } => documents.push(e.name.clone()),
            FileKind::Transport { .. } => {
                let mut t = parse_transport(&e.bytes).map_err(|m| format!("`{}`: {m}", e.name))?;
                receiver.check_header(&e.name, &t)?;
                if let Some((first_name, first)) = &header
                    && (first.guid_transport != t.guid_transport
                        || first.code_site_sender != t.code_site_sender
                        || first.transport_number != t.transport_number)
                {
                    return Err(format!(
                        "`{}` belongs to another transport than `{first_name}` (GuidTransport or number differ)",
                        e.name
                    ));
                }
                for r in std::mem::take(&mut t.records) {
                    if !seen.insert((r.guid_record.clone(), r.version_no)) {
                        return Err(format!(
                            "`{}`: record {} version {} appears twice in the transport",
                            e.name, r.guid_record, r.version_no
                        ));
                    }
                    versions.push((e.name.clone(), r));
                }
                if header.is_none() {
                    header = Some((e.name.clone(), t));
                }
            }
        }
    }
    let Some((_, first)) = header else {
        return Err(
            "the archive holds no transport file RKI_<sender>_<receiver>_<nnnnnnnn>.xml".into(),
        );
    };
    Ok(Transport {
        sender: first.code_site_sender.clone(),
        receiver: first.code_site_receiver.clone(),
        number: first.transport_number,
        guid: first.guid_transport.clone(),
        versions,
        documents,
        first,
    })
}

/// The verdict on one record version: imported, or rejected with a code and why.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub action: Option<&'static str>,
    pub rejected: Option<(&'static str, String)>,
}

/// Judges a version: a wrong-direction action or a version already imported is rejected.
pub fn judge(
    receiver: &Receiver,
    t: &Transport,
    r: &hub_plugin_rki::RecordVersion,
    already: bool,
) -> Verdict {
    let action = receiver.action_of(r, &t.sender);
    let rejected = if let Some(Err(why)) = action.map(|a| receiver.check_incoming(a, &t.sender)) {
        Some(("WRONG_DIRECTION", why))
    } else if already {
        Some((
            "VERSION_EXISTS",
            format!(
                "version {} of record {} was already imported from {}",
                r.version_no, r.guid_record, t.sender
            ),
        ))
    } else {
        None
    };
    Verdict { action, rejected }
}

/// The version as the JSON body the store keeps.
pub fn body(t: &Transport, r: &hub_plugin_rki::RecordVersion) -> String {
    version_json(r, &t.receiver).to_string()
}

/// The receipt answering the transport, with its file name.
pub fn receipt(t: &Transport, verdicts: &[Verdict]) -> (String, Vec<u8>) {
    let mut receipt = Receipt::imported(&t.first);
    receipt.records = t
        .versions
        .iter()
        .zip(verdicts)
        .map(|((_, r), v)| ReceiptRecord {
            guid_record: r.guid_record.clone(),
            version_no: r.version_no,
            result: if v.rejected.is_some() {
                ReceiptResult::Rejected
            } else {
                ReceiptResult::Imported
            },
            code: v.rejected.as_ref().map(|(c, _)| (*c).to_string()),
            message: v.rejected.as_ref().map(|(_, m)| m.clone()),
        })
        .collect();
    (
        receipt_name(&t.first),
        hub_plugin_rki::write_receipt(&receipt),
    )
}
