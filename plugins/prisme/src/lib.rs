//! Prisme target: bookkeeping records to Prisme G files (G69 finance postings) and Q files
//! (KMD 10Q debtor file), as Winformatik delivers them to the Greenland municipalities.
//!
//! Marks: **\[C\]** confirmed by a public source (Prisme G69 spec v1.5, kaqa.gl pages,
//! Magenta's `tenQ` writers), **\[A\]** our assumption (the hub's test model).
//!
//! # Files
//! One transfer holds the records of one page and fiscal year (batch key `<page>-<yy>`, e.g.
//! `522-24`), and the host numbers transfers gaplessly per page and fiscal year; that number
//! is the run number (kørselsnummer). A transfer gives up to two payloads, in this order:
//! - `<municipality>/<environment>/G/<page>-<yy>-<run:03>-G.txt` if it has postings,
//! - `<municipality>/<environment>/Q/<page>-<yy>-<run:03>-Q.txt` if it has debtors.
//!
//! The name pattern `[side]-[regnskabsår]-[kørselsnummer]-[filtype].txt` and the folder levels
//! municipality / production-or-test / G-or-Q are **\[C\]**; the folder spellings (`prod`,
//! `test`, lower-case municipality) and run numbers above 999 printed with more digits are
//! **\[A\]**. Bytes are ISO-8859-1 **\[A\]** with CRLF after every line **\[C\]**.
//!
//! # Record bodies
//! Flat JSON objects. Digit fields take a string of digits or a non-negative integer;
//! "zero-padded" fields take up to their width and are padded on the left. Dates are
//! `"YYYYMMDD"` strings. Amounts are signed JSON integers in øre. Text must not contain `&`,
//! control characters or characters outside ISO-8859-1. `null` or `""` means absent. Unknown
//! keys are refused (a misspelt optional field would otherwise vanish); `id` and `kind`,
//! which the host leaves in the body, are ignored.
//!
//! ## `posting`: one G69 line
//! | field | G69 | required | format |
//! |---|---|---|---|
//! | `page` | file name | yes | 1–3 digits, zero-padded (Winformatik page, e.g. 522) |
//! | `fiscal_year` | file name, 114 | yes | 4 digits |
//! | `posting_type` | header | no | `NOR` (default), `PRI`, `SUP` **\[C\]** |
//! | `callname` | 101 | no | text ≤ 10 |
//! | `reconciliation_unit` | 102 | no | text ≤ 5 |
//! | `machine_no` | 103 | yes | ≤ 5 digits, zero-padded |
//! | `expedition_no` | 104 | no | ≤ 7 digits, zero-padded; default: the line number **\[A\]** |
//! | `posting_date` | 110 | yes | YYYYMMDD |
//! | `account` | 111 | yes | 1–15 digits, written as given **\[A\]** (tenQ pads to 15, the sample has 10) |
//! | `amount_ore` | 112 | yes | signed øre, \|x\| ≤ 999 999 999 999; written as 12 digits + ` `/`-` **\[C\]** |
//! | `dk` | 113 | yes | `D` or `K` |
//! | `voucher` | 116 | no | text ≤ 255 (bilag/arkiv nr) |
//! | `payment_reference` | 117 | no | ≤ 20 digits (udbetalingshenvisningsnr) |
//! | `value_date` | 118 | no | YYYYMMDD (valørdato) |
//! | `payee_type`, `payee_id` | 130, 131 | together | 2 digits (02 CPR, 03 CVR); ≤ 10 digits, zero-padded to 10 |
//! | `recipient_type`, `recipient_id` | 132, 133 | together | 2 digits; ≤ 10 digits as given |
//! | `reporter_type`, `reporter_id` | 134, 135 | together | 2 digits; ≤ 10 digits, zero-padded to 10 |
//! | `reporting_code` | 136 | no | text ≤ 1 (oplysningspligtkode) |
//! | `text` | 153 | no | text ≤ 35 (posteringstekst) |
//! | `requisition_no`, `partial_delivery` | 170, 171 | together | ≤ 10 digits zero-padded; text ≤ 1 |
//! | `carrier`, `department`, `purpose` | 180–182 | no | text ≤ 10 (bærer, afdeling, formål) |
//! | `external_reference` | 250 | no | text ≤ 20 |
//!
//! Field numbers, widths, required fields, the `&` ban, the 12+sign amount and the header
//! are **\[C\]** (G69 spec, tenQ). With a type of 02 the id must have 10 digits, with 03 it
//! must have 8 **\[A\]**. Field 114 is written only with the setting `fiscal_year_field`
//! **\[A\]**. Not supported: 150–152, 185, 200–211, 251, 300–306.
//!
//! `encode` refuses postings that do not balance per machine number and posting date
//! **\[C\]** (sum of D amounts = sum of K amounts), and expedition numbers that decrease within
//! the file **\[C\]** (equal numbers are allowed: one expedition may have several lines).
//!
//! ## `debtor`: one 10Q block (Trans 10, Trans 24, Trans 26 per text line)
//! | field | 10Q | required | format |
//! |---|---|---|---|
//! | `page`, `fiscal_year` | file name | yes | as for postings |
//! | `debtor_no` | debitornr | yes | ≤ 10 digits, zero-padded (a CPR number in the sources) |
//! | `person_no` | Trans 10 personnr | no | ≤ 10 digits, zero-padded; default `debtor_no` |
//! | `case_no` | sagsnr | no | ≤ 2 digits; default `00` **\[C\]** (Fujitsu: "altid 00") |
//! | `assessment_year` | påligningsår | no | 4 digits; default `fiscal_year` |
//! | `area_no` | område | no | ≤ 3 digits; default last 3 digits of the assessment year **\[C\]** (tenQ) |
//! | `payment_type` | betalingsart | no | ≤ 3 digits; default the setting `payment_type` |
//! | `individual_type` | individtype | no | ≤ 2 digits; default `20` **\[C\]** (tenQ) |
//! | `rate_no` | rate_nr | no | ≤ 3 digits; default `999` **\[C\]** (tenQ) |
//! | `amount_ore` | rate_beløb | yes | signed øre, \|x\| ≤ 9 999 999 999; 10 digits + `+`/`-` |
//! | `amount_type` | beløbstype | no | 1 digit; default `1` |
//! | `interest_free_amount_ore` | rentefri beløb | no | signed øre; default 0 |
//! | `collection_code` | opkrævningskode | no | 1 digit; default `1` |
//! | `due_date` | forfaldsdato | yes | YYYYMMDD |
//! | `collection_date`, `payment_date`, `interest_free_date` | opkrævnings-, betalings-, rentefri dato | no | YYYYMMDD; default `due_date` **\[A\]** |
//! | `text_no` | tekstnr | no | ≤ 3 digits; default `000` |
//! | `rate_spec`, `delete_mark`, `invoice_no` | rate_spec, slet_mark, faktura_nr | no | text ≤ 3, 1, 35; default blank |
//! | `founded_date` | stiftelsesdato | yes | YYYYMMDD |
//! | `period_from`, `period_to` | fra-/til-periode | yes | YYYYMMDD, from ≤ to |
//! | `change_reason_code`, `change_reason_text` | ændringsårsag | no | text ≤ 4, 100; default blank |
//! | `reconciliation_key` | afstemningsnøgle | yes | text ≤ 35 |
//! | `texts` | Trans 26 | no | list of text lines ≤ 60, numbered 000, 001, … |
//!
//! The field order and widths, the common prefix (leverandør-ident, trans type, time stamp
//! `0YYYYMMDDHHMM`, brugernr, område, betalingsart, påligningsår, debitornr, sagsnr) and
//! right-justification are **\[C\]** (tenQ, KMD GE550010Q v15). Trans 26 numbering from 000
//! follows the hub's sample **\[A\]** (tenQ counts from 001). Trans 14 and 52 are not
//! supported. The time stamp is the transfer's `now`.

mod body;
mod config;
#[doc(hidden)]
pub mod examples;
mod g69;
mod g69_extra;
mod q10;

use config::Config;
use g69::{Dk, Posting};
use hub_plugin_sdk::*;
use q10::Debtor;
use std::collections::BTreeMap;

/// The Prisme plugin.
pub struct Prisme;

/// Record kind: one G69 finance posting.
pub const KIND_POSTING: &str = "posting";
/// Record kind: one debtor's 10Q block.
pub const KIND_DEBTOR: &str = "debtor";

/// The media type of both files.
const MEDIA_TYPE: &str = "text/plain; charset=iso-8859-1";
/// Linieløbenr has 5 digits.
const MAX_LINES: usize = 99_999;

/// A record parsed by kind.
enum Parsed {
    Posting(Posting),
    Debtor(Debtor),
}

impl Parsed {
    fn parse(record: &Record) -> Result<Self, RecordError> {
        match record.kind.as_str() {
            KIND_POSTING => Posting::parse(record).map(Parsed::Posting),
            KIND_DEBTOR => Debtor::parse(record).map(Parsed::Debtor),
            other => Err(RecordError::field(
                &record.id,
                "kind",
                format!("unknown record kind {other:?}; this plugin takes posting and debtor"),
            )),
        }
    }

    /// `<page>-<yy>`: one file pair and one run-number counter per page and fiscal year.
    fn batch_key(&self) -> String {
        let (page, year) = match self {
            Parsed::Posting(p) => (&p.page, &p.fiscal_year),
            Parsed::Debtor(d) => (&d.page, &d.fiscal_year),
        };
        format!("{page}-{}", year.get(2..).unwrap_or_default())
    }
}

impl Plugin for Prisme {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "prisme".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec![KIND_POSTING.into(), KIND_DEBTOR.into()],
            settings: config::specs(),
            delivery: Delivery::FileDrop,
            max_batch: 50_000,
        }
    }

    /// A posting or debtor line under a known id with other content would be booked a
    /// second time: refused, a correction is a new posting (usually a reversal) under
    /// its own id.
    fn changes() -> Vec<(String, Change)> {
        vec![
            (KIND_POSTING.into(), Change::Refuse),
            (KIND_DEBTOR.into(), Change::Refuse),
        ]
    }

    fn check_settings(settings: &Settings) -> Result<(), SettingError> {
        Config::from_settings(settings).map(|_| ())
    }

    fn validate(_settings: &Settings, record: &Record) -> Result<RecordMeta, RecordError> {
        let key = Parsed::parse(record)?.batch_key();
        Ok(RecordMeta {
            sequence_scope: Some(key.clone()),
            batch_key: key,
            supersede_key: None,
        })
    }

    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        let cfg = Config::from_settings(&ctx.settings)?;
        let run = match ctx.sequence {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(EncodeError::Other(
                    "the transfer has no run number; Prisme file names need one".into(),
                ));
            }
        };
        if !is_batch_key(&ctx.batch_key) {
            return Err(EncodeError::Other(format!(
                "batch key {:?} is not <page>-<yy>",
                ctx.batch_key
            )));
        }

        // Parse everything first and report every bad record at once, so the host drops
        // them all in one round.
        let mut errors: Vec<Option<RecordError>> = vec![None; records.len()];
        let mut postings: Vec<(usize, Posting)> = Vec::new();
        let mut debtors: Vec<(usize, Debtor)> = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let parsed = match Parsed::parse(record) {
                Ok(p) => p,
                Err(e) => {
                    errors[i] = Some(e);
                    continue;
                }
            };
            let key = parsed.batch_key();
            if key != ctx.batch_key {
                errors[i] = Some(RecordError::record(
                    &record.id,
                    format!(
                        "record belongs to batch {key}, this transfer is {}",
                        ctx.batch_key
                    ),
                ));
                continue;
            }
            match parsed {
                Parsed::Posting(p) => postings.push((i, p)),
                Parsed::Debtor(d) => debtors.push((i, d)),
            }
        }
        if postings.len() > MAX_LINES {
            return Err(EncodeError::Other(format!(
                "{} postings do not fit one G file (at most {MAX_LINES} lines)",
                postings.len()
            )));
        }
        for (i, e) in check_expeditions(records, &postings)
            .into_iter()
            .chain(check_balance(records, &postings))
        {
            add_error(&mut errors[i], e);
        }
        let errors: Vec<RecordError> = errors.into_iter().flatten().collect();
        if !errors.is_empty() {
            return Err(EncodeError::Records(errors));
        }

        let mut payloads = Vec::new();
        let base = format!("{}/{}", cfg.municipality, cfg.environment);
        // The status view's columns (the seed's page 333).
        let labels = |kind: &str| -> Vec<(String, String)> {
            let (page, year) = ctx
                .batch_key
                .split_once('-')
                .unwrap_or((&ctx.batch_key, ""));
            vec![
                ("page".into(), page.into()),
                ("fiscal-year".into(), year.into()),
                ("run".into(), format!("{run:03}")),
                ("type".into(), kind.into()),
                ("municipality".into(), cfg.municipality.clone()),
                ("environment".into(), cfg.environment.clone()),
            ]
        };
        if !postings.is_empty() {
            let mut text = String::with_capacity(postings.len() * 160);
            for (line, (_, p)) in postings.iter().enumerate() {
                p.write_line(&cfg, line + 1, &mut text);
                text.push_str("\r\n");
            }
            payloads.push(Payload {
                name: format!("{base}/G/{}-{run:03}-G.txt", ctx.batch_key),
                media_type: MEDIA_TYPE.into(),
                bytes: latin1(&text)?,
                records: postings
                    .iter()
                    .map(|(i, _)| records[*i].id.clone())
                    .collect(),
                labels: labels("G"),
            });
        }
        if !debtors.is_empty() {
            let stamp = q10::stamp(&ctx.now).map_err(EncodeError::Other)?;
            let mut text = String::with_capacity(debtors.len() * 520);
            for (_, d) in &debtors {
                d.write_lines(&cfg, &stamp, &mut text);
            }
            payloads.push(Payload {
                name: format!("{base}/Q/{}-{run:03}-Q.txt", ctx.batch_key),
                media_type: MEDIA_TYPE.into(),
                bytes: latin1(&text)?,
                records: debtors
                    .iter()
                    .map(|(i, _)| records[*i].id.clone())
                    .collect(),
                labels: labels("Q"),
            });
        }
        Ok(payloads)
    }
}

export_plugin!(Prisme);

/// `ddd-dd`.
fn is_batch_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 6
        && b[3] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 3 || c.is_ascii_digit())
}

/// Keeps one error per record; a second problem is added to the first's message.
fn add_error(slot: &mut Option<RecordError>, e: RecordError) {
    match slot {
        Some(first) => {
            first.message.push_str("; ");
            first.message.push_str(&e.message);
        }
        None => *slot = Some(e),
    }
}

/// G69 rule b: expedition numbers must not decrease through the file.
fn check_expeditions(
    records: &[Record],
    postings: &[(usize, Posting)],
) -> Vec<(usize, RecordError)> {
    let mut out = Vec::new();
    let mut highest: Option<(String, usize)> = None;
    for (line, (i, p)) in postings.iter().enumerate() {
        let exp = p.expedition(line + 1);
        match &highest {
            Some((top, at)) if exp < *top => out.push((
                *i,
                RecordError::field(
                    &records[*i].id,
                    "expedition_no",
                    format!(
                        "expedition number {exp} comes after {top} (record {}); expedition \
                         numbers must not decrease within a G file",
                        records[*at].id
                    ),
                ),
            )),
            _ => highest = Some((exp, *i)),
        }
    }
    out
}

/// G69 rule c: postings balance per machine number and posting date.
fn check_balance(records: &[Record], postings: &[(usize, Posting)]) -> Vec<(usize, RecordError)> {
    #[derive(Default)]
    struct Group {
        debit: i128,
        credit: i128,
        members: Vec<usize>,
    }
    let mut groups: BTreeMap<(&str, &str), Group> = BTreeMap::new();
    for (i, p) in postings {
        let g = groups
            .entry((p.machine_no.as_str(), p.posting_date.as_str()))
            .or_default();
        match p.dk {
            Dk::Debit => g.debit += i128::from(p.amount_ore),
            Dk::Credit => g.credit += i128::from(p.amount_ore),
        }
        g.members.push(*i);
    }
    let mut out = Vec::new();
    for ((machine, date), g) in groups {
        if g.debit == g.credit {
            continue;
        }
        let message = format!(
            "postings for machine {machine} on {date} do not balance: debit {}, credit {}, \
             difference {}",
            kroner(g.debit),
            kroner(g.credit),
            kroner(g.debit - g.credit)
        );
        for i in g.members {
            out.push((i, RecordError::record(&records[i].id, message.clone())));
        }
    }
    out
}

/// Øre as kroner with two decimals, e.g. `-1234.50`.
fn kroner(ore: i128) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let abs = ore.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// ISO-8859-1 bytes; parsing has already refused everything else.
fn latin1(text: &str) -> Result<Vec<u8>, EncodeError> {
    text.chars()
        .map(|c| {
            u8::try_from(u32::from(c))
                .map_err(|_| EncodeError::Other(format!("{c:?} is not ISO-8859-1")))
        })
        .collect()
}
