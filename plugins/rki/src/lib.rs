//! RKI SurvNet target: encodes a health office's infection-case records, actions on them
//! and accompanying documents into SurvNet transport files (IfSG, GA → LS → RKI).
//!
//! # Record kinds and bodies
//!
//! Every body is a JSON object; the keys `id` and `kind` (the host's NDJSON line keys) are
//! ignored, any other unknown key is refused so a misspelt key cannot drop data.
//! Timestamps are local civil time `YYYY-MM-DDTHH:mm:ss[.fff]` or a date `YYYY-MM-DD`
//! (midnight) and are written as `YYYY-MM-DDTHH:mm:ss.fff`. Site codes are SurvNet
//! Kennungen: `1.` (RKI), `1.NN.` (state office), deeper (health office, `1.01.0.02.`).
//! GUIDs are `{UPPERCASE-HEX}` in braces.
//!
//! ## `case`: one version of a record (case of a reporting category, outbreak, comment)
//!
//! | key | | XML |
//! |---|---|---|
//! | `category` | required, XML name, e.g. `SAL`, `INV` | the record element's name |
//! | `guid` | required GUID | `GuidRecord` |
//! | `version_no` | required integer ≥ 1 | `VersionNo` |
//! | `schema` | required, e.g. `"11"` | `Schema`; one file per schema version |
//! | `owner` | required site code | `CodeRecordOwner` |
//! | `version_editor` | required site code | `CodeVersionEditor` |
//! | `token` | optional text | `Token` |
//! | `to_transport_manual` | optional boolean | `ToTransportManual` |
//! | `changed_at` | required timestamp | `ChangedAt` |
//! | `transport_request_type` | optional text (code table not public) | `TransportRequestType` |
//! | `reporting_date` | optional timestamp or date | `ReportingDate` |
//! | `reporting_county` | optional digits, e.g. `"11001001"` | `ReportingCounty` |
//! | `case_def_epi_manual` | optional boolean | `CaseDefEpiManual` |
//! | `receiver` | required site code | `CodeSiteReceiver` of the transport; the batch key |
//! | `attributes` | optional object name → text | further record attributes |
//! | `groups` | `[{name, fields: [{name, value}]}]` | `<Group Name><Field Name Value/></Group>` |
//! | `fields` | `[{name, value}]` | `<Field Name Value/>` directly in the record |
//! | `addressees` | `[{code_site, implicit, explicit}]` | `<Addressee CodeSite Implicit Explicit/>` |
//! | `track` | `[{guid, action, tracked_at, code_site, version_no_site, software?}]` | `<Track …/>`; `software` defaults to the setting |
//!
//! A case needs at least one field. Values are text (numbers and booleans are written as
//! JSON spells them) and may hold `&`, `<`, quotes, umlauts and line breaks: they are
//! escaped, line breaks as character references, so they survive attribute normalisation.
//! Attributes are written only when given: the hub writes what the source says.
//!
//! ## `action`: retract, discard, release, update, retransmission-request, confirm-takeover
//!
//! SurvNet turns every action into a new version of the record it refers to, so an action
//! body is a `case` body (fields may be empty) plus `action` (one of the names above) and
//! optionally `action_guid` (GUID of the new Track entry; default derived from record GUID,
//! version, action and sender), `acted_at` (default `changed_at`) and `version_no_site`
//! (default `version_no`). The plugin appends `<Track Action=<code> CodeSite=<sender>
//! Software=<software>/>` with the code from the settings `action_code_*`.
//!
//! Direction (Handbuch 72.1.3): retract and discard only on the implicit path from a health
//! office towards the RKI; release and update only from the RKI towards state and health
//! offices. A state office forwarding along those paths is allowed. The own role is the
//! setting `role`, the receiver's is derived from its site code.
//!
//! ## `document`: a file travelling with the transport
//!
//! `receiver` (site code), `origin` (site code), `number` (8-digit number, as a number or
//! exactly 8 digits), `version` (3 digits likewise), `type` (3 characters, e.g. `doc`),
//! `content_base64` (standard base64). Written as its own payload
//! `RKI_<origin>_<nnnnnnnn>_<mmm>.<type>`.
//!
//! # Files
//!
//! One transport per receiver (batch key = receiver, sequence scope `<sender>|<receiver>`:
//! the host numbers transports gaplessly per pair). A transport holds one XML file per
//! schema version present. The first (lowest) schema version's file has the seed's name
//! `RKI_<sender>_<receiver>_<nnnnnnnn>.xml`; every further one has the same file name in a
//! folder `schema-<version>/`, so each file name still follows the pattern and carries the
//! transport number. A transfer of documents only still gets an (empty) transport file, so
//! the receiver sees no gap in the numbering.
//!
//! # Receipts
//!
//! The receiver answers each transport with a receipt; its layout here is the hub's
//! assumption (the official `SchemaReceipt.xsd` is not public): see [`Receipt`].

mod body;
mod model;
pub mod receiving;
mod util;
mod xml_in;
mod xml_out;
mod xml_stream;

use std::collections::{BTreeMap, HashMap};

use hub_plugin_sdk::text::iso_millis;
use hub_plugin_sdk::*;

pub use model::{
    Addressee, Field, Group, ParsedTransport, Receipt, ReceiptRecord, ReceiptResult, RecordVersion,
    Track,
};
pub use xml_in::{parse_receipt, parse_transport};
pub use xml_out::{NAMESPACE, ReceiptWriter};
pub use xml_stream::{TransportReader, XmlLimits};

use body::{Action, Config, Item};
use util::{check_site_code, derived_guid, schema_order};

/// The plugin.
pub struct Rki;

/// Orders a transport's files by schema version (see `util::schema_order`).
type SchemaKey = (u8, u64, String);

/// The media type of transport files.
const XML: &str = "application/xml";

/// Writes a receipt (for the receiving side, `hub import`).
pub fn write_receipt(receipt: &Receipt) -> Vec<u8> {
    xml_out::receipt(receipt)
}

/// The transport GUID: derived from sender, receiver and transport number, which identify
/// a transport uniquely, so a retry writes the same bytes.
pub fn transport_guid(sender: &str, receiver: &str, number: u64) -> String {
    derived_guid(&["hub-rki-transport", sender, receiver, &number.to_string()])
}

/// `RKI_<sender>_<receiver>_<nnnnnnnn>.xml` (Handbuch 72.1.1).
pub fn transport_file_name(sender: &str, receiver: &str, number: u64) -> String {
    format!("RKI_{sender}_{receiver}_{number:08}.xml")
}

fn settings_specs() -> Vec<SettingSpec> {
    let mut specs = vec![
        SettingSpec::required(
            "sender",
            SettingType::Text,
            "SurvNet site code (Kennung) of this office, e.g. 1.01.0.02.",
        ),
        SettingSpec::required(
            "role",
            SettingType::Text,
            "health-office, state-office or rki; must match the sender's site code",
        ),
        SettingSpec::optional(
            "software",
            SettingType::Text,
            "hub",
            "Software attribute of the Track entries the hub writes",
        ),
        SettingSpec::optional(
            "xml_stylesheet",
            SettingType::Text,
            "",
            "href of an XSL stylesheet written as <?xml-stylesheet type=\"text/xsl\" href=…?> \
             into each transport file, so a browser shows it readably (empty: none)",
        ),
    ];
    for a in Action::ALL {
        specs.push(SettingSpec::optional(
            a.setting(),
            SettingType::Text,
            a.placeholder(),
            &format!(
                "Track/@Action code for `{}`. The default is a placeholder, NOT the official code \
                 (not public): set it from RKI VG-Nr. 8a/8c",
                a.name()
            ),
        ));
    }
    specs
}

impl Plugin for Rki {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "rki".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec!["case".into(), "action".into(), "document".into()],
            settings: settings_specs(),
            delivery: Delivery::FileDropWithReceipt,
            max_batch: 1000,
        }
    }

    /// A case or document under a known id with other content is its next version
    /// (SurvNet keeps every version); an action happened once and is not changed.
    fn changes() -> Vec<(String, Change)> {
        vec![
            ("case".into(), Change::Version),
            ("document".into(), Change::Version),
            ("action".into(), Change::Refuse),
        ]
    }

    fn check_settings(settings: &Settings) -> Result<(), SettingError> {
        Config::from_settings(settings).map(|_| ())
    }

    /// A record's GUIDs (`GuidRecord` and its Track entries', unique per transport file)
    /// and a document's file name may occur once per transport: a later version of a
    /// record queued with an earlier one waits for the next transport, in order, instead
    /// of being refused. Stricter than the per-file rule: across schema files too, so a
    /// version never travels in the same transport as its predecessor.
    fn once_keys(settings: &Settings, record: &Record) -> Vec<String> {
        let Ok(cfg) = Config::from_settings(settings) else {
            return Vec::new();
        };
        // A body that does not decode is refused by `encode`, naming its field.
        match body::decode(&cfg, record) {
            Ok(Item::Version { version, .. }) => std::iter::once(&version.guid_record)
                .chain(version.track.iter().map(|t| &t.guid_track))
                .map(|g| format!("guid {g}"))
                .collect(),
            Ok(Item::Document(d)) => vec![format!("document {}", d.file_name())],
            Err(_) => Vec::new(),
        }
    }

    fn validate(settings: &Settings, record: &Record) -> Result<RecordMeta, RecordError> {
        let cfg = Config::from_settings(settings)
            .map_err(|e| RecordError::record(&record.id, format!("settings: {e}")))?;
        let item = body::decode(&cfg, record)?;
        Ok(RecordMeta {
            batch_key: item.receiver().to_string(),
            sequence_scope: Some(format!("{}|{}", cfg.sender, item.receiver())),
            supersede_key: None,
        })
    }

    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        let cfg = Config::from_settings(&ctx.settings)?;
        let number = ctx.sequence.ok_or_else(|| {
            EncodeError::Other("the host allocated no transport number (sequence)".into())
        })?;
        if !(1..=99_999_999).contains(&number) {
            return Err(EncodeError::Other(format!(
                "transport number {number} does not fit the 8-digit Liefernummer (1 to 99999999)"
            )));
        }
        let receiver = ctx.batch_key.as_str();
        check_site_code(receiver).map_err(|e| EncodeError::Other(format!("batch key: {e}")))?;

        let mut errors = Vec::new();
        // Schema version → its records; ordered so the lowest version gets the base name.
        let mut files: BTreeMap<SchemaKey, Vec<(&Record, RecordVersion)>> = BTreeMap::new();
        let mut documents = Vec::new();
        // GuidRecord and GuidTrack are unique per file: (schema, guid) → record id.
        let mut seen: HashMap<(String, String), &str> = HashMap::new();
        let mut doc_names: HashMap<String, &str> = HashMap::new();
        for r in records {
            let item = match body::decode(&cfg, r) {
                Ok(item) => item,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if item.receiver() != receiver {
                errors.push(RecordError::field(
                    &r.id,
                    "receiver",
                    format!(
                        "is {}, but this transport goes to {receiver}",
                        item.receiver()
                    ),
                ));
                continue;
            }
            match item {
                Item::Version { version, .. } => {
                    let guids = std::iter::once(&version.guid_record)
                        .chain(version.track.iter().map(|t| &t.guid_track));
                    let clash = guids.clone().find_map(|g| {
                        seen.get(&(version.schema.clone(), g.clone()))
                            .map(|other| (g, *other))
                    });
                    if let Some((g, other)) = clash {
                        errors.push(RecordError::record(
                            &r.id,
                            format!(
                                "GUID {g} is already in record {other} of this transport file \
                                 (GUIDs are unique per file): send it in a later transport"
                            ),
                        ));
                        continue;
                    }
                    for g in guids {
                        seen.insert((version.schema.clone(), g.clone()), &r.id);
                    }
                    let (rank, n, s) = schema_order(&version.schema);
                    files
                        .entry((rank, n, s.to_string()))
                        .or_default()
                        .push((r, *version));
                }
                Item::Document(d) => {
                    let name = d.file_name();
                    if let Some(other) = doc_names.get(&name) {
                        errors.push(RecordError::record(
                            &r.id,
                            format!("document {name} is already record {other} of this transport"),
                        ));
                        continue;
                    }
                    doc_names.insert(name.clone(), &r.id);
                    documents.push((r, name, d));
                }
            }
        }
        if !errors.is_empty() {
            return Err(EncodeError::Records(errors));
        }

        let guid = transport_guid(&cfg.sender, receiver, number);
        let created_at = iso_millis(&ctx.now);
        let header = xml_out::Header {
            guid_transport: &guid,
            sender: &cfg.sender,
            receiver,
            number,
            created_at: &created_at,
            stylesheet: cfg.stylesheet.as_deref(),
        };
        let base = transport_file_name(&cfg.sender, receiver, number);
        let mut payloads = Vec::new();
        let labels = |what: &str| -> Vec<(String, String)> {
            vec![
                ("sender".into(), cfg.sender.clone()),
                ("receiver".into(), receiver.to_string()),
                ("transport".into(), number.to_string()),
                ("part".into(), what.to_string()),
            ]
        };
        if files.is_empty() {
            payloads.push(Payload {
                name: base.clone(),
                media_type: XML.into(),
                bytes: xml_out::transport(&header, []),
                records: Vec::new(),
                labels: labels("transport"),
            });
        }
        for (i, ((_, _, schema), recs)) in files.iter().enumerate() {
            payloads.push(Payload {
                name: if i == 0 {
                    base.clone()
                } else {
                    format!("schema-{schema}/{base}")
                },
                media_type: XML.into(),
                bytes: xml_out::transport(&header, recs.iter().map(|(_, v)| v)),
                records: recs.iter().map(|(r, _)| r.id.clone()).collect(),
                labels: {
                    let mut l = labels("transport");
                    l.push(("schema".into(), schema.to_string()));
                    l
                },
            });
        }
        for (r, name, d) in documents {
            payloads.push(Payload {
                name,
                media_type: d.media_type().into(),
                bytes: d.content,
                records: vec![r.id.clone()],
                labels: labels("document"),
            });
        }
        Ok(payloads)
    }

    fn interpret(
        ctx: &Context,
        payload: &str,
        records: &[Record],
        response: &Response,
    ) -> Result<Vec<Outcome>, InterpretError> {
        let receipt = parse_receipt(&response.body)
            .map_err(|e| InterpretError::Malformed(format!("{payload}: not a receipt: {e}")))?;
        if let Some(n) = ctx.sequence {
            if receipt.transport_number != n {
                return Err(InterpretError::Malformed(format!(
                    "{payload}: the receipt is for transport {}, this payload is transport {n}",
                    receipt.transport_number
                )));
            }
            if let Ok(cfg) = Config::from_settings(&ctx.settings) {
                let expected = transport_guid(&cfg.sender, &ctx.batch_key, n);
                if !receipt.guid_transport.eq_ignore_ascii_case(&expected) {
                    return Err(InterpretError::Malformed(format!(
                        "{payload}: the receipt is for transport GUID {}, this payload's is {expected}",
                        receipt.guid_transport
                    )));
                }
            }
        }
        Ok(records.iter().map(|r| outcome(&receipt, r)).collect())
    }
}

/// The receipt's verdict on one record; documents are not listed in receipts, so they
/// count as delivered with a readable receipt for their transport.
fn outcome(receipt: &Receipt, r: &Record) -> Outcome {
    let out = |status, messages| Outcome {
        record_id: r.id.clone(),
        status,
        messages,
    };
    if r.kind == "document" {
        return out(OutcomeStatus::Delivered, Vec::new());
    }
    let Some((guid, version_no)) = version_key(&r.body) else {
        return out(
            OutcomeStatus::Rejected,
            vec!["the record body names no guid and version_no to look up in the receipt".into()],
        );
    };
    let found = receipt.records.iter().find(|x| {
        x.guid_record.eq_ignore_ascii_case(&guid) && u64::from(x.version_no) == version_no
    });
    match found {
        None => out(
            OutcomeStatus::Rejected,
            vec![format!(
                "the receipt for transport {} does not list record {guid} version {version_no}",
                receipt.transport_number
            )],
        ),
        Some(x) => {
            let mut messages: Vec<String> =
                x.code.iter().chain(x.message.iter()).cloned().collect();
            match x.result {
                ReceiptResult::Imported => out(OutcomeStatus::Delivered, messages),
                ReceiptResult::Rejected => {
                    if messages.is_empty() {
                        messages.push("rejected by the receiver without a code".into());
                    }
                    out(OutcomeStatus::Rejected, messages)
                }
            }
        }
    }
}

/// GuidRecord and VersionNo of a case or action body.
fn version_key(body: &str) -> Option<(String, u64)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some((
        v.get("guid")?.as_str()?.to_string(),
        v.get("version_no")?.as_u64()?,
    ))
}

export_plugin!(Rki);

/// Inputs for benchmarks and examples.
#[doc(hidden)]
pub mod examples {
    use hub_plugin_sdk::{Record, Settings};

    /// The receiver of [`records`]: the state office of Schleswig-Holstein.
    pub const RECEIVER: &str = "1.01.";
    /// The sender of [`settings`]: a health office below it.
    pub const SENDER: &str = "1.01.0.02.";

    /// Settings of a health office sending to its state office.
    pub fn settings() -> Settings {
        Settings(vec![
            ("sender".into(), SENDER.into()),
            ("role".into(), "health-office".into()),
            ("software".into(), "hub 0.1.0".into()),
        ])
    }

    /// `n` valid, distinct case records for one receiver.
    pub fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let category = if i % 2 == 0 { "SAL" } else { "INV" };
                let body = serde_json::json!({
                    "category": category,
                    "guid": format!("{{E0000000-0000-4000-8000-{:012X}}}", i + 1),
                    "version_no": 1 + (i % 3),
                    "schema": "11",
                    "owner": SENDER,
                    "version_editor": SENDER,
                    "token": format!("{category}-2025-{:05}", i + 1),
                    "changed_at": "2025-03-03T09:00:00.000",
                    "reporting_date": "2025-03-01",
                    "reporting_county": "1002000",
                    "receiver": RECEIVER,
                    "groups": [{
                        "name": "Pathogen",
                        "fields": [
                            {"name": format!("Pathogen{category}"), "value": "Salmonella Enteritidis"},
                            {"name": "Comment", "value": format!("Fall {i}: Müller & Söhne <Kita \"Sonne\">\nZeile 2")},
                        ],
                    }],
                    "fields": [{"name": "Sex", "value": if i % 2 == 0 { "F" } else { "M" }}],
                    "addressees": [{"code_site": RECEIVER, "implicit": true, "explicit": false}],
                    "track": [{
                        "guid": format!("{{E1000000-0000-4000-8000-{:012X}}}", i + 1),
                        "action": "1",
                        "tracked_at": "2025-03-03T09:00:00",
                        "code_site": SENDER,
                        "version_no_site": 1 + (i % 3),
                    }],
                });
                Record {
                    id: format!("case-{}", i + 1),
                    kind: "case".into(),
                    body: body.to_string(),
                }
            })
            .collect()
    }
}
