//! Reading a record's JSON body field by field, so every refusal names the record, the
//! field (a dotted path for nested ones, `tracks[2].guid`) and its [`ErrorCode`].
//!
//! The built-in plugins each had their own accessor for this; this is the one they share
//! (each keeps only the rules of its own format on top); [`RawEntries`] reads the same
//! bodies without copying them, for plugins reading many flat records. JSON `null` counts
//! as absent, a key given twice in an object is refused (serde_json would keep the last
//! one silently), and the host's `id` and `kind` keys are never "unknown".
//!
//! ```
//! use hub_plugin_sdk::{ErrorCode, Record, json};
//!
//! let r = Record::new("r1", "case", r#"{"name": "Mia", "tracks": [{"n": "x"}]}"#);
//! let map = json::parse_object(&r).unwrap();
//! let body = json::Fields::top(&r.id, &map);
//! assert_eq!(body.req_str("name").unwrap(), "Mia");
//! let e = body.list("tracks").unwrap()[0].i64("n").unwrap_err();
//! assert_eq!(e.field.as_deref(), Some("tracks[0].n"));
//! assert_eq!(e.code, ErrorCode::Malformed);
//! assert_eq!(body.req_str("city").unwrap_err().code, ErrorCode::Missing);
//! let twice = Record::new("r2", "case", r#"{"a": 1, "a": 2}"#);
//! assert_eq!(json::parse_object(&twice).unwrap_err().code, ErrorCode::Duplicate);
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::{ErrorCode, Record, RecordError};

/// Keys the host leaves in every body (it keeps the whole NDJSON line); they carry no data.
pub const HOST_KEYS: [&str; 2] = ["id", "kind"];

/// A JSON object's members in their order, keys given twice kept, so a reader can refuse
/// them by name (or report every bad field at once, as Kita-Planer's does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entries(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A record's body as a JSON object's members in their order, duplicates kept.
pub fn parse_entries(record: &Record) -> Result<Entries, RecordError> {
    serde_json::from_str(&record.body).map_err(|e| not_json(record, &e))
}

/// A JSON object's members in their order, duplicates kept, read without copying: a key
/// borrows from the body unless it has an escape, a value is its raw JSON text. For
/// plugins reading many flat records (Kita-Planer's): [`Entries`] allocated a key and a
/// value per member, and building them was most of a record's cost.
#[derive(Debug, Default)]
pub struct RawEntries<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

/// A key borrowed from the text where it can be (no escapes).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for RawEntries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntries<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(RawEntries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A record's body as [`RawEntries`]; the same errors as [`parse_entries`].
pub fn parse_raw(record: &Record) -> Result<RawEntries<'_>, RecordError> {
    serde_json::from_str(&record.body).map_err(|e| not_json(record, &e))
}

fn not_json(record: &Record, e: &serde_json::Error) -> RecordError {
    let what = if e.is_data() {
        "a JSON object"
    } else {
        "valid JSON"
    };
    RecordError::record(&record.id, format!("body is not {what}: {e}")).code(ErrorCode::Malformed)
}

impl<'a> RawEntries<'a> {
    /// A record's body as a JSON object with the checks [`parse_object`] and
    /// [`Fields::check_keys`] make at its top: a key given twice, or one not in `known`
    /// (nor a host key), is refused by name (`message` says why it is unknown).
    pub fn top(record: &'a Record, known: &[&str], message: &str) -> Result<Self, RecordError> {
        let entries = parse_raw(record)?;
        for (i, (k, _)) in entries.0.iter().enumerate() {
            if entries.0[..i].iter().any(|(seen, _)| seen == k) {
                return Err(twice(&record.id, k));
            }
        }
        match first_unknown(entries.0.iter().map(|(k, _)| k.as_ref()), known, true) {
            Some(k) => Err(unknown(&record.id, k, message)),
            None => Ok(entries),
        }
    }

    /// The raw value of `key` (its first member); JSON `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        let (_, v) = self.0.iter().find(|(k, _)| k == key)?;
        (v.get() != "null").then_some(*v)
    }
}

/// A raw value as text if it is a JSON string (borrowed unless it has an escape), else
/// the value it is, for a message naming its type.
pub fn raw_text(raw: &RawValue) -> Result<Cow<'_, str>, Value> {
    let json = raw.get();
    match json.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        // Parsed as a string already: without a backslash its text is the string.
        Some(inner) if !inner.contains('\\') => Ok(Cow::Borrowed(inner)),
        Some(_) => serde_json::from_str::<String>(json)
            .map(Cow::Owned)
            .map_err(|_| Value::Null),
        None => Err(serde_json::from_str(json).unwrap_or(Value::Null)),
    }
}

/// Appends `s` as a JSON string, byte for byte as serde_json writes it: `"` and `\`
/// escaped, the short escapes for backspace, form feed, newline, carriage return and tab,
/// `\u00xx` for the other control characters, everything else (ä, ö, ü, ß) as UTF-8.
/// For plugins that write their bodies by hand, so key order and bytes are theirs.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    // Runs without an escape are copied whole. Every escaped byte is ASCII, so `i` is
    // always a char boundary.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escaped);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// A record's body as a JSON object; a key given twice at its top is refused by name.
pub fn parse_object(record: &Record) -> Result<Map<String, Value>, RecordError> {
    let entries = parse_entries(record)?;
    let mut map = Map::new();
    for (k, v) in entries.0 {
        if map.contains_key(&k) {
            return Err(twice(&record.id, &k));
        }
        map.insert(k, v);
    }
    Ok(map)
}

/// The error for a required key (at `path`) that is absent.
pub fn missing(record_id: &str, path: &str) -> RecordError {
    RecordError::field(record_id, path, "is required").code(ErrorCode::Missing)
}

fn twice(record_id: &str, key: &str) -> RecordError {
    RecordError::field(record_id, key, "appears twice in the body").code(ErrorCode::Duplicate)
}

fn unknown(record_id: &str, path: &str, message: &str) -> RecordError {
    RecordError::field(record_id, path, message).code(ErrorCode::Unsupported)
}

/// The first key neither in `known` nor (at an object's `top`) a host key, each looked
/// for with [`position_from`] after the last key's place (Prisme's 70 fields were scanned
/// for every key of every posting).
fn first_unknown<'k>(
    keys: impl Iterator<Item = &'k str>,
    known: &[&str],
    top: bool,
) -> Option<&'k str> {
    let mut next = 0;
    for k in keys {
        if top && HOST_KEYS.contains(&k) {
            continue;
        }
        match position_from(known, next, |x| *x == k) {
            Some(i) => next = i + 1,
            None => return Some(k),
        }
    }
    None
}

/// The position of the first row matching `is`, looked for from row `from` on and then in
/// the rows before it. Bodies usually list their keys in their field table's order, so a
/// search from the row after the last key's finds the next key in a comparison or two
/// instead of a scan of the table.
pub fn position_from<T>(rows: &[T], from: usize, is: impl Fn(&T) -> bool) -> Option<usize> {
    let from = from.min(rows.len());
    let (before, after) = rows.split_at(from);
    after
        .iter()
        .position(&is)
        .map(|i| from + i)
        .or_else(|| before.iter().position(is))
}

/// One JSON object of a record's body (the body, or an object inside it) with the record's
/// id and the object's path, so every error names both.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    record_id: &'a str,
    /// Empty for the body; `address`, `tracks[2]` below it.
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// The body of record `record_id` (from [`parse_object`]).
    pub fn top(record_id: &'a str, map: &'a Map<String, Value>) -> Self {
        Self {
            record_id,
            path: String::new(),
            map,
        }
    }

    /// The record's id.
    pub fn record_id(&self) -> &'a str {
        self.record_id
    }

    /// The path of `key` in the body, as errors name it.
    pub fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// An error about `key` (code [`ErrorCode::Other`]; chain `.code(…)` for another).
    pub fn err(&self, key: &str, message: impl Into<String>) -> RecordError {
        RecordError::field(self.record_id, &self.path(key), message)
    }

    /// The error for a required key that is absent.
    pub fn missing(&self, key: &str) -> RecordError {
        missing(self.record_id, &self.path(key))
    }

    /// Refuses a key not in `known` (and not a host key, at the top), naming it, with
    /// `message`: a misspelt optional field is an error, not silently missing data.
    pub fn check_keys(&self, known: &[&str], message: &str) -> Result<(), RecordError> {
        match first_unknown(self.keys(), known, self.path.is_empty()) {
            Some(k) => Err(unknown(self.record_id, &self.path(k), message)),
            None => Ok(()),
        }
    }

    /// The keys, in the map's order.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.map.keys().map(String::as_str)
    }

    /// The value of a key; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, wanted: &str, found: &Value) -> RecordError {
        self.err(key, format!("must be {wanted}, found {}", type_name(found)))
            .code(ErrorCode::Malformed)
    }

    /// An optional string.
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, RecordError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A required string.
    pub fn req_str(&self, key: &str) -> Result<&'a str, RecordError> {
        self.str(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional whole number (a JSON integer).
    pub fn i64(&self, key: &str) -> Result<Option<i64>, RecordError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a whole number", v)),
        }
    }

    /// An optional whole number from 0 to `u32::MAX`.
    pub fn u32(&self, key: &str) -> Result<Option<u32>, RecordError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    self.err(key, "must be a whole number from 0 to 4294967295")
                        .code(if v.is_number() {
                            ErrorCode::OutOfRange
                        } else {
                            ErrorCode::Malformed
                        })
                }),
        }
    }

    /// An optional `true` or `false`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, RecordError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    /// An optional list (absent: empty).
    pub fn array(&self, key: &str) -> Result<&'a [Value], RecordError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "a list", other)),
        }
    }

    /// An optional list of objects (absent: empty), each read with `key[i]` in its path.
    pub fn list(&self, key: &str) -> Result<Vec<Fields<'a>>, RecordError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{key}[{i}]");
                match item {
                    Value::Object(map) => Ok(Fields {
                        record_id: self.record_id,
                        path: self.path(&at),
                        map,
                    }),
                    other => Err(self.wrong(&at, "an object", other)),
                }
            })
            .collect()
    }

    /// An optional object inside this one.
    pub fn object(&self, key: &str) -> Result<Option<Fields<'a>>, RecordError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields {
                record_id: self.record_id,
                path: self.path(key),
                map,
            })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }
}

/// A JSON value's type, as messages name it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_strings_as_serde_json_does() {
        for s in [
            "",
            "plain",
            "Jörg \"Jö\" Müßig\\",
            "a\nb\tc\r\u{8}\u{c}\u{1}\u{1f}\u{7f}",
            "€𝄞",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn raw_entries_read_as_the_owned_ones_do_and_borrow_where_they_can() {
        let body = r#"{"a":"plain","b\u00e4":"x\"y\u00fc\n","c":12,"d":null,"e":[1],"a":"again","f":{"g":"h"},"i":""}"#;
        let r = Record::new("r1", "case", body);
        let raw = parse_raw(&r).unwrap();
        let owned = parse_entries(&r).unwrap();
        assert_eq!(raw.0.len(), owned.0.len());
        for ((rk, rv), (ok, ov)) in raw.0.iter().zip(&owned.0) {
            assert_eq!(rk, ok);
            match (raw_text(rv), ov) {
                (Ok(text), Value::String(s)) => assert_eq!(&text, s),
                (Err(v), other) => assert_eq!(&v, other),
                (Ok(text), other) => panic!("{rk}: {text:?} read as text, is {other}"),
            }
        }
        assert!(matches!(raw.0[0], (Cow::Borrowed("a"), _)));
        assert!(matches!(raw_text(raw.0[0].1), Ok(Cow::Borrowed("plain"))));
        assert_eq!(raw.0[1].0, "b\u{e4}");
        for bad in ["[1]", "{\"a\":", "not json"] {
            let e = parse_raw(&Record::new("r9", "case", bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::Malformed, "{bad}");
            assert_eq!(
                e,
                parse_entries(&Record::new("r9", "case", bad)).unwrap_err()
            );
        }
    }

    #[test]
    fn an_unknown_key_is_found_whatever_the_order_of_the_known_ones() {
        let known = ["a", "b", "c", "d"];
        let cases: [(&[&str], bool, Option<&str>); 7] = [
            (&["a", "b", "c", "d"], false, None),
            (&["d", "c", "b", "a"], false, None),
            (&["c", "a", "d", "b", "a"], false, None),
            (&["id", "kind", "b"], true, None),
            (&["id", "b"], false, Some("id")),
            (&["b", "d", "x", "a"], false, Some("x")),
            (&["d", "a", "b", "c", "e"], true, Some("e")),
        ];
        for (keys, top, unknown) in cases {
            assert_eq!(
                first_unknown(keys.iter().copied(), &known, top),
                unknown,
                "{keys:?}"
            );
        }
    }
}
