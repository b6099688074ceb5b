//! Text helpers the built-in plugins share: fixed-width fields, dates, XML escaping.

use crate::DateTime;

/// Why a value does not fit a fixed-width field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidthError {
    /// The field's width in characters.
    pub width: usize,
    /// The value's length in characters.
    pub len: usize,
}

impl WidthError {
    /// The error as one about `field` of record `record_id`, for `validate` and `encode`.
    pub fn at(&self, record_id: &str, field: &str) -> crate::RecordError {
        crate::RecordError::field(record_id, field, self.to_string())
    }
}

impl std::fmt::Display for WidthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "is {} characters long, the field holds {}",
            self.len, self.width
        )
    }
}

/// Right-justifies `value` in `width` characters, padding with `fill` on the left
/// (numbers: `'0'`). Refuses values that do not fit rather than cutting them.
pub fn pad_left(value: &str, width: usize, fill: char) -> Result<String, WidthError> {
    let len = value.chars().count();
    if len > width {
        return Err(WidthError { width, len });
    }
    let mut out = String::with_capacity(width);
    out.extend(std::iter::repeat_n(fill, width - len));
    out.push_str(value);
    Ok(out)
}

/// Left-justifies `value` in `width` characters, padding with spaces on the right.
pub fn pad_right(value: &str, width: usize) -> Result<String, WidthError> {
    let len = value.chars().count();
    if len > width {
        return Err(WidthError { width, len });
    }
    let mut out = String::with_capacity(width);
    out.push_str(value);
    out.extend(std::iter::repeat_n(' ', width - len));
    Ok(out)
}

/// `YYYYMMDD` of a civil date.
pub fn yyyymmdd(t: &DateTime) -> String {
    format!("{:04}{:02}{:02}", t.year, t.month, t.day)
}

/// `dd.MM.yyyy`, the German date form Kita-Planer uses.
pub fn dd_mm_yyyy(t: &DateTime) -> String {
    format!("{:02}.{:02}.{:04}", t.day, t.month, t.year)
}

/// `YYYY-MM-DDTHH:mm:ss.000`, the SurvNet timestamp form.
pub fn iso_millis(t: &DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// True for a valid `dd.MM.yyyy` calendar date.
pub fn is_dd_mm_yyyy(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[2] != b'.' || b[5] != b'.' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    match (num(0..2), num(3..5), num(6..10)) {
        (Some(d), Some(m), Some(y)) => is_valid_date(y, m, d),
        _ => false,
    }
}

/// True for a valid `YYYYMMDD` calendar date.
pub fn is_yyyymmdd(s: &str) -> bool {
    if s.len() != 8 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    match (num(0..4), num(4..6), num(6..8)) {
        (Some(y), Some(m), Some(d)) => is_valid_date(y, m, d),
        _ => false,
    }
}

fn is_valid_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && (1000..=9999).contains(&y)
}

/// Escapes text for XML element content (`&`, `<`, `>`); line breaks stay as they are.
pub fn xml_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for an XML attribute value in double quotes, including line breaks and
/// tabs, which attribute normalisation would otherwise turn into spaces.
pub fn xml_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_refuses_overflow() {
        assert_eq!(pad_left("123", 5, '0').unwrap(), "00123");
        assert_eq!(pad_right("ab", 4).unwrap(), "ab  ");
        assert_eq!(
            pad_left("123456", 5, '0').unwrap_err(),
            WidthError { width: 5, len: 6 }
        );
        // Width counts characters, not bytes.
        assert_eq!(pad_right("æø", 3).unwrap(), "æø ");
    }

    #[test]
    fn dates() {
        assert!(is_dd_mm_yyyy("29.02.2024"));
        assert!(!is_dd_mm_yyyy("29.02.2023"));
        assert!(!is_dd_mm_yyyy("2024-02-01"));
        assert!(is_yyyymmdd("20240131"));
        assert!(!is_yyyymmdd("20241331"));
        let t = DateTime {
            year: 2025,
            month: 3,
            day: 4,
            hour: 5,
            minute: 6,
            second: 7,
            ..Default::default()
        };
        assert_eq!(yyyymmdd(&t), "20250304");
        assert_eq!(dd_mm_yyyy(&t), "04.03.2025");
        assert_eq!(iso_millis(&t), "2025-03-04T05:06:07.000");
    }

    #[test]
    fn escapes_xml_text() {
        assert_eq!(xml_text("a&b<c>\"\n"), "a&amp;b&lt;c&gt;\"\n");
    }

    #[test]
    fn escapes_xml_attributes() {
        assert_eq!(
            xml_attr("a&b<c>\"d'\ne"),
            "a&amp;b&lt;c&gt;&quot;d&apos;&#10;e"
        );
    }
}

/// At most this many characters of any text from outside go into a message.
pub const EXCERPT_CHARS: usize = 200;

/// Text from outside (a name, a value, a message) made safe to show in a terminal, a log,
/// a file or the store: control characters escaped (`\u{1b}`, `\n`), and cut after
/// [`EXCERPT_CHARS`] characters with the length of what was left out.
pub fn excerpt(value: &str) -> String {
    excerpt_max(value, EXCERPT_CHARS)
}

/// [`excerpt`] with a chosen length.
pub fn excerpt_max(value: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max_chars.saturating_mul(2)));
    for (shown, (i, c)) in value.char_indices().enumerate() {
        if shown == max_chars {
            let rest = value.len() - i;
            out.push_str(&format!("… ({rest} more bytes)"));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`excerpt`] of bytes that may not be UTF-8.
pub fn excerpt_bytes(value: &[u8]) -> String {
    let head = &value[..value.len().min(EXCERPT_CHARS * 4)];
    let mut s = excerpt(&String::from_utf8_lossy(head));
    if head.len() < value.len() && !s.ends_with(" more bytes)") {
        s.push_str(&format!("… ({} more bytes)", value.len() - head.len()));
    }
    s
}

#[cfg(test)]
mod excerpt_tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt("X\u{1b}[31m\n"), "X\\u{1b}[31m\\n");
        let long = "a".repeat(10_000);
        let e = excerpt(&long);
        assert!(e.len() < 300, "{e}");
        assert!(e.ends_with("(9800 more bytes)"), "{e}");
        assert_eq!(excerpt("kurz"), "kurz");
        let b = excerpt_bytes(&vec![b'x'; 1 << 20]);
        assert!(b.len() < 300 && b.ends_with("more bytes)"), "{b}");
    }
}
