//! `debtor` records and KMD 10Q lines (GE550010Q): one debtor is a Trans 10 (debtor
//! information), a Trans 24 (the rate) and one Trans 26 per line of rate text.
//!
//! 10Q lines are fixed width and right-justified: numbers zero-padded, text space-padded on
//! the left. Only the Trans 26 text is appended as it is.

use crate::body::{Body, Fill};
use crate::config::Config;
use hub_plugin_sdk::{DateTime, Record, RecordError};

/// A 10Q amount holds 10 digits of øre plus a sign.
const MAX_AMOUNT_ORE: i64 = 9_999_999_999;
/// A Trans 26 line number has 3 digits, counted from 000.
const MAX_TEXT_LINES: usize = 1000;

/// The body fields a debtor may carry.
const FIELDS: &[&str] = &[
    "page",
    "fiscal_year",
    "debtor_no",
    "person_no",
    "case_no",
    "assessment_year",
    "area_no",
    "payment_type",
    "individual_type",
    "rate_no",
    "amount_ore",
    "amount_type",
    "interest_free_amount_ore",
    "collection_code",
    "collection_date",
    "due_date",
    "payment_date",
    "interest_free_date",
    "text_no",
    "rate_spec",
    "delete_mark",
    "invoice_no",
    "founded_date",
    "period_from",
    "period_to",
    "change_reason_code",
    "change_reason_text",
    "reconciliation_key",
    "texts",
];

/// One debtor block, checked and formatted to field widths.
#[derive(Debug, Clone)]
pub(crate) struct Debtor {
    pub page: String,
    pub fiscal_year: String,
    debtor_no: String,
    person_no: String,
    case_no: String,
    assessment_year: String,
    area_no: String,
    /// `None`: the `payment_type` setting.
    payment_type: Option<String>,
    individual_type: String,
    rate_no: String,
    amount_ore: i64,
    amount_type: String,
    interest_free_amount_ore: i64,
    collection_code: String,
    collection_date: String,
    due_date: String,
    payment_date: String,
    interest_free_date: String,
    text_no: String,
    rate_spec: String,
    delete_mark: String,
    invoice_no: String,
    founded_date: String,
    period_from: String,
    period_to: String,
    change_reason_code: String,
    change_reason_text: String,
    reconciliation_key: String,
    texts: Vec<String>,
}

impl Debtor {
    pub(crate) fn parse(record: &Record) -> Result<Self, RecordError> {
        let b = Body::parse(record, FIELDS)?;
        let fiscal_year = b
            .exact_digits("fiscal_year", 4)?
            .ok_or_else(|| b.err("fiscal_year", "is required"))?;
        let debtor_no = b.req_digits("debtor_no", 10, Fill::Zero)?;
        let assessment_year = b
            .exact_digits("assessment_year", 4)?
            .unwrap_or_else(|| fiscal_year.clone());
        // tenQ: "Efter aftale anvendes skatteaaret som omraadenummer" (its last 3 digits).
        let area_no = match b.digits("area_no", 3, Fill::Zero)? {
            Some(a) => a,
            None => assessment_year.get(1..).unwrap_or("000").to_string(),
        };
        let due_date = b.req_date("due_date")?;
        let period_from = b.req_date("period_from")?;
        let period_to = b.req_date("period_to")?;
        if period_from > period_to {
            return Err(b.err(
                "period_to",
                format!("{period_to} is before period_from {period_from}"),
            ));
        }
        let text = |field: &str, max: usize| -> Result<String, RecordError> {
            Ok(b.text(field, max)?.unwrap_or_default())
        };
        Ok(Self {
            page: b.req_digits("page", 3, Fill::Zero)?,
            person_no: b
                .digits("person_no", 10, Fill::Zero)?
                .unwrap_or_else(|| debtor_no.clone()),
            case_no: b
                .digits("case_no", 2, Fill::Zero)?
                .unwrap_or_else(|| "00".into()),
            payment_type: b.digits("payment_type", 3, Fill::Zero)?,
            individual_type: b
                .digits("individual_type", 2, Fill::Zero)?
                .unwrap_or_else(|| "20".into()),
            rate_no: b
                .digits("rate_no", 3, Fill::Zero)?
                .unwrap_or_else(|| "999".into()),
            amount_ore: b.req_amount("amount_ore", MAX_AMOUNT_ORE)?,
            amount_type: b
                .digits("amount_type", 1, Fill::Zero)?
                .unwrap_or_else(|| "1".into()),
            interest_free_amount_ore: b
                .amount("interest_free_amount_ore", MAX_AMOUNT_ORE)?
                .unwrap_or(0),
            collection_code: b
                .digits("collection_code", 1, Fill::Zero)?
                .unwrap_or_else(|| "1".into()),
            collection_date: b
                .date("collection_date")?
                .unwrap_or_else(|| due_date.clone()),
            payment_date: b.date("payment_date")?.unwrap_or_else(|| due_date.clone()),
            interest_free_date: b
                .date("interest_free_date")?
                .unwrap_or_else(|| due_date.clone()),
            text_no: b
                .digits("text_no", 3, Fill::Zero)?
                .unwrap_or_else(|| "000".into()),
            rate_spec: text("rate_spec", 3)?,
            delete_mark: text("delete_mark", 1)?,
            invoice_no: text("invoice_no", 35)?,
            founded_date: b.req_date("founded_date")?,
            change_reason_code: text("change_reason_code", 4)?,
            change_reason_text: text("change_reason_text", 100)?,
            reconciliation_key: b.req_text("reconciliation_key", 35)?,
            texts: b.lines("texts", 60, MAX_TEXT_LINES)?,
            fiscal_year,
            debtor_no,
            assessment_year,
            area_no,
            due_date,
            period_from,
            period_to,
        })
    }

    /// Appends this debtor's lines, each ending in CRLF, to `out`. `stamp` is the 13-character
    /// `0YYYYMMDDHHMM` time stamp of the transfer.
    pub(crate) fn write_lines(&self, cfg: &Config, stamp: &str, out: &mut String) {
        let payment_type = self.payment_type.as_deref().unwrap_or(&cfg.payment_type);
        // The common prefix: leverandør-ident, trans type, time stamp, brugernr, område,
        // betalingsart, påligningsår, debitornr, sagsnr.
        let prefix = |trans: &str, out: &mut String| {
            out.push_str(&cfg.supplier_ident);
            out.push_str(trans);
            out.push_str(stamp);
            out.push_str(&cfg.user_no);
            out.push_str(&self.area_no);
            out.push_str(payment_type);
            out.push_str(&self.assessment_year);
            out.push_str(&self.debtor_no);
            out.push_str(&self.case_no);
        };

        // Trans 10: debtor information, always sent.
        prefix("10", out);
        out.push_str(&self.person_no);
        out.push_str("\r\n");

        // Trans 24: the rate.
        prefix("24", out);
        out.push_str(&self.individual_type);
        out.push_str(&self.rate_no);
        out.push_str(&amount(self.amount_ore));
        out.push_str(&self.amount_type);
        out.push_str(&amount(self.interest_free_amount_ore));
        out.push_str(&self.collection_code);
        out.push_str(&self.collection_date);
        out.push_str(&self.due_date);
        out.push_str(&self.payment_date);
        out.push_str(&self.interest_free_date);
        out.push_str(&self.text_no);
        out.push_str(&right(&self.rate_spec, 3));
        out.push_str(&right(&self.delete_mark, 1));
        out.push_str(&right(&self.invoice_no, 35));
        out.push_str(&self.founded_date);
        out.push_str(&self.period_from);
        out.push_str(&self.period_to);
        out.push_str(&right(&self.change_reason_code, 4));
        out.push_str(&right(&self.change_reason_text, 100));
        out.push_str(&right(&self.reconciliation_key, 35));
        out.push_str("\r\n");

        // Trans 26: one line of rate text each, numbered from 000.
        for (i, text) in self.texts.iter().enumerate() {
            prefix("26", out);
            out.push_str(&self.individual_type);
            out.push_str(&self.rate_no);
            out.push_str(&format!("{i:03}"));
            out.push_str(text);
            out.push_str("\r\n");
        }
    }
}

/// A 10Q amount: 10 digits of øre, then `+` or `-`.
fn amount(ore: i64) -> String {
    let sign = if ore < 0 { '-' } else { '+' };
    format!("{:010}{sign}", ore.unsigned_abs())
}

/// Right-justifies text in `width` characters (parsing has checked it fits).
fn right(value: &str, width: usize) -> String {
    let len = value.chars().count();
    let mut out = " ".repeat(width.saturating_sub(len));
    out.push_str(value);
    out
}

/// The 10Q time stamp `0YYYYMMDDHHMM` (KMD's 12-character stamp with a leading 0).
pub(crate) fn stamp(now: &DateTime) -> Result<String, String> {
    if !(1000..=9999).contains(&now.year)
        || !(1..=12).contains(&now.month)
        || !(1..=31).contains(&now.day)
        || now.hour > 23
        || now.minute > 59
    {
        return Err(format!(
            "the transfer time {now:?} is not a usable civil time"
        ));
    }
    Ok(format!(
        "0{:04}{:02}{:02}{:02}{:02}",
        now.year, now.month, now.day, now.hour, now.minute
    ))
}
