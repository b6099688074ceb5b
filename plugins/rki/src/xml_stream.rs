//! A SurvNet transport file read as a stream of XML events, one record at a time: what
//! is held is one record, bounded by [`XmlLimits`], whatever the transport's size. A
//! record cut off by a limit is named with the field it was in.

use std::io::BufRead;

use hub_plugin_sdk::text::{excerpt, excerpt_bytes};
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::model::{ParsedTransport, RecordVersion};
use crate::xml_in::{Attrs, DOCTYPE_REFUSED, Elem, MAX_DEPTH, read_elem, record};

/// How big one value and one record may be; a transport's size is bounded by the archive
/// limits, its memory by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// One attribute value (a field's `Value`, a record attribute), in bytes as written.
    pub max_value_bytes: usize,
    /// One record element with everything in it, in bytes as written.
    pub max_record_bytes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_value_bytes: 1 << 20,
            max_record_bytes: 4 << 20,
        }
    }
}

impl XmlLimits {
    pub(crate) fn unlimited() -> Self {
        XmlLimits {
            max_value_bytes: usize::MAX,
            max_record_bytes: usize::MAX,
        }
    }
}

pub(crate) fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Counts what the XML reader takes from its source, and stops it once one record (or
/// what stands between records) takes more than the record limit: quick-xml reads a whole
/// tag into memory, so this is what bounds it.
struct Counted<R> {
    inner: R,
    pos: u64,
    mark: u64,
    cap: u64,
    over: bool,
}

impl<R> Counted<R> {
    fn mark(&mut self) {
        self.mark = self.pos;
    }
}

impl<R: BufRead> std::io::Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(out.len());
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let used = self.pos - self.mark;
        if used > self.cap {
            self.over = true;
            return Err(std::io::Error::other("more than the record limit"));
        }
        // Never more than one byte past the limit at a time, however much the source
        // has buffered: the next call then stops the reader.
        let room = usize::try_from(self.cap - used)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let buf = self.inner.fill_buf()?;
        Ok(&buf[..buf.len().min(room)])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
        self.inner.consume(n);
    }
}

/// `Name="…"` as far as it was read, from a tag cut off by a limit.
fn attr_in(partial: &[u8], name: &[u8]) -> Option<String> {
    let head = &partial[..partial.len().min(64 << 10)];
    let at = head
        .windows(name.len() + 2)
        .position(|w| &w[..name.len()] == name && w[name.len()] == b'=')?;
    let rest = &head[at + name.len() + 2..];
    let end = rest
        .iter()
        .position(|b| *b == b'"' || *b == b'\'')
        .unwrap_or(rest.len());
    Some(excerpt_bytes(&rest[..end]))
}

/// A SurvNet transport file read record by record: [`TransportReader::open`] reads the
/// header (the root element's attributes), [`TransportReader::next_record`] each record.
pub struct TransportReader<R: BufRead> {
    reader: Reader<Counted<R>>,
    buf: Vec<u8>,
    limits: XmlLimits,
    records: usize,
    finished: bool,
    /// The open elements of the record being read; kept between records so its
    /// allocation is made once.
    stack: Vec<Elem>,
}

impl<R: BufRead> TransportReader<R> {
    /// Bytes of XML read so far: the difference across [`Self::next_record`] is about
    /// what one record takes.
    pub fn position(&self) -> u64 {
        self.reader.get_ref().pos
    }

    /// Reads up to the root element and returns its header (`records` empty).
    pub fn open(mut src: R, limits: XmlLimits) -> Result<(Self, ParsedTransport), String> {
        let bom = src
            .fill_buf()
            .map_err(|e| excerpt(&e.to_string()))?
            .starts_with(b"\xEF\xBB\xBF");
        if bom {
            src.consume(3);
        }
        let mut me = TransportReader {
            reader: Reader::from_reader(Counted {
                inner: src,
                pos: 0,
                mark: 0,
                cap: u64::try_from(limits.max_record_bytes).unwrap_or(u64::MAX),
                over: false,
            }),
            buf: Vec::new(),
            limits,
            records: 0,
            finished: false,
            stack: Vec::new(),
        };
        loop {
            me.buf.clear();
            me.reader.get_mut().mark();
            let event = match me.reader.read_event_into(&mut me.buf) {
                Ok(e) => e,
                Err(e) => return Err(error(&me.reader, &me.buf, &me.limits, &e, None)),
            };
            let (start, empty) = match event {
                Event::Decl(d) => {
                    if let Some(enc) = d.encoding() {
                        let enc = enc.map_err(|e| format!("XML declaration: {e}"))?;
                        if !enc.eq_ignore_ascii_case(b"utf-8") {
                            return Err(format!(
                                "encoding `{}` is not supported: SurvNet files are UTF-8",
                                excerpt_bytes(&enc)
                            ));
                        }
                    }
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::DocType(_) => return Err(DOCTYPE_REFUSED.into()),
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => continue,
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::Eof => return Err("no root element".into()),
                _ => return Err("content before the root element".into()),
            };
            let mut root = read_elem(&me.reader, &start, &me.limits)?;
            if root.name != "Transport" {
                return Err(format!("root element is <{}>, not <Transport>", root.name));
            }
            let mut a = Attrs::new(&mut root);
            let mut t = ParsedTransport {
                namespace: root.namespace.take(),
                guid_transport: a.req("GuidTransport")?,
                code_site_sender: a.req("CodeSiteSender")?,
                code_site_receiver: a.req("CodeSiteReceiver")?,
                transport_number: a.num("TransportNumber")?,
                created_at: a.req("CreatedAt")?,
                other_attributes: Vec::new(),
                records: Vec::new(),
            };
            t.other_attributes = a.rest();
            if empty {
                me.finished = true;
                me.rest()?;
            }
            return Ok((me, t));
        }
    }

    /// The next record, or `None` after the last.
    pub fn next_record(&mut self) -> Result<Option<RecordVersion>, String> {
        if self.finished {
            return Ok(None);
        }
        let mut stack = std::mem::take(&mut self.stack);
        stack.clear();
        self.reader.get_mut().mark();
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e,
                Err(e) => {
                    let n = self.records + 1;
                    return Err(error(
                        &self.reader,
                        &self.buf,
                        &self.limits,
                        &e,
                        Some((n, stack.first())),
                    ));
                }
            };
            let done = match event {
                Event::Start(e) => {
                    if stack.len() + 1 >= MAX_DEPTH {
                        return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                    }
                    stack.push(
                        read_elem(&self.reader, &e, &self.limits)
                            .map_err(|m| in_record(self.records + 1, stack.first(), &m))?,
                    );
                    None
                }
                Event::Empty(e) => Some(
                    read_elem(&self.reader, &e, &self.limits)
                        .map_err(|m| in_record(self.records + 1, stack.first(), &m))?,
                ),
                Event::End(_) => match stack.pop() {
                    Some(el) => Some(el),
                    None => {
                        self.finished = true;
                        self.rest()?;
                        return Ok(None);
                    }
                },
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => None,
                Event::Text(t) => {
                    return Err(format!(
                        "unexpected text `{}`: SurvNet carries values in attributes",
                        excerpt_bytes(t.trim_ascii())
                    ));
                }
                Event::Comment(_) | Event::PI(_) => None,
                Event::DocType(_) => return Err(DOCTYPE_REFUSED.into()),
                Event::CData(_) | Event::GeneralRef(_) => {
                    return Err("unexpected text: SurvNet carries values in attributes".into());
                }
                Event::Decl(_) => return Err("an XML declaration inside the document".into()),
                Event::Eof => return Err("element <Transport> is not closed".into()),
            };
            if let Some(el) = done {
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => {
                        self.records += 1;
                        let n = self.records;
                        self.stack = stack;
                        return record(el).map(Some).map_err(|e| format!("record {n}: {e}"));
                    }
                }
            }
            if stack.is_empty() {
                // Only whitespace or comments so far: they do not count toward the record.
                self.reader.get_mut().mark();
            }
        }
    }

    /// After the root element: nothing but whitespace, comments and processing instructions.
    fn rest(&mut self) -> Result<(), String> {
        loop {
            self.buf.clear();
            self.reader.get_mut().mark();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e,
                Err(e) => return Err(error(&self.reader, &self.buf, &self.limits, &e, None)),
            };
            match event {
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::DocType(_) => return Err(DOCTYPE_REFUSED.into()),
                _ => return Err("content after the root element".into()),
            }
        }
    }
}

fn in_record(n: usize, record: Option<&Elem>, msg: &str) -> String {
    match record.and_then(|r| r.attrs.iter().find(|(k, _)| k == "GuidRecord")) {
        Some((_, g)) => format!("record {n} ({}): {msg}", excerpt(g)),
        None => format!("record {n}: {msg}"),
    }
}

/// A reading error as a short message; a record cut off by the limit is named with the
/// record and field it was in.
fn error<R>(
    reader: &Reader<Counted<R>>,
    buf: &[u8],
    limits: &XmlLimits,
    e: &quick_xml::Error,
    record: Option<(usize, Option<&Elem>)>,
) -> String {
    if reader.get_ref().over {
        let guid = record
            .and_then(|(_, r)| r)
            .and_then(|r| {
                r.attrs
                    .iter()
                    .find(|(k, _)| k == "GuidRecord")
                    .map(|(_, g)| excerpt(g))
            })
            .or_else(|| attr_in(buf, b"GuidRecord"));
        let field = attr_in(buf, b"Name")
            .map(|n| format!(", field `{n}`"))
            .unwrap_or_default();
        let what = match record {
            Some((n, _)) => format!("record {n}"),
            None => "the root element".into(),
        };
        return format!(
            "{what}{}{field}: more than the limit of {} per record (and {} per value)",
            guid.map(|g| format!(" ({g})")).unwrap_or_default(),
            size(limits.max_record_bytes),
            size(limits.max_value_bytes)
        );
    }
    match e {
        quick_xml::Error::Io(io) => excerpt(&io.to_string()),
        e => format!(
            "XML error near byte {}: {}",
            reader.error_position(),
            excerpt(&e.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(records: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Transport xmlns=\"{}\" GuidTransport=\"{{T}}\" \
             CodeSiteSender=\"1.01.0.02.\" CodeSiteReceiver=\"1.01.\" TransportNumber=\"1\" \
             CreatedAt=\"2025-01-01T00:00:00.000\">\n{records}</Transport>\n",
            crate::NAMESPACE
        )
    }

    fn record(guid: &str, inner: &str) -> String {
        format!(
            "  <SAL GuidRecord=\"{guid}\" VersionNo=\"1\" Schema=\"11\" CodeRecordOwner=\"1.01.0.02.\" \
             CodeVersionEditor=\"1.01.0.02.\" ChangedAt=\"2025-01-01T00:00:00.000\">{inner}</SAL>\n"
        )
    }

    fn read_all(xml: &str, limits: XmlLimits) -> Result<Vec<RecordVersion>, String> {
        let (mut r, t) = TransportReader::open(xml.as_bytes(), limits)?;
        assert_eq!(t.transport_number, 1);
        let mut out = Vec::new();
        while let Some(v) = r.next_record()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn records_come_one_by_one() {
        let xml = transport(
            &(record("{A}", "<Field Name=\"Sex\" Value=\"F\"/>")
                + &record(
                    "{B}",
                    "<Group Name=\"G\"><Field Name=\"X\" Value=\"1\"/></Group>",
                )),
        );
        let v = read_all(&xml, XmlLimits::default()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].groups[0].fields[0].value, "1");
        let empty = transport("").replace(">\n</Transport>", "/>");
        assert!(read_all(&empty, XmlLimits::default()).unwrap().is_empty());
    }

    #[test]
    fn a_value_or_record_over_its_limit_is_refused_naming_record_and_field() {
        let limits = XmlLimits {
            max_value_bytes: 100,
            max_record_bytes: 10_000,
        };
        let long = "x".repeat(101);
        let xml = transport(&record(
            "{A}",
            &format!("<Field Name=\"Note\" Value=\"{long}\"/>"),
        ));
        let e = read_all(&xml, limits).unwrap_err();
        assert!(
            e.contains("record 1 ({A}): <Field Name=\"Note\"> attribute Value: a value of 101 bytes, more than the limit of 100 bytes per value"),
            "{e}"
        );
        let huge = "y".repeat(1 << 20);
        let xml = transport(
            &(record("{A}", "")
                + &record("{B}", &format!("<Field Name=\"Big\" Value=\"{huge}\"/>"))),
        );
        let e = read_all(&xml, limits).unwrap_err();
        assert!(
            e.starts_with(
                "record 2 ({B}), field `Big`: more than the limit of 10000 bytes per record"
            ),
            "{e}"
        );
        assert!(e.len() < 300, "{e}");
        // The limit counts one record, not the transport: many small records pass.
        let many: String = (0..2000).map(|i| record(&format!("{{{i}}}"), "")).collect();
        assert_eq!(read_all(&transport(&many), limits).unwrap().len(), 2000);
    }

    #[test]
    fn a_doctype_is_refused_and_messages_quote_only_excerpts() {
        let xml = transport("").replacen(
            "?>",
            "?><!DOCTYPE Transport SYSTEM \"http://127.0.0.1:9/x.dtd\">",
            1,
        );
        let e = read_all(&xml, XmlLimits::default()).err().unwrap();
        assert!(e.contains("DOCTYPE declaration: refused"), "{e}");
        let junk = format!("1{}\u{1b}[31m", "9".repeat(100_000));
        let xml = transport(&record("{A}", ""))
            .replace("VersionNo=\"1\"", &format!("VersionNo=\"{junk}\""));
        let e = read_all(&xml, XmlLimits::default()).unwrap_err();
        assert!(e.contains("is not a number") && e.len() < 400, "{e}");
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn many_attributes_take_linear_time() {
        // 200,000 attributes on one record: quick-xml's duplicate check compared each
        // with all before it (24 s in release); the set makes it one pass (no timing is
        // asserted: quadratic time would make this test take minutes).
        let attrs: String = (0..200_000).map(|i| format!(" A{i}=\"v\"")).collect();
        let xml = transport(&record("{A}", "")).replacen("<SAL ", &format!("<SAL{attrs} "), 1);
        let v = read_all(&xml, XmlLimits::default()).unwrap();
        assert_eq!(v[0].other_attributes.len(), 200_000);
        let dup = transport(&record("{A}", "")).replacen("<SAL ", "<SAL X=\"1\" X=\"2\" ", 1);
        assert!(
            read_all(&dup, XmlLimits::default())
                .unwrap_err()
                .contains("appears twice")
        );
    }
}
