//! Reads transport and receipt XML (natively for `hub import`, and in `interpret`).
//!
//! The document is first read into a small element tree, then mapped onto the model.
//! Elements the model does not know are refused rather than skipped, so a file of an
//! unexpected shape fails loudly instead of losing data; unknown record attributes are
//! kept in `other_attributes`.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::model::{
    Addressee, Field, Group, ParsedTransport, Receipt, ReceiptRecord, ReceiptResult, RecordVersion,
    Track,
};

/// Deeper nesting than any SurvNet file has: a guard against hostile input.
const MAX_DEPTH: usize = 16;

struct Elem {
    /// Local name (any namespace prefix dropped).
    name: String,
    namespace: Option<String>,
    attrs: Vec<(String, String)>,
    children: Vec<Elem>,
}

fn read_elem(reader: &Reader<&[u8]>, e: &BytesStart) -> Result<Elem, String> {
    let name = std::str::from_utf8(e.local_name().as_ref())
        .map_err(|err| format!("element name is not UTF-8: {err}"))?
        .to_string();
    let mut namespace = None;
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("element <{name}>: bad attribute: {err}"))?;
        let key = std::str::from_utf8(a.key.as_ref())
            .map_err(|err| format!("element <{name}>: attribute name is not UTF-8: {err}"))?
            .to_string();
        let value = a
            .decode_and_unescape_value(reader.decoder())
            .map_err(|err| format!("element <{name}>: attribute {key}: {err}"))?
            .into_owned();
        if key == "xmlns" {
            namespace = Some(value);
        } else if !key.starts_with("xmlns:") {
            attrs.push((key, value));
        }
    }
    Ok(Elem {
        name,
        namespace,
        attrs,
        children: Vec::new(),
    })
}

fn parse_tree(xml: &[u8]) -> Result<Elem, String> {
    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error near byte {}: {e}", reader.error_position()))?;
        let done = match event {
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|e| format!("XML declaration: {e}"))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(format!(
                            "encoding `{}` is not supported: SurvNet files are UTF-8",
                            String::from_utf8_lossy(&enc)
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
                stack.push(read_elem(&reader, &e)?);
                None
            }
            Event::Empty(e) => Some(read_elem(&reader, &e)?),
            Event::End(_) => Some(stack.pop().ok_or("end tag without start tag")?),
            Event::Text(t) => {
                if t.iter().all(u8::is_ascii_whitespace) {
                    None
                } else {
                    return Err(format!(
                        "unexpected text `{}`: SurvNet carries values in attributes",
                        String::from_utf8_lossy(&t).trim()
                    ));
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                return Err("unexpected text: SurvNet carries values in attributes".into());
            }
            Event::Comment(_) | Event::PI(_) | Event::DocType(_) => None,
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
struct Attrs {
    elem: String,
    list: Vec<(String, String)>,
}

impl Attrs {
    fn new(e: &mut Elem) -> Attrs {
        Attrs {
            elem: e.name.clone(),
            list: std::mem::take(&mut e.attrs),
        }
    }

    fn opt(&mut self, name: &str) -> Option<String> {
        let i = self.list.iter().position(|(k, _)| k == name)?;
        Some(self.list.remove(i).1)
    }

    fn req(&mut self, name: &str) -> Result<String, String> {
        self.opt(name)
            .ok_or_else(|| format!("<{}> has no {name} attribute", self.elem))
    }

    fn num<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, String> {
        let v = self.req(name)?;
        v.parse()
            .map_err(|_| format!("<{}> {name}=\"{v}\" is not a number", self.elem))
    }

    fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, String> {
        match self.opt(name).as_deref() {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(format!(
                "<{}> {name}=\"{v}\" is not true or false",
                self.elem
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

fn record(mut e: Elem) -> Result<RecordVersion, String> {
    let mut a = Attrs::new(&mut e);
    let mut r = RecordVersion {
        category: e.name.clone(),
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
    r.other_attributes = a.list;
    for mut c in e.children {
        match c.name.as_str() {
            "Group" => {
                let name = Attrs::new(&mut c).req("Name")?;
                let mut fields = Vec::with_capacity(c.children.len());
                for f in c.children {
                    if f.name != "Field" {
                        return Err(format!("<Group Name=\"{name}\"> contains <{}>", f.name));
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
                    r.category, r.guid_record
                ));
            }
        }
    }
    Ok(r)
}

/// Reads a SurvNet transport file: header and every record with attributes, groups,
/// fields, addressees and track. Refuses what it cannot represent.
pub fn parse_transport(xml: &[u8]) -> Result<ParsedTransport, String> {
    let mut root = parse_tree(xml)?;
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
        records: Vec::with_capacity(root.children.len()),
    };
    t.other_attributes = a.list;
    for (i, c) in root.children.into_iter().enumerate() {
        let r = record(c).map_err(|e| format!("record {}: {e}", i + 1))?;
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
                    "<Record GuidRecord=\"{guid_record}\"> has Result=\"{other}\", neither Imported nor Rejected"
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
