//! Small checks and conversions: site codes, GUIDs, timestamps, XML names and text, base64.

use hub_plugin_sdk::text::is_yyyymmdd;

/// A site's place in the reporting hierarchy, derived from its dotted site code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The RKI: `1.`
    Rki,
    /// A state office (Landesstelle): `1.NN.`
    StateOffice,
    /// A health office (Gesundheitsamt): deeper, e.g. `1.01.0.02.`
    HealthOffice,
}

impl Role {
    /// The setting's spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "rki" => Some(Role::Rki),
            "state-office" => Some(Role::StateOffice),
            "health-office" => Some(Role::HealthOffice),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Role::Rki => "the RKI",
            Role::StateOffice => "state office",
            Role::HealthOffice => "health office",
        }
    }

    /// 0 at the RKI, growing away from it: "towards the RKI" is a smaller rank.
    pub fn rank(self) -> u8 {
        match self {
            Role::Rki => 0,
            Role::StateOffice => 1,
            Role::HealthOffice => 2,
        }
    }

    /// The role a site code implies (the code must be valid, see [`check_site_code`]).
    pub fn of_site(code: &str) -> Role {
        match code.matches('.').count() {
            0 | 1 => Role::Rki,
            2 => Role::StateOffice,
            _ => Role::HealthOffice,
        }
    }
}

/// A SurvNet site code (Kennung): dot-terminated digit groups under the RKI's `1.`, e.g.
/// `1.`, `1.14.`, `1.01.0.02.`. Only these characters keep it safe inside file names.
pub fn check_site_code(code: &str) -> Result<(), String> {
    let ok = code.len() <= 64
        && code.starts_with("1.")
        && code.ends_with('.')
        && code[..code.len() - 1]
            .split('.')
            .all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{code}` is not a site code: dot-terminated digit groups starting with `1.`, e.g. `1.01.0.02.`"
        ))
    }
}

/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` with upper-case hex, the SurvNet GUID form.
pub fn check_guid(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = b.len() == 38
        && b[0] == b'{'
        && b[37] == b'}'
        && b[1..37].iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'A'..=b'F').contains(&c),
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a GUID in braces with upper-case hex, e.g. {{A1B2C3D4-0000-4000-8000-000000000001}}"
        ))
    }
}

/// A GUID derived from `parts` (FNV-1a 64 twice, mixed, as an RFC 9562 version-8 UUID): the
/// host's inputs must give the same bytes on every retry, so no randomness.
pub fn derived_guid(parts: &[&str]) -> String {
    fn fnv(basis: u64, parts: &[&str]) -> u64 {
        let mut h = basis;
        for part in parts {
            for &b in part.as_bytes().iter().chain(std::iter::once(&0x1f)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let a = mix(fnv(0xcbf2_9ce4_8422_2325, parts));
    let b = mix(fnv(0x6c62_272e_07bb_0142, parts) ^ a);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Normalises a local timestamp to SurvNet's `YYYY-MM-DDTHH:mm:ss.fff`: accepts that form,
/// `YYYY-MM-DDTHH:mm:ss` and a bare date `YYYY-MM-DD` (midnight). No offsets: SurvNet
/// timestamps are local civil time.
pub fn normalize_datetime(s: &str) -> Result<String, String> {
    let bad =
        || format!("`{s}` is not a local timestamp YYYY-MM-DDTHH:mm:ss[.fff] or a date YYYY-MM-DD");
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .filter(|x| x.iter().all(u8::is_ascii_digit))
            .and_then(|_| s.get(r))
            .and_then(|x| x.parse::<u32>().ok())
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return Err(bad());
    };
    if !is_yyyymmdd(&format!("{y:04}{m:02}{d:02}")) {
        return Err(bad());
    }
    let (hh, mm, ss, ms) = match b.len() {
        10 => (0, 0, 0, 0),
        19 | 23 => {
            if b[10] != b'T' || b[13] != b':' || b[16] != b':' {
                return Err(bad());
            }
            let ms = if b.len() == 23 {
                if b[19] != b'.' {
                    return Err(bad());
                }
                digits(20..23).ok_or_else(bad)?
            } else {
                0
            };
            match (digits(11..13), digits(14..16), digits(17..19)) {
                (Some(h), Some(mi), Some(se)) if h < 24 && mi < 60 && se < 60 => (h, mi, se, ms),
                _ => return Err(bad()),
            }
        }
        _ => return Err(bad()),
    };
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}"
    ))
}

/// An XML element or attribute name the plugin writes: ASCII, no colon (a colon would be a
/// namespace prefix), not starting with `xml` (reserved).
pub fn check_xml_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = s.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.to_ascii_lowercase().starts_with("xml");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a usable XML name: ASCII letters, digits, `_`, `-`, `.`, starting with a letter or `_`"
        ))
    }
}

/// Text XML 1.0 can carry at all: escaping handles `&`, `<`, quotes and line breaks, but
/// other control characters cannot be written even as character references.
pub fn check_xml_text(s: &str) -> Result<(), String> {
    match s.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    }) {
        Some(c) => Err(format!(
            "contains the character U+{:04X}, which XML cannot carry",
            c as u32
        )),
        None => Ok(()),
    }
}

/// A schema version: short, and safe as a folder name (it names the folder of the extra
/// files of a transport with several schema versions).
pub fn check_schema(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 16
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a schema version: 1 to 16 ASCII letters, digits, `.`, `-`, `_`, e.g. `11`"
        ))
    }
}

/// Orders schema versions numerically where they are numbers ("9" before "11").
pub fn schema_order(s: &str) -> (u8, u64, &str) {
    match s.parse::<u64>() {
        Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => (0, n, s),
        _ => (1, 0, s),
    }
}

/// Decodes standard base64 (`+/`, padding optional, whitespace ignored, as MIME wraps it).
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut data = 0usize;
    let mut pad = 0usize;
    for (i, c) in s.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return Err(format!("data after padding at offset {i}"));
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => {
                return Err(format!(
                    "invalid base64 character {:?} at offset {i}",
                    c as char
                ));
            }
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        data += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if data % 4 == 1 || pad > 2 || (pad > 0 && !(data + pad).is_multiple_of(4)) {
        return Err("truncated base64 (bad length or padding)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_codes_and_roles() {
        for ok in ["1.", "1.14.", "1.01.0.02."] {
            assert!(check_site_code(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1", "2.", "1..", "1.a.", "1.01", ".1.", "1.01.0.02./x"] {
            assert!(check_site_code(bad).is_err(), "{bad}");
        }
        assert_eq!(Role::of_site("1."), Role::Rki);
        assert_eq!(Role::of_site("1.14."), Role::StateOffice);
        assert_eq!(Role::of_site("1.01.0.02."), Role::HealthOffice);
    }

    #[test]
    fn guids() {
        assert!(check_guid("{A1B2C3D4-0000-4000-8000-000000000001}").is_ok());
        assert!(check_guid("{a1b2c3d4-0000-4000-8000-000000000001}").is_err());
        assert!(check_guid("A1B2C3D4-0000-4000-8000-000000000001").is_err());
        let g = derived_guid(&["transport", "1.01.0.02.", "1.01.", "42"]);
        assert!(check_guid(&g).is_ok(), "{g}");
        assert_eq!(g, derived_guid(&["transport", "1.01.0.02.", "1.01.", "42"]));
        assert_ne!(g, derived_guid(&["transport", "1.01.0.02.", "1.01.", "43"]));
        assert_ne!(
            derived_guid(&["a", "bc"]),
            derived_guid(&["ab", "c"]),
            "parts are separated"
        );
        assert_eq!(&g[15..16], "8", "version 8");
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            normalize_datetime("2025-03-01").unwrap(),
            "2025-03-01T00:00:00.000"
        );
        assert_eq!(
            normalize_datetime("2025-03-01T09:05:07").unwrap(),
            "2025-03-01T09:05:07.000"
        );
        assert_eq!(
            normalize_datetime("2025-03-01T09:05:07.123").unwrap(),
            "2025-03-01T09:05:07.123"
        );
        for bad in [
            "2025-02-30",
            "2025-03-01T24:00:00",
            "2025-03-01T09:05:07Z",
            "2025-03-01 09:05:07",
            "01.03.2025",
            "2025-3-1",
            "",
        ] {
            assert!(normalize_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_text() {
        assert!(check_xml_name("SAL").is_ok());
        assert!(check_xml_name("Outbreak_2").is_ok());
        for bad in ["", "1SAL", "a:b", "a b", "xmlFoo", "<x>", "Ä"] {
            assert!(check_xml_name(bad).is_err(), "{bad}");
        }
        assert!(check_xml_text("a&b<c\"d'\n\r\tÄ").is_ok());
        assert!(check_xml_text("a\u{1}b").is_err());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(base64_decode("Zm9v\r\nYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("w6TDtsO8").unwrap(), "äöü".as_bytes());
        assert_eq!(base64_decode("/+8=").unwrap(), [0xff, 0xef]);
        for bad in ["Z", "Zg=", "Zg===", "Zg==Zg==", "Zm9v!", "Zm9=v"] {
            assert!(base64_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_versions() {
        let mut v = vec!["11", "9", "10a", "2"];
        v.sort_by_key(|s| schema_order(s));
        assert_eq!(v, ["2", "9", "11", "10a"]);
        assert!(check_schema("11").is_ok());
        assert!(check_schema("../x").is_err());
        assert!(check_schema("").is_err());
    }
}
