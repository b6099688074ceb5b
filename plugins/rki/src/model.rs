//! The SurvNet record model as plain Rust, shared by the encoder and the native parser so a
//! round trip can be compared with `==`.

/// One version of a SurvNet record (a case, outbreak or comment): the element named by its
/// category with its attributes and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordVersion {
    /// The element name: the record type, e.g. `SAL` (Salmonellose) or `INV` (Influenza).
    pub category: String,
    /// `GuidRecord`: `{UPPERCASE-HEX}`, the same for every version of the record.
    pub guid_record: String,
    /// `VersionNo`.
    pub version_no: u32,
    /// `Schema`: the XML schema version the record belongs to (one file per version).
    pub schema: String,
    /// `CodeRecordOwner`: the site that owns the record.
    pub code_record_owner: String,
    /// `CodeVersionEditor`: the site that made this version.
    pub code_version_editor: String,
    /// `Token`.
    pub token: Option<String>,
    /// `ToTransportManual`.
    pub to_transport_manual: Option<bool>,
    /// `ChangedAt`: `YYYY-MM-DDTHH:mm:ss.fff`.
    pub changed_at: String,
    /// `TransportRequestType` (its code table is not public).
    pub transport_request_type: Option<String>,
    /// `ReportingDate`: `YYYY-MM-DDTHH:mm:ss.fff`.
    pub reporting_date: Option<String>,
    /// `ReportingCounty`: the county code.
    pub reporting_county: Option<String>,
    /// `CaseDefEpiManual`.
    pub case_def_epi_manual: Option<bool>,
    /// Further record attributes, in document order: the modelled list comes from a
    /// third-party reading of the schema, so anything else is carried rather than lost.
    pub other_attributes: Vec<(String, String)>,
    /// `<Group Name>` children with their fields.
    pub groups: Vec<Group>,
    /// `<Field Name Value>` children directly under the record.
    pub fields: Vec<Field>,
    /// `<Addressee>` children.
    pub addressees: Vec<Addressee>,
    /// `<Track>` children: the record's history, the newest action last.
    pub track: Vec<Track>,
}

/// `<Group Name>` with its fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub name: String,
    pub fields: Vec<Field>,
}

/// `<Field Name Value/>`: one name/value pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// `<Addressee CodeSite Implicit Explicit/>`: a site the record goes to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addressee {
    pub code_site: String,
    /// Part of the mandatory transport GA → LS → RKI.
    pub implicit: bool,
    /// An extra addressee chosen by the sender.
    pub explicit: bool,
}

/// `<Track GuidTrack Action TrackedAt CodeSite VersionNoSite Software/>`: one step of the
/// record's history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Track {
    pub guid_track: String,
    /// The action code (its table is not public: the plugin takes it from settings).
    pub action: String,
    /// `YYYY-MM-DDTHH:mm:ss.fff`.
    pub tracked_at: String,
    pub code_site: String,
    pub version_no_site: u32,
    /// Always written by the encoder; optional when parsing foreign files.
    pub software: Option<String>,
}

/// One transport file as read back by [`crate::parse_transport`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedTransport {
    /// The root's default namespace (`xmlns`), if declared.
    pub namespace: Option<String>,
    pub guid_transport: String,
    pub code_site_sender: String,
    pub code_site_receiver: String,
    /// The Liefernummer: gapless per sender/receiver pair, from 1.
    pub transport_number: u64,
    pub created_at: String,
    /// Root attributes beyond the modelled ones (e.g. `xsi:schemaLocation`).
    pub other_attributes: Vec<(String, String)>,
    pub records: Vec<RecordVersion>,
}

/// A receipt (Quittung): the receiver's answer to one transport.
///
/// The layout follows the hub's assumed model (formats.md §3), not the unpublished
/// `SchemaReceipt.xsd`: `<Receipt GuidTransport TransportNumber CodeSiteSender
/// CodeSiteReceiver><Record GuidRecord VersionNo Result Code? Message?/></Receipt>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    pub guid_transport: String,
    pub transport_number: u64,
    /// The site sending the receipt: the receiver of the transport.
    pub code_site_sender: String,
    /// The site receiving the receipt: the sender of the transport.
    pub code_site_receiver: String,
    pub records: Vec<ReceiptRecord>,
}

/// The receipt's verdict on one record version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiptRecord {
    pub guid_record: String,
    pub version_no: u32,
    pub result: ReceiptResult,
    /// The receiver's reason code for a rejection, e.g. `EDITOR_NOT_OWNER`.
    pub code: Option<String>,
    /// Free text, if the receiver gives any.
    pub message: Option<String>,
}

/// `Result="Imported"` or `Result="Rejected"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiptResult {
    #[default]
    Imported,
    Rejected,
}

impl ReceiptResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptResult::Imported => "Imported",
            ReceiptResult::Rejected => "Rejected",
        }
    }
}

impl Receipt {
    /// A receipt that imports every record of `transport`, sent back by its receiver: the
    /// receiving side's usual answer.
    pub fn imported(transport: &ParsedTransport) -> Self {
        Receipt {
            guid_transport: transport.guid_transport.clone(),
            transport_number: transport.transport_number,
            code_site_sender: transport.code_site_receiver.clone(),
            code_site_receiver: transport.code_site_sender.clone(),
            records: transport
                .records
                .iter()
                .map(|r| ReceiptRecord {
                    guid_record: r.guid_record.clone(),
                    version_no: r.version_no,
                    result: ReceiptResult::Imported,
                    code: None,
                    message: None,
                })
                .collect(),
        }
    }
}
