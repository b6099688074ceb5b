//! Receipts: the plugin says which sent transfer a receipt answers and what became of
//! each record; "Mit dem Import der Quittungsdatei beim Absender ist der
//! Transportvorgang abgeschlossen."

use hub_core::state::AttemptResult;
use hub_plugin_sdk::{InterpretError, OutcomeStatus};
use hub_store::{Batch, Completion, NewAttempt};
use serde::Serialize;

use super::create::context;
use super::{SendError, excerpt, per_record, summary, to_sdk};
use crate::Engine;

/// What importing a receipt did.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptReport {
    pub transfer: i64,
    pub sequence_no: Option<u64>,
    pub delivered: usize,
    pub rejected: usize,
    pub state: String,
}

/// Imports a receipt for a transfer of `target` whose files were sent: the plugin says
/// which transfer it answers (it refuses receipts for others) and gives each record its
/// outcome. "Mit dem Import der Quittungsdatei beim Absender ist der Transportvorgang
/// abgeschlossen."
pub fn import_receipt(
    engine: &mut Engine,
    target: &str,
    receipt: &[u8],
) -> Result<ReceiptReport, SendError> {
    let t = engine.target(target)?;
    let response = hub_plugin_sdk::Response {
        status: None,
        headers: Vec::new(),
        body: receipt.to_vec(),
    };
    let mut refusals = Vec::new();
    for id in engine.store.sent_transfers(target)? {
        let transfer = engine.store.transfer(id)?;
        let batch = Batch {
            batch_key: transfer.batch_key.clone(),
            sequence_scope: transfer.sequence_scope.clone(),
        };
        let ctx = context(
            &t,
            &batch,
            transfer.id,
            transfer.sequence_no,
            transfer.created_at,
        );
        // Every payload that carries records must accept the receipt before any outcome
        // is written, so a receipt for another transport changes nothing.
        let mut answers = Vec::new();
        for p in transfer.payloads.iter() {
            let records = engine.store.payload_records(p.id)?;
            if records.is_empty() {
                continue;
            }
            let sdk_records = to_sdk(&records);
            match t.plugin.interpret(&ctx, &p.name, &sdk_records, &response)? {
                // A receipt that does not say for a record settles nothing: the transfer
                // keeps waiting for one that does.
                Ok(outcomes) if outcomes.iter().any(|o| o.status == OutcomeStatus::Unknown) => {
                    refusals.push(format!(
                        "#{}: the receipt does not say for every record of {}",
                        transfer.id, p.name
                    ));
                    answers.clear();
                    break;
                }
                Ok(outcomes) => answers.push((p.clone(), records, outcomes)),
                Err(
                    InterpretError::Failed { message, .. } | InterpretError::Malformed(message),
                ) => {
                    refusals.push(format!("#{}: {message}", transfer.id));
                    answers.clear();
                    break;
                }
            }
        }
        if answers.is_empty() {
            continue;
        }
        let now = engine.now();
        let (mut delivered, mut rejected) = (0, 0);
        let mut state = transfer.state;
        for (p, records, outcomes) in answers {
            let outcomes = per_record(
                t.plugin.name(),
                &records,
                outcomes,
                "the receipt does not mention this record",
            );
            delivered += outcomes
                .iter()
                .filter(|o| o.status == OutcomeStatus::Delivered)
                .count();
            rejected += outcomes
                .iter()
                .filter(|o| o.status == OutcomeStatus::Rejected)
                .count();
            let attempt = NewAttempt {
                begun: None,
                transfer_id: transfer.id,
                payload_id: Some(p.id),
                started_at: now,
                duration_ms: 0,
                endpoint: "receipt".into(),
                credential: None,
                sent: summary(&p),
                received: Some(format!(
                    "receipt, {} bytes: {}",
                    receipt.len(),
                    excerpt(receipt)
                )),
                result: AttemptResult::Delivered,
                error: None,
            };
            state = engine.store.complete_payload(
                p.id,
                Completion::Outcomes(&outcomes),
                &attempt,
                now,
            )?;
        }
        return Ok(ReceiptReport {
            transfer: transfer.id,
            sequence_no: transfer.sequence_no,
            delivered,
            rejected,
            state: state.to_string(),
        });
    }
    Err(SendError::Receipt {
        target: target.to_string(),
        message: if refusals.is_empty() {
            "no transfer is waiting for a receipt".into()
        } else {
            format!(
                "the receipt answers no transfer waiting for one ({})",
                refusals.join("; ")
            )
        },
    })
}
