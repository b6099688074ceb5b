//! kitastat: the monthly report of daycare places to a state statistics office, a worked
//! example of a target plugin (`docs/plugins.md`; this crate began as `hub plugin new`).
//!
//! Each record (kind `places`) is one facility's places in one month:
//!
//! ```json
//! {"id": "2024-01-010570012", "kind": "places", "month": "2024-01", "carrier": "4711",
//!  "facility": "010570012", "facility_name": "Kita Löwenzahn", "municipality": "01057001",
//!  "approved": 60, "occupied": 58, "under_three": 12}
//! ```
//!
//! The office takes one file per carrier and month, dropped into its upload folder:
//! `KITA_<reporter>_<carrier>_<YYYYMM>_<number>.csv` (`TEST_` in front in test mode), the
//! number counting 0001, 0002, … per carrier without gaps, so the office sees a missing
//! file. The file is UTF-8 without a byte order mark, `;`-separated with a header row,
//! CRLF after each line, one row per facility in the order of facility numbers:
//!
//! ```text
//! Meldestelle;Berichtsmonat;Träger;Einrichtung;Name der Einrichtung;Gemeindeschlüssel;Plätze genehmigt;Plätze belegt;davon unter drei Jahren
//! 12345;2024-01;4711;010570012;Kita Löwenzahn;01057001;60;58;12
//! ```
//!
//! A corrected report for the same facility and month replaces one still queued (the
//! supersede key) and, once one was delivered, goes in the next file (kind `places` is a
//! snapshot). More places occupied than approved, or more approved than `warn_above`, is
//! sent as it is with a warning diagnostic naming the record: the office asks about such
//! values, it does not refuse them. The office sends no receipt: a file in its folder is
//! delivered, so neither `retry-later` nor `unknown` has a use here.

mod csv;
mod report;

use hub_plugin_sdk::*;

pub use report::Report;

/// The plugin.
pub struct Kitastat;

/// The one record kind.
pub const KIND: &str = "places";

/// The header row, as the office defines its columns.
const HEADER: [&str; 9] = [
    "Meldestelle",
    "Berichtsmonat",
    "Träger",
    "Einrichtung",
    "Name der Einrichtung",
    "Gemeindeschlüssel",
    "Plätze genehmigt",
    "Plätze belegt",
    "davon unter drei Jahren",
];

impl Plugin for Kitastat {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "kitastat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec![KIND.into()],
            settings: vec![
                SettingSpec::required(
                    "reporter",
                    SettingType::Text,
                    "our number at the statistics office (Meldestelle), 4 to 10 digits",
                ),
                SettingSpec::optional(
                    "warn_above",
                    SettingType::Integer,
                    "250",
                    "approved places above which a facility gets a warning (a typo check)",
                ),
                SettingSpec::optional(
                    "test",
                    SettingType::Boolean,
                    "false",
                    "deliver test files (TEST_ in front of the name); the office does not count them",
                ),
            ],
            delivery: Delivery::FileDrop,
            max_batch: 1000,
        }
    }

    fn changes() -> Vec<(String, Change)> {
        vec![(KIND.into(), Change::Snapshot)]
    }

    fn check_settings(settings: &Settings) -> Result<(), SettingError> {
        reporter(settings)?;
        warn_above(settings)?;
        settings.boolean("test")?;
        Ok(())
    }

    fn validate(_settings: &Settings, record: &Record) -> Result<RecordMeta, RecordError> {
        let r = Report::parse(record)?;
        Ok(RecordMeta {
            batch_key: format!("{} {}", r.carrier, r.month),
            sequence_scope: Some(format!("carrier {}", r.carrier)),
            supersede_key: Some(format!("{} {}", r.facility, r.month)),
        })
    }

    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        let reporter = reporter(&ctx.settings)?;
        let warn_above = warn_above(&ctx.settings)?;
        let prefix = if ctx.settings.boolean("test")? {
            "TEST_"
        } else {
            ""
        };
        let mut errors = Vec::new();
        let mut rows: Vec<(Report, &Record)> = Vec::with_capacity(records.len());
        for r in records {
            match Report::parse(r) {
                Ok(report) => rows.push((report, r)),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(EncodeError::Records(errors));
        }
        let Some((first, _)) = rows.first() else {
            return Ok(Vec::new());
        };
        let (carrier, month, yyyymm) = (
            first.carrier.clone(),
            first.month.clone(),
            first.month_compact(),
        );
        if let Some((r, _)) = rows
            .iter()
            .find(|(r, _)| r.carrier != carrier || r.month != month)
        {
            // The batch key keeps them apart; reaching here is a host bug, not bad data.
            return Err(EncodeError::Other(format!(
                "one transfer holds carrier {carrier} {month} and carrier {} {}",
                r.carrier, r.month
            )));
        }
        let number = ctx.sequence.unwrap_or(0);
        if number > 9_999 {
            return Err(EncodeError::Other(format!(
                "file number {number} for carrier {carrier} does not fit the office's 4 digits"
            )));
        }
        rows.sort_by(|(a, ra), (b, rb)| (&a.facility, &ra.id).cmp(&(&b.facility, &rb.id)));
        let mut text = csv::line(&HEADER);
        let (mut approved, mut occupied) = (0u64, 0u64);
        for (r, record) in &rows {
            if r.occupied > r.approved {
                diag::warn_record(
                    &record.id,
                    format!(
                        "facility {}: {} places occupied, {} approved; sent as reported",
                        r.facility, r.occupied, r.approved
                    ),
                );
            }
            if i64::from(r.approved) > warn_above {
                diag::warn_record(
                    &record.id,
                    format!(
                        "facility {}: {} places approved, more than warn_above ({warn_above}); a typo?",
                        r.facility, r.approved
                    ),
                );
            }
            approved += u64::from(r.approved);
            occupied += u64::from(r.occupied);
            text.push_str(&csv::line(&[
                reporter,
                &r.month,
                &r.carrier,
                &r.facility,
                &r.facility_name,
                &r.municipality,
                &r.approved.to_string(),
                &r.occupied.to_string(),
                &r.under_three.to_string(),
            ]));
        }
        let name = format!("{prefix}KITA_{reporter}_{carrier}_{yyyymm}_{number:04}.csv");
        diag::info(format!(
            "{name}: {} facilities, {approved} places approved, {occupied} occupied",
            rows.len()
        ));
        Ok(vec![
            Payload::new(name, "text/csv; charset=utf-8", text.into_bytes())
                .carrying(records)
                .label("carrier", carrier)
                .label("month", month)
                .label("number", number.to_string()),
        ])
    }
}

/// The `reporter` setting: 4 to 10 digits.
fn reporter(settings: &Settings) -> Result<&str, SettingError> {
    let v = settings.text("reporter")?;
    if !(4..=10).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SettingError::new(
            "reporter",
            format!("must be 4 to 10 digits, found {v:?}"),
        ));
    }
    Ok(v)
}

/// The `warn_above` setting: 1 to 9999.
fn warn_above(settings: &Settings) -> Result<i64, SettingError> {
    let n = settings.integer("warn_above")?;
    if !(1..=9_999).contains(&n) {
        return Err(SettingError::new(
            "warn_above",
            format!("must be from 1 to 9999, found {n}"),
        ));
    }
    Ok(n)
}

export_plugin!(Kitastat);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_pairs([
            ("reporter", "12345"),
            ("warn_above", "250"),
            ("test", "false"),
        ])
    }

    fn record(id: &str, carrier: &str, month: &str, facility: &str, places: (u32, u32)) -> Record {
        Record::new(
            id,
            KIND,
            &format!(
                r#"{{"month": "{month}", "carrier": "{carrier}", "facility": "{facility}",
                    "facility_name": "Kita \"Am Deich\"; Hort", "municipality": "01057001",
                    "approved": {}, "occupied": {}}}"#,
                places.0, places.1
            ),
        )
    }

    #[test]
    fn one_file_per_carrier_and_month_numbered_per_carrier() {
        let s = settings();
        let a = Kitastat::validate(&s, &record("a", "4711", "2024-01", "010570012", (1, 1)));
        let b = Kitastat::validate(&s, &record("b", "4711", "2024-02", "010570012", (1, 1)));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_ne!(a.batch_key, b.batch_key);
        assert_eq!(a.sequence_scope, b.sequence_scope);
        assert_eq!(a.supersede_key.as_deref(), Some("010570012 2024-01"));
    }

    #[test]
    fn names_with_separators_are_quoted_and_test_files_named_so() {
        let mut ctx = Context::sample(Settings::from_pairs([
            ("reporter", "12345"),
            ("warn_above", "250"),
            ("test", "true"),
        ]));
        ctx.sequence = Some(7);
        let p =
            Kitastat::encode(&ctx, &[record("a", "4711", "2024-03", "010570012", (5, 4))]).unwrap();
        assert_eq!(p[0].name, "TEST_KITA_12345_4711_202403_0007.csv");
        let text = String::from_utf8(p[0].bytes.clone()).unwrap();
        assert!(
            text.ends_with("\r\n12345;2024-03;4711;010570012;\"Kita \"\"Am Deich\"\"; Hort\";01057001;5;4;0\r\n"),
            "{text}"
        );
    }

    #[test]
    fn suspicious_values_are_sent_with_a_warning_naming_the_record() {
        let ctx = Context::sample(settings());
        diag::take();
        let records = [
            record("ok", "4711", "2024-01", "010570001", (20, 18)),
            record("over", "4711", "2024-01", "010570002", (20, 23)),
            record("big", "4711", "2024-01", "010570003", (900, 10)),
        ];
        Kitastat::encode(&ctx, &records).unwrap();
        let notes = diag::take();
        let warnings: Vec<_> = notes
            .iter()
            .filter(|n| n.level == DiagnosticLevel::Warning)
            .map(|n| n.record_id.as_deref().unwrap())
            .collect();
        assert_eq!(warnings, ["over", "big"]);
        assert!(notes[0].message.contains("23 places occupied, 20 approved"));
        assert_eq!(notes[2].level, DiagnosticLevel::Info);
    }

    #[test]
    fn settings_errors_name_the_setting() {
        let bad =
            Settings::from_pairs([("reporter", "12a"), ("warn_above", "0"), ("test", "false")]);
        assert_eq!(Kitastat::check_settings(&bad).unwrap_err().name, "reporter");
        let bad =
            Settings::from_pairs([("reporter", "1234"), ("warn_above", "0"), ("test", "false")]);
        assert_eq!(
            Kitastat::check_settings(&bad).unwrap_err().name,
            "warn_above"
        );
    }

    #[test]
    fn a_file_number_beyond_four_digits_keeps_the_records_queued() {
        let mut ctx = Context::sample(settings());
        ctx.sequence = Some(10_000);
        let e = Kitastat::encode(&ctx, &[record("a", "4711", "2024-01", "010570012", (1, 1))]);
        assert!(matches!(e, Err(EncodeError::Other(m)) if m.contains("4 digits")));
    }
}
