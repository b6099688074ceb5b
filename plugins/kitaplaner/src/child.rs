//! Reads a `child` record body and checks it against the field table.

use std::borrow::Cow;

use hub_plugin_sdk::json;
use hub_plugin_sdk::text::is_dd_mm_yyyy;
use hub_plugin_sdk::{Record, RecordError};
use serde_json::Value;

use crate::fields::{
    FEHLGESCHLAGEN, FIELDS, Field, Format, KIND_ID_EXTERN, KITA_ID_EXTERN, STAMMDATENPRUEFUNG,
    Sent, lookup, lookup_from, position,
};

/// The one record kind this plugin takes.
pub const KIND: &str = "child";

/// A valid `child` record: its values by table position, borrowed from the record's body
/// where they have no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child<'a> {
    values: Vec<Option<Cow<'a, str>>>,
    /// Keys outside the table, passed through verbatim (setting `pass_unknown_keys`),
    /// sorted by key so the bytes do not depend on the input's order.
    extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl Child<'_> {
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

    /// The `(key, value)` pairs sent: the table's keys in table order, then any passed
    /// through keys in key order.
    pub fn sent(&self) -> impl Iterator<Item = (&str, &str)> {
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
            .chain(self.extra.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
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

/// Parses and checks a record, with keys in the import or the export vocabulary
/// ([`crate::fields::EXPORT_NAMES`]); the error names the record and every bad field
/// (all of them, so one run finds every problem). The body's `id` and `kind` keys (the
/// host's NDJSON line) are ignored. With `pass_unknown` a key outside the table is sent
/// as it is (its value must be a string) instead of refused.
pub fn parse(record: &Record, pass_unknown: bool) -> Result<Child<'_>, RecordError> {
    let id = record.id.as_str();
    if record.kind != KIND {
        return Err(RecordError::record(
            id,
            format!("record kind `{}` is not `{KIND}`", record.kind),
        ));
    }
    // Members in order with keys given twice kept: every bad field is reported at once.
    let body = json::parse_raw(record)?;
    let mut values: Vec<Option<Cow<'_, str>>> = vec![None; FIELDS.len()];
    // The key each value came under, to name both spellings of a field given twice.
    let mut given_as: Vec<Option<Cow<'_, str>>> = vec![None; FIELDS.len()];
    let mut extra: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    let mut bad: Vec<(String, String)> = Vec::new();
    // The row after the last key's: where the next key usually is.
    let mut hint = 0;
    for (key, value) in body.0 {
        if key == "id" || key == "kind" {
            continue;
        }
        let text = match json::raw_text(value) {
            Ok(text) => text,
            Err(other) => {
                bad.push((
                    key.into_owned(),
                    format!("must be a string, found {}", type_name(&other)),
                ));
                continue;
            }
        };
        let Some((i, _)) = lookup_from(&key, hint) else {
            if pass_unknown {
                if extra.iter().any(|(k, _)| *k == key) {
                    bad.push((key.into_owned(), "appears twice in the body".into()));
                } else {
                    extra.push((key, text));
                }
            } else {
                let message = unknown_key(&key);
                bad.push((key.into_owned(), message));
            }
            continue;
        };
        hint = i + 1;
        let Some(field) = FIELDS.get(i) else {
            continue;
        };
        if let Err(m) = check(field, &text) {
            bad.push((key.into_owned(), m));
            continue;
        }
        match (values.get_mut(i), given_as.get_mut(i)) {
            (Some(slot @ None), Some(name)) => {
                *slot = Some(text);
                *name = Some(key);
            }
            (_, Some(Some(first))) if *first != key => {
                let message = format!("`{}` is given as `{first}` too", field.key);
                bad.push((key.into_owned(), message));
            }
            _ => bad.push((key.into_owned(), "appears twice in the body".into())),
        }
    }
    for (field, value) in FIELDS.iter().zip(&values) {
        let refused = bad
            .iter()
            .any(|(k, _)| lookup(k).map(|(_, t)| t) == Some(field.key));
        if field.required && value.is_none() && !refused {
            bad.push((field.key.to_string(), missing(field.key)));
        }
    }
    extra.sort();
    match bad.len() {
        0 => Ok(Child { values, extra }),
        1 => {
            let (key, message) = bad.remove(0);
            Err(RecordError::field(id, &key, message))
        }
        n => {
            // One error per record is what the contract carries: the first field names it,
            // the message lists every bad field.
            let list: Vec<String> = bad.iter().map(|(k, m)| format!("{k}: {m}")).collect();
            let first = bad.first().map(|(k, _)| k.clone()).unwrap_or_default();
            Err(RecordError::field(
                id,
                &first,
                format!("{n} bad fields: {}", list.join("; ")),
            ))
        }
    }
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

    fn parse_strict(r: &Record) -> Result<Child<'_>, RecordError> {
        parse(r, false)
    }

    const BASE: &str =
        r#""KITA_ID_EXTERN":"010570012","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"01.08.2024""#;

    #[test]
    fn suggests_the_key_meant() {
        let e = parse_strict(&rec(&format!(
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
        let e = parse_strict(&rec(&format!(
            r#"{{{BASE},"VER_GRUPPE":"a","VER_GRUPPE":"b"}}"#
        )))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("VER_GRUPPE"));
        let e = parse_strict(&rec(
            r#"{"KITA_ID_EXTERN":"01/05","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"01.08.2024"}"#,
        ))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("KITA_ID_EXTERN"));
    }

    #[test]
    fn empty_optional_values_are_kept() {
        let r = rec(&format!(r#"{{{BASE},"VER_KUENDIGUNG_ZUM":""}}"#));
        let c = parse_strict(&r).unwrap();
        assert_eq!(c.get("VER_KUENDIGUNG_ZUM"), Some(""));
        assert!(
            c.sent()
                .any(|(k, v)| k == "VER_KUENDIGUNG_ZUM" && v.is_empty())
        );
    }
}

#[cfg(test)]
mod vocabulary {
    use super::*;

    fn rec(body: &str) -> Record {
        Record {
            id: "r1".into(),
            kind: KIND.into(),
            body: body.into(),
        }
    }

    #[test]
    fn the_export_vocabulary_is_read_and_sent_under_the_import_names() {
        let r = rec(
            r#"{"KITA_ID_EXTERN":"010570012","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"01.08.2024",
            "VER_BETREUUNGSSTUNDEN_TÄGLICH_ZUM_EXPORTDATUM":"8","VER_ALTERSGRUPPE_ZUM_EXPORTDATUM":"U3",
            "KITA_ID":"4711","KITA_KITANAME":"Kita Seestern","EXPORTDATUM":"01.09.2024",
            "ABW_POSTLEITZAHL":"24103","STAMMDATENPRUEFUNG":"FEHLGESCHLAGEN"}"#,
        );
        let c = parse(&r, false).unwrap();
        let sent: Vec<(&str, &str)> = c.sent().collect();
        assert!(
            sent.contains(&("VER_BETREUUNGSSTUNDEN_TÄGLICH", "8")),
            "{sent:?}"
        );
        assert!(sent.contains(&("VER_ALTERSGRUPPE", "U3")), "{sent:?}");
        assert!(sent.contains(&("ABW_PLZ", "24103")), "{sent:?}");
        assert!(
            !sent
                .iter()
                .any(|(k, _)| ["KITA_ID", "KITA_KITANAME", "EXPORTDATUM"].contains(k)),
            "{sent:?}"
        );
    }

    #[test]
    fn both_spellings_of_one_field_are_refused() {
        let e = parse(
            &rec(
                r#"{"KITA_ID_EXTERN":"1","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"01.08.2024",
                "ABW_PLZ":"24103","ABW_POSTLEITZAHL":"24105"}"#,
            ),
            false,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("ABW_POSTLEITZAHL"));
        assert!(e.message.contains("given as `ABW_PLZ` too"), "{e}");
    }

    #[test]
    fn every_bad_field_of_a_record_is_named_at_once() {
        let e = parse(
            &rec(
                r#"{"KITA_ID_EXTERN":"1","KIND_ID_EXTERN":"K1","KIND_GEBDATUM":"2022-03-01",
                "KIND_GESCHLECHT":"q","BEW_STATUS":"x","VER_GRUPPE":3}"#,
            ),
            false,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("KIND_GEBDATUM"));
        for part in [
            "5 bad fields",
            "KIND_GEBDATUM: `2022-03-01` is not a date",
            "KIND_GESCHLECHT: `q` is not one of",
            "BEW_STATUS: unknown key",
            "VER_GRUPPE: must be a string",
            "VER_VERTRAG_AB: is missing",
        ] {
            assert!(e.message.contains(part), "{part}: {e}");
        }
    }

    #[test]
    fn unknown_keys_pass_through_when_asked_sorted_after_the_table() {
        let body = r#"{"KITA_ID_EXTERN":"1","KIND_ID_EXTERN":"K1","VER_VERTRAG_AB":"01.08.2024",
            "BEW_STATUS":"x","BEW_AB":"01.08.2024"}"#;
        assert!(parse(&rec(body), false).is_err());
        let r = rec(body);
        let c = parse(&r, true).unwrap();
        let sent: Vec<(&str, &str)> = c.sent().collect();
        let n = sent.len();
        assert_eq!(
            &sent[n - 2..],
            &[("BEW_AB", "01.08.2024"), ("BEW_STATUS", "x")]
        );
    }
}
