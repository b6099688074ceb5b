//! Record input as NDJSON: one JSON object a line with at least `id` and `kind`.
//!
//! A file is taken all or nothing, so every problem is collected with its line number
//! before anything is queued; the source can fix the file and send it again as a whole.

use std::collections::HashMap;

use thiserror::Error;

mod canonical;
pub mod lines;

/// The largest line accepted, so one runaway line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// One record as read from input; `body` is the line's JSON object as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    pub line: usize,
    pub id: String,
    pub kind: String,
    pub body: String,
    /// The record's identity beside its id: SHA-256 of its canonical JSON.
    pub content_sha256: String,
}

/// A problem on one line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// All problems of one input, in line order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{} bad line(s), nothing was queued; first: {}", .0.len(), .0.first().map(|e| e.to_string()).unwrap_or_default())]
pub struct InputErrors(pub Vec<LineError>);

/// Input bytes that are not text in the encoding they are read in.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("unknown encoding `{0}` (e.g. utf-8, windows-1252, iso-8859-15)")]
    UnknownEncoding(String),
    /// Where the input stops being text in `encoding`. The caller says how to name another
    /// encoding (`--encoding` on the command line, `charset` over HTTP).
    #[error("line {line}, byte {column} (byte {offset} of the input): not valid {encoding}")]
    Malformed {
        /// The encoding's WHATWG name, e.g. `UTF-8`.
        encoding: String,
        /// Line number, from 1.
        line: usize,
        /// Byte in that line, from 1.
        column: usize,
        /// Byte offset in the whole input, from 0.
        offset: usize,
    },
}

/// The WHATWG name of an encoding label (`latin1` → `windows-1252`), if it is one.
pub fn encoding_name(label: &str) -> Option<&'static str> {
    encoding_rs::Encoding::for_label(label.trim().as_bytes()).map(encoding_rs::Encoding::name)
}

/// Input bytes as text: UTF-8 unless `encoding` names another (a WHATWG label such as
/// `windows-1252`, `latin1`, `iso-8859-15`); a byte-order mark is dropped. An error names
/// the line and byte where the input stops being text in that encoding. The one decoder
/// of the hub's input: `hub enqueue --encoding` and the API's `charset` both use it.
pub fn decode(bytes: &[u8], encoding: Option<&str>) -> Result<String, DecodeError> {
    let enc = match encoding {
        None => encoding_rs::UTF_8,
        Some(label) => encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| DecodeError::UnknownEncoding(label.to_string()))?,
    };
    let malformed = |encoding: &'static encoding_rs::Encoding, offset: usize| {
        let before = bytes.get(..offset).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        DecodeError::Malformed {
            encoding: encoding.name().to_string(),
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: offset - line_start + 1,
            offset,
        }
    };
    if enc == encoding_rs::UTF_8 {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        return match std::str::from_utf8(body) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(malformed(enc, e.valid_up_to() + (bytes.len() - body.len()))),
        };
    }
    // A byte-order mark names the encoding (as browsers do); the decoder says where the
    // first malformed sequence ended, and how long it was.
    let mut decoder = enc.new_decoder();
    let mut text = String::with_capacity(
        decoder
            .max_utf8_buffer_length_without_replacement(bytes.len())
            .unwrap_or(bytes.len()),
    );
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        encoding_rs::DecoderResult::InputEmpty => Ok(text),
        encoding_rs::DecoderResult::Malformed(bad, extra) => {
            let used = decoder.encoding();
            Err(malformed(
                used,
                read.saturating_sub(usize::from(bad) + usize::from(extra)),
            ))
        }
        encoding_rs::DecoderResult::OutputFull => {
            // Not reached: the buffer was sized for the worst case. Decode with
            // replacement rather than fail.
            Ok(enc.decode(bytes).0.into_owned())
        }
    }
}

/// Parses NDJSON text. Blank lines are skipped; line numbers count from 1.
pub fn parse_ndjson(text: &str) -> Result<Vec<InputRecord>, InputErrors> {
    let (records, errors) = parse_ndjson_all(text);
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(InputErrors(errors))
    }
}

/// Parses NDJSON text into the good lines and the problems of the bad ones, so a caller
/// can check the good lines further and report every problem at once.
pub fn parse_ndjson_all(text: &str) -> (Vec<InputRecord>, Vec<LineError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        match parse_record(line, raw) {
            Ok(record) => {
                if let Some(first) = seen.insert(record.id.clone(), line) {
                    errors.push(LineError {
                        line,
                        message: duplicate_id(&record.id, first),
                    });
                    continue;
                }
                records.push(record);
            }
            Err(e) => errors.push(e),
        }
    }
    (records, errors)
}

/// The problem of a record id that came before in the same input.
pub fn duplicate_id(id: &str, first: usize) -> String {
    format!("record id `{id}` already appears on line {first}")
}

/// One non-blank NDJSON line (without its line break) as a record.
pub fn parse_record(line: usize, raw: &str) -> Result<InputRecord, LineError> {
    match parse_line(raw) {
        Ok((id, kind, content_sha256)) => Ok(InputRecord {
            line,
            id,
            kind,
            body: raw.trim().to_string(),
            content_sha256,
        }),
        Err(message) => Err(LineError { line, message }),
    }
}

fn parse_line(raw: &str) -> Result<(String, String, String), String> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(format!(
            "line is {} bytes long, at most {MAX_LINE_BYTES} are accepted",
            raw.len()
        ));
    }
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| format!("not valid JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| "not a JSON object".to_string())?;
    let id = text_field(obj, "id")?;
    let kind = text_field(obj, "kind")?;
    Ok((id, kind, content_sha256(&value)))
}

/// SHA-256 (hex) of a JSON value in its RFC 8785 canonical form: the same record with its
/// keys in another order, other whitespace or other number spellings (`1.0`, `1e0`) has
/// the same identity, whichever route (NDJSON, the API's single JSON) it came by.
pub fn content_sha256(value: &serde_json::Value) -> String {
    use sha2::Digest;
    let mut canonical = Vec::with_capacity(512);
    // A parsed serde_json value always has a canonical form (its numbers are finite);
    // were one ever without it, the value's plain text would stand in.
    if canonical::write(value, &mut canonical).is_err() {
        canonical = value.to_string().into_bytes();
    }
    hex::encode(sha2::Sha256::digest(&canonical))
}

fn text_field(
    obj: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<String, String> {
    match obj.get(name) {
        None => Err(format!("field `{name}` is missing")),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
            Err(format!("field `{name}` is empty"))
        }
        Some(serde_json::Value::String(s)) if s.len() > 200 => {
            Err(format!("field `{name}` is longer than 200 bytes"))
        }
        Some(serde_json::Value::String(s)) if s.chars().any(char::is_control) => {
            Err(format!("field `{name}` contains a control character"))
        }
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "field `{name}` must be a string, found {}",
            match other {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Array(_) => "an array",
                _ => "an object",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_1252_is_read_when_named_and_utf8_errors_name_line_and_byte() {
        let bytes = b"{\"id\":\"a\"}\n{\"name\":\"J\xf6rg\"}\n";
        let e = decode(bytes, None).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Malformed {
                encoding: "UTF-8".into(),
                line: 2,
                column: 11,
                offset: 21
            }
        );
        assert!(e.to_string().contains("line 2, byte 11"), "{e}");
        assert_eq!(
            decode(bytes, Some("windows-1252")).unwrap(),
            "{\"id\":\"a\"}\n{\"name\":\"J\u{f6}rg\"}\n"
        );
        assert_eq!(decode("\u{feff}ü".as_bytes(), None).unwrap(), "ü");
        assert!(matches!(
            decode(b"x", Some("klingon")),
            Err(DecodeError::UnknownEncoding(_))
        ));
        // A multi-byte encoding: the byte where the bad sequence starts.
        let e = decode(b"ab\ncd\x81\x20x", Some("shift_jis")).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Malformed {
                encoding: "Shift_JIS".into(),
                line: 2,
                column: 3,
                offset: 5
            }
        );
    }

    use super::*;

    #[test]
    fn reads_records_and_skips_blank_lines() {
        let text = "{\"id\":\"a\",\"kind\":\"posting\",\"x\":1}\r\n\n  \n{\"id\":\"b\",\"kind\":\"posting\"}";
        let recs = parse_ndjson(text).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].body, "{\"id\":\"a\",\"kind\":\"posting\",\"x\":1}");
        // Key order, whitespace and number spelling do not change the identity.
        let other = parse_ndjson("{ \"x\" : 1.0, \"kind\":\"posting\",\"id\":\"a\" }\n").unwrap();
        assert_eq!(other[0].content_sha256, recs[0].content_sha256);
        let changed = parse_ndjson("{\"id\":\"a\",\"kind\":\"posting\",\"x\":2}\n").unwrap();
        assert_ne!(changed[0].content_sha256, recs[0].content_sha256);
        assert_eq!((recs[1].line, recs[1].id.as_str()), (4, "b"));
    }

    #[test]
    fn reports_every_bad_line_with_its_number() {
        let text = [
            r#"{"id":"a","kind":"k"}"#,
            r#"{"id":"b"}"#,
            r#"not json"#,
            r#"[1,2]"#,
            r#"{"id":7,"kind":"k"}"#,
            r#"{"id":"a","kind":"k"}"#,
            r#"{"id":"","kind":"k"}"#,
        ]
        .join("\n");
        let errs = parse_ndjson(&text).unwrap_err().0;
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(got[0], (2, "field `kind` is missing"));
        assert!(got[1].1.starts_with("not valid JSON"), "{:?}", got[1]);
        assert_eq!(got[1].0, 3);
        assert_eq!(got[2], (4, "not a JSON object"));
        assert_eq!(got[3], (5, "field `id` must be a string, found a number"));
        assert_eq!(got[4], (6, "record id `a` already appears on line 1"));
        assert_eq!(got[5], (7, "field `id` is empty"));
        assert_eq!(errs.len(), 6);
    }
}
