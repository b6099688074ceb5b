//! The target's settings, checked once and turned into typed values.

use hub_plugin_sdk::{SettingError, SettingSpec, SettingType, Settings};

/// Checked settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// First folder level, the municipality (lower case).
    pub municipality: String,
    /// Second folder level: `prod` or `test`.
    pub environment: String,
    /// G69 header: Organisationsenhed, 4 digits.
    pub organisation_unit: String,
    /// G69 header: Registreringssted, 3 digits.
    pub registration_site: String,
    /// 10Q: leverandør-ident, 4 characters.
    pub supplier_ident: String,
    /// 10Q: brugernummer, 4 digits.
    pub user_no: String,
    /// 10Q: betalingsart, 3 digits (a debtor record may override it).
    pub payment_type: String,
    /// Whether G69 lines carry field 114 (regnskabsår).
    pub fiscal_year_field: bool,
}

const DEFAULT_REGISTRATION_SITE: &str = "000";
const DEFAULT_SUPPLIER_IDENT: &str = "WI01";
const DEFAULT_USER_NO: &str = "0900";
const DEFAULT_PAYMENT_TYPE: &str = "209";

/// The settings as `describe` announces them.
pub(crate) fn specs() -> Vec<SettingSpec> {
    vec![
        SettingSpec::required(
            "municipality",
            SettingType::Text,
            "Municipality folder on the Prisme file drive, lower case (e.g. sermersooq)",
        ),
        SettingSpec::required(
            "environment",
            SettingType::Text,
            "prod or test: the second folder level",
        ),
        SettingSpec::required(
            "organisation_unit",
            SettingType::Text,
            "G69 Organisationsenhed, 4 digits: the municipality's CPR number (Sermersooq 0956)",
        ),
        SettingSpec::optional(
            "registration_site",
            SettingType::Text,
            DEFAULT_REGISTRATION_SITE,
            "G69 Registreringssted, 3 digits",
        ),
        SettingSpec::optional(
            "supplier_ident",
            SettingType::Text,
            DEFAULT_SUPPLIER_IDENT,
            "10Q leverandør-ident, 4 letters or digits",
        ),
        SettingSpec::optional(
            "user_no",
            SettingType::Text,
            DEFAULT_USER_NO,
            "10Q brugernummer, 4 digits",
        ),
        SettingSpec::optional(
            "payment_type",
            SettingType::Text,
            DEFAULT_PAYMENT_TYPE,
            "10Q betalingsart, 3 digits, for debtors that do not name one",
        ),
        SettingSpec::optional(
            "fiscal_year_field",
            SettingType::Boolean,
            "false",
            "true: write G69 field 114 (regnskabsår) from each posting's fiscal_year",
        ),
    ]
}

impl Config {
    /// Checks the settings; absent optional settings take their defaults, so the plugin
    /// works the same whether or not the host filled them in.
    pub(crate) fn from_settings(s: &Settings) -> Result<Self, SettingError> {
        let municipality = s.require("municipality")?.to_string();
        let valid_folder = municipality
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase())
            && municipality.len() <= 64
            && municipality
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_folder {
            return Err(SettingError::new(
                "municipality",
                format!(
                    "must be a lower-case folder name (a-z, 0-9, - or _, starting with a \
                     letter), found {municipality:?}"
                ),
            ));
        }
        let environment = s.require("environment")?.to_string();
        if environment != "prod" && environment != "test" {
            return Err(SettingError::new(
                "environment",
                format!("must be prod or test, found {environment:?}"),
            ));
        }
        let digits = |name: &str, width: usize, default: Option<&str>| {
            let v = match (s.get(name), default) {
                (Some(v), _) => v,
                (None, Some(d)) => d,
                (None, None) => return Err(SettingError::new(name, "is missing")),
            };
            if v.len() != width || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SettingError::new(
                    name,
                    format!("must be exactly {width} digits, found {v:?}"),
                ));
            }
            Ok(v.to_string())
        };
        let organisation_unit = digits("organisation_unit", 4, None)?;
        let registration_site = digits("registration_site", 3, Some(DEFAULT_REGISTRATION_SITE))?;
        let user_no = digits("user_no", 4, Some(DEFAULT_USER_NO))?;
        let payment_type = digits("payment_type", 3, Some(DEFAULT_PAYMENT_TYPE))?;
        let supplier_ident = s
            .get("supplier_ident")
            .unwrap_or(DEFAULT_SUPPLIER_IDENT)
            .to_string();
        if supplier_ident.len() != 4 || !supplier_ident.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SettingError::new(
                "supplier_ident",
                format!("must be exactly 4 letters or digits, found {supplier_ident:?}"),
            ));
        }
        let fiscal_year_field = match s.get("fiscal_year_field") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(SettingError::new(
                    "fiscal_year_field",
                    format!("must be true or false, found {other:?}"),
                ));
            }
        };
        Ok(Self {
            municipality,
            environment,
            organisation_unit,
            registration_site,
            supplier_ident,
            user_no,
            payment_type,
            fiscal_year_field,
        })
    }
}
