//! Plugin settings in hub.toml, checked against what the plugin describes.

use hub_plugin_sdk::{SettingSpec, SettingType};

/// The keys of a `[[target]]` table (and of an `[[inbound]]` one): written below a
/// `[target.settings]` line, TOML puts them into the settings table.
const TARGET_KEYS: &[&str] = &[
    "name",
    "plugin",
    "sender",
    "receiver",
    "utc_offset_minutes",
    "timezone",
    "transport",
    "sending",
    "credential",
    "user_credentials",
    "user_settings",
    "retry",
    "max_batch",
    "max_in_flight",
    "schedule",
    "stuck_after_minutes",
    "receipt_after_minutes",
    "package",
];
const INBOUND_KEYS: &[&str] = &[
    "name",
    "format",
    "inbox",
    "answers",
    "utc_offset_minutes",
    "timezone",
    "limits",
];

/// A key of the target (or inbound) table itself found among its settings: it was
/// written after the `[target.settings]` line, so TOML put it into the settings table.
pub(super) fn landed_in_settings(owner: &str, name: &str, key: &str) -> Option<String> {
    let keys = if owner == "inbound" {
        INBOUND_KEYS
    } else {
        TARGET_KEYS
    };
    keys.contains(&key).then(|| {
        format!(
            "{owner} {name}: `{key}` landed in the settings table: it is written after the \
             `[{owner}.settings]` line, so TOML reads it as `settings.{key}`; move it above \
             `[{owner}.settings]`"
        )
    })
}

pub fn setting_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Checks a target's settings against what its plugin describes: unknown and missing
/// settings and values of the wrong type are errors naming them; defaults are filled in.
/// Returns the settings in the plugin's declared order.
pub fn check_settings(
    target: &str,
    specs: &[SettingSpec],
    given: &toml::Table,
) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut problems = Vec::new();
    for key in given.keys() {
        if !specs.iter().any(|s| &s.name == key) {
            if let Some(p) = landed_in_settings("target", target, key) {
                problems.push(p);
                continue;
            }
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            problems.push(format!(
                "target {target}: unknown setting `{key}` (the plugin takes: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
    }
    let mut out = Vec::new();
    for spec in specs {
        let value = match given.get(&spec.name).and_then(setting_text) {
            Some(v) => v,
            None if spec.required => {
                problems.push(format!(
                    "target {target}: missing setting `{}` ({})",
                    spec.name, spec.description
                ));
                continue;
            }
            None => match &spec.default_value {
                Some(d) => d.clone(),
                None => continue,
            },
        };
        let ok = match spec.setting_type {
            SettingType::Text => true,
            SettingType::Integer => value.parse::<i64>().is_ok(),
            SettingType::Boolean => value == "true" || value == "false",
        };
        if !ok {
            problems.push(format!(
                "target {target}: setting `{}` must be {}, found `{value}`",
                spec.name,
                match spec.setting_type {
                    SettingType::Integer => "an integer",
                    SettingType::Boolean => "true or false",
                    SettingType::Text => "text",
                }
            ));
            continue;
        }
        out.push((spec.name.clone(), value));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}
