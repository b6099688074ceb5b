//! What the SQLite store's own tests build on: records, and one transfer of them.

use hub_core::time::Timestamp;

use super::SqliteStore;
use crate::{Batch, Change, NewPayload, NewRecord, PluginStamp, Store};

/// The one batch the tests' records are in.
pub(crate) fn batch() -> Batch {
    Batch {
        batch_key: "b".into(),
        sequence_scope: None,
    }
}

/// A snapshot record of kind `k` with `body` (a JSON object).
pub(crate) fn record(id: &str, body: String) -> NewRecord {
    NewRecord {
        id: id.into(),
        kind: "k".into(),
        content_sha256: hub_core::input::content_sha256(
            &serde_json::from_str(&body).expect("a JSON body"),
        ),
        body,
        change: Change::Snapshot,
        meta: hub_plugin_sdk::RecordMeta {
            batch_key: "b".into(),
            sequence_scope: None,
            supersede_key: None,
        },
    }
}

/// Enqueues `records` for `target` and puts them in one transfer with one payload,
/// `name` holding `bytes`: that payload's id.
pub(crate) fn one_payload(
    store: &mut SqliteStore,
    target: &str,
    records: &[NewRecord],
    name: &str,
    bytes: &[u8],
) -> i64 {
    store
        .enqueue(target, records, Timestamp(1))
        .expect("enqueue");
    let seqs: Vec<i64> = store
        .queued_records(target, &batch(), records.len())
        .expect("queued records")
        .iter()
        .map(|r| r.seq)
        .collect();
    let stamp = PluginStamp {
        name: "test".into(),
        version: "0.1.0".into(),
        sha256: "00".into(),
    };
    let transfer = crate::create_transfer_with(
        store,
        target,
        &batch(),
        &seqs,
        &stamp,
        None,
        Timestamp(2),
        |_| {
            Ok::<_, ()>(vec![NewPayload {
                name: name.into(),
                media_type: "text/plain".into(),
                bytes: bytes.to_vec(),
                records: seqs.clone(),
                labels: Vec::new(),
                request: None,
            }])
        },
    )
    .expect("create a transfer")
    .expect("encoded");
    store.transfer(transfer).expect("the transfer").payloads[0].id
}
