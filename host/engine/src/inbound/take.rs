//! One arriving archive, decided by its number: the pair's next number is imported as a
//! stream (its versions go to the store as they are read, inside one transaction, and
//! the receipt is written as they come), and the transports held for the numbers after
//! it follow; a later number is read through once and held; a number already known is a
//! duplicate or refused. Any failure rolls the transport's transaction back.

use std::io::Seek;

use hub_core::config::InboundConfig;
use hub_plugin_sdk::text::excerpt;
use hub_store::inbound::{Arrival, NewVersion, RecordFacts};

use super::archive::Archive;
use super::format::{Header, InboundFormat, Incoming, ReceiptLine};
use super::inbox::{Arriving, set_aside_bytes, short};
use super::{FileOutcome, FileReport, ImportReport, Imported};
use crate::Engine;

/// Why a file was not taken: refused (with a reason), or the store failed. Either way
/// nothing of it stays in the store.
pub enum Taken {
    Refused(String),
    Store(hub_store::StoreError),
}

impl From<hub_store::StoreError> for Taken {
    fn from(e: hub_store::StoreError) -> Self {
        Taken::Store(e)
    }
}

impl From<String> for Taken {
    fn from(reason: String) -> Self {
        Taken::Refused(reason)
    }
}

impl Taken {
    /// The reason to give for a file that was not taken.
    pub fn reason(self) -> String {
        match self {
            Taken::Refused(r) => short(&r),
            Taken::Store(e) => short(&format!(
                "the store failed while importing it (rolled back): {e}"
            )),
        }
    }
}

/// Decides about one arriving archive by its number.
pub(super) fn take(
    engine: &mut Engine,
    cfg: &InboundConfig,
    format: &dyn InboundFormat,
    a: &Arriving,
    report: &mut ImportReport,
) -> Result<FileOutcome, Taken> {
    let mut archive = Archive::open(&a.file_name, a.bytes().reader(), &cfg.limits)?;
    let h = format.header(&mut archive)?;
    let allowed = cfg
        .senders
        .clone()
        .unwrap_or_else(|| format.default_senders());
    if !hub_core::config::sender_matches(&allowed, &h.sender) {
        return Err(Taken::Refused(format!(
            "sender {} may not send to inbound {} (allowed: {}; `senders` in its [[inbound]])",
            excerpt(&h.sender),
            cfg.name,
            allowed.join(", ")
        )));
    }
    if let Some(k) = engine
        .store
        .inbound_known(&cfg.name, &h.sender, &h.receiver, h.number)?
    {
        if k.sha256 == a.sha256 {
            return Ok(FileOutcome::Duplicate {
                sender: h.sender,
                number: h.number,
                state: k.state,
            });
        }
        return Err(Taken::Refused(format!(
            "transport {} from {} is already {} (from {}) with other content; this one is not imported",
            h.number,
            h.sender,
            k.state,
            excerpt(&k.file_name)
        )));
    }
    let next = engine
        .store
        .inbound_next(&cfg.name, &h.sender, &h.receiver)?;
    let stored_name = hub_plugin_sdk::text::excerpt_max(&a.file_name, usize::MAX);
    let arrival = Arrival {
        inbound: &cfg.name,
        sender: &h.sender,
        receiver: &h.receiver,
        number: h.number,
        transport_guid: &h.guid,
        file_name: &stored_name,
        sha256: &a.sha256,
        bytes: a.bytes(),
    };
    if h.number > next {
        // Read through once, so what is held can be imported when its turn comes.
        format.versions(&mut archive, &h.sender, &mut |_, _| Ok(()))?;
        let now = engine.now();
        engine.store.inbound_hold(&arrival, now)?;
        let waiting_for: Vec<u64> = (next..h.number)
            .filter(|n| {
                !matches!(
                    engine
                        .store
                        .inbound_known(&cfg.name, &h.sender, &h.receiver, *n),
                    Ok(Some(_))
                )
            })
            .collect();
        tracing::warn!(inbound = %cfg.name, sender = %h.sender, number = h.number, ?waiting_for, "transport held: earlier numbers missing");
        return Ok(FileOutcome::Held {
            sender: h.sender,
            number: h.number,
            waiting_for,
        });
    }
    import_one(engine, cfg, format, &h, &mut archive, &arrival, report)?;
    // Committed: whatever happens to the held ones after it, this file was imported.
    if let Err(e) = follow_held(
        engine,
        cfg,
        format,
        &h.sender,
        &h.receiver,
        h.number + 1,
        report,
    ) {
        tracing::error!(inbound = %cfg.name, sender = %h.sender, error = %e.reason(), "the transports held after this one stay held");
    }
    Ok(FileOutcome::Imported {
        sender: h.sender,
        number: h.number,
    })
}

/// Imports the transports held for the numbers after an imported one, in order. A held
/// transport that cannot be imported after all is refused: set aside with its reason,
/// its number missing again (reported, and asked for with `--request-missing`), and the
/// ones after it stay held until it is sent again.
fn follow_held(
    engine: &mut Engine,
    cfg: &InboundConfig,
    format: &dyn InboundFormat,
    sender: &str,
    rcv: &str,
    mut n: u64,
    report: &mut ImportReport,
) -> Result<(), Taken> {
    while let Some(k) = engine.store.inbound_known(&cfg.name, sender, rcv, n)? {
        if k.state != "held" {
            break;
        }
        let held = held_file(engine, k.id)?;
        let done = Archive::open(&held.file_name, held.bytes().reader(), &cfg.limits)
            .map_err(Taken::Refused)
            .and_then(|mut archive| {
                let h = format.header(&mut archive)?;
                if (h.sender.as_str(), h.receiver.as_str(), h.number) != (sender, rcv, n) {
                    return Err(Taken::Refused(format!(
                        "held as transport {n} from {sender}, but reads as {} from {}",
                        h.number, h.sender
                    )));
                }
                let arrival = Arrival {
                    inbound: &cfg.name,
                    sender: &h.sender,
                    receiver: &h.receiver,
                    number: h.number,
                    transport_guid: &h.guid,
                    file_name: &held.file_name,
                    sha256: &held.sha256,
                    bytes: held.bytes(),
                };
                import_one(engine, cfg, format, &h, &mut archive, &arrival, report)
            });
        if let Err(e) = done {
            let reason = short(&format!(
                "held transport {n} from {sender} could not be imported: {}",
                e.reason()
            ));
            tracing::error!(inbound = %cfg.name, file = %excerpt(&held.file_name), reason = %reason, "a held transport is refused; its number is missing again");
            let now = engine.now();
            engine.store.inbound_refuse_held(k.id, &reason, now)?;
            if let Err(e) = set_aside_bytes(&cfg.inbox, &held, &reason) {
                tracing::error!(inbound = %cfg.name, error = %e, "cannot write the refused held transport to refused/ (its bytes are gone from the store)");
            }
            report.held_refused.push(FileReport {
                file: excerpt(&held.file_name),
                outcome: FileOutcome::Refused { reason },
            });
            break;
        }
        n += 1;
    }
    Ok(())
}

/// A held transport's bytes, out of the store into an unnamed temporary file beside it
/// (as a stream), to be read like one that just arrived.
fn held_file(engine: &mut Engine, id: i64) -> Result<Arriving, Taken> {
    let io = |e: std::io::Error| Taken::Refused(format!("cannot spool a held transport: {e}"));
    let mut spool = temp_beside_store(engine)?;
    let name = engine.store.inbound_held_bytes(id, &mut spool)?;
    let file = spool.into_inner().map_err(|e| io(e.into_error()))?;
    Arriving::from_file(name, file).map_err(io)
}

/// How much of a receipt is held before it goes to its temporary file.
const SPOOL_CHUNK: usize = 64 << 10;

/// An unnamed temporary file in the store's folder, for a receipt being written or a held
/// transport read back (gone when closed, whatever happens).
fn temp_beside_store(engine: &Engine) -> Result<std::io::BufWriter<std::fs::File>, Taken> {
    let dir = match engine.config.store.path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    tempfile::tempfile_in(&dir)
        .map(|f| std::io::BufWriter::with_capacity(SPOOL_CHUNK, f))
        .map_err(|e| {
            Taken::Refused(format!(
                "cannot create a temporary file in {}: {e}",
                dir.display()
            ))
        })
}

fn spool_error(e: std::io::Error) -> Taken {
    Taken::Refused(format!("cannot write the receipt's temporary file: {e}"))
}

/// The verdict on one version: a refusal by the format, a version of a record the sender
/// neither owns nor may edit, or a version already imported is rejected, with a code.
fn verdict(
    format: &dyn InboundFormat,
    sender: &str,
    v: &Incoming,
    facts: &RecordFacts,
) -> Option<(String, String)> {
    if let Some((code, why)) = &v.refused {
        Some(((*code).to_string(), why.clone()))
    } else if let Some(owner) = facts.owner.as_deref()
        && !format.may_edit(sender, owner)
    {
        Some((
            "NOT_OWNER".into(),
            format!(
                "record {} belongs to {} (its first sender); {sender} neither owns it nor may edit it",
                excerpt(&v.record_id),
                excerpt(owner)
            ),
        ))
    } else if facts.version_imported {
        Some((
            "VERSION_EXISTS".into(),
            format!(
                "version {} of record {} was already imported",
                v.version,
                excerpt(&v.record_id)
            ),
        ))
    } else {
        None
    }
}

/// Judges every version as it is read, stores it and writes its receipt line, all in
/// the transport's one transaction; the receipt goes with the commit.
fn import_one(
    engine: &mut Engine,
    cfg: &InboundConfig,
    format: &dyn InboundFormat,
    h: &Header,
    archive: &mut Archive<'_>,
    arrival: &Arrival<'_>,
    report: &mut ImportReport,
) -> Result<(), Taken> {
    let now = engine.now();
    let (receipt_name, mut receipt) = format.receipt(h)?;
    // The receipt goes to a temporary file beside the store as it is written (about 100
    // bytes a record), and from there into the store at the commit: never whole in memory.
    let mut spool = temp_beside_store(engine)?;
    let (mut records, mut rejected) = (0usize, 0usize);
    let mut importing = engine.store.inbound_begin(arrival, now)?;
    super::ahead::versions(format, archive, &h.sender, &mut |file, v| {
        let facts = importing.facts(&v.record_id, v.version)?;
        if facts.in_this_transport {
            return Err(Taken::Refused(format!(
                "`{file}`: record {} version {} appears twice in the transport",
                excerpt(&v.record_id),
                v.version
            )));
        }
        let refused = verdict(format, &h.sender, &v, &facts);
        importing.add(&NewVersion {
            record_id: v.record_id.clone(),
            version: v.version,
            kind: v.kind,
            action: v.action,
            file: file.to_string(),
            imported: refused.is_none(),
            code: refused.as_ref().map(|(c, _)| c.clone()),
            message: refused.as_ref().map(|(_, m)| m.clone()),
            body: v.body.into_text(),
        })?;
        records += 1;
        rejected += usize::from(refused.is_some());
        receipt.record(ReceiptLine {
            record_id: v.record_id,
            version: v.version,
            imported: refused.is_none(),
            code: refused.as_ref().map(|(c, _)| c.clone()),
            message: refused.map(|(_, m)| m),
        });
        if receipt.pending() >= SPOOL_CHUNK {
            receipt.drain_into(&mut spool).map_err(spool_error)?;
        }
        Ok(())
    })?;
    receipt.finish_into(&mut spool).map_err(spool_error)?;
    let mut spooled = spool
        .into_inner()
        .map_err(|e| spool_error(e.into_error()))?;
    let len = spooled.stream_position().map_err(spool_error)?;
    spooled.rewind().map_err(spool_error)?;
    let documents = u32::try_from(h.documents).unwrap_or(u32::MAX);
    importing.finish_from(
        documents,
        &receipt_name,
        &mut std::io::BufReader::with_capacity(SPOOL_CHUNK, spooled),
        len,
        now,
    )?;
    tracing::info!(inbound = %cfg.name, sender = %h.sender, number = h.number, records, rejected, "transport imported");
    report.imported.push(Imported {
        sender: h.sender.clone(),
        number: h.number,
        records,
        rejected,
        documents: h.documents,
        receipt: receipt_name,
    });
    Ok(())
}
