//! One record: a facility's daycare places in one month, read from the record's JSON body
//! with the SDK's `json` helper, so every refusal names the record, the field and a code.

use hub_plugin_sdk::json::{self, Fields};
use hub_plugin_sdk::{ErrorCode, Record, RecordError};

/// The body keys a record may have (beside the host's `id` and `kind`).
const KEYS: [&str; 8] = [
    "month",
    "carrier",
    "facility",
    "facility_name",
    "municipality",
    "approved",
    "occupied",
    "under_three",
];

/// The office's limit on a facility's name (the column is 100 characters wide).
const NAME_CHARS: usize = 100;

/// The office's limit on any count of places (4 digits).
const MAX_PLACES: u32 = 9_999;

/// A facility's places in one month, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Reporting month as `YYYY-MM`.
    pub month: String,
    /// The carrier's number at the office (1 to 10 digits).
    pub carrier: String,
    /// The facility's number (9 digits).
    pub facility: String,
    pub facility_name: String,
    /// The municipality's official key (Amtlicher Gemeindeschlüssel, 8 digits).
    pub municipality: String,
    pub approved: u32,
    pub occupied: u32,
    /// Of the occupied places, those taken by children under three.
    pub under_three: u32,
}

impl Report {
    /// Reads and checks a record's body.
    pub fn parse(r: &Record) -> Result<Report, RecordError> {
        let map = json::parse_object(r)?;
        let body = Fields::top(&r.id, &map);
        body.check_keys(&KEYS, "is not a field of this report")?;
        let month = body.req_str("month")?;
        check_month(&body, month)?;
        let carrier = digits(&body, "carrier", 1..=10)?;
        let facility = digits(&body, "facility", 9..=9)?;
        let municipality = digits(&body, "municipality", 8..=8)?;
        let facility_name = body.req_str("facility_name")?.trim();
        if facility_name.is_empty() {
            return Err(body.missing("facility_name"));
        }
        if facility_name.chars().any(char::is_control) {
            return Err(body
                .err("facility_name", "contains control characters")
                .code(ErrorCode::Malformed));
        }
        let length = facility_name.chars().count();
        if length > NAME_CHARS {
            return Err(body
                .err(
                    "facility_name",
                    format!("is {length} characters long, the office takes {NAME_CHARS}"),
                )
                .code(ErrorCode::OutOfRange));
        }
        let approved = places(&body, "approved")?.ok_or_else(|| body.missing("approved"))?;
        let occupied = places(&body, "occupied")?.ok_or_else(|| body.missing("occupied"))?;
        let under_three = places(&body, "under_three")?.unwrap_or(0);
        if under_three > occupied {
            return Err(body
                .err(
                    "under_three",
                    format!("is {under_three}, more than the {occupied} occupied places"),
                )
                .code(ErrorCode::OutOfRange));
        }
        Ok(Report {
            month: month.to_string(),
            carrier,
            facility,
            facility_name: facility_name.to_string(),
            municipality,
            approved,
            occupied,
            under_three,
        })
    }

    /// The month as the file name has it: `YYYYMM`.
    pub fn month_compact(&self) -> String {
        self.month.replace('-', "")
    }
}

/// `YYYY-MM`, a year from 2000 to 2099 and a month from 01 to 12.
fn check_month(body: &Fields<'_>, month: &str) -> Result<(), RecordError> {
    let bytes = month.as_bytes();
    let shape = bytes.len() == 7
        && bytes[4] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_digit());
    if !shape {
        return Err(body
            .err("month", format!("must be YYYY-MM, found {month:?}"))
            .code(ErrorCode::Malformed));
    }
    let year: u32 = month[..4].parse().unwrap_or(0);
    let m: u32 = month[5..].parse().unwrap_or(0);
    if !(2000..=2099).contains(&year) || !(1..=12).contains(&m) {
        return Err(body
            .err("month", format!("{month} is not a month the office takes"))
            .code(ErrorCode::OutOfRange));
    }
    Ok(())
}

/// A required string of ASCII digits whose length is in `len`.
fn digits(
    body: &Fields<'_>,
    key: &str,
    len: std::ops::RangeInclusive<usize>,
) -> Result<String, RecordError> {
    let value = body.req_str(key)?;
    if !len.contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
        let wanted = if len.start() == len.end() {
            format!("{} digits", len.start())
        } else {
            format!("{} to {} digits", len.start(), len.end())
        };
        return Err(body
            .err(key, format!("must be {wanted}, found {value:?}"))
            .code(ErrorCode::Malformed));
    }
    Ok(value.to_string())
}

/// An optional count of places, at most [`MAX_PLACES`].
fn places(body: &Fields<'_>, key: &str) -> Result<Option<u32>, RecordError> {
    match body.u32(key)? {
        Some(n) if n > MAX_PLACES => Err(body
            .err(
                key,
                format!("is {n}; the office takes at most {MAX_PLACES}"),
            )
            .code(ErrorCode::OutOfRange)),
        n => Ok(n),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(extra: &str) -> String {
        format!(
            r#"{{"month": "2024-01", "carrier": "4711", "facility": "010570012",
                "facility_name": "Kita Löwenzahn", "municipality": "01057001",
                "approved": 60, "occupied": 58{extra}}}"#
        )
    }

    fn error(extra: &str) -> RecordError {
        Report::parse(&Record::new("r1", "places", &body(extra))).unwrap_err()
    }

    #[test]
    fn a_good_report_is_read() {
        let r = Report::parse(&Record::new(
            "r1",
            "places",
            &body(r#", "under_three": 12"#),
        ))
        .unwrap();
        assert_eq!(r.facility_name, "Kita Löwenzahn");
        assert_eq!((r.approved, r.occupied, r.under_three), (60, 58, 12));
        assert_eq!(r.month_compact(), "202401");
    }

    #[test]
    fn errors_name_record_field_and_code() {
        let cases = [
            (r#", "month": "2024-1""#, "month", ErrorCode::Malformed),
            (r#", "month": "2024-13""#, "month", ErrorCode::OutOfRange),
            (
                r#", "facility": "0105700""#,
                "facility",
                ErrorCode::Malformed,
            ),
            (r#", "occupied": "58""#, "occupied", ErrorCode::Malformed),
            (r#", "occupied": -1"#, "occupied", ErrorCode::OutOfRange),
            (r#", "approved": 10000"#, "approved", ErrorCode::OutOfRange),
            (
                r#", "under_three": 59"#,
                "under_three",
                ErrorCode::OutOfRange,
            ),
            (
                r#", "facility_name": "  ""#,
                "facility_name",
                ErrorCode::Missing,
            ),
            (
                r#", "facility_name": "a\u0007b""#,
                "facility_name",
                ErrorCode::Malformed,
            ),
            (r#", "places": 3"#, "places", ErrorCode::Unsupported),
            (r#", "approved": null"#, "approved", ErrorCode::Missing),
        ];
        for (extra, field, code) in cases {
            let e = error_replacing(extra);
            assert_eq!(e.record_id, "r1", "{extra}");
            assert_eq!(e.field.as_deref(), Some(field), "{extra}: {e}");
            assert_eq!(e.code, code, "{extra}: {e}");
        }
    }

    /// The sample body with the keys of `extra` replaced by its values.
    fn error_replacing(extra: &str) -> RecordError {
        let mut v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&body("")).unwrap();
        let e: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&format!("{{{}}}", &extra[1..])).unwrap();
        v.extend(e);
        let text = serde_json::Value::Object(v).to_string();
        Report::parse(&Record::new("r1", "places", &text)).unwrap_err()
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let e = error(r#", "approved": 61"#);
        assert_eq!(e.code, ErrorCode::Duplicate);
        assert_eq!(
            e.to_string(),
            "record r1: field approved: appears twice in the body"
        );
    }
}
