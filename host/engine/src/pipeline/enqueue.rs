//! Enqueue: NDJSON checked by the host, each body against its kind's JSON Schema
//! (contract 0.2.1), then validated by the plugin, and queued all or nothing. The input is
//! a stream of lines: records go to the store's transaction chunk by chunk, so memory is
//! one chunk, whatever the input's size.

use std::collections::HashSet;

use hub_core::input::lines::{RawLine, ReadError};
use hub_core::input::{
    DecodeError, InputErrors, InputRecord, LineError, MAX_LINE_BYTES, duplicate_id, parse_record,
};
use hub_core::names::check_key;
use hub_plugin_sdk::Record;
use hub_store::enqueueing::Enqueueing;
use hub_store::{EnqueueReport, NewRecord, StoreError};
use thiserror::Error;

use crate::{Engine, EngineError, TargetRuntime};

/// Records validated per plugin call at enqueue.
const VALIDATE_CHUNK: usize = 1_000;

/// Bytes of record bodies per chunk at most (lines may be up to 4 MiB each).
const CHUNK_BYTES: usize = 8 << 20;

/// Problems listed at most; the rest are counted (a file of a million bad lines does not
/// make a million messages).
const MAX_LISTED: usize = 10_000;

/// Why records could not be enqueued. Nothing was queued.
#[derive(Debug, Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Input(#[from] InputErrors),
    /// The input stops being text in its encoding (or an unknown encoding was named).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("cannot read the input: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReadError> for EnqueueError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Decode(d) => Self::Decode(d),
            ReadError::Io(io) => Self::Read(io),
        }
    }
}

/// Reads NDJSON text and queues it for `target`, all or nothing (see [`enqueue_lines`]).
pub fn enqueue(
    engine: &mut Engine,
    target: &str,
    text: &str,
) -> Result<EnqueueReport, EnqueueError> {
    let lines = text.split('\n').enumerate().map(|(i, raw)| {
        Ok(RawLine {
            line: i + 1,
            text: Ok(raw.strip_suffix('\r').unwrap_or(raw).to_string()),
        })
    });
    enqueue_lines(engine, target, lines)
}

/// The problems found so far: the first [`MAX_LISTED`], and how many more.
#[derive(Default)]
struct Problems {
    listed: Vec<LineError>,
    more: usize,
    last_line: usize,
}

impl Problems {
    fn push(&mut self, e: LineError) {
        self.last_line = self.last_line.max(e.line);
        if self.listed.len() < MAX_LISTED {
            self.listed.push(e);
        } else {
            self.more += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    fn into_error(mut self) -> InputErrors {
        self.listed.sort_by_key(|e| e.line);
        if self.more > 0 {
            self.listed.push(LineError {
                line: self.last_line,
                message: format!("and {} more bad line(s), not listed", self.more),
            });
        }
        InputErrors(self.listed)
    }
}

/// Queues NDJSON lines for `target`, all or nothing: every line is checked by the host
/// and validated by the target's plugin, chunk by chunk, into one store transaction that
/// commits only when no line had a problem. Every problem is reported with its line.
///
/// Three threads in a row: one reads, parses and hashes the lines; one checks each chunk
/// (schema, the plugin's validation); the calling one writes the chunks into the store's
/// transaction. On two cores no stage waits for the others' work. At most [`IN_FLIGHT`]
/// chunks wait between two stages, so memory stays a few chunks whatever the input's size.
pub fn enqueue_lines(
    engine: &mut Engine,
    target: &str,
    lines: impl Iterator<Item = Result<RawLine, ReadError>> + Send,
) -> Result<EnqueueReport, EnqueueError> {
    let t = engine.target(target)?;
    let now = engine.now();
    let mut problems = Problems::default();
    let mut session = engine.store.begin_enqueue(target, now)?;
    std::thread::scope(|scope| {
        let (parsed_tx, parsed_rx) = std::sync::mpsc::sync_channel(IN_FLIGHT);
        let (checked_tx, checked_rx) = std::sync::mpsc::sync_channel(IN_FLIGHT);
        let reader = std::thread::Builder::new()
            .name("hub-enqueue-read".into())
            .spawn_scoped(scope, || read_lines(lines, parsed_tx))
            .map_err(EnqueueError::Read)?;
        let t = &t;
        let checker = std::thread::Builder::new()
            .name("hub-enqueue-check".into())
            .spawn_scoped(scope, move || {
                for parsed in parsed_rx {
                    let checked =
                        parsed.and_then(|p: Parsed| check_chunk(t, target, p.records, p.problems));
                    if checked_tx.send(checked).is_err() {
                        return;
                    }
                }
            })
            .map_err(EnqueueError::Read)?;
        // A chunk the store refuses ends the loop: the checker's next hand-over fails
        // (the receiver is gone), it stops, and so does the reader after it.
        for checked in checked_rx {
            store_chunk(session.as_mut(), checked?, &mut problems)?;
        }
        // Both have ended (their senders are dropped); a panic there is one here.
        for handle in [reader, checker] {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Ok::<_, EnqueueError>(())
    })?;
    if !problems.is_empty() {
        // Dropped: the transaction rolls back, nothing was queued.
        drop(session);
        return Err(problems.into_error().into());
    }
    Ok(session.finish()?)
}

/// Chunks handed from one stage to the next and not yet taken.
const IN_FLIGHT: usize = 2;

/// One chunk, checked: every parsed record's line and id in input order (the store
/// finds ids repeated within the input), the records that passed with their lines, and
/// the problems found.
struct Checked {
    ids: Vec<(usize, String)>,
    records: Vec<(usize, NewRecord)>,
    problems: Vec<LineError>,
}

/// One chunk of lines, parsed: the records in input order and the lines' own problems.
struct Parsed {
    records: Vec<InputRecord>,
    problems: Vec<LineError>,
}

/// The reading thread: lines read and parsed, chunk by chunk, into `tx`.
fn read_lines(
    lines: impl Iterator<Item = Result<RawLine, ReadError>>,
    tx: std::sync::mpsc::SyncSender<Result<Parsed, EnqueueError>>,
) {
    let mut chunk: Vec<InputRecord> = Vec::with_capacity(VALIDATE_CHUNK);
    let mut problems = Vec::new();
    let mut bytes = 0;
    let hand_over = |chunk: &mut Vec<InputRecord>, problems: &mut Vec<LineError>| {
        let parsed = Parsed {
            records: std::mem::replace(chunk, Vec::with_capacity(VALIDATE_CHUNK)),
            problems: std::mem::take(problems),
        };
        tx.send(Ok(parsed)).is_ok()
    };
    for item in lines {
        let raw = match item {
            Ok(raw) => raw,
            Err(e) => {
                let _ = tx.send(Err(e.into()));
                return;
            }
        };
        match raw.text {
            Err(len) => problems.push(LineError {
                line: raw.line,
                message: format!("line is {len} bytes long, at most {MAX_LINE_BYTES} are accepted"),
            }),
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => match parse_record(raw.line, &text) {
                Ok(record) => {
                    bytes += record.body.len();
                    chunk.push(record);
                }
                Err(e) => problems.push(e),
            },
        }
        // Problems go over with the chunk, and on their own when many: a file of bad
        // lines only must not pile them up here (the store's side keeps the first
        // `MAX_LISTED` and counts the rest).
        if chunk.len() >= VALIDATE_CHUNK || bytes >= CHUNK_BYTES || problems.len() >= VALIDATE_CHUNK
        {
            if !hand_over(&mut chunk, &mut problems) {
                return;
            }
            bytes = 0;
        }
    }
    if !chunk.is_empty() || !problems.is_empty() {
        hand_over(&mut chunk, &mut problems);
    }
}

/// The storing side of one chunk: ids repeated within the input are problems; while no
/// line had one, the records go into the store's transaction.
fn store_chunk(
    session: &mut dyn Enqueueing,
    checked: Checked,
    errors: &mut Problems,
) -> Result<(), EnqueueError> {
    let mut repeated = HashSet::new();
    for (line, id) in &checked.ids {
        if let Some(first) = session.first_line(id, *line)? {
            errors.push(LineError {
                line: *line,
                message: duplicate_id(id, first),
            });
            repeated.insert(*line);
        }
    }
    for e in checked.problems {
        errors.push(e);
    }
    if !errors.is_empty() {
        return Ok(());
    }
    let (lines, records): (Vec<usize>, Vec<NewRecord>) = checked
        .records
        .into_iter()
        .filter(|(line, _)| !repeated.contains(line))
        .unzip();
    for (i, why) in session.add(&records)? {
        if let Some(&line) = lines.get(i) {
            errors.push(LineError { line, message: why });
        }
    }
    Ok(())
}

/// Checks one chunk (schema, kinds, the plugin's validation, its keys): the records
/// that passed and every problem, beside those the lines already had.
fn check_chunk(
    t: &TargetRuntime,
    target: &str,
    chunk: Vec<InputRecord>,
    mut errors: Vec<LineError>,
) -> Result<Checked, EnqueueError> {
    let ids = chunk.iter().map(|r| (r.line, r.id.clone())).collect();
    let mut checked = Checked {
        ids,
        records: Vec::with_capacity(chunk.len()),
        problems: Vec::new(),
    };
    if chunk.is_empty() {
        checked.problems = errors;
        return Ok(checked);
    }
    let kinds: HashSet<&str> = t
        .plugin
        .info()
        .record_kinds
        .iter()
        .map(String::as_str)
        .collect();
    // The kind's JSON Schema first (contract 0.2.1): the plugin sees only bodies of
    // the shape it declared.
    let mut passed = Vec::with_capacity(chunk.len());
    let mut batch = Vec::with_capacity(chunk.len());
    for input in chunk {
        let record = Record {
            id: input.id.clone(),
            kind: input.kind.clone(),
            body: input.body.clone(),
        };
        match t.plugin.check_schema(&record) {
            Some(e) => errors.push(LineError {
                line: input.line,
                message: e.to_string(),
            }),
            None => {
                passed.push(input);
                batch.push(record);
            }
        }
    }
    if batch.is_empty() {
        checked.problems = errors;
        return Ok(checked);
    }
    let answers = t
        .plugin
        .validate(&t.settings, &batch)
        .map_err(EngineError::from)?;
    drop(batch);
    for (input, answer) in passed.into_iter().zip(answers) {
        let line = input.line;
        if !kinds.contains(input.kind.as_str()) {
            errors.push(LineError {
                line,
                message: format!(
                    "record {}: kind `{}` is not one target {target} takes ({})",
                    input.id,
                    input.kind,
                    t.plugin.info().record_kinds.join(", ")
                ),
            });
            continue;
        }
        match answer {
            Ok(meta) => {
                let keys = std::iter::once(&meta.batch_key)
                    .chain(meta.sequence_scope.as_ref())
                    .chain(meta.supersede_key.as_ref());
                if let Some(problem) = keys.filter_map(|k| check_key(k).err()).next() {
                    errors.push(LineError {
                        line,
                        message: format!(
                            "record {}: plugin {} proposed a bad key: {problem}",
                            input.id,
                            t.plugin.name()
                        ),
                    });
                    continue;
                }
                let change = t.plugin.change_of(&input.kind);
                checked.records.push((
                    line,
                    NewRecord {
                        id: input.id,
                        kind: input.kind,
                        body: input.body,
                        content_sha256: input.content_sha256,
                        change,
                        meta,
                    },
                ));
            }
            Err(e) => errors.push(LineError {
                line,
                message: e.to_string(),
            }),
        }
    }
    checked.problems = errors;
    Ok(checked)
}
