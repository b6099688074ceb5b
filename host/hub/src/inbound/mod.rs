//! The receiving side: `hub import` reads the transports that arrived in an inbox and
//! imports each sender's transports strictly in their numbering order.
//!
//! For every arriving archive: unpack it in memory within the limits, read and check it
//! (names, header, this office as receiver), then let its number decide: the pair's next
//! number is imported (versions, verdicts and the receipt in one transaction), and any
//! transports held for the numbers after it follow; a later number is held with its bytes
//! and the gap is reported; a number already known with the same bytes is a duplicate and
//! skipped; with other bytes it is refused. Receipts and re-transmission requests are
//! kept in the store until delivered through the inbound's `answers` transport.
//!
//! Crash safety: the inbox file is removed only after the store committed what it
//! brought, so a crash in between finds it again next run as a duplicate; an answer is
//! marked delivered only after it is in place, and a run that finds it already in place
//! marks it without writing it twice.

pub mod archive;
mod survnet;

use std::path::{Path, PathBuf};

use hub_core::config::{InboundConfig, InboundFormat, setting_text};
use hub_plugin_rki::receiving::{Receiver, retransmission_request, retransmission_request_name};
use hub_plugin_sdk::Settings;
use hub_store::inbound::{Arrival, InboundStore, NewVersion, PairView};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::app::App;
use crate::fault;

/// Why an import could not run at all (a single bad archive is refused, not an error).
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("no inbound `{name}` in {file} (inbounds: {known})")]
    Unknown {
        name: String,
        file: String,
        known: String,
    },
    #[error("inbound {inbound}: {message}")]
    Config { inbound: String, message: String },
    #[error("inbound {inbound}: cannot read {}: {source}", path.display())]
    Io {
        inbound: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] hub_store::StoreError),
}

/// What happened to one arriving file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum FileOutcome {
    /// Imported (and possibly held transports after it).
    Imported { sender: String, number: u64 },
    /// Arrived before its turn: kept until the numbers before it are here.
    Held {
        sender: String,
        number: u64,
        waiting_for: Vec<u64>,
    },
    /// Already imported or held with the same bytes: skipped.
    Duplicate {
        sender: String,
        number: u64,
        state: String,
    },
    /// Not imported; nothing from it is in the store.
    Refused { reason: String },
}

/// One arriving file and its fate.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    #[serde(flatten)]
    pub outcome: FileOutcome,
}

/// One transport imported in this run.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub sender: String,
    pub number: u64,
    pub records: usize,
    pub rejected: usize,
    pub documents: usize,
    pub receipt: String,
}

/// What `hub import` did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub inbound: String,
    pub files: Vec<FileReport>,
    /// In the order imported.
    pub imported: Vec<Imported>,
    /// Re-transmission requests written in this run.
    pub requests: Vec<String>,
    /// Answers (receipts, requests) delivered in this run.
    pub answers_delivered: Vec<String>,
    /// Answers that could not be delivered yet (they stay queued).
    pub answer_errors: Vec<String>,
    /// Every sender's numbering after the run: what was imported, held, missing.
    pub pairs: Vec<PairView>,
}

/// The checked settings of an inbound, as the format reads them.
fn receiver(cfg: &InboundConfig) -> Result<Receiver, ImportError> {
    let settings = Settings(
        cfg.settings
            .iter()
            .filter_map(|(k, v)| setting_text(v).map(|v| (k.clone(), v)))
            .collect(),
    );
    match cfg.format {
        InboundFormat::Survnet => {
            Receiver::from_settings(&settings).map_err(|message| ImportError::Config {
                inbound: cfg.name.clone(),
                message,
            })
        }
    }
}

/// The files waiting in the inbox: plain files, not hidden (a sender's half-written
/// temporary file is hidden), sorted so each pair's numbers come in order.
pub fn inbox_files(inbox: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(inbox) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        if !hidden && e.file_type()?.is_file() {
            files.push(e.path());
        }
    }
    files.sort();
    Ok(files)
}

/// `hub serve`'s look at the inboxes: imports every inbound whose inbox holds a file or
/// that still owes an answer, and logs what happened. Cheap when nothing arrived (one
/// directory listing and one query per inbound).
pub fn watch(app: &mut App) {
    let names: Vec<String> = app.config.inbound.iter().map(|i| i.name.clone()).collect();
    for name in names {
        let Some(cfg) = app.config.inbound(&name) else {
            continue;
        };
        let arrived = inbox_files(&cfg.inbox)
            .map(|f| !f.is_empty())
            .unwrap_or(true);
        let owed = app.store.answers_owed(&name).unwrap_or(true);
        if !arrived && !owed {
            continue;
        }
        match import(app, &name, None, false) {
            Ok(r) => {
                for f in &r.files {
                    if let FileOutcome::Refused { reason } = &f.outcome {
                        tracing::error!(inbound = %name, file = %f.file, reason = %reason, "transport refused; set aside in refused/");
                    }
                }
                for p in r.pairs.iter().filter(|p| !p.missing.is_empty()) {
                    tracing::warn!(inbound = %name, sender = %p.sender, missing = ?p.missing, held = ?p.held, "transports missing; `hub import --request-missing` asks for them");
                }
                for e in &r.answer_errors {
                    tracing::warn!(inbound = %name, error = %e, "answer not delivered yet");
                }
            }
            Err(e) => tracing::error!(inbound = %name, error = %e, "import failed"),
        }
    }
}

/// One archive as it arrived.
struct Arriving {
    file_name: String,
    sha256: String,
    bytes: Vec<u8>,
}

/// Imports the given files, or everything in the inbox (which then leaves it).
pub fn import(
    app: &mut App,
    name: &str,
    files: Option<&[PathBuf]>,
    request_missing: bool,
) -> Result<ImportReport, ImportError> {
    let cfg = app
        .config
        .inbound(name)
        .cloned()
        .ok_or_else(|| ImportError::Unknown {
            name: name.into(),
            file: app.config.file.display().to_string(),
            known: {
                let names: Vec<&str> = app.config.inbound.iter().map(|i| i.name.as_str()).collect();
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            },
        })?;
    let receiver = receiver(&cfg)?;
    let from_inbox = files.is_none();
    let paths = match files {
        Some(f) => f.to_vec(),
        None => inbox_files(&cfg.inbox).map_err(|source| ImportError::Io {
            inbound: cfg.name.clone(),
            path: cfg.inbox.clone(),
            source,
        })?,
    };
    let mut report = ImportReport {
        inbound: cfg.name.clone(),
        files: Vec::new(),
        imported: Vec::new(),
        requests: Vec::new(),
        answers_delivered: Vec::new(),
        answer_errors: Vec::new(),
        pairs: Vec::new(),
    };
    for (done, path) in paths.iter().enumerate() {
        if let Some(hook) = app.progress.as_mut() {
            hook(crate::progress::Step {
                what: "files",
                done,
                total: paths.len(),
            });
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let arriving = match read_file(&cfg, path, &file_name) {
            Ok(a) => a,
            Err(reason) => {
                // Too big or unreadable: set aside, so the next look does not trip on it.
                tracing::warn!(inbound = %cfg.name, file = %file_name, reason = %reason, "transport refused");
                app.store
                    .inbound_refuse(&cfg.name, &file_name, "", &reason, app.now())?;
                if from_inbox
                    && path.exists()
                    && let Err(e) = set_aside(path, &reason)
                {
                    tracing::error!(file = %path.display(), error = %e, "cannot set the refused file aside");
                }
                report.files.push(FileReport {
                    file: file_name,
                    outcome: FileOutcome::Refused { reason },
                });
                continue;
            }
        };
        let outcome = match take(app, &cfg, &receiver, &arriving, &mut report) {
            Ok(o) => o,
            Err(Taken::Refused(reason)) => FileOutcome::Refused { reason },
            Err(Taken::Store(e)) => return Err(e.into()),
        };
        fault::point("import-committed");
        if let FileOutcome::Refused { reason } = &outcome {
            tracing::warn!(inbound = %cfg.name, file = %file_name, reason = %reason, "transport refused");
            app.store
                .inbound_refuse(&cfg.name, &file_name, &arriving.sha256, reason, app.now())?;
        }
        if from_inbox {
            let gone = match &outcome {
                FileOutcome::Refused { reason } => set_aside(path, reason),
                _ => std::fs::remove_file(path),
            };
            if let Err(e) = gone {
                tracing::error!(file = %path.display(), error = %e, "cannot clear the inbox file; the next run will see it again as a duplicate");
            }
        }
        report.files.push(FileReport {
            file: file_name,
            outcome,
        });
    }
    if let Some(hook) = app.progress.as_mut()
        && !paths.is_empty()
    {
        hook(crate::progress::Step {
            what: "files",
            done: paths.len(),
            total: paths.len(),
        });
    }
    if request_missing {
        request(app, &cfg, &receiver, &mut report)?;
    }
    deliver_answers(app, &cfg, &mut report)?;
    report.pairs = app.store.inbound_pairs(&cfg.name)?;
    Ok(report)
}

/// Reads a file within the archive size limit and hashes it.
fn read_file(cfg: &InboundConfig, path: &Path, file_name: &str) -> Result<Arriving, String> {
    let limit = cfg.limits.max_archive_mb.saturating_mul(1 << 20);
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > limit {
        return Err(format!(
            "{size} bytes, more than the limit of {} MiB",
            cfg.limits.max_archive_mb
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Arriving {
        file_name: file_name.to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
    })
}

/// Moves a refused file to `refused/` in the inbox, beside a note saying why.
fn set_aside(path: &Path, reason: &str) -> std::io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let aside = dir.join("refused");
    std::fs::create_dir_all(&aside)?;
    let name = path.file_name().unwrap_or_default();
    let mut target = aside.join(name);
    let mut n = 1;
    while target.exists() {
        target = aside.join(format!("{}.{n}", name.to_string_lossy()));
        n += 1;
    }
    std::fs::write(
        target.with_file_name(format!(
            "{}.reason.txt",
            target.file_name().unwrap_or_default().to_string_lossy()
        )),
        format!("{reason}\n"),
    )?;
    std::fs::rename(path, &target)
}

/// Unpacks an archive (a `.zip`) or takes a single transport file (`.xml`).
fn unpack(cfg: &InboundConfig, a: &Arriving) -> Result<Vec<archive::Entry>, String> {
    if a.file_name.ends_with(".zip") {
        archive::unzip(&a.bytes, &cfg.limits)
    } else if a.file_name.ends_with(".xml") {
        Ok(vec![archive::Entry {
            name: a.file_name.clone(),
            bytes: a.bytes.clone(),
        }])
    } else {
        Err("neither a transport archive (.zip) nor a transport file (.xml)".into())
    }
}

enum Taken {
    Refused(String),
    Store(hub_store::StoreError),
}

impl From<hub_store::StoreError> for Taken {
    fn from(e: hub_store::StoreError) -> Self {
        Taken::Store(e)
    }
}

/// Decides about one arriving archive by its number.
fn take(
    app: &mut App,
    cfg: &InboundConfig,
    receiver: &Receiver,
    a: &Arriving,
    report: &mut ImportReport,
) -> Result<FileOutcome, Taken> {
    let entries = unpack(cfg, a).map_err(Taken::Refused)?;
    let t = survnet::read(receiver, &entries).map_err(Taken::Refused)?;
    drop(entries);
    if let Some(k) = app
        .store
        .inbound_known(&cfg.name, &t.sender, &t.receiver, t.number)?
    {
        if k.sha256 == a.sha256 {
            return Ok(FileOutcome::Duplicate {
                sender: t.sender,
                number: t.number,
                state: k.state,
            });
        }
        return Err(Taken::Refused(format!(
            "transport {} from {} is already {} (from {}) with other content; this one is not imported",
            t.number, t.sender, k.state, k.file_name
        )));
    }
    let next = app.store.inbound_next(&cfg.name, &t.sender, &t.receiver)?;
    let arrival = Arrival {
        inbound: &cfg.name,
        sender: &t.sender,
        receiver: &t.receiver,
        number: t.number,
        transport_guid: &t.guid,
        file_name: &a.file_name,
        sha256: &a.sha256,
        bytes: &a.bytes,
    };
    if t.number > next {
        app.store.inbound_hold(&arrival, app.now())?;
        let waiting_for: Vec<u64> = (next..t.number)
            .filter(|n| {
                !matches!(
                    app.store
                        .inbound_known(&cfg.name, &t.sender, &t.receiver, *n),
                    Ok(Some(_))
                )
            })
            .collect();
        tracing::warn!(inbound = %cfg.name, sender = %t.sender, number = t.number, ?waiting_for, "transport held: earlier numbers missing");
        return Ok(FileOutcome::Held {
            sender: t.sender,
            number: t.number,
            waiting_for,
        });
    }
    import_one(app, cfg, receiver, &t, &arrival, report)?;
    // The transports held for the following numbers can go now, in order.
    let (sender, rcv) = (t.sender.clone(), t.receiver.clone());
    let mut n = t.number + 1;
    while let Some(k) = app.store.inbound_known(&cfg.name, &sender, &rcv, n)? {
        if k.state != "held" {
            break;
        }
        let (file_name, bytes) = app.store.inbound_held_bytes(k.id)?;
        let held = Arriving {
            file_name,
            sha256: k.sha256.clone(),
            bytes,
        };
        // It was read once before it was held; if it cannot be read now, it stays held
        // (and is reported), and the file that arrived keeps its own outcome.
        let read = unpack(cfg, &held).and_then(|entries| survnet::read(receiver, &entries));
        let ht = match read {
            Ok(ht) => ht,
            Err(e) => {
                tracing::error!(inbound = %cfg.name, file = %held.file_name, error = %e, "a held transport cannot be read again; it stays held");
                break;
            }
        };
        let arrival = Arrival {
            inbound: &cfg.name,
            sender: &ht.sender,
            receiver: &ht.receiver,
            number: ht.number,
            transport_guid: &ht.guid,
            file_name: &held.file_name,
            sha256: &held.sha256,
            bytes: &held.bytes,
        };
        import_one(app, cfg, receiver, &ht, &arrival, report)?;
        n += 1;
    }
    Ok(FileOutcome::Imported {
        sender: t.sender,
        number: t.number,
    })
}

/// Judges every version, writes the receipt, and stores it all in one transaction.
fn import_one(
    app: &mut App,
    cfg: &InboundConfig,
    receiver: &Receiver,
    t: &survnet::Transport,
    arrival: &Arrival<'_>,
    report: &mut ImportReport,
) -> Result<(), Taken> {
    let mut verdicts = Vec::with_capacity(t.versions.len());
    let mut versions = Vec::with_capacity(t.versions.len());
    for (file, r) in &t.versions {
        let already = app
            .store
            .version_known(&t.sender, &r.guid_record, r.version_no)?;
        let v = survnet::judge(receiver, t, r, already);
        versions.push(NewVersion {
            record_id: r.guid_record.clone(),
            version: r.version_no,
            kind: r.category.clone(),
            action: v.action.map(str::to_string),
            file: file.clone(),
            imported: v.rejected.is_none(),
            code: v.rejected.as_ref().map(|(c, _)| (*c).to_string()),
            message: v.rejected.as_ref().map(|(_, m)| m.clone()),
            body: survnet::body(t, r),
        });
        verdicts.push(v);
    }
    let (receipt_name, receipt) = survnet::receipt(t, &verdicts);
    let rejected = versions.iter().filter(|v| !v.imported).count();
    app.store.inbound_import(
        arrival,
        &versions,
        t.documents.len() as u32,
        (&receipt_name, &receipt),
        app.now(),
    )?;
    tracing::info!(inbound = %cfg.name, sender = %t.sender, number = t.number, records = versions.len(), rejected, "transport imported");
    report.imported.push(Imported {
        sender: t.sender.clone(),
        number: t.number,
        records: versions.len(),
        rejected,
        documents: t.documents.len(),
        receipt: receipt_name,
    });
    Ok(())
}

/// Writes a re-transmission request for every pair with missing numbers.
fn request(
    app: &mut App,
    cfg: &InboundConfig,
    receiver: &Receiver,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let c = app.now().civil(cfg.utc_offset_minutes);
    let created = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    for pair in app.store.inbound_pairs(&cfg.name)? {
        if pair.missing.is_empty() {
            continue;
        }
        let name = retransmission_request_name(receiver.site(), &pair.sender, &pair.missing);
        let bytes = retransmission_request(receiver.site(), &pair.sender, &pair.missing, &created);
        if app
            .store
            .inbound_request(&cfg.name, &name, &bytes, app.now())?
        {
            report.requests.push(name);
        }
    }
    Ok(())
}

/// Delivers every pending answer through the inbound's `answers` transport.
fn deliver_answers(
    app: &mut App,
    cfg: &InboundConfig,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let pending = app.store.pending_answers(&cfg.name)?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut transport = match hub_transports::open(&cfg.answers, None) {
        Ok(t) => t,
        Err(e) => {
            report
                .answer_errors
                .push(format!("answers stay queued: {e}"));
            return Ok(());
        }
    };
    for answer in pending {
        let put =
            |t: &mut dyn hub_transports::Transport| -> Result<(), hub_transports::TransportError> {
                let remote = t.inspect(&answer.name)?;
                if remote.final_present {
                    // In place before an interruption: not written twice.
                    if remote.temp_present {
                        t.remove_temp(&answer.name)?;
                    }
                    return Ok(());
                }
                t.put_temp(&answer.name, &answer.bytes)?;
                fault::point("answer-in-temp");
                t.make_final(&answer.name)
            };
        match put(transport.as_mut()) {
            Ok(()) => {
                fault::point("answer-in-place");
                app.store.answer_delivered(answer.id, app.now())?;
                report.answers_delivered.push(answer.name);
            }
            Err(e) => report
                .answer_errors
                .push(format!("{}: {e} (stays queued)", answer.name)),
        }
    }
    Ok(())
}
