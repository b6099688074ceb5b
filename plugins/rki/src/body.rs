//! Record bodies (JSON) into the SurvNet model, with errors that name record and field.

use hub_plugin_sdk::ErrorCode;
use hub_plugin_sdk::json::{self, Fields};
use hub_plugin_sdk::{Record, RecordError, SettingError, Settings};
use serde_json::Value;

use crate::model::{Addressee, Field, Group, RecordVersion, Track};
use crate::util::{
    Role, base64_decode, check_guid, check_schema, check_site_code, check_xml_name, check_xml_text,
    derived_guid, normalize_datetime,
};

/// An action on a record; each is sent as a new version of that record with a Track entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Rücknahme.
    Retract,
    /// Verwerfen.
    Discard,
    /// Freigabe (Evaluation) after the RKI's case check.
    Release,
    /// Setzen eines beliebigen Wertes.
    Update,
    /// Anforderung der erneuten Übermittlung.
    RetransmissionRequest,
    /// Bestätigung der Übernahme.
    ConfirmTakeover,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Retract,
        Action::Discard,
        Action::Release,
        Action::Update,
        Action::RetransmissionRequest,
        Action::ConfirmTakeover,
    ];

    /// The body's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Action::Retract => "retract",
            Action::Discard => "discard",
            Action::Release => "release",
            Action::Update => "update",
            Action::RetransmissionRequest => "retransmission-request",
            Action::ConfirmTakeover => "confirm-takeover",
        }
    }

    /// The setting that holds its Track/@Action code.
    pub fn setting(self) -> &'static str {
        match self {
            Action::Retract => "action_code_retract",
            Action::Discard => "action_code_discard",
            Action::Release => "action_code_release",
            Action::Update => "action_code_update",
            Action::RetransmissionRequest => "action_code_retransmission_request",
            Action::ConfirmTakeover => "action_code_confirm_takeover",
        }
    }

    /// The placeholder default: visibly not an official code.
    pub fn placeholder(self) -> &'static str {
        match self {
            Action::Retract => "PLACEHOLDER-RETRACT",
            Action::Discard => "PLACEHOLDER-DISCARD",
            Action::Release => "PLACEHOLDER-RELEASE",
            Action::Update => "PLACEHOLDER-UPDATE",
            Action::RetransmissionRequest => "PLACEHOLDER-RETRANSMISSION-REQUEST",
            Action::ConfirmTakeover => "PLACEHOLDER-CONFIRM-TAKEOVER",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == s)
    }

    fn index(self) -> usize {
        Action::ALL.iter().position(|a| *a == self).unwrap_or(0)
    }

    /// The seed's direction rules (Handbuch 72.1.3): retract and discard only on the implicit
    /// path from a health office towards the RKI; release and update only from the RKI
    /// towards state and health offices. The forwarding leg of a state office (LS → RKI,
    /// LS → GA) lies on those paths and is allowed.
    pub(crate) fn check_direction(
        self,
        own: Role,
        sender: &str,
        receiver: &str,
    ) -> Result<(), String> {
        let to = Role::of_site(receiver);
        let (ok, rule) = match self {
            Action::Retract | Action::Discard => (
                own != Role::Rki && to.rank() < own.rank(),
                "is only sent from a health office towards the RKI (GA → LS → RKI)",
            ),
            Action::Release | Action::Update => (
                own != Role::HealthOffice && to.rank() > own.rank(),
                "is only sent from the RKI towards a state office or health office (RKI → LS → GA)",
            ),
            Action::RetransmissionRequest | Action::ConfirmTakeover => (true, ""),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "action `{}` {rule}, not from {} {sender} to {} {receiver}",
                self.name(),
                own.describe(),
                to.describe()
            ))
        }
    }
}

/// The plugin's settings, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub sender: String,
    pub role: Role,
    pub software: String,
    /// `xml-stylesheet` href written before the transport element, if set.
    pub stylesheet: Option<String>,
    codes: Vec<String>,
}

impl Config {
    pub fn from_settings(settings: &Settings) -> Result<Config, SettingError> {
        let sender = settings.require("sender")?;
        check_site_code(sender).map_err(|e| SettingError::new("sender", e))?;
        let role_text = settings.require("role")?;
        let role = Role::parse(role_text).ok_or_else(|| {
            SettingError::new(
                "role",
                format!("`{role_text}` is not one of health-office, state-office, rki"),
            )
        })?;
        if Role::of_site(sender) != role {
            return Err(SettingError::new(
                "role",
                format!(
                    "is {role_text}, but the site code {sender} is that of {}",
                    Role::of_site(sender).describe()
                ),
            ));
        }
        let software = settings.get("software").unwrap_or("hub");
        if software.is_empty() {
            return Err(SettingError::new("software", "is empty"));
        }
        check_xml_text(software).map_err(|e| SettingError::new("software", e))?;
        let mut codes: Vec<String> = Vec::new();
        for a in Action::ALL {
            let code = settings.get(a.setting()).unwrap_or(a.placeholder());
            if code.is_empty() {
                return Err(SettingError::new(a.setting(), "is empty"));
            }
            check_xml_text(code).map_err(|e| SettingError::new(a.setting(), e))?;
            if let Some(other) = Action::ALL
                .iter()
                .zip(&codes)
                .find(|(_, c)| c.as_str() == code)
            {
                return Err(SettingError::new(
                    a.setting(),
                    format!(
                        "has the same code `{code}` as setting `{}`: the receiver could not tell the actions apart",
                        other.0.setting()
                    ),
                ));
            }
            codes.push(code.to_string());
        }
        let stylesheet = match settings.get("xml_stylesheet").unwrap_or_default() {
            "" => None,
            href => {
                check_xml_text(href).map_err(|e| SettingError::new("xml_stylesheet", e))?;
                Some(href.to_string())
            }
        };
        Ok(Config {
            sender: sender.to_string(),
            role,
            software: software.to_string(),
            stylesheet,
            codes,
        })
    }

    pub fn code(&self, a: Action) -> &str {
        self.codes.get(a.index()).map_or("", String::as_str)
    }
}

/// A decoded record body.
#[derive(Debug, Clone)]
pub enum Item {
    /// A case (or outbreak, comment) version, or an action carried as a version.
    Version {
        version: Box<RecordVersion>,
        receiver: String,
    },
    Document(Document),
}

impl Item {
    pub fn receiver(&self) -> &str {
        match self {
            Item::Version { receiver, .. } => receiver,
            Item::Document(d) => &d.receiver,
        }
    }
}

/// A document file travelling with the transport.
#[derive(Debug, Clone)]
pub struct Document {
    pub receiver: String,
    pub origin: String,
    pub number: u32,
    pub version: u16,
    pub typ: String,
    pub content: Vec<u8>,
}

impl Document {
    /// `RKI_<origin>_<nnnnnnnn>_<mmm>.<typ>` (Handbuch 72.1.1).
    pub fn file_name(&self) -> String {
        format!(
            "RKI_{}_{:08}_{:03}.{}",
            self.origin, self.number, self.version, self.typ
        )
    }

    /// A media type for the common document types; anything else is plain bytes.
    pub fn media_type(&self) -> &'static str {
        match self.typ.to_ascii_lowercase().as_str() {
            "pdf" => "application/pdf",
            "doc" => "application/msword",
            "xls" => "application/vnd.ms-excel",
            "rtf" => "application/rtf",
            "txt" => "text/plain",
            "xml" => "application/xml",
            "jpg" => "image/jpeg",
            "png" => "image/png",
            "tif" => "image/tiff",
            "zip" => "application/zip",
            _ => "application/octet-stream",
        }
    }
}

/// Keys every version body may have (`id` and `kind` are the host's line keys).
const VERSION_KEYS: &[&str] = &[
    "id",
    "kind",
    "category",
    "guid",
    "version_no",
    "schema",
    "owner",
    "version_editor",
    "token",
    "to_transport_manual",
    "changed_at",
    "transport_request_type",
    "reporting_date",
    "reporting_county",
    "case_def_epi_manual",
    "receiver",
    "attributes",
    "groups",
    "fields",
    "addressees",
    "track",
];
const ACTION_KEYS: &[&str] = &["action", "action_guid", "acted_at", "version_no_site"];
const DOCUMENT_KEYS: &[&str] = &[
    "id",
    "kind",
    "receiver",
    "origin",
    "number",
    "version",
    "type",
    "content_base64",
];
/// Attributes the model writes itself, so `attributes` may not repeat them.
const MODELLED_ATTRIBUTES: &[&str] = &[
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
];

/// Decodes and validates one record against the settings.
pub fn decode(cfg: &Config, record: &Record) -> Result<Item, RecordError> {
    let map = json::parse_object(record)?;
    let obj = Obj(Fields::top(&record.id, &map));
    match record.kind.as_str() {
        "case" => {
            obj.check_keys(&[VERSION_KEYS])?;
            let (version, receiver) = version(cfg, &obj)?;
            if version.groups.iter().all(|g| g.fields.is_empty()) && version.fields.is_empty() {
                return Err(obj.err(
                    "fields",
                    "a case carries no field: give `fields` or `groups` with fields",
                ));
            }
            Ok(Item::Version {
                version: Box::new(version),
                receiver,
            })
        }
        "action" => {
            obj.check_keys(&[VERSION_KEYS, ACTION_KEYS])?;
            let (mut version, receiver) = version(cfg, &obj)?;
            let name = obj.req_str("action")?;
            let action = Action::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                obj.err(
                    "action",
                    format!("`{name}` is not an action; known: {}", known.join(", ")),
                )
            })?;
            action
                .check_direction(cfg.role, &cfg.sender, &receiver)
                .map_err(|e| obj.err("action", e))?;
            let version_no_s = version.version_no.to_string();
            let guid_track = match obj.opt_str("action_guid")? {
                Some(g) => {
                    check_guid(g).map_err(|e| obj.err("action_guid", e))?;
                    g.to_string()
                }
                None => derived_guid(&[
                    "hub-rki-track",
                    &version.guid_record,
                    &version_no_s,
                    action.name(),
                    &cfg.sender,
                ]),
            };
            let tracked_at = match obj.opt_str("acted_at")? {
                Some(t) => normalize_datetime(t).map_err(|e| obj.err("acted_at", e))?,
                None => version.changed_at.clone(),
            };
            let version_no_site = obj
                .opt_u32("version_no_site")?
                .unwrap_or(version.version_no);
            if version.track.iter().any(|t| t.guid_track == guid_track) {
                return Err(obj.err(
                    "action_guid",
                    format!("{guid_track} is already in `track`: GuidTrack is unique per file"),
                ));
            }
            version.track.push(Track {
                guid_track,
                action: cfg.code(action).to_string(),
                tracked_at,
                code_site: cfg.sender.clone(),
                version_no_site,
                software: Some(cfg.software.clone()),
            });
            Ok(Item::Version {
                version: Box::new(version),
                receiver,
            })
        }
        "document" => {
            obj.check_keys(&[DOCUMENT_KEYS])?;
            document(cfg, &obj).map(Item::Document)
        }
        other => Err(RecordError::field(
            &record.id,
            "kind",
            format!("`{other}` is not a kind of this plugin (case, action, document)"),
        )
        .code(ErrorCode::Unsupported)),
    }
}

fn receiver(cfg: &Config, obj: &Obj) -> Result<String, RecordError> {
    let receiver = obj.site("receiver")?;
    if receiver == cfg.sender {
        return Err(obj.err(
            "receiver",
            format!(
                "{receiver} is this office (setting `sender`): a transport goes to another site"
            ),
        ));
    }
    Ok(receiver)
}

fn version(cfg: &Config, obj: &Obj) -> Result<(RecordVersion, String), RecordError> {
    let receiver = receiver(cfg, obj)?;
    let category = obj.req_str("category")?;
    check_xml_name(category).map_err(|e| obj.err("category", e))?;
    let guid = obj.req_str("guid")?;
    check_guid(guid).map_err(|e| obj.err("guid", e))?;
    let version_no = obj.req_u32("version_no")?;
    if version_no == 0 {
        return Err(obj.err("version_no", "versions count from 1"));
    }
    let schema = obj.req_str("schema")?;
    check_schema(schema).map_err(|e| obj.err("schema", e))?;
    let reporting_county = obj.opt_text("reporting_county")?;
    if let Some(c) = &reporting_county
        && (c.is_empty() || c.len() > 16 || !c.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(obj.err(
            "reporting_county",
            format!("`{c}` is not a county code (digits, e.g. 11001001)"),
        ));
    }
    let mut other_attributes = Vec::new();
    if let Some(attrs) = obj.get("attributes") {
        let Value::Object(m) = attrs else {
            return Err(obj.err("attributes", "must be an object of attribute name → text"));
        };
        for (name, v) in m {
            let path = format!("attributes.{name}");
            check_xml_name(name).map_err(|e| obj.err(&path, e))?;
            if MODELLED_ATTRIBUTES.contains(&name.as_str()) {
                return Err(obj.err(
                    &path,
                    "is written from its own body field; do not repeat it in `attributes`",
                ));
            }
            other_attributes.push((name.clone(), obj.text_of(&path, v)?));
        }
    }
    let mut groups = Vec::new();
    for g in obj.list("groups")? {
        g.check_keys(&[&["name", "fields"]])?;
        groups.push(Group {
            name: g.text("name")?,
            fields: fields(&g)?,
        });
    }
    let mut addressees = Vec::new();
    for a in obj.list("addressees")? {
        a.check_keys(&[&["code_site", "implicit", "explicit"]])?;
        addressees.push(Addressee {
            code_site: a.site("code_site")?,
            implicit: a.opt_bool("implicit")?.unwrap_or(false),
            explicit: a.opt_bool("explicit")?.unwrap_or(false),
        });
    }
    let mut track: Vec<Track> = Vec::new();
    for t in obj.list("track")? {
        t.check_keys(&[&[
            "guid",
            "action",
            "tracked_at",
            "code_site",
            "version_no_site",
            "software",
        ]])?;
        let guid = t.req_str("guid")?;
        check_guid(guid).map_err(|e| t.err("guid", e))?;
        if track.iter().any(|x| x.guid_track == guid) {
            return Err(t.err(
                "guid",
                format!("{guid} appears twice: GuidTrack is unique per file"),
            ));
        }
        track.push(Track {
            guid_track: guid.to_string(),
            action: t.text("action")?,
            tracked_at: t.datetime("tracked_at")?,
            code_site: t.site("code_site")?,
            version_no_site: t.req_u32("version_no_site")?,
            software: Some(
                t.opt_text("software")?
                    .unwrap_or_else(|| cfg.software.clone()),
            ),
        });
    }
    let version = RecordVersion {
        category: category.to_string(),
        guid_record: guid.to_string(),
        version_no,
        schema: schema.to_string(),
        code_record_owner: obj.site("owner")?,
        code_version_editor: obj.site("version_editor")?,
        token: obj.opt_text("token")?,
        to_transport_manual: obj.opt_bool("to_transport_manual")?,
        changed_at: obj.datetime("changed_at")?,
        transport_request_type: obj.opt_text("transport_request_type")?,
        reporting_date: match obj.opt_str("reporting_date")? {
            Some(d) => Some(normalize_datetime(d).map_err(|e| obj.err("reporting_date", e))?),
            None => None,
        },
        reporting_county,
        case_def_epi_manual: obj.opt_bool("case_def_epi_manual")?,
        other_attributes,
        groups,
        fields: fields(obj)?,
        addressees,
        track,
    };
    Ok((version, receiver))
}

fn fields(obj: &Obj) -> Result<Vec<Field>, RecordError> {
    let mut out = Vec::new();
    for f in obj.list("fields")? {
        f.check_keys(&[&["name", "value"]])?;
        let name = f.text("name")?;
        if name.is_empty() {
            return Err(f.err("name", "is empty"));
        }
        let value = match f.get("value") {
            Some(v) => f.text_of("value", v)?,
            None => return Err(f.missing("value")),
        };
        out.push(Field { name, value });
    }
    Ok(out)
}

fn document(cfg: &Config, obj: &Obj) -> Result<Document, RecordError> {
    let receiver = receiver(cfg, obj)?;
    let origin = obj.site("origin")?;
    let number = obj.digits("number", 8)?;
    let version = obj.digits("version", 3)?;
    let typ = obj.req_str("type")?;
    if typ.len() != 3 || !typ.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(obj.err(
            "type",
            format!("`{typ}` is not a 3-character document type such as doc, xls, pdf"),
        ));
    }
    let content =
        base64_decode(obj.req_str("content_base64")?).map_err(|e| obj.err("content_base64", e))?;
    Ok(Document {
        receiver,
        origin,
        number,
        version: u16::try_from(version).unwrap_or(u16::MAX),
        typ: typ.to_string(),
        content,
    })
}

/// A JSON object of the body (the SDK's `json::Fields`: paths, null as absent, codes)
/// with SurvNet's own value rules on top.
struct Obj<'a>(Fields<'a>);

impl<'a> std::ops::Deref for Obj<'a> {
    type Target = Fields<'a>;
    fn deref(&self) -> &Fields<'a> {
        &self.0
    }
}

impl<'a> Obj<'a> {
    /// Unknown keys are refused: a misspelt key would otherwise drop data silently.
    fn check_keys(&self, allowed: &[&[&str]]) -> Result<(), RecordError> {
        let known: Vec<&str> = allowed.iter().flat_map(|set| set.iter().copied()).collect();
        self.0.check_keys(&known, "is not a known field")
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, RecordError> {
        self.0.str(key)
    }

    fn req_str(&self, key: &str) -> Result<&'a str, RecordError> {
        self.0.req_str(key)
    }

    /// Text checked for XML: the content of a name or value.
    fn opt_text(&self, key: &str) -> Result<Option<String>, RecordError> {
        match self.opt_str(key)? {
            Some(s) => {
                check_xml_text(s).map_err(|e| self.err(key, e))?;
                Ok(Some(s.to_string()))
            }
            None => Ok(None),
        }
    }

    fn text(&self, key: &str) -> Result<String, RecordError> {
        self.opt_text(key)?.ok_or_else(|| self.missing(key))
    }

    /// A field value: text, or a number or boolean written as JSON spells it.
    fn text_of(&self, key: &str, v: &Value) -> Result<String, RecordError> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(self
                    .err(key, "must be text, a number or a boolean")
                    .code(ErrorCode::Malformed));
            }
        };
        check_xml_text(&s).map_err(|e| self.err(key, e))?;
        Ok(s)
    }

    fn opt_u32(&self, key: &str) -> Result<Option<u32>, RecordError> {
        self.0.u32(key)
    }

    fn req_u32(&self, key: &str) -> Result<u32, RecordError> {
        self.opt_u32(key)?.ok_or_else(|| self.missing(key))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, RecordError> {
        self.0.bool(key)
    }

    fn site(&self, key: &str) -> Result<String, RecordError> {
        let s = self.req_str(key)?;
        check_site_code(s).map_err(|e| self.err(key, e))?;
        Ok(s.to_string())
    }

    fn datetime(&self, key: &str) -> Result<String, RecordError> {
        normalize_datetime(self.req_str(key)?).map_err(|e| self.err(key, e))
    }

    /// A number of at most `width` digits, given as a number or as exactly `width` digits.
    fn digits(&self, key: &str, width: usize) -> Result<u32, RecordError> {
        let bad = || self.err(key, format!("must be a number of at most {width} digits"));
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Value::String(s)) => {
                if s.len() != width || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(self.err(key, format!("`{s}` is not exactly {width} digits")));
                }
                s.parse().map_err(|_| bad())
            }
            Some(v) => {
                let n = v.as_u64().ok_or_else(bad)?;
                if n.to_string().len() > width {
                    return Err(bad());
                }
                u32::try_from(n).map_err(|_| bad())
            }
        }
    }

    /// The objects of an optional array, each with its path.
    fn list(&self, key: &str) -> Result<Vec<Obj<'a>>, RecordError> {
        Ok(self.0.list(key)?.into_iter().map(Obj).collect())
    }
}
