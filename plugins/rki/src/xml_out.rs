//! Writes transport and receipt XML by hand: a fixed attribute order and layout keep the
//! bytes stable across versions of any XML library, and every value goes through
//! `xml_attr`, which also escapes line breaks so they survive attribute normalisation.

use hub_plugin_sdk::text::xml_attr;

use crate::model::{Field, Receipt, ReceiptRecord, RecordVersion};

/// The SurvNet 3 transport namespace (schema 3.0, FD2025).
pub const NAMESPACE: &str = "http://www3.rki.de/ns/SurvNet/2025/01/Transport";

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// The transport header.
pub struct Header<'a> {
    pub guid_transport: &'a str,
    pub sender: &'a str,
    pub receiver: &'a str,
    pub number: u64,
    pub created_at: &'a str,
    /// The `xml-stylesheet` href, if the target names one.
    pub stylesheet: Option<&'a str>,
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(&xml_attr(value));
    out.push('"');
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

pub fn transport<'a>(
    header: &Header,
    records: impl IntoIterator<Item = &'a RecordVersion>,
) -> Vec<u8> {
    let mut out = String::with_capacity(4096);
    out.push_str(DECLARATION);
    if let Some(href) = header.stylesheet {
        // A browser opening the file loads the stylesheet for a readable view (Handbuch 72.1.2).
        out.push_str("<?xml-stylesheet type=\"text/xsl\"");
        attr(&mut out, "href", href);
        out.push_str("?>\n");
    }
    out.push_str("<Transport");
    attr(&mut out, "xmlns", NAMESPACE);
    attr(&mut out, "GuidTransport", header.guid_transport);
    attr(&mut out, "CodeSiteSender", header.sender);
    attr(&mut out, "CodeSiteReceiver", header.receiver);
    attr(&mut out, "TransportNumber", &header.number.to_string());
    attr(&mut out, "CreatedAt", header.created_at);
    out.push_str(">\n");
    for r in records {
        record(&mut out, r);
    }
    out.push_str("</Transport>\n");
    out.into_bytes()
}

fn field(out: &mut String, indent: &str, f: &Field) {
    out.push_str(indent);
    out.push_str("<Field");
    attr(out, "Name", &f.name);
    attr(out, "Value", &f.value);
    out.push_str("/>\n");
}

fn record(out: &mut String, r: &RecordVersion) {
    out.push_str("  <");
    out.push_str(&r.category);
    attr(out, "GuidRecord", &r.guid_record);
    attr(out, "VersionNo", &r.version_no.to_string());
    attr(out, "Schema", &r.schema);
    attr(out, "CodeRecordOwner", &r.code_record_owner);
    attr(out, "CodeVersionEditor", &r.code_version_editor);
    if let Some(v) = &r.token {
        attr(out, "Token", v);
    }
    if let Some(v) = r.to_transport_manual {
        attr(out, "ToTransportManual", bool_str(v));
    }
    attr(out, "ChangedAt", &r.changed_at);
    if let Some(v) = &r.transport_request_type {
        attr(out, "TransportRequestType", v);
    }
    if let Some(v) = &r.reporting_date {
        attr(out, "ReportingDate", v);
    }
    if let Some(v) = &r.reporting_county {
        attr(out, "ReportingCounty", v);
    }
    if let Some(v) = r.case_def_epi_manual {
        attr(out, "CaseDefEpiManual", bool_str(v));
    }
    for (name, value) in &r.other_attributes {
        attr(out, name, value);
    }
    if r.groups.is_empty() && r.fields.is_empty() && r.addressees.is_empty() && r.track.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for g in &r.groups {
        out.push_str("    <Group");
        attr(out, "Name", &g.name);
        if g.fields.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        for f in &g.fields {
            field(out, "      ", f);
        }
        out.push_str("    </Group>\n");
    }
    for f in &r.fields {
        field(out, "    ", f);
    }
    for a in &r.addressees {
        out.push_str("    <Addressee");
        attr(out, "CodeSite", &a.code_site);
        attr(out, "Implicit", bool_str(a.implicit));
        attr(out, "Explicit", bool_str(a.explicit));
        out.push_str("/>\n");
    }
    for t in &r.track {
        out.push_str("    <Track");
        attr(out, "GuidTrack", &t.guid_track);
        attr(out, "Action", &t.action);
        attr(out, "TrackedAt", &t.tracked_at);
        attr(out, "CodeSite", &t.code_site);
        attr(out, "VersionNoSite", &t.version_no_site.to_string());
        if let Some(s) = &t.software {
            attr(out, "Software", s);
        }
        out.push_str("/>\n");
    }
    out.push_str("  </");
    out.push_str(&r.category);
    out.push_str(">\n");
}

/// Writes a receipt in the hub's assumed layout (see [`Receipt`]).
pub fn receipt(r: &Receipt) -> Vec<u8> {
    let mut w = ReceiptWriter::new(r);
    for rec in &r.records {
        w.record(rec);
    }
    w.finish()
}

/// A receipt written record by record, so a transport's receipt is built as its records
/// are read (`hub import` never holds a whole transport).
pub struct ReceiptWriter {
    out: String,
}

impl ReceiptWriter {
    /// The receipt's head from `r` (its `records` are not written: add them one by one).
    pub fn new(r: &Receipt) -> Self {
        let mut out = String::with_capacity(256);
        out.push_str(DECLARATION);
        out.push_str("<Receipt");
        attr(&mut out, "GuidTransport", &r.guid_transport);
        attr(&mut out, "TransportNumber", &r.transport_number.to_string());
        attr(&mut out, "CodeSiteSender", &r.code_site_sender);
        attr(&mut out, "CodeSiteReceiver", &r.code_site_receiver);
        out.push_str(">\n");
        ReceiptWriter { out }
    }

    /// One record's line.
    pub fn record(&mut self, rec: &ReceiptRecord) {
        let out = &mut self.out;
        out.push_str("  <Record");
        attr(out, "GuidRecord", &rec.guid_record);
        attr(out, "VersionNo", &rec.version_no.to_string());
        attr(out, "Result", rec.result.as_str());
        if let Some(c) = &rec.code {
            attr(out, "Code", c);
        }
        if let Some(m) = &rec.message {
            attr(out, "Message", m);
        }
        out.push_str("/>\n");
    }

    /// The receipt's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push_str("</Receipt>\n");
        self.out.into_bytes()
    }

    /// How many bytes are written but not yet drained.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Moves what is written so far to `w`, so a receipt of any length is held only in
    /// pieces: the bytes `w` receives over all drains and [`ReceiptWriter::finish_into`]
    /// are exactly those of [`ReceiptWriter::finish`].
    pub fn drain_into(&mut self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        w.write_all(self.out.as_bytes())?;
        self.out.clear();
        Ok(())
    }

    /// Writes the receipt's end (and whatever was not drained yet) to `w`.
    pub fn finish_into(mut self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        self.out.push_str("</Receipt>\n");
        self.drain_into(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ReceiptRecord, ReceiptResult};

    #[test]
    fn a_receipt_drained_in_pieces_is_the_receipt_written_whole() {
        let r = Receipt {
            guid_transport: "{T}".into(),
            transport_number: 7,
            code_site_sender: "1.01.".into(),
            code_site_receiver: "1.01.0.02.".into(),
            records: (0..50)
                .map(|i| ReceiptRecord {
                    guid_record: format!("{{R{i}}}"),
                    version_no: i,
                    result: if i % 3 == 0 {
                        ReceiptResult::Rejected
                    } else {
                        ReceiptResult::Imported
                    },
                    code: (i % 3 == 0).then(|| "NOT_OWNER".into()),
                    message: (i % 3 == 0).then(|| "a <message> & \"quotes\"".into()),
                })
                .collect(),
        };
        let mut pieces = Vec::new();
        let mut w = ReceiptWriter::new(&r);
        for (i, rec) in r.records.iter().enumerate() {
            w.record(rec);
            if i % 7 == 0 {
                w.drain_into(&mut pieces).unwrap();
                assert_eq!(w.pending(), 0);
            }
        }
        w.finish_into(&mut pieces).unwrap();
        assert_eq!(pieces, receipt(&r));
    }
}
