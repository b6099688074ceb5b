//! Reads a `child` record body and checks it against the field table.

use std::fmt;

use hub_plugin_sdk::text::is_dd_mm_yyyy;
use hub_plugin_sdk::{Record, RecordError};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::fields::{
    FEHLGESCHLAGEN, FIELDS, Field, Format, KIND_ID_EXTERN, KITA_ID_EXTERN, STAMMDATENPRUEFUNG,
    Sent, position,
};

/// The one record kind this plugin takes.
pub const KIND: &str = "child";

/// A valid `child` record: its values by table position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    values: Vec<Option<String>>,
}

impl Child {
    /// The value of a key, if the record carries it.
    pub fn get(&self, key: &str) -> Option<&str> {
        position(key).and_then(|i| self.values.get(i)?.as_deref())
    }

    pub fn kita_id(&self) -> &str {
        self.get(KITA_ID_EXTERN).unwrap_or_default()
    }

    pub fn kind_id(&self) -> &str {
        self.get(KIND_ID_EXTERN).unwrap_or_default()
    }

    /// `<KITA_ID_EXTERN>/<KIND_ID_EXTERN>`: one child in one Kita, the pair the server
    /// answers by (neither id may contain `/`, so the key is unambiguous).
    pub fn key(&self) -> String {
        format!("{}/{}", self.kita_id(), self.kind_id())
    }

    /// True when the portal's master-data check failed, so name and address are sent.
    pub fn master_data_wanted(&self) -> bool {
        self.get(STAMMDATENPRUEFUNG) == Some(FEHLGESCHLAGEN)
    }

    /// The `(key, value)` pairs sent, in table order.
    pub fn sent(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let master = self.master_data_wanted();
        FIELDS
            .iter()
            .zip(&self.values)
            .filter(move |(f, _)| match f.sent {
                Sent::Always => true,
                Sent::MasterData => master,
                Sent::Never => false,
            })
            .filter_map(|(f, v)| Some((f.key, v.as_deref()?)))
    }

    /// The master-data keys this record carries but that are left out of the request.
    pub fn withheld(&self) -> Vec<&'static str> {
        if self.master_data_wanted() {
            return Vec::new();
        }
        FIELDS
            .iter()
            .zip(&self.values)
            .filter(|(f, v)| f.sent == Sent::MasterData && v.is_some())
            .map(|(f, _)| f.key)
            .collect()
    }
}

/// Parses and checks a record; the error names the record and, where there is one, the
/// field. The body's `id` and `kind` keys (the host's NDJSON line) are ignored.
pub fn parse(record: &Record) -> Result<Child, RecordError> {
    let id = record.id.as_str();
    if record.kind != KIND {
        return Err(RecordError::record(
            id,
            format!("record kind `{}` is not `{KIND}`", record.kind),
        ));
    }
    let body: Body = serde_json::from_str(&record.body)
        .map_err(|e| RecordError::record(id, format!("body is not a JSON object: {e}")))?;
    let mut values: Vec<Option<String>> = vec![None; FIELDS.len()];
    for (key, value) in body.0 {
        if key == "id" || key == "kind" {
            continue;
        }
        let Some(i) = position(&key) else {
            return Err(RecordError::field(id, &key, unknown_key(&key)));
        };
        let Some(field) = FIELDS.get(i) else {
            continue;
        };
        let Value::String(text) = value else {
            return Err(RecordError::field(
                id,
                &key,
                format!("must be a string, found {}", type_name(&value)),
            ));
        };
        check(field, &text).map_err(|m| RecordError::field(id, &key, m))?;
        match values.get_mut(i) {
            Some(slot @ None) => *slot = Some(text),
            _ => return Err(RecordError::field(id, &key, "appears twice in the body")),
        }
    }
    for (field, value) in FIELDS.iter().zip(&values) {
        if field.required && value.is_none() {
            return Err(RecordError::field(id, field.key, missing(field.key)));
        }
    }
    Ok(Child { values })
}

/// Checks one value against its table row.
fn check(field: &Field, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return if field.required {
            Err("is required and must not be empty".into())
        } else {
            Ok(())
        };
    }
    if field.key == KITA_ID_EXTERN || field.key == KIND_ID_EXTERN {
        // The ids are matched against the server's answer and joined into the supersede
        // key, so they must be exact and unambiguous.
        if value.trim() != value || value.contains('/') || value.chars().any(char::is_control) {
            return Err(format!(
                "`{value}` must not contain `/`, control characters or surrounding spaces"
            ));
        }
    } else if field.required && value.trim().is_empty() {
        return Err("is required and must not be blank".into());
    }
    match field.format {
        Format::Text => Ok(()),
        Format::Date if is_dd_mm_yyyy(value) => Ok(()),
        Format::Date => Err(format!("`{value}` is not a date written dd.MM.yyyy")),
        Format::OneOf(allowed) if allowed.contains(&value) => Ok(()),
        Format::OneOf(allowed) => Err(format!(
            "`{value}` is not one of: {}{}",
            allowed.join(", "),
            if field.required { "" } else { " (or empty)" }
        )),
    }
}

fn missing(key: &str) -> String {
    match key {
        KITA_ID_EXTERN | KIND_ID_EXTERN => format!(
            "is missing: Kita-Planer 2 takes a child only when both {KITA_ID_EXTERN} and \
             {KIND_ID_EXTERN} are filled"
        ),
        _ => "is missing: it is required (only children with a care contract are sent)".into(),
    }
}

/// The message for an unknown key, with the known key it most likely means.
fn unknown_key(key: &str) -> String {
    let folded = fold(key);
    match FIELDS.iter().find(|f| fold(f.key) == folded) {
        Some(f) => format!("unknown key `{key}`; did you mean `{}`?", f.key),
        None => format!("unknown key `{key}`: the Kita-Planer 2 field table has no such key"),
    }
}

/// Upper case with umlauts spelled out, so `Stammdatenprüfung` finds `STAMMDATENPRUEFUNG`.
fn fold(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars().flat_map(char::to_uppercase) {
        match c {
            'Ä' => out.push_str("AE"),
            'Ö' => out.push_str("OE"),
            'Ü' => out.push_str("UE"),
            'ß' | 'ẞ' => out.push_str("SS"),
            '-' | ' ' => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null (leave the key out or send \"\")",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object's members in their order, duplicates kept (serde_json's map would keep
/// only the last one silently).
struct Body(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Body(members))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(body: &str) -> Record {
        Record {
            id: "r1".into(),
            kind: KIND.into(),
            body: body.into(),
        }
    }

    const BASE: &str =
        r#""KITA_ID_EXTERN":"010570012","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"01.08.2024""#;

    #[test]
    fn suggests_the_key_meant() {
        let e = parse(&rec(&format!(
            r#"{{{BASE},"Stammdatenprüfung":"FEHLGESCHLAGEN"}}"#
        )))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("Stammdatenprüfung"));
        assert!(
            e.message.contains("did you mean `STAMMDATENPRUEFUNG`"),
            "{e}"
        );
    }

    #[test]
    fn refuses_duplicate_keys_and_slashes_in_ids() {
        let e = parse(&rec(&format!(
            r#"{{{BASE},"VER_GRUPPE":"a","VER_GRUPPE":"b"}}"#
        )))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("VER_GRUPPE"));
        let e = parse(&rec(
            r#"{"KITA_ID_EXTERN":"01/05","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"01.08.2024"}"#,
        ))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("KITA_ID_EXTERN"));
    }

    #[test]
    fn empty_optional_values_are_kept() {
        let c = parse(&rec(&format!(r#"{{{BASE},"VER_KUENDIGUNG_ZUM":""}}"#))).unwrap();
        assert_eq!(c.get("VER_KUENDIGUNG_ZUM"), Some(""));
        assert!(
            c.sent()
                .any(|(k, v)| k == "VER_KUENDIGUNG_ZUM" && v.is_empty())
        );
    }
}
