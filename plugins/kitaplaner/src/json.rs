//! Writes the request body by hand, so key order and bytes are fixed by the code and the
//! field table, not by a map's iteration order.

use crate::child::Child;

/// Appends `s` as a JSON string. Non-ASCII text (ä, ö, ü, ß) is written as UTF-8, not as
/// `\u` escapes; only what JSON requires is escaped.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    // Runs without an escape are copied whole: one copy per value, not one push per char
    // (the bodies are mostly plain text). Every escaped byte is ASCII, so `i` is always
    // a char boundary.
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
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escaped);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// `{"benutzerId":…,"traeger":…,"datensaetze":[…]}` with one record a line, so the body
/// stays readable in logs and diffs.
pub fn body(benutzer_id: &str, traeger: &str, children: &[Child]) -> String {
    let mut out = String::with_capacity(64 + children.len() * 512);
    out.push_str("{\"benutzerId\":");
    push_str(&mut out, benutzer_id);
    out.push_str(",\"traeger\":");
    push_str(&mut out, traeger);
    out.push_str(",\"datensaetze\":[");
    for (i, child) in children.iter().enumerate() {
        out.push_str(if i == 0 { "\n{" } else { ",\n{" });
        for (j, (key, value)) in child.sent().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_str(&mut out, key);
            out.push(':');
            push_str(&mut out, value);
        }
        out.push('}');
    }
    if !children.is_empty() {
        out.push('\n');
    }
    out.push_str("]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "Jörg \"Jö\" Müßig\\",
            "a\nb\tc\u{1}\u{1f}\u{7f}",
            "€𝄞",
        ] {
            let mut out = String::new();
            push_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}
