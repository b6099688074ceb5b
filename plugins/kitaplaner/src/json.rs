//! Writes the request body by hand, so key order and bytes are fixed by the code and the
//! field table, not by a map's iteration order.

use hub_plugin_sdk::json::write_str;

use crate::child::Child;

/// `{"benutzerId":…,"traeger":…,"datensaetze":[…]}` with one record a line, so the body
/// stays readable in logs and diffs.
pub fn body(benutzer_id: &str, traeger: &str, children: &[Child]) -> String {
    let mut out = String::with_capacity(64 + children.len() * 512);
    out.push_str("{\"benutzerId\":");
    write_str(&mut out, benutzer_id);
    out.push_str(",\"traeger\":");
    write_str(&mut out, traeger);
    out.push_str(",\"datensaetze\":[");
    for (i, child) in children.iter().enumerate() {
        out.push_str(if i == 0 { "\n{" } else { ",\n{" });
        for (j, (key, value)) in child.sent().enumerate() {
            if j > 0 {
                out.push(',');
            }
            write_str(&mut out, key);
            out.push(':');
            write_str(&mut out, value);
        }
        out.push('}');
    }
    if !children.is_empty() {
        out.push('\n');
    }
    out.push_str("]}\n");
    out
}
