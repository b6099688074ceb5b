//! Kita-Planer 2 target: the Schleswig-Holstein state daycare database ("Landes-Kita-
//! Datenbank", KitaPortal SH).
//!
//! A `child` record is one child with a care contract in one Kita: a flat JSON object with
//! the Kita-Planer 2 keys (`KIND_*`, `SB1_*`/`SB2_*` guardians, `WOHNHAFT_BEI`, `ABW_*`,
//! `VER_*` contract, `KITA_ID_EXTERN`, `KIND_ID_EXTERN`), every value a string; the table
//! in [`fields`] lists them. Each record is a snapshot of the child's current state, so a
//! newer queued record for the same child replaces an older one.
//!
//! One transfer is one HTTPS POST, which Kita-Planer logs as one "Datenquelle": a JSON body
//! `{"benutzerId", "traeger", "datensaetze": [...]}`. The answer reports each record;
//! [`Plugin::interpret`] turns it into one outcome per record. The host holds the URL and
//! the .p12 client certificate with its password; no password is ever put in the body.
//!
//! **Master data (Stammdatenprüfung).** Since 06.07.2020 the portal takes a child's name
//! and address only when its own data for the child could not be verified against the
//! civil registry (`STAMMDATENPRÜFUNG=FEHLGESCHLAGEN`, vendor note in the for.CARE
//! documentation); verified data are not overwritten. So the name and address keys
//! (`Sent::MasterData` in the table) are sent only when the record carries
//! `"STAMMDATENPRUEFUNG": "FEHLGESCHLAGEN"`. Otherwise they are left out, and the record's
//! outcome carries a message saying which keys were left out and why. The
//! `STAMMDATENPRUEFUNG` key itself is never sent.
//!
//! Everything here is pure: no clock, randomness, files or environment.

use hub_plugin_sdk::*;

mod child;
pub mod fields;
mod interpret;
mod json;
mod schema;

pub use child::KIND;

/// The plugin.
pub struct KitaPlaner;

/// Setting: the Kita-Planer user the data are sent as (per user or a central user).
pub const BENUTZER_ID: &str = "benutzer_id";
/// Setting: the carrier (Träger) the Kitas belong to.
pub const TRAEGER: &str = "traeger";
/// Setting: send keys outside the field table as they are instead of refusing them (for a
/// receiver that takes them).
pub const PASS_UNKNOWN_KEYS: &str = "pass_unknown_keys";

/// One Datenquelle holds at most this many records: a large carrier's whole Kita in one
/// call; a site can lower it with `max_batch` in hub.toml.
const MAX_BATCH: u32 = 1000;

impl Plugin for KitaPlaner {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "kitaplaner".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec![KIND.into()],
            settings: vec![
                SettingSpec::required(
                    BENUTZER_ID,
                    SettingType::Text,
                    "Kita-Planer 2 user id sent as `benutzerId` (the user the .p12 \
                     certificate was issued to, or the central user)",
                ),
                SettingSpec::required(
                    TRAEGER,
                    SettingType::Text,
                    "carrier (Träger) id sent as `traeger`",
                ),
                SettingSpec::optional(
                    PASS_UNKNOWN_KEYS,
                    SettingType::Boolean,
                    "false",
                    "send keys outside the plugin's field table verbatim (string values, \
                     after the table's keys) instead of refusing the record",
                ),
            ],
            delivery: Delivery::RequestResponse,
            max_batch: MAX_BATCH,
        }
    }

    /// A child's data again with other content is a newer snapshot of its master data:
    /// Kita-Planer takes the latest state, so it is sent again.
    fn changes() -> Vec<(String, Change)> {
        vec![(KIND.into(), Change::Snapshot)]
    }

    /// The field table as a JSON Schema, for source systems and the host's first check.
    fn schemas() -> Vec<(String, String)> {
        vec![schema::child()]
    }

    fn check_settings(settings: &Settings) -> Result<(), SettingError> {
        user_and_carrier(settings).map(|_| ())
    }

    /// Batch key: the `KITA_ID_EXTERN`, so one Datenquelle holds the children of one Kita.
    /// Kita-Planer marks a Datenquelle "erledigt" only when every record in it was
    /// imported, and someone must settle each failed record by hand before it is; per Kita,
    /// one bad record holds up only its own Kita's import, and the Datenquelle lands with the
    /// people responsible for that Kita. A request refused as a whole (say, a user not
    /// allowed for one Kita) also stops only that Kita. The cost is one POST per Kita.
    fn validate(settings: &Settings, record: &Record) -> Result<RecordMeta, RecordError> {
        let child = child::parse(record, settings.flag(PASS_UNKNOWN_KEYS))?;
        Ok(RecordMeta {
            batch_key: child.kita_id().to_string(),
            sequence_scope: None,
            supersede_key: Some(child.key()),
        })
    }

    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        let (benutzer_id, traeger) = user_and_carrier(&ctx.settings)?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut children = Vec::with_capacity(records.len());
        let mut errors = Vec::new();
        for record in records {
            match child::parse(record, ctx.settings.flag(PASS_UNKNOWN_KEYS)) {
                Ok(c) => children.push((record, c)),
                Err(e) => errors.push(e),
            }
        }
        // The server answers by the id pair, so two records for one child in one request
        // could not be told apart. The host supersedes queued snapshots, so this should not
        // happen; if it does, the last record (the newest, in queue order) is sent.
        let mut last = std::collections::BTreeMap::new();
        for (i, (_, child)) in children.iter().enumerate() {
            last.insert(child.key(), i);
        }
        for (i, (record, child)) in children.iter().enumerate() {
            let key = child.key();
            if let Some(&j) = last.get(&key)
                && j != i
                && let Some((newer, _)) = children.get(j)
            {
                errors.push(RecordError::record(
                    &record.id,
                    format!(
                        "superseded by record {} for the same child ({key}) in the same transfer",
                        newer.id
                    ),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(EncodeError::Records(errors));
        }
        let ids = children.iter().map(|(r, _)| r.id.clone()).collect();
        let children: Vec<_> = children.into_iter().map(|(_, c)| c).collect();
        Ok(vec![Payload {
            name: format!("datenquelle-{}.json", ctx.transfer_id),
            media_type: "application/json; charset=utf-8".into(),
            bytes: json::body(benutzer_id, traeger, &children).into_bytes(),
            records: ids,
            labels: vec![
                ("kita".into(), ctx.batch_key.clone()),
                ("traeger".into(), traeger.to_string()),
            ],
        }])
    }

    /// 2xx with the answer envelope: one outcome per record of the payload, matched by
    /// `KITA_ID_EXTERN` + `KIND_ID_EXTERN`; status 0 is delivered, anything else rejected
    /// with the server's messages verbatim; a record the answer leaves out is rejected,
    /// never assumed delivered. 400/401/403 and other 4xx: the request was refused, a resend
    /// will not help; 408/429/5xx: worth resending. A 2xx that is not the envelope:
    /// delivery unknown.
    fn interpret(
        _ctx: &Context,
        payload: &str,
        records: &[Record],
        response: &Response,
    ) -> Result<Vec<Outcome>, InterpretError> {
        interpret::interpret(payload, records, response)
    }
}

/// `benutzer_id` and `traeger`, both required and non-blank.
fn user_and_carrier(settings: &Settings) -> Result<(&str, &str), SettingError> {
    let get = |name: &str| {
        let v = settings.require(name)?;
        if v.trim().is_empty() {
            Err(SettingError::new(name, "is empty"))
        } else {
            Ok(v)
        }
    };
    Ok((get(BENUTZER_ID)?, get(TRAEGER)?))
}

export_plugin!(KitaPlaner);

/// Inputs for benchmarks and tests.
#[doc(hidden)]
pub mod examples {
    use hub_plugin_sdk::{Record, Settings};

    const KITAS: [&str; 3] = ["010570012", "010570013", "010580001"];
    const FIRST: [&str; 5] = ["Jörg", "Mia", "Ömer", "Lüdia", "Max"];
    const LAST: [&str; 5] = ["Müller", "Groß", "Schäfer", "Öztürk", "Mustermann"];

    /// `n` valid, distinct `child` records over three Kitas; every fifth carries a failed
    /// master-data check, so both branches of the master-data rule are exercised.
    pub fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let kita = KITAS[i % KITAS.len()];
                let kind = format!("K{i:06}");
                let first = FIRST[i % FIRST.len()];
                let last = LAST[(i / FIRST.len()) % LAST.len()];
                let day = 1 + i % 28;
                let pruefung = if i % 5 == 4 {
                    r#","STAMMDATENPRUEFUNG":"FEHLGESCHLAGEN""#
                } else {
                    ""
                };
                let body = format!(
                    r#"{{"id":"child-{i}","kind":"child","KITA_ID_EXTERN":"{kita}","KIND_ID_EXTERN":"{kind}","KIND_VORNAME":"{first}","KIND_NACHNAME":"{last}","KIND_GEBDATUM":"{day:02}.03.2022","KIND_GESCHLECHT":"{g}","SB1_VORNAME":"Lena","SB1_NACHNAME":"{last}","SB1_STRASSE":"Holstenstraße","SB1_HAUSNUMMER":"{h}","SB1_POSTLEITZAHL":"24103","SB1_ORT":"Kiel","SB1_EMAIL":"sb1.{i}@example.org","WOHNHAFT_BEI":"sb1","VER_VERTRAG_AB":"01.08.2024","VER_KUENDIGUNG_ZUM":"","VER_BETREUUNGSSTUNDEN_TÄGLICH":"{s}","VER_GRUPPE":"Seesterne","VER_MITTAGESSEN":"j"{pruefung}}}"#,
                    g = if i % 2 == 0 { "w" } else { "m" },
                    h = 1 + i % 90,
                    s = 4 + i % 6,
                );
                Record {
                    id: format!("child-{i}"),
                    kind: "child".into(),
                    body,
                }
            })
            .collect()
    }

    /// Settings for a test carrier.
    pub fn settings() -> Settings {
        Settings(vec![
            ("benutzer_id".into(), "forcare-central".into()),
            ("traeger".into(), "T-4711".into()),
        ])
    }
}
