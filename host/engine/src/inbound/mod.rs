//! The receiving side: `hub import` reads the transports that arrived in an inbox and
//! imports each sender's transports strictly in their numbering order.
//!
//! For every arriving archive: check its names, read its header (this office as
//! receiver, an allowed sender), then let its number decide: the pair's next number is
//! imported as a stream (versions, verdicts and the receipt in one transaction), and any
//! transports held for the numbers after it follow; a later number is read through once
//! and held with its bytes, and the gap is reported; a number already known with the same
//! bytes is a duplicate and skipped; with other bytes it is refused. Receipts and
//! re-transmission requests are kept in the store until delivered through the inbound's
//! `answers` transport.
//!
//! One bad file never stops the others: whatever fails while taking a file (a limit, a
//! parse error, the store, reading it) rolls its transaction back, sets it aside in
//! `refused/` with a short reason, and the run goes on with the next file. Memory is
//! bounded by the per-record limit, not by the transport's size.
//!
//! What a transport looks like inside is the format's ([`format::InboundFormat`]; SurvNet
//! in the hub); the order, the store, the limits and the answers are the engine's.
//!
//! Crash safety: the inbox file is removed only after the store committed what it
//! brought, so a crash in between finds it again next run as a duplicate; an answer is
//! marked delivered only after it is in place, and a run that finds it already in place
//! marks it without writing it twice.

mod ahead;
mod answers;
pub mod archive;
pub mod format;
mod inbox;
pub mod take;

use std::path::PathBuf;

use hub_plugin_sdk::text::excerpt;
use hub_store::inbound::PairView;
use serde::Serialize;
use thiserror::Error;

use crate::Engine;
use crate::fault;
pub use inbox::{REASON_CHARS, inbox_files};
use inbox::{read_file, set_aside, short};
use take::take;

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
    /// Held transports refused while the current file was taken; listed after it.
    #[serde(skip)]
    held_refused: Vec<FileReport>,
}

/// `hub serve`'s look at the inboxes: imports every inbound whose inbox holds a file or
/// that still owes an answer, and logs what happened. Cheap when nothing arrived (one
/// directory listing and one query per inbound).
pub fn watch(engine: &mut Engine) {
    let names: Vec<String> = engine
        .config
        .inbound
        .iter()
        .map(|i| i.name.clone())
        .collect();
    for name in names {
        let Some(cfg) = engine.config.inbound(&name) else {
            continue;
        };
        let arrived = inbox_files(&cfg.inbox)
            .map(|f| !f.is_empty())
            .unwrap_or(true);
        let owed = engine.store.answers_owed(&name).unwrap_or(true);
        if !arrived && !owed {
            continue;
        }
        match import(engine, &name, None, false) {
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

/// Imports the given files, or everything in the inbox (which then leaves it).
#[tracing::instrument(name = "import", skip_all, fields(inbound = name))]
pub fn import(
    engine: &mut Engine,
    name: &str,
    files: Option<&[PathBuf]>,
    request_missing: bool,
) -> Result<ImportReport, ImportError> {
    let cfg = engine
        .config
        .inbound(name)
        .cloned()
        .ok_or_else(|| ImportError::Unknown {
            name: name.into(),
            file: engine.config.file.display().to_string(),
            known: {
                let names: Vec<&str> = engine
                    .config
                    .inbound
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect();
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            },
        })?;
    let format = engine
        .formats
        .format(&cfg)
        .map_err(|message| ImportError::Config {
            inbound: cfg.name.clone(),
            message,
        })?;
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
        held_refused: Vec::new(),
    };
    for (done, path) in paths.iter().enumerate() {
        if let Some(hook) = engine.progress.as_mut() {
            hook(crate::progress::Step {
                what: "files",
                done,
                total: paths.len(),
            });
        }
        // Gone since the listing (or turned into something else, like the folder for
        // refused files): nothing to take.
        if from_inbox && !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let raw_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let file_name = excerpt(&raw_name);
        let span = tracing::info_span!(
            "import_file",
            inbound = %cfg.name,
            file = %file_name,
            outcome = tracing::field::Empty,
        );
        let _file = span.enter();
        let (outcome, sha256) = match read_file(&cfg, path, &raw_name) {
            Ok(arriving) => {
                let outcome = match take(engine, &cfg, format.as_ref(), &arriving, &mut report) {
                    Ok(o) => o,
                    Err(t) => FileOutcome::Refused { reason: t.reason() },
                };
                (outcome, arriving.sha256)
            }
            // Too big or unreadable: set aside, so the next look does not trip on it.
            Err(reason) => (
                FileOutcome::Refused {
                    reason: short(&reason),
                },
                String::new(),
            ),
        };
        fault::point("import-committed");
        if let FileOutcome::Refused { reason } = &outcome {
            tracing::warn!(inbound = %cfg.name, file = %file_name, reason = %reason, "transport refused");
            let now = engine.now();
            if let Err(e) = engine
                .store
                .inbound_refuse(&cfg.name, &file_name, &sha256, reason, now)
            {
                tracing::error!(inbound = %cfg.name, file = %file_name, error = %e, "cannot note the refusal in the store");
            }
        }
        if from_inbox {
            let gone = match &outcome {
                FileOutcome::Refused { reason } => set_aside(path, reason),
                _ => std::fs::remove_file(path),
            };
            if let Err(e) = gone {
                tracing::error!(file = %file_name, error = %e, "cannot clear the inbox file; the next run will see it again");
            }
        }
        span.record(
            "outcome",
            match &outcome {
                FileOutcome::Imported { .. } => "imported",
                FileOutcome::Held { .. } => "held",
                FileOutcome::Duplicate { .. } => "duplicate",
                FileOutcome::Refused { .. } => "refused",
            },
        );
        report.files.push(FileReport {
            file: file_name,
            outcome,
        });
        let mut held = std::mem::take(&mut report.held_refused);
        report.files.append(&mut held);
    }
    if let Some(hook) = engine.progress.as_mut()
        && !paths.is_empty()
    {
        hook(crate::progress::Step {
            what: "files",
            done: paths.len(),
            total: paths.len(),
        });
    }
    if request_missing {
        answers::request(engine, &cfg, format.as_ref(), &mut report)?;
    }
    answers::deliver_answers(engine, &cfg, &mut report)?;
    report.pairs = engine.store.inbound_pairs(&cfg.name)?;
    Ok(report)
}
