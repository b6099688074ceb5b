//! A request-response test plugin that offers a status query (contract 0.1.1 `inquiry`):
//! one POST per transfer to the Kita test server's import path with each record's
//! `KITA_ID_EXTERN`/`KIND_ID_EXTERN`, and, when an outcome is unknown, the question
//! `GET /kitaplaner/api/import/status?key=<Idempotency-Key>`, whose `{"imported": …}` it
//! judges. Kita-Planer itself documents no such query; this plugin exists to test the
//! hub's side of it.

use hub_plugin_sdk::*;

/// The plugin.
pub struct Asking;

fn field(record: &Record, name: &str) -> Result<String, RecordError> {
    let v: serde_json::Value = serde_json::from_str(&record.body)
        .map_err(|e| RecordError::record(&record.id, format!("not JSON: {e}")))?;
    v.get(name)
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .ok_or_else(|| RecordError::field(&record.id, name, "missing"))
}

impl Plugin for Asking {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "asking".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec!["child".into()],
            settings: vec![],
            delivery: Delivery::RequestResponse,
            max_batch: 100,
        }
    }

    fn validate(_settings: &Settings, record: &Record) -> Result<RecordMeta, RecordError> {
        field(record, "KITA_ID_EXTERN")?;
        field(record, "KIND_ID_EXTERN")?;
        Ok(RecordMeta::single_batch())
    }

    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        let mut rows = Vec::new();
        for r in records {
            rows.push(serde_json::json!({
                "KITA_ID_EXTERN": field(r, "KITA_ID_EXTERN").map_err(|e| EncodeError::Records(vec![e]))?,
                "KIND_ID_EXTERN": field(r, "KIND_ID_EXTERN").map_err(|e| EncodeError::Records(vec![e]))?,
            }));
        }
        let body = serde_json::json!({ "benutzerId": "test", "traeger": "T", "datensaetze": rows });
        Ok(vec![
            Payload::new(
                format!("datenquelle-{}.json", ctx.transfer_id),
                "application/json",
                body.to_string().into_bytes(),
            )
            .carrying(records),
        ])
    }

    fn interpret(
        _ctx: &Context,
        _payload: &str,
        records: &[Record],
        response: &Response,
    ) -> Result<Vec<Outcome>, InterpretError> {
        match response.status {
            Some(200) => Ok(records.iter().map(|r| Outcome::delivered(&r.id)).collect()),
            Some(s) => Err(InterpretError::Failed {
                message: format!("HTTP {s}"),
                retryable: s >= 500,
            }),
            None => Err(InterpretError::Malformed("no status".into())),
        }
    }

    fn ask(_settings: &Settings, _transfer_id: u64, _payload: &str, key: &str) -> Option<Question> {
        Some(Question {
            method: "GET".into(),
            path: format!("/kitaplaner/api/import/status?key={key}"),
            headers: Vec::new(),
            body: Vec::new(),
        })
    }

    fn judge(_settings: &Settings, _payload: &str, status: u16, body: &[u8]) -> Finding {
        let answer: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        match (
            status,
            answer.and_then(|a| a.get("imported").and_then(|i| i.as_bool())),
        ) {
            (200, Some(true)) => Finding::Arrived,
            (200, Some(false)) => Finding::NotArrived,
            _ => Finding::Unknown,
        }
    }
}

export_plugin!(Asking);
