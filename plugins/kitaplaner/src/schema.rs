//! The JSON Schema of a `child` record (contract 0.2.1 `schema`), made from the field
//! table so the two cannot drift apart. It says what the table says per key (a string;
//! required or not; a `dd.MM.yyyy` date; one of a few values) and no more: whether a
//! date exists in the calendar, the ids' characters and keys outside the table (allowed
//! as strings, since the setting `pass_unknown_keys` may send them) stay `validate`'s.

use hub_plugin_sdk::schema::{Field, Object};

use crate::child::KIND;
use crate::fields::{EXPORT_NAMES, FIELDS, Format, lookup};

/// `dd.MM.yyyy`, day 01–31 and month 01–12.
const DATE: &str = r"^(0[1-9]|[12][0-9]|3[01])\.(0[1-9]|1[0-2])\.[0-9]{4}$";

fn field(format: Format, required: bool) -> Field {
    let f = match format {
        Format::Text => Field::string(),
        Format::Date if required => Field::string().pattern(DATE),
        // An optional field may be sent empty.
        Format::Date => Field::string().pattern(&format!("{}|^$", DATE)),
        Format::OneOf(values) if required => Field::one_of(values),
        Format::OneOf(values) => {
            let mut all = values.to_vec();
            all.push("");
            Field::one_of(&all)
        }
    };
    if required { f.min_length(1) } else { f }
}

/// `(kind, schema)` for [`hub_plugin_sdk::Plugin::schemas`].
pub fn child() -> (String, String) {
    let mut o = Object::new()
        .field("id", Field::string())
        .field("kind", Field::string())
        .others(Field::string());
    for f in FIELDS {
        o = if f.required {
            o.required(f.key, field(f.format, true))
        } else {
            o.field(f.key, field(f.format, false))
        };
    }
    for (export, _) in EXPORT_NAMES {
        if let Some(f) = lookup(export).and_then(|(i, _)| FIELDS.get(i)) {
            o = o.field(export, field(f.format, false));
        }
    }
    o.for_kind(KIND)
}
