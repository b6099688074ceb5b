//! The receiving side of SurvNet transports, for the host's `hub import`: checks a
//! transport's file names against its header, tells which action made a record version,
//! applies the direction rules to incoming actions, writes a record version back as the
//! JSON body the sending side takes, and writes re-transmission requests.
//!
//! Nothing here does I/O: the host unpacks the archive (with its size limits) and hands
//! the files in.

use hub_plugin_sdk::{Settings, json};
use serde_json::{Map, Value, json};

use crate::body::{Action, Config};
use crate::model::{ParsedTransport, RecordVersion};
use crate::util::{Role, check_site_code};
use hub_plugin_sdk::text::xml_attr as escape_attr;

/// One file of a transport archive, classified by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// `RKI_<sender>_<receiver>_<nnnnnnnn>.xml`, optionally in `schema-<v>/`.
    Transport {
        sender: String,
        receiver: String,
        number: u64,
    },
    /// `RKI_<origin>_<nnnnnnnn>_<mmm>.<typ>`.
    Document { origin: String },
}

/// Classifies an archive entry by its name (Handbuch 72.1.1), or says what is wrong with it.
pub fn classify(name: &str) -> Result<FileKind, String> {
    let (folder, base) = match name.rsplit_once('/') {
        Some((dir, base)) => (Some(dir), base),
        None => (None, name),
    };
    if let Some(dir) = folder {
        let ok = dir
            .strip_prefix("schema-")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()));
        if !ok {
            return Err(format!(
                "`{name}`: files may only sit in a `schema-<version>/` folder"
            ));
        }
    }
    let rest = base
        .strip_prefix("RKI_")
        .ok_or_else(|| format!("`{name}` does not start with RKI_"))?;
    if let Some(stem) = rest.strip_suffix(".xml")
        && let Some((pair, number)) = stem.rsplit_once('_')
        && number.len() == 8
        && number.bytes().all(|b| b.is_ascii_digit())
        && let Some((sender, receiver)) = pair.split_once('_')
        && check_site_code(sender).is_ok()
        && check_site_code(receiver).is_ok()
    {
        return Ok(FileKind::Transport {
            sender: sender.to_string(),
            receiver: receiver.to_string(),
            number: number.parse().map_err(|e| format!("`{name}`: {e}"))?,
        });
    }
    if folder.is_none()
        && let Some((stem, typ)) = rest.rsplit_once('.')
        && typ.len() == 3
        && typ.bytes().all(|b| b.is_ascii_alphanumeric())
        && let Some((head, version)) = stem.rsplit_once('_')
        && version.len() == 3
        && version.bytes().all(|b| b.is_ascii_digit())
        && let Some((origin, number)) = head.rsplit_once('_')
        && number.len() == 8
        && number.bytes().all(|b| b.is_ascii_digit())
        && check_site_code(origin).is_ok()
    {
        return Ok(FileKind::Document {
            origin: origin.to_string(),
        });
    }
    Err(format!(
        "`{name}` is neither a transport file RKI_<sender>_<receiver>_<nnnnnnnn>.xml nor a document RKI_<origin>_<nnnnnnnn>_<mmm>.<typ>"
    ))
}

/// The receiving office: its site code, role and the action codes it knows.
#[derive(Debug, Clone)]
pub struct Receiver {
    cfg: Config,
}

impl Receiver {
    /// From the same settings the target side takes: `sender` is this office's own code.
    pub fn from_settings(settings: &Settings) -> Result<Receiver, String> {
        Ok(Receiver {
            cfg: Config::from_settings(settings).map_err(|e| e.to_string())?,
        })
    }

    /// This office's site code.
    pub fn site(&self) -> &str {
        &self.cfg.sender
    }

    /// Checks a transport file's header against its name and against this office.
    pub fn check_header(&self, file: &str, t: &ParsedTransport) -> Result<(), String> {
        if let FileKind::Transport {
            sender,
            receiver,
            number,
        } = classify(file)?
            && (sender != t.code_site_sender
                || receiver != t.code_site_receiver
                || number != t.transport_number)
        {
            return Err(format!(
                "`{file}`: its name says {sender} → {receiver} number {number}, its header {} → {} number {}",
                t.code_site_sender, t.code_site_receiver, t.transport_number
            ));
        }
        if t.code_site_receiver != self.cfg.sender {
            return Err(format!(
                "`{file}` is addressed to {}, not to this office ({})",
                t.code_site_receiver, self.cfg.sender
            ));
        }
        check_site_code(&t.code_site_sender)
            .map_err(|e| format!("`{file}`: CodeSiteSender {e}"))?;
        if t.transport_number == 0 {
            return Err(format!("`{file}`: TransportNumber 0 (numbers start at 1)"));
        }
        if t.namespace.as_deref() != Some(crate::NAMESPACE) {
            return Err(format!(
                "`{file}`: namespace {:?}, expected {}",
                t.namespace.as_deref().unwrap_or("(none)"),
                crate::NAMESPACE
            ));
        }
        Ok(())
    }

    /// The action that made this version: its newest Track entry, when the sending site
    /// wrote it with one of the configured action codes. Other Track entries are history.
    pub fn action_of(&self, r: &RecordVersion, sender: &str) -> Option<&'static str> {
        let last = r.track.last()?;
        if last.code_site != sender {
            return None;
        }
        Action::ALL
            .into_iter()
            .find(|a| self.cfg.code(*a) == last.action)
            .map(Action::name)
    }

    /// The direction rules for an action arriving from `sender` at this office.
    pub fn check_incoming(&self, action: &str, sender: &str) -> Result<(), String> {
        let Some(a) = Action::ALL.into_iter().find(|a| a.name() == action) else {
            return Ok(());
        };
        a.check_direction(Role::of_site(sender), sender, &self.cfg.sender)
    }
}

/// Whether `sender` may send a version of a record that `owner` owns: the owner itself,
/// and the sites above it (whose code is a prefix of the owner's: the RKI `1.` for every
/// record, a state office `1.01.` for its health offices' records), which is the way
/// releases and updates travel (RKI → LS → GA). An assumption: the SurvNet material
/// names an owner (`CodeRecordOwner`) but publishes no rule for edits by other sites.
pub fn may_edit(sender: &str, owner: &str) -> bool {
    owner.starts_with(sender)
}

/// A record version as the JSON body the sending side takes (`kind` `case`), so what a
/// receiver stores reads like what a sender enqueued and can be forwarded as is.
pub fn version_json(r: &RecordVersion, receiver: &str) -> Value {
    let mut m = Map::new();
    m.insert("category".into(), json!(r.category));
    m.insert("guid".into(), json!(r.guid_record));
    m.insert("version_no".into(), json!(r.version_no));
    m.insert("schema".into(), json!(r.schema));
    m.insert("owner".into(), json!(r.code_record_owner));
    m.insert("version_editor".into(), json!(r.code_version_editor));
    let opt = |m: &mut Map<String, Value>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    };
    opt(&mut m, "token", &r.token);
    if let Some(b) = r.to_transport_manual {
        m.insert("to_transport_manual".into(), json!(b));
    }
    m.insert("changed_at".into(), json!(r.changed_at));
    opt(&mut m, "transport_request_type", &r.transport_request_type);
    opt(&mut m, "reporting_date", &r.reporting_date);
    opt(&mut m, "reporting_county", &r.reporting_county);
    if let Some(b) = r.case_def_epi_manual {
        m.insert("case_def_epi_manual".into(), json!(b));
    }
    m.insert("receiver".into(), json!(receiver));
    if !r.other_attributes.is_empty() {
        let attrs: Map<String, Value> = r
            .other_attributes
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        m.insert("attributes".into(), Value::Object(attrs));
    }
    let fields = |fs: &[crate::model::Field]| -> Value {
        fs.iter()
            .map(|f| json!({"name": f.name, "value": f.value}))
            .collect()
    };
    if !r.groups.is_empty() {
        m.insert(
            "groups".into(),
            r.groups
                .iter()
                .map(|g| json!({"name": g.name, "fields": fields(&g.fields)}))
                .collect(),
        );
    }
    if !r.fields.is_empty() {
        m.insert("fields".into(), fields(&r.fields));
    }
    if !r.addressees.is_empty() {
        m.insert(
            "addressees".into(),
            r.addressees
                .iter()
                .map(|a| json!({"code_site": a.code_site, "implicit": a.implicit, "explicit": a.explicit}))
                .collect(),
        );
    }
    if !r.track.is_empty() {
        m.insert(
            "track".into(),
            r.track
                .iter()
                .map(|t| {
                    let mut e = json!({
                        "guid": t.guid_track,
                        "action": t.action,
                        "tracked_at": t.tracked_at,
                        "code_site": t.code_site,
                        "version_no_site": t.version_no_site,
                    });
                    if let (Some(s), Some(o)) = (&t.software, e.as_object_mut()) {
                        o.insert("software".into(), json!(s));
                    }
                    e
                })
                .collect(),
        );
    }
    Value::Object(m)
}

/// [`version_json`] written straight as text: the same bytes as
/// `version_json(r, receiver).to_string()` (keys in sorted order, serde_json's escapes),
/// without building a `Value` for every record (`hub import` stores one per version).
pub fn version_json_text(r: &RecordVersion, receiver: &str) -> String {
    let mut o = String::with_capacity(1024);
    let mut w = JsonObject::open(&mut o);
    if !r.addressees.is_empty() {
        w.key("addressees");
        list(w.out, &r.addressees, |o, a| {
            let mut e = JsonObject::open(o);
            e.str("code_site", &a.code_site);
            e.bool("explicit", a.explicit);
            e.bool("implicit", a.implicit);
            e.close();
        });
    }
    if !r.other_attributes.is_empty() {
        let attrs: std::collections::BTreeMap<&str, &str> = r
            .other_attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        w.key("attributes");
        let mut e = JsonObject::open(w.out);
        for (k, v) in attrs {
            e.any_str(k, v);
        }
        e.close();
    }
    if let Some(b) = r.case_def_epi_manual {
        w.bool("case_def_epi_manual", b);
    }
    w.str("category", &r.category);
    w.str("changed_at", &r.changed_at);
    let fields = |o: &mut String, fs: &[crate::model::Field]| {
        list(o, fs, |o, f| {
            let mut e = JsonObject::open(o);
            e.str("name", &f.name);
            e.str("value", &f.value);
            e.close();
        });
    };
    if !r.fields.is_empty() {
        w.key("fields");
        fields(w.out, &r.fields);
    }
    if !r.groups.is_empty() {
        w.key("groups");
        list(w.out, &r.groups, |o, g| {
            let mut e = JsonObject::open(o);
            e.key("fields");
            fields(e.out, &g.fields);
            e.str("name", &g.name);
            e.close();
        });
    }
    w.str("guid", &r.guid_record);
    w.str("owner", &r.code_record_owner);
    w.str("receiver", receiver);
    if let Some(v) = &r.reporting_county {
        w.str("reporting_county", v);
    }
    if let Some(v) = &r.reporting_date {
        w.str("reporting_date", v);
    }
    w.str("schema", &r.schema);
    if let Some(b) = r.to_transport_manual {
        w.bool("to_transport_manual", b);
    }
    if let Some(v) = &r.token {
        w.str("token", v);
    }
    if !r.track.is_empty() {
        w.key("track");
        list(w.out, &r.track, |o, t| {
            let mut e = JsonObject::open(o);
            e.str("action", &t.action);
            e.str("code_site", &t.code_site);
            e.str("guid", &t.guid_track);
            if let Some(s) = &t.software {
                e.str("software", s);
            }
            e.str("tracked_at", &t.tracked_at);
            e.num("version_no_site", t.version_no_site);
            e.close();
        });
    }
    if let Some(v) = &r.transport_request_type {
        w.str("transport_request_type", v);
    }
    w.str("version_editor", &r.code_version_editor);
    w.num("version_no", r.version_no);
    w.close();
    o
}

/// A JSON object being written: keys are given in sorted order by the caller.
struct JsonObject<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        JsonObject { out, first: true }
    }

    /// A key of the hub's own (a literal: nothing to escape, so not scanned).
    fn key(&mut self, k: &'static str) {
        debug_assert!(!k.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        self.comma();
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    fn str(&mut self, k: &'static str, v: &str) {
        self.key(k);
        json::write_str(self.out, v);
    }

    /// A pair whose key came from outside (an unknown attribute's name): escaped.
    fn any_str(&mut self, k: &str, v: &str) {
        self.comma();
        json::write_str(self.out, k);
        self.out.push(':');
        json::write_str(self.out, v);
    }

    fn bool(&mut self, k: &'static str, v: bool) {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
    }

    fn num(&mut self, k: &'static str, v: u32) {
        use std::fmt::Write as _;
        self.key(k);
        let _ = write!(self.out, "{v}");
    }

    fn close(self) {
        self.out.push('}');
    }
}

fn list<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(']');
}

/// The request to send transports again: `<RetransmissionRequest>` listing the missing
/// transport numbers of one sender/receiver pair. The hub's own layout (SurvNet's is not
/// public); the sending hub answers it with `hub resend`.
pub fn retransmission_request(
    requesting_site: &str,
    sender: &str,
    numbers: &[u64],
    created_at: &str,
) -> Vec<u8> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!(
        "<RetransmissionRequest xmlns=\"{}\" CodeSiteSender=\"{}\" CodeSiteReceiver=\"{}\" CreatedAt=\"{}\">\n",
        crate::NAMESPACE,
        escape_attr(requesting_site),
        escape_attr(sender),
        escape_attr(created_at)
    ));
    for n in numbers {
        out.push_str(&format!("  <Transport TransportNumber=\"{n}\"/>\n"));
    }
    out.push_str("</RetransmissionRequest>\n");
    out.into_bytes()
}

/// `RKI_<requesting site>_<sender>_RETRANSMIT_<first>-<last>.xml`.
pub fn retransmission_request_name(requesting_site: &str, sender: &str, numbers: &[u64]) -> String {
    let first = numbers.first().copied().unwrap_or(0);
    let last = numbers.last().copied().unwrap_or(0);
    format!("RKI_{requesting_site}_{sender}_RETRANSMIT_{first:08}-{last:08}.xml")
}

/// `RKI_<receiver>_<sender>_<nnnnnnnn>_RECEIPT.xml`: the receipt answering a transport.
pub fn receipt_name(t: &ParsedTransport) -> String {
    format!(
        "RKI_{}_{}_{:08}_RECEIPT.xml",
        t.code_site_receiver, t.code_site_sender, t.transport_number
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_json_text_is_version_json_byte_for_byte() {
        use crate::model::{Addressee, Field, Group, Track};
        let odd = "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{1f}j\u{7f}k/ü€😀<&>";
        let field = |n: &str, v: &str| Field {
            name: n.into(),
            value: v.into(),
        };
        let full = RecordVersion {
            category: "SAL".into(),
            guid_record: "{A}".into(),
            version_no: 4_000_000_000,
            schema: "11".into(),
            code_record_owner: "1.01.0.02.".into(),
            code_version_editor: odd.into(),
            token: Some(odd.into()),
            to_transport_manual: Some(false),
            changed_at: "2025-01-01T00:00:00.000".into(),
            transport_request_type: Some("2".into()),
            reporting_date: Some("x".into()),
            reporting_county: Some("y".into()),
            case_def_epi_manual: Some(true),
            other_attributes: vec![("Zed".into(), "1".into()), ("Alpha".into(), odd.into())],
            groups: vec![
                Group {
                    name: "G".into(),
                    fields: vec![field("A", odd), field("B", "")],
                },
                Group {
                    name: "Empty".into(),
                    fields: vec![],
                },
            ],
            fields: vec![field(odd, "v")],
            addressees: vec![Addressee {
                code_site: "1.".into(),
                implicit: false,
                explicit: true,
            }],
            track: vec![
                Track {
                    guid_track: "{T}".into(),
                    action: "1".into(),
                    tracked_at: "t".into(),
                    code_site: "1.01.".into(),
                    version_no_site: 7,
                    software: Some("hub".into()),
                },
                Track::default(),
            ],
        };
        let bare = RecordVersion {
            category: "INV".into(),
            ..RecordVersion::default()
        };
        for r in [&full, &bare] {
            assert_eq!(
                version_json_text(r, "1.01."),
                version_json(r, "1.01.").to_string()
            );
        }
    }

    #[test]
    fn names_are_classified_or_refused_with_the_name() {
        assert_eq!(
            classify("RKI_1.01.0.02._1.01._00000042.xml"),
            Ok(FileKind::Transport {
                sender: "1.01.0.02.".into(),
                receiver: "1.01.".into(),
                number: 42
            })
        );
        assert!(matches!(
            classify("schema-11/RKI_1.01.0.02._1.01._00000042.xml"),
            Ok(FileKind::Transport { number: 42, .. })
        ));
        assert_eq!(
            classify("RKI_1.01.0.02._00000007_001.pdf"),
            Ok(FileKind::Document {
                origin: "1.01.0.02.".into()
            })
        );
        for bad in [
            "../RKI_1.01.0.02._1.01._00000042.xml",
            "x/RKI_1.01.0.02._1.01._00000042.xml",
            "RKI_1.01.0.02._1.01._42.xml",
            "evil.sh",
            "RKI_1.01.0.02._00000007_001.toolong",
        ] {
            let e = classify(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn retransmission_request_lists_the_numbers() {
        let x = String::from_utf8(retransmission_request(
            "1.01.",
            "1.01.0.02.",
            &[2, 3],
            "2024-01-01T00:00:00.000",
        ))
        .unwrap();
        assert!(x.contains("<Transport TransportNumber=\"2\"/>"), "{x}");
        assert!(x.contains("CodeSiteReceiver=\"1.01.0.02.\""), "{x}");
        assert_eq!(
            retransmission_request_name("1.01.", "1.01.0.02.", &[2, 3]),
            "RKI_1.01._1.01.0.02._RETRANSMIT_00000002-00000003.xml"
        );
    }
}
