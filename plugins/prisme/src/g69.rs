//! `posting` records and G69 lines (Prisme "Snitflade til finansposter", KMD GQ311001Q).
//!
//! A line is a fixed start header followed by floating fields `&NNNvalue` in ascending
//! field-number order (the order below is the order of the code, so it cannot go wrong).

use crate::body::{Body, Fill};
use crate::config::Config;
use hub_plugin_sdk::{Record, RecordError};

/// G69 field 112 holds 12 digits of øre plus a sign.
pub(crate) const MAX_AMOUNT_ORE: i64 = 999_999_999_999;

/// The body fields a posting may carry.
pub(crate) const FIELDS: &[&str] = &[
    "page",
    "fiscal_year",
    "posting_type",
    "callname",
    "reconciliation_unit",
    "machine_no",
    "expedition_no",
    "posting_date",
    "account",
    "amount_ore",
    "dk",
    "voucher",
    "payment_reference",
    "value_date",
    "payee_type",
    "payee_id",
    "recipient_type",
    "recipient_id",
    "reporter_type",
    "reporter_id",
    "reporting_code",
    "text",
    "requisition_no",
    "partial_delivery",
    "carrier",
    "department",
    "purpose",
    "external_reference",
];

/// Debit or credit (field 113).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dk {
    Debit,
    Credit,
}

/// One posting, checked and formatted to field widths.
#[derive(Debug, Clone)]
pub(crate) struct Posting {
    pub page: String,
    pub fiscal_year: String,
    posting_type: &'static str,
    callname: Option<String>,
    reconciliation_unit: Option<String>,
    pub machine_no: String,
    /// `None`: the line number is used.
    pub expedition_no: Option<String>,
    pub posting_date: String,
    account: String,
    pub amount_ore: i64,
    pub dk: Dk,
    voucher: Option<String>,
    payment_reference: Option<String>,
    value_date: Option<String>,
    payee: Option<(String, String)>,
    recipient: Option<(String, String)>,
    reporter: Option<(String, String)>,
    reporting_code: Option<String>,
    text: Option<String>,
    requisition: Option<(String, String)>,
    carrier: Option<String>,
    department: Option<String>,
    purpose: Option<String>,
    external_reference: Option<String>,
    extra: crate::g69_extra::Extra,
}

impl Posting {
    pub(crate) fn parse(record: &Record) -> Result<Self, RecordError> {
        let known: Vec<&str> = FIELDS
            .iter()
            .chain(crate::g69_extra::FIELDS)
            .copied()
            .collect();
        let b = Body::parse(record, &known)?;
        let dk = match b.choice("dk", &["D", "K"])? {
            Some("D") => Dk::Debit,
            Some(_) => Dk::Credit,
            None => return Err(b.err("dk", "is required (D or K)")),
        };
        Ok(Self {
            page: b.req_digits("page", 3, Fill::Zero)?,
            fiscal_year: b
                .exact_digits("fiscal_year", 4)?
                .ok_or_else(|| b.err("fiscal_year", "is required"))?,
            posting_type: b
                .choice("posting_type", &["NOR", "PRI", "SUP"])?
                .unwrap_or("NOR"),
            callname: b.text("callname", 10)?,
            reconciliation_unit: b.text("reconciliation_unit", 5)?,
            machine_no: b.req_digits("machine_no", 5, Fill::Zero)?,
            expedition_no: b.digits("expedition_no", 7, Fill::Zero)?,
            posting_date: b.req_date("posting_date")?,
            // Zero-padded to 15, as the independent writer does (tenQ): one account is
            // written one way, whatever form the source gives it in.
            account: b.req_digits("account", 15, Fill::Zero)?,
            amount_ore: b.req_amount("amount_ore", MAX_AMOUNT_ORE)?,
            dk,
            voucher: b.text("voucher", 255)?,
            // A number (tenQ writes it as an integer): leading zeros are dropped.
            payment_reference: b.digits("payment_reference", 20, Fill::NoLeadingZeros)?,
            value_date: b.date("value_date")?,
            payee: party(&b, "payee_type", "payee_id", Fill::Zero)?,
            recipient: party(&b, "recipient_type", "recipient_id", Fill::AsGiven)?,
            reporter: party(&b, "reporter_type", "reporter_id", Fill::Zero)?,
            reporting_code: b.text("reporting_code", 1)?,
            text: b.text("text", 35)?,
            requisition: pair(
                b.digits("requisition_no", 10, Fill::Zero)?,
                b.text("partial_delivery", 1)?,
                &b,
                "requisition_no",
                "partial_delivery",
            )?,
            carrier: b.text("carrier", 10)?,
            department: b.text("department", 10)?,
            purpose: b.text("purpose", 10)?,
            external_reference: b.text("external_reference", 20)?,
            extra: crate::g69_extra::Extra::parse(&b)?,
        })
    }

    /// The expedition number written for this posting on line `line_no`.
    pub(crate) fn expedition(&self, line_no: usize) -> String {
        match &self.expedition_no {
            Some(e) => e.clone(),
            None => format!("{line_no:07}"),
        }
    }

    /// Appends this posting's G69 line (without line end) to `out`.
    pub(crate) fn write_line(&self, cfg: &Config, line_no: usize, out: &mut String) {
        // Start header: Registreringssted, "G69", Linieløbenr, Organisationsenhed,
        // Organisations_Type 01, Posteringstype, Linieformat FLYD.
        out.push_str(&cfg.registration_site);
        out.push_str("G69");
        out.push_str(&format!("{line_no:05}"));
        out.push_str(&cfg.organisation_unit);
        out.push_str("01");
        out.push_str(self.posting_type);
        out.push_str("FLYD");
        // Collected first, then written in ascending field-number order.
        let mut fields: Vec<(u16, String)> = Vec::with_capacity(24);
        let mut field = |code: u16, value: &str| fields.push((code, value.to_string()));
        if let Some(v) = &self.callname {
            field(101, v);
        }
        if let Some(v) = &self.reconciliation_unit {
            field(102, v);
        }
        field(103, &self.machine_no);
        field(104, &self.expedition(line_no));
        field(110, &self.posting_date);
        field(111, &self.account);
        let sign = if self.amount_ore < 0 { '-' } else { ' ' };
        field(
            112,
            &format!("{:012}{sign}", self.amount_ore.unsigned_abs()),
        );
        field(
            113,
            match self.dk {
                Dk::Debit => "D",
                Dk::Credit => "K",
            },
        );
        if cfg.fiscal_year_field {
            field(114, &self.fiscal_year);
        }
        if let Some(v) = &self.voucher {
            field(116, v);
        }
        if let Some(v) = &self.payment_reference {
            field(117, v);
        }
        if let Some(v) = &self.value_date {
            field(118, v);
        }
        if let Some((t, id)) = &self.payee {
            field(130, t);
            field(131, id);
        }
        if let Some((t, id)) = &self.recipient {
            field(132, t);
            field(133, id);
        }
        if let Some((t, id)) = &self.reporter {
            field(134, t);
            field(135, id);
        }
        if let Some(v) = &self.reporting_code {
            field(136, v);
        }
        if let Some(v) = &self.text {
            field(153, v);
        }
        if let Some((no, part)) = &self.requisition {
            field(170, no);
            field(171, part);
        }
        if let Some(v) = &self.carrier {
            field(180, v);
        }
        if let Some(v) = &self.department {
            field(181, v);
        }
        if let Some(v) = &self.purpose {
            field(182, v);
        }
        if let Some(v) = &self.external_reference {
            field(250, v);
        }
        fields.extend(self.extra.0.iter().cloned());
        fields.sort_by_key(|(code, _)| *code);
        for (code, value) in fields {
            out.push('&');
            out.push_str(&code.to_string());
            out.push_str(&value);
        }
    }
}

/// A payee/recipient/reporter: a 2-digit number code (02 = CPR, 03 = CVR) and the number.
/// Both or neither; a CPR number has 10 digits, a CVR number 8.
fn party(
    b: &Body,
    type_field: &str,
    id_field: &str,
    fill: Fill,
) -> Result<Option<(String, String)>, RecordError> {
    let kind = b.exact_digits(type_field, 2)?;
    let id = b.digits(id_field, 10, Fill::AsGiven)?;
    let Some((kind, id)) = pair(kind, id, b, type_field, id_field)? else {
        return Ok(None);
    };
    // A CVR number has 8 digits; in the 10-digit field it may come zero-padded
    // (`0012345678`, as the independent writer's test vector has it).
    let cvr_padded = kind == "03" && id.len() == 10 && id.starts_with("00");
    let expected = match kind.as_str() {
        "02" => Some((10, "a CPR number")),
        "03" => Some((8, "a CVR number (or 10 digits starting with 00)")),
        _ => None,
    };
    if let Some((len, what)) = expected
        && id.len() != len
        && !cvr_padded
    {
        return Err(b.err(
            id_field,
            format!("{type_field} {kind} needs {what} of {len} digits, found {id:?}"),
        ));
    }
    let id = match fill {
        Fill::Zero => format!("{id:0>10}"),
        Fill::AsGiven | Fill::NoLeadingZeros => id,
    };
    Ok(Some((kind, id)))
}

/// Two fields that G69 requires together.
fn pair<A, B>(
    a: Option<A>,
    b: Option<B>,
    body: &Body,
    a_field: &str,
    b_field: &str,
) -> Result<Option<(A, B)>, RecordError> {
    match (a, b) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(body.err(b_field, format!("is required when {a_field} is given"))),
        (None, Some(_)) => Err(body.err(a_field, format!("is required when {b_field} is given"))),
    }
}
