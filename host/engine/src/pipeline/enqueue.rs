//! Enqueue: NDJSON checked by the host, each body against its kind's JSON Schema
//! (contract 0.2.1), then validated by the plugin, and queued all or nothing.

use std::collections::HashSet;

use hub_core::input::{InputErrors, LineError, parse_ndjson_all};
use hub_core::names::check_key;
use hub_plugin_sdk::Record;
use hub_store::{EnqueueReport, NewRecord, StoreError};
use thiserror::Error;

use crate::{Engine, EngineError};

/// Records validated per plugin call at enqueue.
const VALIDATE_CHUNK: usize = 1_000;

/// Why records could not be enqueued. Nothing was queued.
#[derive(Debug, Error)]
pub enum EnqueueError {
    #[error(transparent)]
    Input(#[from] InputErrors),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads NDJSON and queues it for `target`, all or nothing: every line is checked by the
/// host and validated by the target's plugin before the first record is stored.
pub fn enqueue(
    engine: &mut Engine,
    target: &str,
    text: &str,
) -> Result<EnqueueReport, EnqueueError> {
    let t = engine.target(target)?;
    let (input, mut errors) = parse_ndjson_all(text);
    let kinds: HashSet<&str> = t
        .plugin
        .info()
        .record_kinds
        .iter()
        .map(String::as_str)
        .collect();
    let mut records = Vec::with_capacity(input.len());
    // The input line of each record, to name it when the store refuses it.
    let mut lines = Vec::with_capacity(input.len());
    for chunk in input.chunks(VALIDATE_CHUNK) {
        let all: Vec<Record> = chunk
            .iter()
            .map(|r| Record {
                id: r.id.clone(),
                kind: r.kind.clone(),
                body: r.body.clone(),
            })
            .collect();
        // The kind's JSON Schema first (contract 0.2.1): the plugin sees only bodies of
        // the shape it declared.
        let mut passed = Vec::with_capacity(chunk.len());
        let mut batch = Vec::with_capacity(chunk.len());
        for (input, record) in chunk.iter().zip(all) {
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
            continue;
        }
        let answers = t
            .plugin
            .validate(&t.settings, &batch)
            .map_err(EngineError::from)?;
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
                    lines.push(line);
                    records.push(NewRecord {
                        id: input.id.clone(),
                        kind: input.kind.clone(),
                        body: input.body.clone(),
                        content_sha256: input.content_sha256.clone(),
                        change: t.plugin.change_of(&input.kind),
                        meta,
                    });
                }
                Err(e) => errors.push(LineError {
                    line,
                    message: e.to_string(),
                }),
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(InputErrors(errors).into());
    }
    let now = engine.now();
    match engine.store.enqueue(target, &records, now) {
        Ok(report) => Ok(report),
        Err(StoreError::RecordsRefused(refused)) => {
            let mut errors: Vec<LineError> = refused
                .into_iter()
                .filter_map(|(i, message)| lines.get(i).map(|&line| LineError { line, message }))
                .collect();
            errors.sort_by_key(|e| e.line);
            Err(InputErrors(errors).into())
        }
        Err(e) => Err(e.into()),
    }
}
