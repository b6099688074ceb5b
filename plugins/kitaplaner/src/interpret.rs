//! Reads the server's answer to one Datenquelle into one outcome per record.
//!
//! The answer envelope (test model, after Munich's export answer of the same product):
//! `{status, nachricht, fehlermeldung, anzahlDatensaetze, datenquelleId, erledigtAm,
//! datensaetze: [{KIND_ID_EXTERN, KITA_ID_EXTERN, status, meldungen: [...]}]}`, `status` 0
//! meaning imported.

use std::collections::BTreeMap;

use hub_plugin_sdk::{InterpretError, Outcome, OutcomeStatus, Record, Response};
use serde_json::{Map, Value};

use crate::child;
use hub_plugin_sdk::text::excerpt_max;

use crate::fields::{FEHLGESCHLAGEN, KIND_ID_EXTERN, KITA_ID_EXTERN, STAMMDATENPRUEFUNG};

/// How much of an unreadable error body goes into a message.
const SNIPPET_CHARS: usize = 300;
/// How much of one message of the server's is kept.
const MESSAGE_CHARS: usize = 1_000;

/// One entry of the answer's `datensaetze`.
struct Entry {
    key: String,
    status: i64,
    messages: Vec<String>,
}

pub fn interpret(
    payload: &str,
    records: &[Record],
    response: &Response,
) -> Result<Vec<Outcome>, InterpretError> {
    let Some(status) = response.status else {
        return Err(InterpretError::Malformed(format!(
            "payload {payload}: the answer has no HTTP status"
        )));
    };
    if !(200..300).contains(&status) {
        // 408/429/5xx: the server or the way there was busy or down; the same bytes may
        // go through later. Any other status (400/401/403, 404, ...) refuses the request
        // itself (certificate, user, carrier, body), which a resend will not fix.
        let retryable = matches!(status, 408 | 429 | 500..=599);
        return Err(InterpretError::Failed {
            message: format!(
                "payload {payload}: HTTP {status}{}",
                error_text(&response.body)
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default()
            ),
            retryable,
        });
    }
    let envelope = read_envelope(&response.body)
        .map_err(|why| InterpretError::Malformed(format!("payload {payload}: {why}")))?;
    let Envelope {
        entries,
        fehlermeldung,
        nachricht,
        datenquelle_id,
        whole_request_refused,
    } = envelope;
    if whole_request_refused {
        return Err(InterpretError::Failed {
            message: format!(
                "payload {payload}: the server refused the request: {}",
                fehlermeldung.unwrap_or_default()
            ),
            retryable: false,
        });
    }
    let mut by_key: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for entry in &entries {
        by_key.entry(entry.key.as_str()).or_default().push(entry);
    }
    let mut outcomes = Vec::with_capacity(records.len());
    for record in records {
        // Only the id pair matters here; keys outside the table do not hide it.
        let child = child::parse(record, true).ok();
        let key = child
            .as_ref()
            .map(child::Child::key)
            .or_else(|| lenient_key(record));
        let mut status = None;
        let mut messages = Vec::new();
        // Several entries for one child: delivered only if every one says so.
        for entry in key
            .as_deref()
            .and_then(|k| by_key.get(k))
            .into_iter()
            .flatten()
        {
            status = Some(status.unwrap_or(true) && entry.status == 0);
            messages.extend(entry.messages.iter().cloned());
        }
        let status = match status {
            Some(true) => OutcomeStatus::Delivered,
            Some(false) => {
                if let Some(id) = &datenquelle_id {
                    messages.push(format!(
                        "Kita-Planer 2 Datenquelle {id}: check the record there (Träger view, \
                         imports) and settle it"
                    ));
                }
                OutcomeStatus::Rejected
            }
            None => {
                messages.push(not_reported(
                    key.as_deref(),
                    nachricht.as_deref(),
                    fehlermeldung.as_deref(),
                    datenquelle_id.as_deref(),
                ));
                OutcomeStatus::Rejected
            }
        };
        if let Some(note) = child.as_ref().and_then(master_data_note) {
            messages.push(note);
        }
        outcomes.push(Outcome {
            record_id: record.id.clone(),
            status,
            messages,
        });
    }
    Ok(outcomes)
}

/// The note for a record whose name or address was left out of the request.
pub fn master_data_note(child: &child::Child) -> Option<String> {
    let withheld = child.withheld();
    if withheld.is_empty() {
        return None;
    }
    Some(format!(
        "master data not sent ({}): Kita-Planer 2 accepts a child's name and address only \
         when the portal's check of its own data failed, and the record does not carry \
         {STAMMDATENPRUEFUNG}={FEHLGESCHLAGEN}",
        withheld.join(", ")
    ))
}

fn not_reported(
    key: Option<&str>,
    nachricht: Option<&str>,
    fehlermeldung: Option<&str>,
    datenquelle_id: Option<&str>,
) -> String {
    let mut m = match key {
        Some(key) => format!("the server's answer does not report this record ({key})"),
        None => "the record's ids could not be read, so the server's answer cannot be \
                 matched to it"
            .to_string(),
    };
    m.push_str("; whether it was imported is unknown, check it in Kita-Planer 2");
    if let Some(id) = datenquelle_id {
        m.push_str(&format!(" (Datenquelle {id})"));
    }
    for (label, text) in [("nachricht", nachricht), ("fehlermeldung", fehlermeldung)] {
        if let Some(t) = text {
            m.push_str(&format!("; {label}: {t}"));
        }
    }
    m
}

/// The pair of ids of a record that no longer passes validation (a changed table).
fn lenient_key(record: &Record) -> Option<String> {
    let v: Value = serde_json::from_str(&record.body).ok()?;
    let kita = v.get(KITA_ID_EXTERN)?.as_str()?;
    let kind = v.get(KIND_ID_EXTERN)?.as_str()?;
    Some(format!("{kita}/{kind}"))
}

struct Envelope {
    entries: Vec<Entry>,
    fehlermeldung: Option<String>,
    nachricht: Option<String>,
    datenquelle_id: Option<String>,
    /// No per-record list, only a `fehlermeldung`: nothing was taken.
    whole_request_refused: bool,
}

fn read_envelope(body: &[u8]) -> Result<Envelope, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", snippet(body)))?;
    let Value::Object(obj) = v else {
        return Err(format!(
            "the answer is not a JSON object: {}",
            snippet(body)
        ));
    };
    if !obj.get("status").is_some_and(Value::is_i64) {
        return Err("the answer has no integer `status`".into());
    }
    let fehlermeldung = text(&obj, "fehlermeldung");
    let nachricht = text(&obj, "nachricht");
    let datenquelle_id = match obj.get("datenquelleId") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let list = match obj.get("datensaetze") {
        Some(Value::Array(list)) => list.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err("`datensaetze` is not an array".into()),
    };
    let whole_request_refused = list.is_empty() && fehlermeldung.is_some();
    if list.is_empty() && !whole_request_refused && !obj.contains_key("datensaetze") {
        return Err("the answer has neither `datensaetze` nor a `fehlermeldung`".into());
    }
    let entries = list
        .iter()
        .enumerate()
        .map(|(i, e)| entry(e).map_err(|why| format!("datensaetze[{i}]: {why}")))
        .collect::<Result<_, _>>()?;
    Ok(Envelope {
        entries,
        fehlermeldung,
        nachricht,
        datenquelle_id,
        whole_request_refused,
    })
}

fn entry(v: &Value) -> Result<Entry, String> {
    let Value::Object(obj) = v else {
        return Err("not an object".into());
    };
    let id = |k: &str| match obj.get(k) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(format!("`{k}` is not a string")),
    };
    let key = format!("{}/{}", id(KITA_ID_EXTERN)?, id(KIND_ID_EXTERN)?);
    let status = obj
        .get("status")
        .and_then(Value::as_i64)
        .ok_or("`status` is not an integer")?;
    let messages = match obj.get("meldungen") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(verbatim).collect(),
        Some(_) => return Err("`meldungen` is not an array".into()),
    };
    Ok(Entry {
        key,
        status,
        messages,
    })
}

/// A message as the server wrote it: a string as is, anything else as its JSON text;
/// shortened and with control characters escaped.
fn verbatim(v: &Value) -> String {
    match v {
        Value::String(s) => excerpt_max(s, MESSAGE_CHARS),
        other => excerpt_max(&other.to_string(), MESSAGE_CHARS),
    }
}

fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(excerpt_max(s, MESSAGE_CHARS)),
        _ => None,
    }
}

/// What an error answer says: its `fehlermeldung` (or `nachricht`) when it is the
/// envelope, else the start of the body.
fn error_text(body: &[u8]) -> Option<String> {
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body)
        && let Some(t) = text(&obj, "fehlermeldung").or_else(|| text(&obj, "nachricht"))
    {
        return Some(t);
    }
    let s = snippet(body);
    (!s.is_empty()).then_some(s)
}

/// The start of a body as text: what the server sent, shortened and with control
/// characters escaped (the SDK's one excerpt rule), never raw into a log or terminal.
fn snippet(body: &[u8]) -> String {
    excerpt_max(String::from_utf8_lossy(body).trim(), SNIPPET_CHARS)
}
