//! The field mapping: every key a `child` record may carry, in one table, and the names
//! Kita-Planer 2's own export uses for some of them ([`EXPORT_NAMES`]), so a record can
//! come in either vocabulary.
//!
//! The public material names the Kita-Planer 2 vocabulary (Munich's kitafinder export of
//! the same product) but not the exact import schema of Schleswig-Holstein, so the mapping
//! lives here as data: adding a key, making one required or moving one in or out of the
//! master data is a one-line change. The table order is also the order of the keys in the
//! encoded body, which keeps the bytes independent of the input's key order.

/// How a field's value is checked. Every value is a JSON string; an optional field may
/// also be the empty string (a snapshot clearing the value, e.g. no notice date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Any text.
    Text,
    /// A calendar date written `dd.MM.yyyy`, as Kita-Planer 2 writes dates.
    Date,
    /// One of these exact values.
    OneOf(&'static [&'static str]),
}

/// Whether and when a field is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Always sent when the record carries it.
    Always,
    /// A child's name or address ("Stammdaten"): sent only when the record says
    /// `STAMMDATENPRUEFUNG: "FEHLGESCHLAGEN"` (see the crate docs).
    MasterData,
    /// Read by the plugin, never sent.
    Never,
}

/// One key of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The Kita-Planer 2 key, used verbatim in the record body and in the request.
    pub key: &'static str,
    /// Must be present and non-empty.
    pub required: bool,
    pub format: Format,
    pub sent: Sent,
}

/// The key of the control field that lets master data through.
pub const STAMMDATENPRUEFUNG: &str = "STAMMDATENPRUEFUNG";
/// The only value of [`STAMMDATENPRUEFUNG`] that means anything: the portal's check of its
/// own master data failed, so the source's name and address are wanted.
pub const FEHLGESCHLAGEN: &str = "FEHLGESCHLAGEN";
pub const KITA_ID_EXTERN: &str = "KITA_ID_EXTERN";
pub const KIND_ID_EXTERN: &str = "KIND_ID_EXTERN";

/// `WOHNHAFT_BEI`: the child lives with guardian 1, guardian 2 or at the `ABW_*` address
/// (the values Munich's adapter reads from the same product).
const WOHNHAFT: &[&str] = &["sb1", "sb2", "abw"];
/// `KIND_GESCHLECHT`: the four entries of German civil status law (PStG §22(3): male,
/// female, "divers", none) in the one-letter codes of the registry (XMeld) the portal checks
/// its master data against. Not confirmed for Kita-Planer 2 (see the report); change here.
const GESCHLECHT: &[&str] = &["m", "w", "d", "x"];
const PRUEFUNG: &[&str] = &[FEHLGESCHLAGEN];

const REQ: bool = true;
const OPT: bool = false;

use Format::{Date, OneOf, Text};
use Sent::{Always, MasterData, Never};

const fn f(key: &'static str, required: bool, format: Format, sent: Sent) -> Field {
    Field {
        key,
        required,
        format,
        sent,
    }
}

/// Every key a `child` record may carry, in the order they are sent.
pub const FIELDS: &[Field] = &[
    // Identity: Kita-Planer creates a buffer record only when both are filled (for.CARE).
    f(KITA_ID_EXTERN, REQ, Text, Always),
    f(KIND_ID_EXTERN, REQ, Text, Always),
    // The child.
    f("KIND_VORNAME", OPT, Text, MasterData),
    f("KIND_NACHNAME", OPT, Text, MasterData),
    f("KIND_GEBDATUM", OPT, Date, Always),
    f("KIND_GESCHLECHT", OPT, OneOf(GESCHLECHT), Always),
    f("KIND_STAATSANGEHOERIGKEIT", OPT, Text, Always),
    f("KIND_FAMILIENSPRACHE", OPT, Text, Always),
    f("KIND_KONFESSION", OPT, Text, Always),
    // Guardian 1 (Sorgeberechtigte/r): the guardian's own data, always sent.
    f("SB1_ANREDE", OPT, Text, Always),
    f("SB1_TITEL", OPT, Text, Always),
    f("SB1_VORNAME", OPT, Text, Always),
    f("SB1_NACHNAME", OPT, Text, Always),
    f("SB1_GEBDATUM", OPT, Date, Always),
    f("SB1_STRASSE", OPT, Text, Always),
    f("SB1_HAUSNUMMER", OPT, Text, Always),
    f("SB1_POSTLEITZAHL", OPT, Text, Always),
    f("SB1_ORT", OPT, Text, Always),
    f("SB1_TELEFON1", OPT, Text, Always),
    f("SB1_TELEFON2", OPT, Text, Always),
    f("SB1_EMAIL", OPT, Text, Always),
    f("SB1_FAMILIENSTAND", OPT, Text, Always),
    f("SB1_ALLEINSORGEBERECHTIGT", OPT, Text, Always),
    // Guardian 2.
    f("SB2_ANREDE", OPT, Text, Always),
    f("SB2_TITEL", OPT, Text, Always),
    f("SB2_VORNAME", OPT, Text, Always),
    f("SB2_NACHNAME", OPT, Text, Always),
    f("SB2_GEBDATUM", OPT, Date, Always),
    f("SB2_STRASSE", OPT, Text, Always),
    f("SB2_HAUSNUMMER", OPT, Text, Always),
    f("SB2_POSTLEITZAHL", OPT, Text, Always),
    f("SB2_ORT", OPT, Text, Always),
    f("SB2_TELEFON1", OPT, Text, Always),
    f("SB2_TELEFON2", OPT, Text, Always),
    f("SB2_EMAIL", OPT, Text, Always),
    f("SB2_FAMILIENSTAND", OPT, Text, Always),
    f("SB2_ALLEINSORGEBERECHTIGT", OPT, Text, Always),
    // The child's address: which address it lives at, and a deviating one (ABW).
    f("WOHNHAFT_BEI", OPT, OneOf(WOHNHAFT), MasterData),
    f("ABW_VORNAME", OPT, Text, MasterData),
    f("ABW_NACHNAME", OPT, Text, MasterData),
    f("ABW_STRASSE", OPT, Text, MasterData),
    f("ABW_HAUSNUMMER", OPT, Text, MasterData),
    f("ABW_PLZ", OPT, Text, MasterData),
    f("ABW_ORT", OPT, Text, MasterData),
    f("ABW_LAND", OPT, Text, MasterData),
    // The care contract (Betreuungsvereinbarung): only children with one are sent.
    f("VER_VERTRAG_AB", REQ, Date, Always),
    f("VER_AENDERUNG_AB", OPT, Date, Always),
    f("VER_KUENDIGUNG_ZUM", OPT, Date, Always),
    f("VER_BETREUUNGSSTUNDEN_TÄGLICH", OPT, Text, Always),
    f("VER_ALTERSGRUPPE", OPT, Text, Always),
    f("VER_GRUPPE", OPT, Text, Always),
    f("VER_GRUPPE_ID", OPT, Text, Always),
    f("VER_GRUPPE_AB", OPT, Date, Always),
    f("VER_MITTAGESSEN", OPT, Text, Always),
    // Control: whether the portal's master-data check failed.
    f(STAMMDATENPRUEFUNG, OPT, OneOf(PRUEFUNG), Never),
    // The export's own bookkeeping, read and never sent: Kita-Planer's internal Kita id
    // and name (the import knows the Kita by KITA_ID_EXTERN) and the export's date.
    f("KITA_ID", OPT, Text, Never),
    f("KITA_KITANAME", OPT, Text, Never),
    f("EXPORTDATUM", OPT, Date, Never),
];

/// Kita-Planer 2's export names (formats.md §1, Munich's kitafinder export of the same
/// product) for keys of [`FIELDS`]: a record may use either; the body always carries the
/// table's name. Export keys that are the same in both vocabularies (`KIND_*`, `SB1_*`,
/// `VER_VERTRAG_AB`, …) and the export-only ones (`KITA_ID`, `KITA_KITANAME`,
/// `EXPORTDATUM`) are rows of [`FIELDS`] themselves.
pub const EXPORT_NAMES: &[(&str, &str)] = &[
    // The export states hours and age group as of its date; the import takes the
    // contract's current value.
    (
        "VER_BETREUUNGSSTUNDEN_TÄGLICH_ZUM_EXPORTDATUM",
        "VER_BETREUUNGSSTUNDEN_TÄGLICH",
    ),
    ("VER_ALTERSGRUPPE_ZUM_EXPORTDATUM", "VER_ALTERSGRUPPE"),
    // The export spells the deviating address's postcode as the guardians' one.
    ("ABW_POSTLEITZAHL", "ABW_PLZ"),
];

/// The table position of a key in either vocabulary, with the table's name for it.
pub fn lookup(key: &str) -> Option<(usize, &'static str)> {
    lookup_from(key, 0)
}

/// [`lookup`], searching from row `hint` on, then the rows before it (the SDK's
/// `json::position_from`): a record's keys usually come in the table's order, and a scan
/// from the top for every key was the plugin's largest cost in a send of 100 records per
/// request.
pub fn lookup_from(key: &str, hint: usize) -> Option<(usize, &'static str)> {
    let found = hub_plugin_sdk::json::position_from(FIELDS, hint, |f| f.key == key)
        // No export name is also a row (tested below), so the table is asked first.
        .or_else(|| {
            let (_, import) = EXPORT_NAMES.iter().find(|(export, _)| *export == key)?;
            position(import)
        })?;
    Some((found, FIELDS.get(found)?.key))
}

/// The table position of a key.
pub fn position(key: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.key == key)
}

/// The keys sent only with a failed master-data check, for messages.
pub fn master_data_keys() -> impl Iterator<Item = &'static str> {
    FIELDS
        .iter()
        .filter(|f| f.sent == Sent::MasterData)
        .map(|f| f.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_ids_come_first() {
        for (i, a) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[i + 1..].iter().all(|b| b.key != a.key),
                "{} twice",
                a.key
            );
        }
        assert_eq!(position(KITA_ID_EXTERN), Some(0));
        assert_eq!(position(KIND_ID_EXTERN), Some(1));
        assert!(FIELDS[0].required && FIELDS[1].required);
    }

    #[test]
    fn every_export_name_maps_to_a_row_and_is_no_row_itself() {
        for (export, import) in EXPORT_NAMES {
            assert_eq!(
                position(export),
                None,
                "{export} is a row and an export name"
            );
            assert!(position(import).is_some(), "{import} is not a row");
            assert_eq!(lookup(export).map(|(_, k)| k), Some(*import));
        }
        assert_eq!(lookup("KITA_ID").map(|(_, k)| k), Some("KITA_ID"));
        assert_eq!(lookup("NO_SUCH_KEY"), None);
    }

    #[test]
    fn a_lookup_from_any_row_finds_what_a_lookup_from_the_top_finds() {
        let keys = FIELDS
            .iter()
            .map(|f| f.key)
            .chain(EXPORT_NAMES.iter().map(|(export, _)| *export))
            .chain(["NO_SUCH_KEY", ""]);
        for key in keys {
            for hint in 0..=FIELDS.len() + 1 {
                assert_eq!(lookup_from(key, hint), lookup(key), "{key} from row {hint}");
            }
        }
    }

    #[test]
    fn master_data_are_name_and_address_only() {
        let keys: Vec<_> = master_data_keys().collect();
        assert!(keys.contains(&"KIND_VORNAME") && keys.contains(&"ABW_ORT"));
        assert!(!keys.contains(&"KIND_GEBDATUM"));
        assert!(
            !keys
                .iter()
                .any(|k| k.starts_with("SB") || k.starts_with("VER_"))
        );
    }
}
