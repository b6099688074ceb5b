//! Records, stamps and attempts as the tests build them.

use hub_core::state::AttemptResult;
use hub_core::time::Timestamp;
use hub_plugin_sdk::RecordMeta;
use hub_store::{Batch, Change, NewAttempt, NewPayload, NewRecord, PluginStamp, Store};

pub fn rec(id: &str, scope: Option<&str>, supersede: Option<&str>, body: &str) -> NewRecord {
    NewRecord {
        id: id.into(),
        kind: "k".into(),
        body: body.into(),
        content_sha256: hub_core::input::content_sha256(&serde_json::from_str(body).unwrap()),
        change: Change::Snapshot,
        meta: RecordMeta {
            batch_key: "b".into(),
            sequence_scope: scope.map(Into::into),
            supersede_key: supersede.map(Into::into),
        },
    }
}

pub fn stamp() -> PluginStamp {
    PluginStamp {
        name: "test".into(),
        version: "0.1.0".into(),
        sha256: "00".into(),
    }
}

pub fn attempt(transfer_id: i64, payload_id: i64) -> NewAttempt {
    NewAttempt {
        begun: None,
        transfer_id,
        payload_id: Some(payload_id),
        started_at: Timestamp(1_000),
        duration_ms: 3,
        endpoint: "dir:/tmp/x".into(),
        credential: None,
        sent: "x".into(),
        received: None,
        result: AttemptResult::Delivered,
        error: None,
    }
}

pub fn batch(scope: Option<&str>) -> Batch {
    Batch {
        batch_key: "b".into(),
        sequence_scope: scope.map(Into::into),
    }
}

/// One payload per record, named after it.
pub fn payloads(records: &[hub_store::StoredRecord]) -> Vec<NewPayload> {
    records
        .iter()
        .map(|r| NewPayload {
            name: format!("{}.txt", r.id),
            media_type: "text/plain".into(),
            bytes: r.body.as_bytes().to_vec(),
            records: vec![r.seq],
            labels: vec![("id".into(), r.id.clone())],
            request: None,
        })
        .collect()
}

/// What the suite says every transfer was encoded from (the store keeps it as given).
pub const INPUTS: &str = r#"{"settings":[["customer","4711"]],"records":[]}"#;

/// Creates a transfer of `records` with one payload each; `None` when the encoder gives
/// up. The one place the suite calls `create_transfer`.
pub fn try_create(
    store: &mut impl Store,
    scope: Option<&str>,
    records: &[hub_store::StoredRecord],
    encoder_gives_up: bool,
) -> hub_store::Result<Option<(i64, Option<u64>)>> {
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    let mut seen = None;
    let created = hub_store::create_transfer_with(
        store,
        "t",
        &batch(scope),
        &seqs,
        &stamp(),
        Some(INPUTS),
        Timestamp(2_000),
        |draft| {
            seen = draft.sequence;
            if encoder_gives_up {
                Err("plugin said no")
            } else {
                Ok(payloads(records))
            }
        },
    )?;
    Ok(created.ok().map(|id| (id, seen)))
}

/// Creates a transfer of every queued record of the batch (up to 100).
pub fn create(store: &mut impl Store, scope: Option<&str>) -> (i64, Option<u64>) {
    let queued = store.queued_records("t", &batch(scope), 100).unwrap();
    try_create(store, scope, &queued, false).unwrap().unwrap()
}
