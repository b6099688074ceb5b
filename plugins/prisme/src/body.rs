//! Reading a record body: a flat JSON object whose fields are checked one by one, so every
//! refusal names the record and the field. The JSON side (parsing, keys given twice or
//! unknown, null as absent, codes) is the SDK's `json`; the rules of G and Q files are here.

use hub_plugin_sdk::json::{self, RawEntries};
use hub_plugin_sdk::{ErrorCode, Record, RecordError};
use serde_json::Value;

/// How a digit field is fitted to its width.
#[derive(Clone, Copy)]
pub(crate) enum Fill {
    /// Zero-padded on the left to the full width (KMD numeric fields).
    Zero,
    /// Written as given, 1 to `width` digits.
    AsGiven,
    /// Leading zeros dropped (a number, not a code): `000123` is written `123`.
    NoLeadingZeros,
}

/// A parsed body and the id of the record it belongs to. Its members stay raw JSON text
/// until a field is read: building a map of every key and value was most of the cost of
/// checking a posting.
pub(crate) struct Body<'a> {
    id: &'a str,
    entries: RawEntries<'a>,
    /// Which (length, first byte, last byte) marks the body's keys have: a field asked
    /// for whose mark is not here is absent without searching the map. A posting may
    /// have ~60 optional fields and a body has ~10; before this the map's search for
    /// the absent ones was the plugin's hottest code (perf, 100,000 postings enqueued).
    marks: [u64; 4],
}

/// A key's bit in [`Body::marks`].
fn mark(key: &str) -> (usize, u64) {
    let b = key.as_bytes();
    let h = (b.len() as u32)
        .wrapping_mul(31)
        .wrapping_add(u32::from(b.first().copied().unwrap_or(0)))
        .wrapping_mul(31)
        .wrapping_add(u32::from(b.last().copied().unwrap_or(0)));
    let bit = (h.wrapping_mul(0x9E37_79B1) >> 24) as usize;
    (bit / 64, 1 << (bit % 64))
}

impl<'a> Body<'a> {
    /// Parses `record.body`, refusing anything but a JSON object and any key not in `known`,
    /// so a misspelt optional field is an error rather than silently missing data.
    pub(crate) fn parse(record: &'a Record, known: &[&str]) -> Result<Self, RecordError> {
        let entries = RawEntries::top(
            record,
            known,
            &format!("unknown field for a {} record", record.kind),
        )?;
        let mut marks = [0; 4];
        for (k, _) in &entries.0 {
            let (word, bit) = mark(k);
            marks[word] |= bit;
        }
        Ok(Self {
            id: &record.id,
            entries,
            marks,
        })
    }

    /// An error about `field` of this record: a value the files cannot carry.
    pub(crate) fn err(&self, field: &str, message: impl Into<String>) -> RecordError {
        RecordError::field(self.id, field, message).code(ErrorCode::OutOfRange)
    }

    /// An error about `field` of this record that is not of the form it must have.
    fn malformed(&self, field: &str, message: impl Into<String>) -> RecordError {
        RecordError::field(self.id, field, message).code(ErrorCode::Malformed)
    }

    /// The value of a field, read from its text now; JSON `null` counts as absent.
    fn get(&self, field: &str) -> Option<Value> {
        let (word, bit) = mark(field);
        if self.marks[word] & bit == 0 {
            return None;
        }
        // Text the parser has accepted once: it parses again.
        serde_json::from_str(self.entries.get(field)?.get()).ok()
    }

    /// True when the field is given (not absent, null or an empty string).
    pub(crate) fn has(&self, field: &str) -> bool {
        self.get(field)
            .is_some_and(|v| v.as_str().is_none_or(|s| !s.is_empty()))
    }

    fn missing(&self, field: &str) -> RecordError {
        json::missing(self.id, field)
    }

    /// An optional text field of at most `max` characters; an empty string counts as absent.
    pub(crate) fn text(&self, field: &str, max: usize) -> Result<Option<String>, RecordError> {
        let Some(value) = self.get(field) else {
            return Ok(None);
        };
        let Value::String(s) = value else {
            return Err(self.malformed(field, "must be a string"));
        };
        if s.is_empty() {
            return Ok(None);
        }
        check_text(&s).map_err(|m| self.err(field, m))?;
        let len = s.chars().count();
        if len > max {
            return Err(self.err(
                field,
                format!("is {len} characters long, the field holds {max}"),
            ));
        }
        Ok(Some(s))
    }

    /// A required text field of at most `max` characters.
    pub(crate) fn req_text(&self, field: &str, max: usize) -> Result<String, RecordError> {
        self.text(field, max)?.ok_or_else(|| self.missing(field))
    }

    /// An optional digit field: a string of digits or a non-negative JSON integer, at most
    /// `width` digits, fitted as `fill` says.
    pub(crate) fn digits(
        &self,
        field: &str,
        width: usize,
        fill: Fill,
    ) -> Result<Option<String>, RecordError> {
        let Some(value) = self.get(field) else {
            return Ok(None);
        };
        let s = match value {
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::String(s) => s,
            Value::Number(n) => match n.as_u64() {
                Some(n) => n.to_string(),
                None => return Err(self.malformed(field, format!("must be digits, found {n}"))),
            },
            _ => return Err(self.malformed(field, "must be a string of digits")),
        };
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.malformed(field, format!("must be digits only, found {s:?}")));
        }
        if s.len() > width {
            return Err(self.err(
                field,
                format!("{s:?} has {} digits, the field holds {width}", s.len()),
            ));
        }
        Ok(Some(match fill {
            Fill::Zero => format!("{s:0>width$}"),
            Fill::AsGiven => s,
            Fill::NoLeadingZeros => match s.trim_start_matches('0') {
                "" => "0".to_string(),
                t => t.to_string(),
            },
        }))
    }

    /// A required digit field.
    pub(crate) fn req_digits(
        &self,
        field: &str,
        width: usize,
        fill: Fill,
    ) -> Result<String, RecordError> {
        self.digits(field, width, fill)?
            .ok_or_else(|| self.missing(field))
    }

    /// A digit field that must have exactly `width` digits (years, CPR numbers).
    pub(crate) fn exact_digits(
        &self,
        field: &str,
        width: usize,
    ) -> Result<Option<String>, RecordError> {
        let value = self.digits(field, width, Fill::AsGiven)?;
        match value {
            Some(s) if s.len() != width => Err(self.err(
                field,
                format!(
                    "{s:?} has {} digits, the field needs exactly {width}",
                    s.len()
                ),
            )),
            other => Ok(other),
        }
    }

    /// An optional `YYYYMMDD` date, given as a string.
    pub(crate) fn date(&self, field: &str) -> Result<Option<String>, RecordError> {
        let Some(value) = self.get(field) else {
            return Ok(None);
        };
        let Value::String(s) = value else {
            return Err(self.malformed(field, "must be a YYYYMMDD string"));
        };
        if s.is_empty() {
            return Ok(None);
        }
        if !hub_plugin_sdk::text::is_yyyymmdd(&s) {
            return Err(self.malformed(field, format!("{s:?} is not a valid YYYYMMDD date")));
        }
        Ok(Some(s))
    }

    /// A required `YYYYMMDD` date.
    pub(crate) fn req_date(&self, field: &str) -> Result<String, RecordError> {
        self.date(field)?.ok_or_else(|| self.missing(field))
    }

    /// An optional signed amount in øre, a JSON integer with at most `max` as absolute value.
    pub(crate) fn amount(&self, field: &str, max: i64) -> Result<Option<i64>, RecordError> {
        let Some(value) = self.get(field) else {
            return Ok(None);
        };
        let Some(n) = value.as_i64() else {
            return Err(self.malformed(
                field,
                "must be a whole number of øre (a JSON integer, no decimals, no quotes)",
            ));
        };
        if n.unsigned_abs() > max.unsigned_abs() {
            return Err(self.err(
                field,
                format!("{n} øre is too large: the field holds at most {max} øre"),
            ));
        }
        Ok(Some(n))
    }

    /// A required amount in øre.
    pub(crate) fn req_amount(&self, field: &str, max: i64) -> Result<i64, RecordError> {
        self.amount(field, max)?.ok_or_else(|| self.missing(field))
    }

    /// An optional text field that must be one of `allowed`.
    pub(crate) fn choice(
        &self,
        field: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, RecordError> {
        let Some(value) = self.get(field) else {
            return Ok(None);
        };
        let found = value
            .as_str()
            .and_then(|s| allowed.iter().find(|a| **a == s));
        match found {
            Some(a) => Ok(Some(*a)),
            None => Err(self.err(
                field,
                format!("must be one of {}, found {value}", allowed.join(", ")),
            )),
        }
    }

    /// An optional list of text lines, each at most `max` characters, at most `count` lines.
    pub(crate) fn lines(
        &self,
        field: &str,
        max: usize,
        count: usize,
    ) -> Result<Vec<String>, RecordError> {
        let Some(value) = self.get(field) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(self.malformed(field, "must be a list of strings"));
        };
        if items.len() > count {
            return Err(self.err(
                field,
                format!("has {} lines, at most {count} fit", items.len()),
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::String(s) = item else {
                return Err(self.malformed(field, format!("line {} is not a string", i + 1)));
            };
            check_text(s).map_err(|m| self.err(field, format!("line {}: {m}", i + 1)))?;
            let len = s.chars().count();
            if len > max {
                return Err(self.err(
                    field,
                    format!(
                        "line {} is {len} characters long, a line holds {max}",
                        i + 1
                    ),
                ));
            }
            out.push(s.clone());
        }
        Ok(out)
    }
}

/// Refuses what a G/Q file cannot carry: `&` (the G69 field separator; the G69 spec bans it
/// in values), line breaks and other control characters (they would split or corrupt a
/// line), and characters outside ISO-8859-1 (the file encoding).
pub(crate) fn check_text(s: &str) -> Result<(), String> {
    for c in s.chars() {
        if c == '&' {
            return Err("must not contain `&` (the G69 field separator)".into());
        }
        if c.is_control() {
            return Err(format!(
                "contains the control character U+{:04X}",
                u32::from(c)
            ));
        }
        if u32::from(c) > 0xFF {
            return Err(format!(
                "contains {c:?}, which the file encoding ISO-8859-1 cannot carry"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marks only ever skip the map for keys the body does not have: every key of a
    /// posting, given, is found; every one not given is absent.
    #[test]
    fn marks_never_hide_a_key_the_body_has() {
        let known: Vec<&str> = crate::g69::FIELDS
            .iter()
            .chain(crate::g69_extra::FIELDS)
            .copied()
            .collect();
        for (i, given) in known.iter().enumerate() {
            // One key alone, and all keys but it: each found where given, absent where not.
            let alone = format!("{{\"{given}\":\"v\"}}");
            let others: Vec<String> = known
                .iter()
                .filter(|k| *k != given)
                .map(|k| format!("\"{k}\":\"v\""))
                .collect();
            let rest = format!("{{{}}}", others.join(","));
            for (body, present) in [(alone, true), (rest, false)] {
                let record = Record::new(&format!("r{i}"), "posting", &body);
                let b = Body::parse(&record, &known).expect("known keys");
                assert_eq!(b.get(given).is_some(), present, "{given} in {body}");
                for k in known.iter().filter(|k| *k != given) {
                    assert_eq!(b.get(k).is_some(), !present, "{k} in {body}");
                }
            }
        }
    }
}
