//! A readable view of a SurvNet transport, sent or received: its header, each record
//! with its attributes and fields as tables, and the documents that travel with it. The
//! seed's transport files load a stylesheet for this when a browser opens them; the hub
//! renders the view itself (the status page, `hub records view`), so it needs no network
//! and nothing in a file can run: every value is escaped.
//!
//! The files are read with the receiving side's readers (the archive reader of
//! `inbound::archive` and the streaming XML of `hub_plugin_rki::TransportReader`), one
//! record at a time, and the view stops after [`MAX_RECORDS`] records or [`MAX_OUTPUT`]
//! bytes, saying so: a transport can be large, its view stays bounded.

use std::fmt::Write as _;

use hub_core::config::InboundLimits;
use hub_core::time::Timestamp;
use hub_plugin_rki::{ParsedTransport, RecordVersion, TransportReader};
use hub_store::StoreError;

use crate::app::App;

use crate::inbound::archive::Archive;
use crate::survnet::xml_limits;

/// Records shown per view; the rest are counted, not shown.
pub const MAX_RECORDS: usize = 1_000;

/// The view's size; past it, the view ends with a note.
pub const MAX_OUTPUT: usize = 4 << 20;

/// How the view is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A complete HTML document (escaped, no scripts, styles inline).
    Html,
    /// Plain text for a terminal (control characters removed).
    Text,
}

/// Whether a file name is a SurvNet transport (`RKI_<sender>_<receiver>_<nnnnnnnn>`
/// as `.xml`, or its `.zip`), possibly in a folder (`schema-12/…`); documents
/// (`RKI_<origin>_<nnnnnnnn>_<mmm>.<type>`) are not.
pub fn is_transport_name(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    let Some(stem) = base
        .strip_suffix(".xml")
        .or_else(|| base.strip_suffix(".zip"))
    else {
        return false;
    };
    let Some((head, number)) = stem.rsplit_once('_') else {
        return false;
    };
    head.starts_with("RKI_")
        && head.matches('_').count() >= 2
        && number.len() == 8
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The view of sent transfer `id`: every payload as created (the transport files, or its
/// zip, and the documents). Refused for a transfer that carries no SurvNet transport.
pub fn sent(app: &mut App, id: i64, format: Format) -> Result<String, StoreError> {
    let transfer = app.store.transfer(id)?;
    if !transfer.payloads.iter().any(|p| is_transport_name(&p.name)) {
        return Err(StoreError::NotFound(format!(
            "transfer #{id} of target {} carries no SurvNet transport to view",
            transfer.target
        )));
    }
    let mut files = Vec::with_capacity(transfer.payloads.len());
    for p in &transfer.payloads {
        files.push((p.name.clone(), app.store.payload_bytes(p.id)?));
    }
    let title = format!(
        "Transfer #{id} to {}{}, {} ({})",
        transfer.target,
        transfer
            .sequence_no
            .map(|n| format!(", transport number {n}"))
            .unwrap_or_default(),
        transfer.state,
        transfer.created_at
    );
    Ok(render(&title, &files, &InboundLimits::default(), format))
}

/// The view of received transport `id` (as listed by `InboundStore::inbound_transports`),
/// read with its inbound's limits.
pub fn received(app: &mut App, id: i64, format: Format) -> Result<String, StoreError> {
    let (found, bytes) = app.store.inbound_archive(id)?;
    let limits = app
        .config
        .inbound
        .iter()
        .find(|i| i.name == found.inbound)
        .map(|i| i.limits)
        .unwrap_or_default();
    let title = format!(
        "Received at {}: transport number {} from {} to {}, {} (arrived {})",
        found.inbound,
        found.number,
        found.sender,
        found.receiver,
        found.state,
        Timestamp(found.arrived_at)
    );
    Ok(render(&title, &[(found.file_name, bytes)], &limits, format))
}

/// The view of `files` (name and bytes, as sent or as arrived: `.xml`, `.zip` or a
/// document), under `title`.
pub fn render(
    title: &str,
    files: &[(String, Vec<u8>)],
    limits: &InboundLimits,
    format: Format,
) -> String {
    let mut out = Out::new(format, title);
    let mut documents: Vec<(String, u64)> = Vec::new();
    for (name, bytes) in files {
        if !(name.ends_with(".xml") || name.ends_with(".zip")) {
            documents.push((name.clone(), bytes.len() as u64));
            continue;
        }
        let mut archive = match Archive::open(name, std::io::Cursor::new(bytes), limits) {
            Ok(a) => a,
            Err(e) => {
                out.file(name);
                out.note(&format!("cannot be read: {e}"));
                continue;
            }
        };
        let names: Vec<String> = archive.names().map(str::to_string).collect();
        for (i, entry) in names.iter().enumerate() {
            if !entry.ends_with(".xml") {
                let size = archive.read(i, |r| {
                    std::io::copy(r, &mut std::io::sink()).map_err(|e| e.to_string())
                });
                documents.push((entry.clone(), size.unwrap_or(0)));
                continue;
            }
            out.file(entry);
            let shown = archive.read(i, |r| -> Result<(), String> {
                let (mut reader, header) = TransportReader::open(r, xml_limits(limits))?;
                out.header(&header);
                while let Some(record) = reader.next_record()? {
                    if !out.record(&record) {
                        break;
                    }
                }
                Ok(())
            });
            if let Err(e) = shown {
                out.note(&format!("not read to its end: {e}"));
            }
        }
    }
    out.documents(&documents);
    out.finish()
}

/// The view being written, with its bounds.
struct Out {
    format: Format,
    text: String,
    records: usize,
    /// The view stopped (a bound reached); set once, noted once.
    stopped: bool,
}

/// `&`, `<`, `>`, `"` and `'` as character references.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value on one terminal line: control characters (line breaks too) shown escaped.
fn line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.4em 0 1em}th,td{border:1px solid #ccc;padding:.2em .5em;\
text-align:left;vertical-align:top;white-space:pre-wrap}th{background:#f3f3f3}\
section.record{border-left:3px solid #4a7;padding-left:.8em;margin:1em 0}\
p.note{color:#a40;font-weight:bold}h2{border-bottom:1px solid #999}";

impl Out {
    fn new(format: Format, title: &str) -> Self {
        let mut text = String::new();
        match format {
            Format::Html => {
                let _ = write!(
                    text,
                    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                     <title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
                    t = esc(title)
                );
            }
            Format::Text => {
                let _ = writeln!(text, "{}\n", line(title));
            }
        }
        Out {
            format,
            text,
            records: 0,
            stopped: false,
        }
    }

    /// Whether there is room for more; notes the stop the first time there is not.
    fn room(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        if self.records >= MAX_RECORDS || self.text.len() >= MAX_OUTPUT {
            self.stopped = true;
            let what = format!(
                "The view stops here: {} records shown (at most {MAX_RECORDS} records or {} MiB \
                 per view); the rest is in the file.",
                self.records,
                MAX_OUTPUT >> 20
            );
            self.note(&what);
            return false;
        }
        true
    }

    fn note(&mut self, what: &str) {
        match self.format {
            Format::Html => {
                let _ = writeln!(self.text, "<p class=\"note\">{}</p>", esc(what));
            }
            Format::Text => {
                let _ = writeln!(self.text, "  ! {}", line(what));
            }
        }
    }

    fn file(&mut self, name: &str) {
        if !self.room() {
            return;
        }
        match self.format {
            Format::Html => {
                let _ = writeln!(self.text, "<h2>{}</h2>", esc(name));
            }
            Format::Text => {
                let _ = writeln!(self.text, "== {} ==", line(name));
            }
        }
    }

    /// A table of name/value rows (absent values left out).
    fn pairs(&mut self, class: &str, rows: &[(&str, Option<String>)]) {
        let rows: Vec<(&str, &String)> = rows
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            .collect();
        match self.format {
            Format::Html => {
                let _ = write!(self.text, "<table class=\"{class}\">");
                for (k, v) in rows {
                    let _ = write!(self.text, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
                }
                self.text.push_str("</table>\n");
            }
            Format::Text => {
                let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                for (k, v) in rows {
                    let _ = writeln!(self.text, "  {k:width$}  {}", line(v));
                }
            }
        }
    }

    /// A table with a header row.
    fn grid(&mut self, class: &str, headers: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            return;
        }
        match self.format {
            Format::Html => {
                let _ = write!(self.text, "<table class=\"{class}\"><thead><tr>");
                for h in headers {
                    let _ = write!(self.text, "<th>{}</th>", esc(h));
                }
                self.text.push_str("</tr></thead><tbody>");
                for row in rows {
                    self.text.push_str("<tr>");
                    for cell in row {
                        let _ = write!(self.text, "<td>{}</td>", esc(cell));
                    }
                    self.text.push_str("</tr>");
                }
                self.text.push_str("</tbody></table>\n");
            }
            Format::Text => {
                let _ = writeln!(self.text, "  {}:", headers.join(" | "));
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| line(c)).collect();
                    let _ = writeln!(self.text, "    {}", cells.join(" | "));
                }
            }
        }
    }

    fn header(&mut self, t: &ParsedTransport) {
        let mut rows = vec![
            ("Transport number", Some(t.transport_number.to_string())),
            ("Sender (CodeSiteSender)", Some(t.code_site_sender.clone())),
            (
                "Receiver (CodeSiteReceiver)",
                Some(t.code_site_receiver.clone()),
            ),
            ("Created (CreatedAt)", Some(t.created_at.clone())),
            ("GuidTransport", Some(t.guid_transport.clone())),
            ("Namespace", t.namespace.clone()),
        ];
        rows.extend(
            t.other_attributes
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.clone()))),
        );
        self.pairs("transport", &rows);
    }

    /// One record; false once the view has no room for more.
    fn record(&mut self, r: &RecordVersion) -> bool {
        if !self.room() {
            return false;
        }
        self.records += 1;
        let title = format!("{} {} version {}", r.category, r.guid_record, r.version_no);
        match self.format {
            Format::Html => {
                let _ = writeln!(
                    self.text,
                    "<section class=\"record\"><h3>{}</h3>",
                    esc(&title)
                );
            }
            Format::Text => {
                let _ = writeln!(self.text, "\n-- {} --", line(&title));
            }
        }
        let flag = |b: Option<bool>| b.map(|b| b.to_string());
        let mut rows = vec![
            ("Schema", Some(r.schema.clone())),
            ("Owner (CodeRecordOwner)", Some(r.code_record_owner.clone())),
            (
                "Version editor (CodeVersionEditor)",
                Some(r.code_version_editor.clone()),
            ),
            ("Changed (ChangedAt)", Some(r.changed_at.clone())),
            ("Token", r.token.clone()),
            ("Reporting date", r.reporting_date.clone()),
            ("Reporting county", r.reporting_county.clone()),
            ("TransportRequestType", r.transport_request_type.clone()),
            ("ToTransportManual", flag(r.to_transport_manual)),
            ("CaseDefEpiManual", flag(r.case_def_epi_manual)),
        ];
        rows.extend(
            r.other_attributes
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.clone()))),
        );
        self.pairs("attributes", &rows);
        let mut fields: Vec<Vec<String>> = r
            .fields
            .iter()
            .map(|f| vec![String::new(), f.name.clone(), f.value.clone()])
            .collect();
        for g in &r.groups {
            fields.extend(
                g.fields
                    .iter()
                    .map(|f| vec![g.name.clone(), f.name.clone(), f.value.clone()]),
            );
        }
        self.grid("fields", &["Group", "Field", "Value"], &fields);
        let addressees: Vec<Vec<String>> = r
            .addressees
            .iter()
            .map(|a| {
                vec![
                    a.code_site.clone(),
                    a.implicit.to_string(),
                    a.explicit.to_string(),
                ]
            })
            .collect();
        self.grid(
            "addressees",
            &["Addressee", "Implicit", "Explicit"],
            &addressees,
        );
        let track: Vec<Vec<String>> = r
            .track
            .iter()
            .map(|t| {
                vec![
                    t.tracked_at.clone(),
                    t.action.clone(),
                    t.code_site.clone(),
                    t.version_no_site.to_string(),
                    t.software.clone().unwrap_or_default(),
                    t.guid_track.clone(),
                ]
            })
            .collect();
        self.grid(
            "track",
            &[
                "Tracked at",
                "Action",
                "Site",
                "Version at site",
                "Software",
                "GuidTrack",
            ],
            &track,
        );
        if self.format == Format::Html {
            self.text.push_str("</section>\n");
        }
        true
    }

    fn documents(&mut self, documents: &[(String, u64)]) {
        if documents.is_empty() || self.stopped {
            return;
        }
        match self.format {
            Format::Html => {
                self.text
                    .push_str("<h2>Documents</h2>\n<ul class=\"documents\">");
                for (name, size) in documents {
                    let _ = write!(self.text, "<li>{} ({size} bytes)</li>", esc(name));
                }
                self.text.push_str("</ul>\n");
            }
            Format::Text => {
                let _ = writeln!(self.text, "\n== Documents ==");
                for (name, size) in documents {
                    let _ = writeln!(self.text, "  {} ({size} bytes)", line(name));
                }
            }
        }
    }

    fn finish(mut self) -> String {
        if self.format == Format::Html {
            self.text.push_str("</body></html>\n");
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_are_told_from_documents() {
        assert!(is_transport_name("RKI_1.01.0.02._1.01._00000001.xml"));
        assert!(is_transport_name(
            "schema-12/RKI_1.01.0.02._1.01._00000001.xml"
        ));
        assert!(is_transport_name("RKI_1.01.0.02._1.01._00000001.zip"));
        assert!(!is_transport_name("RKI_1.01.0.02._12345678_001.txt"));
        assert!(!is_transport_name("RKI_1.01.0.02._12345678_001.xml"));
        assert!(!is_transport_name("522-24-001-G.txt"));
    }

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(line("Gr\u{fc}n\nb\u{1b}[31m"), "Gr\u{fc}n\\nb\\u{1b}[31m");
    }
}
