//! The G69 fields beyond the daycare module's: extract texts (150–152), reverse charge
//! (185), invoice pool and notes (200–211), IRIS number (251) and project postings
//! (300–306). Widths, types and the rules of which fields go together follow Magenta ApS's
//! `tenQ` G69 writer (the independent writer the README names), as the public G69
//! description is silent on them.

use crate::body::{Body, Fill};
use hub_plugin_sdk::RecordError;

/// Body field, G69 field number, width: the text fields.
const TEXTS: &[(&str, u16, usize)] = &[
    ("extract_text_1", 150, 5),
    ("extract_text_2", 151, 5),
    ("extract_code", 152, 5),
    ("booked_by", 201, 5),
    ("note_short", 202, 200),
    ("approved_by", 203, 5),
    ("subject", 210, 60),
    ("note_long", 211, 1024),
    ("iris_no", 251, 20),
    ("project_no", 300, 20),
    ("project_kind", 301, 10),
    ("project_employee", 302, 10),
    ("line_property", 305, 10),
    ("activity_no", 306, 10),
];

/// The body fields this module reads (beside the ones in `g69::FIELDS`).
pub(crate) const FIELDS: &[&str] = &[
    "extract_text_1",
    "extract_text_2",
    "extract_code",
    "reverse_charge",
    "invoice_pool",
    "booked_by",
    "note_short",
    "approved_by",
    "subject",
    "note_long",
    "iris_no",
    "project_no",
    "project_kind",
    "project_employee",
    "sales_price_ore",
    "quantity_hundredths",
    "line_property",
    "activity_no",
];

/// Fields that need others (tenQ's `required_together`).
const TOGETHER: &[(&str, &[&str])] = &[
    ("subject", &["note_long"]),
    ("note_long", &["subject"]),
    ("project_no", &["project_kind", "quantity_hundredths"]),
    ("project_kind", &["project_no", "quantity_hundredths"]),
    (
        "project_employee",
        &["project_no", "project_kind", "quantity_hundredths"],
    ),
    (
        "sales_price_ore",
        &["project_no", "project_kind", "quantity_hundredths"],
    ),
    ("quantity_hundredths", &["project_no", "project_kind"]),
    (
        "line_property",
        &["project_no", "project_kind", "quantity_hundredths"],
    ),
    (
        "activity_no",
        &["project_no", "project_kind", "quantity_hundredths"],
    ),
];

/// Fields that exclude others (tenQ's `mutually_exclusive`).
const EXCLUSIVE: &[(&str, &[&str])] = &[
    ("subject", &["voucher", "invoice_pool"]),
    ("note_long", &["voucher", "invoice_pool"]),
];

/// The extra fields of one posting, as `(field number, value)` pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra(pub Vec<(u16, String)>);

impl Extra {
    pub(crate) fn parse(b: &Body) -> Result<Self, RecordError> {
        let given = |f: &str| b.has(f);
        for (field, needs) in TOGETHER {
            if given(field)
                && let Some(missing) = needs.iter().find(|n| !given(n))
            {
                return Err(b.err(
                    field,
                    format!("needs {} as well ({})", missing, needs.join(", ")),
                ));
            }
        }
        for (field, excludes) in EXCLUSIVE {
            if given(field)
                && let Some(other) = excludes.iter().find(|n| given(n))
            {
                return Err(b.err(field, format!("may not be given together with {other}")));
            }
        }
        let mut out = Vec::new();
        for (field, code, width) in TEXTS {
            if let Some(v) = b.text(field, *width)? {
                out.push((*code, v));
            }
        }
        if let Some(v) = b.digits("reverse_charge", 2, Fill::Zero)? {
            out.push((185, v));
        }
        if let Some(v) = b.choice("invoice_pool", &["J", "N"])? {
            out.push((200, v.to_string()));
        }
        // Amounts as tenQ writes them: hundredths, then the sign (` ` or `-`), unpadded.
        let signed = |n: i64| format!("{}{}", n.unsigned_abs(), if n < 0 { '-' } else { ' ' });
        if let Some(n) = b.amount("sales_price_ore", 999_999_999_999)? {
            out.push((303, signed(n)));
        }
        if let Some(n) = b.amount("quantity_hundredths", 999_999_999)? {
            out.push((304, signed(n)));
        }
        Ok(Extra(out))
    }
}
