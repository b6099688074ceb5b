//! SurvNet transports as the receiving office reads them: every file of the archive is
//! named as Handbuch 72.1.1 says, every transport file carries the same header, which
//! matches its name and this office, and each record version gets a verdict.
//!
//! A transport is read twice, as streams: once for its header (the root elements only),
//! then record by record for its versions, which go to the store as they come.

use hub_core::config::InboundLimits;
use hub_plugin_rki::receiving::{FileKind, Receiver, classify, may_edit, version_json_text};
use hub_plugin_rki::{ParsedTransport, RecordVersion, TransportReader, XmlLimits};
use hub_plugin_sdk::text::excerpt;
use hub_store::inbound::RecordFacts;

use super::archive::Archive;

/// A transport's header, read and checked, before the store decides about its number.
#[derive(Debug)]
pub struct Header {
    pub sender: String,
    pub receiver: String,
    pub number: u64,
    pub guid: String,
    pub documents: usize,
    /// The first transport file's header (its records are read later, as a stream).
    pub first: ParsedTransport,
}

/// The XML limits of an inbound.
pub fn xml_limits(limits: &InboundLimits) -> XmlLimits {
    let kib = |k: u64| usize::try_from(k.saturating_mul(1024)).unwrap_or(usize::MAX);
    XmlLimits {
        max_value_bytes: kib(limits.max_value_kb),
        max_record_bytes: kib(limits.max_record_kb),
    }
}

/// Reads the names and the transport files' headers (not their records).
pub fn header(
    receiver: &Receiver,
    archive: &mut Archive<'_>,
    limits: XmlLimits,
) -> Result<Header, String> {
    let names: Vec<String> = archive.names().map(str::to_string).collect();
    let mut first: Option<(String, ParsedTransport)> = None;
    let mut documents = 0;
    for (i, name) in names.iter().enumerate() {
        match classify(name).map_err(|e| excerpt(&e))? {
            FileKind::Document { .. } => documents += 1,
            FileKind::Transport { .. } => {
                let t = archive.read(i, |r| {
                    TransportReader::open(r, limits)
                        .map(|(_, t)| t)
                        .map_err(|m| format!("`{name}`: {m}"))
                })?;
                receiver.check_header(name, &t).map_err(|e| excerpt(&e))?;
                if let Some((first_name, f)) = &first
                    && (f.guid_transport != t.guid_transport
                        || f.code_site_sender != t.code_site_sender
                        || f.transport_number != t.transport_number)
                {
                    return Err(format!(
                        "`{name}` belongs to another transport than `{first_name}` (GuidTransport or number differ)"
                    ));
                }
                if first.is_none() {
                    first = Some((name.clone(), t));
                }
            }
        }
    }
    let Some((_, first)) = first else {
        return Err(
            "the archive holds no transport file RKI_<sender>_<receiver>_<nnnnnnnn>.xml".into(),
        );
    };
    Ok(Header {
        sender: first.code_site_sender.clone(),
        receiver: first.code_site_receiver.clone(),
        number: first.transport_number,
        guid: first.guid_transport.clone(),
        documents,
        first,
    })
}

/// Streams every record version of the transport to `each` (with the file it came
/// from), and reads the documents through (their size counts against the limit).
pub fn versions<E: From<String>>(
    archive: &mut Archive<'_>,
    limits: XmlLimits,
    mut each: impl FnMut(&str, RecordVersion) -> Result<(), E>,
) -> Result<(), E> {
    let names: Vec<String> = archive.names().map(str::to_string).collect();
    for (i, name) in names.iter().enumerate() {
        match classify(name).map_err(|e| E::from(excerpt(&e)))? {
            FileKind::Document { .. } => archive.skip(i).map_err(E::from)?,
            FileKind::Transport { .. } => archive.read::<(), E>(i, |r| {
                let (mut reader, _) = TransportReader::open(r, limits)
                    .map_err(|m| E::from(format!("`{name}`: {m}")))?;
                while let Some(v) = reader
                    .next_record()
                    .map_err(|m| E::from(format!("`{name}`: {m}")))?
                {
                    each(name, v)?;
                }
                Ok(())
            })?,
        }
    }
    Ok(())
}

/// The verdict on one record version: imported, or rejected with a code and why.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub action: Option<&'static str>,
    pub rejected: Option<(&'static str, String)>,
}

/// Judges a version: a wrong-direction action, a version of a record that the sender
/// neither owns nor may edit, or a version already imported is rejected.
pub fn judge(receiver: &Receiver, sender: &str, r: &RecordVersion, facts: &RecordFacts) -> Verdict {
    let action = receiver.action_of(r, sender);
    let rejected = if let Some(Err(why)) = action.map(|a| receiver.check_incoming(a, sender)) {
        Some(("WRONG_DIRECTION", excerpt(&why)))
    } else if let Some(owner) = facts.owner.as_deref()
        && !may_edit(sender, owner)
    {
        Some((
            "NOT_OWNER",
            format!(
                "record {} belongs to {} (its first sender); {sender} neither owns it nor may edit it",
                excerpt(&r.guid_record),
                excerpt(owner)
            ),
        ))
    } else if facts.version_imported {
        Some((
            "VERSION_EXISTS",
            format!(
                "version {} of record {} was already imported",
                r.version_no,
                excerpt(&r.guid_record)
            ),
        ))
    } else {
        None
    };
    Verdict { action, rejected }
}

/// The version as the JSON body the store keeps.
pub fn body(receiver_code: &str, r: &RecordVersion) -> String {
    version_json_text(r, receiver_code)
}
