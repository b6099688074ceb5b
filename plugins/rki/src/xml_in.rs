//! Reads transport and receipt XML (natively for `hub import`, and in `interpret`).
//!
//! A transport is read as a stream of events, one record at a time
//! ([`crate::TransportReader`], in `xml_stream`): what it holds is one record, bounded by
//! [`crate::XmlLimits`], whatever the transport's size. Each record is read into a small
//! element tree and mapped onto the model. Elements the
//! model does not know are refused rather than skipped, so a file of an unexpected shape
//! fails loudly instead of losing data; unknown record attributes are kept in
//! `other_attributes`. DOCTYPE declarations are refused outright (no DTD, internal or
//! external, is ever read). Every name or value quoted in an error is an excerpt.

use std::borrow::Cow;
use std::collections::HashSet;

use hub_plugin_sdk::text::{excerpt, excerpt_bytes};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::model::{
    Addressee, Field, Group, ParsedTransport, Receipt, ReceiptRecord, ReceiptResult, RecordVersion,
    Track,
};
use crate::xml_stream::{TransportReader, XmlLimits, size};

/// Deeper nesting than any SurvNet file has: a guard against hostile input.
pub(crate) const MAX_DEPTH: usize = 16;

pub(crate) const DOCTYPE_REFUSED: &str =
    "a DOCTYPE declaration: refused (SurvNet files have none, and no DTD is ever read)";

/// An element or attribute name: the names SurvNet files use are borrowed from a table
/// instead of allocated once per element (a million-record transport has tens of millions).
pub(crate) type Name = Cow<'static, str>;

/// `s` as a [`Name`]: borrowed when it is one of the names transports and receipts use
/// (a `match`, which compiles to a switch on length and bytes), else an excerpt of it
/// (names from outside reach messages).
fn name_of(s: &str) -> Name {
    macro_rules! known {
        ($($n:literal),* $(,)?) => {
            match s {
                $($n => Cow::Borrowed($n),)*
                _ => Cow::Owned(excerpt(s)),
            }
        };
    }
    known!(
        "Field",
        "Name",
        "Value",
        "Group",
        "Track",
        "Addressee",
        "GuidTrack",
        "Action",
        "TrackedAt",
        "CodeSite",
        "VersionNoSite",
        "Software",
        "Implicit",
        "Explicit",
        "GuidRecord",
        "VersionNo",
        "Schema",
        "CodeRecordOwner",
        "CodeVersionEditor",
        "Token",
        "ToTransportManual",
        "ChangedAt",
        "TransportRequestType",
        "ReportingDate",
        "ReportingCounty",
        "CaseDefEpiManual",
        "SAL",
        "Transport",
        "Receipt",
        "Record",
        "Result",
        "Code",
        "Message",
        "GuidTransport",
        "CodeSiteSender",
        "CodeSiteReceiver",
        "TransportNumber",
        "CreatedAt",
        "xmlns",
    )
}

pub(crate) struct Elem {
    /// Local name (any namespace prefix dropped).
    pub(crate) name: Name,
    pub(crate) namespace: Option<String>,
    pub(crate) attrs: Vec<(Name, String)>,
    pub(crate) children: Vec<Elem>,
}

impl Elem {
    /// `<Name>` or `<Field Name="…">`, for messages.
    pub(crate) fn describe(&self) -> String {
        match self.attrs.iter().find(|(k, _)| k == "Name") {
            Some((_, n)) => format!("<{} Name=\"{}\">", self.name, excerpt(n)),
            None => format!("<{}>", self.name),
        }
    }
}

/// Attributes compared in a list on the stack before a set is built.
const FEW: usize = 16;

pub(crate) fn read_elem<R>(
    reader: &Reader<R>,
    e: &BytesStart,
    limits: &XmlLimits,
) -> Result<Elem, String> {
    let raw_name = e.local_name();
    let name = std::str::from_utf8(raw_name.as_ref())
        .map_err(|err| format!("element name is not UTF-8: {err}"))?;
    let name = name_of(name);
    let mut namespace = None;
    let mut attrs = Vec::new();
    let mut too_big: Option<(String, usize)> = None;
    // quick-xml's own duplicate check compares each attribute with all before it
    // (quadratic: 100,000 attributes took seconds); a set does it in one pass. The few
    // attributes of an ordinary element are compared in a list (no set to allocate).
    let mut few: [&[u8]; FEW] = [&[]; FEW];
    let mut nfew = 0;
    let mut seen: HashSet<&[u8]> = HashSet::new();
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| {
            format!(
                "element <{name}>: bad attribute: {}",
                excerpt(&err.to_string())
            )
        })?;
        let key = std::str::from_utf8(a.key.as_ref())
            .map_err(|err| format!("element <{name}>: attribute name is not UTF-8: {err}"))?;
        let k: &[u8] = a.key.into_inner();
        let again = if seen.is_empty() && nfew < FEW {
            let again = few[..nfew].contains(&k);
            few[nfew] = k;
            nfew += 1;
            again
        } else {
            if seen.is_empty() {
                seen.extend(few[..nfew].iter().copied());
            }
            !seen.insert(k)
        };
        if again {
            return Err(format!(
                "element <{name}>: attribute {} appears twice",
                excerpt(key)
            ));
        }
        if a.value.len() > limits.max_value_bytes {
            too_big = Some((key.to_string(), a.value.len()));
            continue;
        }
        let value = a
            .decode_and_unescape_value(reader.decoder())
            .map_err(|err| {
                format!(
                    "element <{name}>: attribute {}: {}",
                    excerpt(key),
                    excerpt(&err.to_string())
                )
            })?
            .into_owned();
        if key == "xmlns" {
            namespace = Some(value);
        } else if !key.starts_with("xmlns:") {
            attrs.push((name_of(key), value));
        }
    }
    let elem = Elem {
        name,
        namespace,
        attrs,
        children: Vec::new(),
    };
    if let Some((key, len)) = too_big {
        return Err(format!(
            "{} attribute {}: a value of {len} bytes, more than the limit of {} per value",
            elem.describe(),
            excerpt(&key),
            size(limits.max_value_bytes)
        ));
    }
    Ok(elem)
}

fn parse_tree(xml: &[u8]) -> Result<Elem, String> {
    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let limits = XmlLimits::unlimited();
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "XML error near byte {}: {}",
                reader.error_position(),
                excerpt(&e.to_string())
            )
        })?;
        let done = match event {
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
                None
            }
            Event::Start(e) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                stack.push(read_elem(&reader, &e, &limits)?);
                None
            }
            Event::Empty(e) => Some(read_elem(&reader, &e, &limits)?),
            Event::End(_) => Some(stack.pop().ok_or("end tag without start tag")?),
            Event::Text(t) => {
                if t.iter().all(u8::is_ascii_whitespace) {
                    None
                } else {
                    return Err(format!(
                        "unexpected text `{}`: SurvNet carries values in attributes",
                        excerpt_bytes(t.trim_ascii())
                    ));
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                return Err("unexpected text: SurvNet carries values in attributes".into());
            }
            Event::DocType(_) => return Err(DOCTYPE_REFUSED.into()),
            Event::Comment(_) | Event::PI(_) => None,
            Event::Eof => break,
        };
        if let Some(el) = done {
            if let Some(parent) = stack.last_mut() {
                parent.children.push(el);
            } else if root.is_none() {
                root = Some(el);
            } else {
                return Err("more than one root element".into());
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("element <{}> is not closed", open.name));
    }
    root.ok_or_else(|| "no root element".into())
}

/// An element's attributes, taken one by one; what is left over is "other".
pub(crate) struct Attrs {
    elem: Name,
    pub(crate) list: Vec<(Name, String)>,
}

impl Attrs {
    pub(crate) fn new(e: &mut Elem) -> Attrs {
        Attrs {
            elem: e.name.clone(),
            list: std::mem::take(&mut e.attrs),
        }
    }

    /// What is left, for `other_attributes`.
    pub(crate) fn rest(self) -> Vec<(String, String)> {
        self.list
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v))
            .collect()
    }

    pub(crate) fn opt(&mut self, name: &str) -> Option<String> {
        let i = self.list.iter().position(|(k, _)| k == name)?;
        Some(self.list.remove(i).1)
    }

    pub(crate) fn req(&mut self, name: &str) -> Result<String, String> {
        self.opt(name)
            .ok_or_else(|| format!("<{}> has no {name} attribute", self.elem))
    }

    pub(crate) fn num<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, String> {
        let v = self.req(name)?;
        v.parse()
            .map_err(|_| format!("<{}> {name}=\"{}\" is not a number", self.elem, excerpt(&v)))
    }

    fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, String> {
        match self.opt(name).as_deref() {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(format!(
                "<{}> {name}=\"{}\" is not true or false",
                self.elem,
                excerpt(v)
            )),
        }
    }

    fn bool(&mut self, name: &str) -> Result<bool, String> {
        self.opt_bool(name)?
            .ok_or_else(|| format!("<{}> has no {name} attribute", self.elem))
    }
}

fn field(mut e: Elem) -> Result<Field, String> {
    if let Some(c) = e.children.first() {
        return Err(format!("<Field> contains <{}>", c.name));
    }
    let mut a = Attrs::new(&mut e);
    Ok(Field {
        name: a.req("Name")?,
        value: a.req("Value")?,
    })
}

pub(crate) fn record(mut e: Elem) -> Result<RecordVersion, String> {
    let mut a = Attrs::new(&mut e);
    let mut r = RecordVersion {
        category: e.name.to_string(),
        guid_record: a.req("GuidRecord")?,
        version_no: a.num("VersionNo")?,
        schema: a.req("Schema")?,
        code_record_owner: a.req("CodeRecordOwner")?,
        code_version_editor: a.req("CodeVersionEditor")?,
        token: a.opt("Token"),
        to_transport_manual: a.opt_bool("ToTransportManual")?,
        changed_at: a.req("ChangedAt")?,
        transport_request_type: a.opt("TransportRequestType"),
        reporting_date: a.opt("ReportingDate"),
        reporting_county: a.opt("ReportingCounty"),
        case_def_epi_manual: a.opt_bool("CaseDefEpiManual")?,
        other_attributes: Vec::new(),
        groups: Vec::new(),
        fields: Vec::new(),
        addressees: Vec::new(),
        track: Vec::new(),
    };
    r.other_attributes = a.rest();
    for mut c in e.children {
        match c.name.as_ref() {
            "Group" => {
                let name = Attrs::new(&mut c).req("Name")?;
                let mut fields = Vec::with_capacity(c.children.len());
                for f in c.children {
                    if f.name != "Field" {
                        return Err(format!(
                            "<Group Name=\"{}\"> contains <{}>",
                            excerpt(&name),
                            f.name
                        ));
                    }
                    fields.push(field(f)?);
                }
                r.groups.push(Group { name, fields });
            }
            "Field" => r.fields.push(field(c)?),
            "Addressee" => {
                let mut a = Attrs::new(&mut c);
                r.addressees.push(Addressee {
                    code_site: a.req("CodeSite")?,
                    implicit: a.bool("Implicit")?,
                    explicit: a.bool("Explicit")?,
                });
            }
            "Track" => {
                let mut a = Attrs::new(&mut c);
                r.track.push(Track {
                    guid_track: a.req("GuidTrack")?,
                    action: a.req("Action")?,
                    tracked_at: a.req("TrackedAt")?,
                    code_site: a.req("CodeSite")?,
                    version_no_site: a.num("VersionNoSite")?,
                    software: a.opt("Software"),
                });
            }
            other => {
                return Err(format!(
                    "record <{} GuidRecord=\"{}\"> contains <{other}>, which the hub does not know",
                    r.category,
                    excerpt(&r.guid_record)
                ));
            }
        }
    }
    Ok(r)
}

/// Reads a SurvNet transport file whole: header and every record with attributes,
/// groups, fields, addressees and track. Refuses what it cannot represent. (`hub import`
/// reads record by record with [`crate::TransportReader`] instead.)
pub fn parse_transport(xml: &[u8]) -> Result<ParsedTransport, String> {
    let (mut reader, mut t) = TransportReader::open(xml, XmlLimits::unlimited())?;
    while let Some(r) = reader.next_record()? {
        t.records.push(r);
    }
    Ok(t)
}

/// Reads a receipt in the hub's assumed layout (see [`Receipt`]).
pub fn parse_receipt(xml: &[u8]) -> Result<Receipt, String> {
    let mut root = parse_tree(xml)?;
    if root.name != "Receipt" {
        return Err(format!("root element is <{}>, not <Receipt>", root.name));
    }
    let mut a = Attrs::new(&mut root);
    let mut receipt = Receipt {
        guid_transport: a.req("GuidTransport")?,
        transport_number: a.num("TransportNumber")?,
        code_site_sender: a.req("CodeSiteSender")?,
        code_site_receiver: a.req("CodeSiteReceiver")?,
        records: Vec::with_capacity(root.children.len()),
    };
    for mut c in root.children {
        if c.name != "Record" {
            return Err(format!("<Receipt> contains <{}>", c.name));
        }
        let mut a = Attrs::new(&mut c);
        let guid_record = a.req("GuidRecord")?;
        let version_no = a.num("VersionNo")?;
        let result = match a.req("Result")?.as_str() {
            "Imported" => ReceiptResult::Imported,
            "Rejected" => ReceiptResult::Rejected,
            other => {
                return Err(format!(
                    "<Record GuidRecord=\"{}\"> has Result=\"{}\", neither Imported nor Rejected",
                    excerpt(&guid_record),
                    excerpt(other)
                ));
            }
        };
        receipt.records.push(ReceiptRecord {
            guid_record,
            version_no,
            result,
            code: a.opt("Code"),
            message: a.opt("Message"),
        });
    }
    Ok(receipt)
}
