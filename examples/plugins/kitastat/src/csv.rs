//! The office's CSV dialect: `;` between fields, CRLF after each line, a field in double
//! quotes (inner quotes doubled) only where it holds `;`, `"` or a line break.

/// One line of fields, CRLF at its end.
pub fn line(fields: &[&str]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        if f.contains([';', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn quotes_only_where_needed() {
        assert_eq!(line(&["a", "Kita Jürgen"]), "a;Kita Jürgen\r\n");
        assert_eq!(
            line(&["x;y", "say \"hi\""]),
            "\"x;y\";\"say \"\"hi\"\"\"\r\n"
        );
    }
}
