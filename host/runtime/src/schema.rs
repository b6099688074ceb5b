//! Record schemas (contract 0.2.1 `schema`): checked and compiled once at load, then
//! every record body is validated against its kind's schema before the plugin's own
//! `validate` sees it. The schemas resolve nothing outside themselves (`jsonschema`
//! without its HTTP and file resolvers), so a `$ref` to elsewhere refuses the plugin.

use std::sync::Arc;

use hub_plugin_sdk as sdk;
use jsonschema::error::ValidationErrorKind as K;

/// At most this many schemas, each at most this long: they are kept and served.
const MAX_SCHEMAS: usize = 256;
const MAX_SCHEMA_BYTES: usize = 1 << 20;
/// At most this many of a record's problems go into its message.
const MAX_SHOWN: usize = 5;

/// One kind's schema: its text as the plugin gave it (what is served) and its validator.
struct KindSchema {
    kind: String,
    text: String,
    validator: jsonschema::Validator,
}

/// A plugin's schemas, compiled; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Schemas(Arc<Vec<KindSchema>>);

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|k| &k.kind))
            .finish()
    }
}

impl Schemas {
    /// Checks and compiles what `schemas` returned; the error says which kind and why
    /// (the caller names the plugin).
    pub(crate) fn compile(
        kinds: &[String],
        list: Vec<(String, String)>,
    ) -> Result<Schemas, String> {
        if list.len() > MAX_SCHEMAS {
            return Err(format!(
                "schemas: {} schemas, at most {MAX_SCHEMAS}",
                list.len()
            ));
        }
        let mut out: Vec<KindSchema> = Vec::with_capacity(list.len());
        for (kind, text) in list {
            let name = sdk::text::excerpt(&kind);
            if !kinds.contains(&kind) {
                return Err(format!(
                    "schemas: a schema for kind `{name}`, which describe does not list (kinds: {})",
                    kinds.join(", ")
                ));
            }
            if out.iter().any(|k| k.kind == kind) {
                return Err(format!("schemas: kind `{name}` has two schemas"));
            }
            if text.len() > MAX_SCHEMA_BYTES {
                return Err(format!(
                    "schemas: the schema of kind `{name}` is {} bytes, at most {MAX_SCHEMA_BYTES}",
                    text.len()
                ));
            }
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("schemas: the schema of kind `{name}` is not JSON: {e}"))?;
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&value)
                .map_err(|e| {
                    format!(
                        "schemas: the schema of kind `{name}` is not a valid JSON Schema: {}",
                        sdk::text::excerpt(&e.to_string())
                    )
                })?;
            out.push(KindSchema {
                kind,
                text,
                validator,
            });
        }
        Ok(Schemas(Arc::new(out)))
    }

    /// `(kind, schema text)` in the plugin's order; empty when it declares none.
    pub(crate) fn texts(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|k| (k.kind.clone(), k.text.clone()))
            .collect()
    }

    /// Why `record`'s body does not match its kind's schema, if it does not: the first
    /// problem with its JSON pointer (`/birth_date: "2020-13-01" is not a "date"`),
    /// bounded and with control characters escaped, and how many more there are.
    pub(crate) fn check(&self, record: &sdk::Record) -> Option<sdk::RecordError> {
        let schema = self.0.iter().find(|k| k.kind == record.kind)?;
        let body: serde_json::Value = match serde_json::from_str(&record.body) {
            Ok(v) => v,
            Err(e) => {
                return Some(
                    sdk::RecordError::record(&record.id, format!("the body is not JSON: {e}"))
                        .code(sdk::ErrorCode::Malformed),
                );
            }
        };
        // Every problem of the record at once (up to a few), as the plugins report theirs:
        // the source fixes the record in one go.
        let mut shown = Vec::new();
        let mut more = 0;
        let mut code = None;
        for e in schema.validator.iter_errors(&body) {
            if shown.len() == MAX_SHOWN {
                more += 1;
                continue;
            }
            code.get_or_insert_with(|| code_of(e.kind()));
            let path = e.instance_path().to_string();
            shown.push(format!(
                "{}: {}",
                if path.is_empty() { "/" } else { &path },
                sdk::text::excerpt(&e.to_string())
            ));
        }
        let code = code?;
        let mut message = shown.join("; ");
        if more > 0 {
            message.push_str(&format!(" (and {more} more against the schema)"));
        }
        // The pointer leads the message, so no `field` beside it (it would print twice).
        Some(sdk::RecordError::record(&record.id, message).code(code))
    }
}

/// The code a source system acts on: a property absent, a value out of its bounds, or
/// a value (or the body) of the wrong form.
fn code_of(kind: &K) -> sdk::ErrorCode {
    match kind {
        K::Required { .. } => sdk::ErrorCode::Missing,
        K::Enum { .. }
        | K::Constant { .. }
        | K::Minimum { .. }
        | K::Maximum { .. }
        | K::ExclusiveMinimum { .. }
        | K::ExclusiveMaximum { .. }
        | K::MinLength { .. }
        | K::MaxLength { .. }
        | K::MinItems { .. }
        | K::MaxItems { .. }
        | K::MultipleOf { .. } => sdk::ErrorCode::OutOfRange,
        _ => sdk::ErrorCode::Malformed,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kinds() -> Vec<String> {
        vec!["child".into()]
    }

    #[test]
    fn a_bad_date_is_named_by_its_pointer_and_a_missing_field_is_missing() {
        let s = Schemas::compile(
            &kinds(),
            vec![(
                "child".into(),
                r#"{"type":"object","required":["name"],"properties":{"birth_date":{"type":"string","format":"date"}}}"#.into(),
            )],
        )
        .unwrap();
        let r = |body: &str| sdk::Record::new("c-7", "child", body);
        let e = s
            .check(&r(r#"{"name":"x","birth_date":"2020-13-01"}"#))
            .unwrap();
        assert_eq!(
            e.to_string(),
            r#"record c-7: /birth_date: "2020-13-01" is not a "date""#
        );
        assert_eq!(e.code, sdk::ErrorCode::Malformed);
        assert_eq!(e.message, r#"/birth_date: "2020-13-01" is not a "date""#);
        let e = s.check(&r(r#"{"birth_date":"2020-12-01"}"#)).unwrap();
        assert_eq!(e.code, sdk::ErrorCode::Missing);
        assert_eq!(e.message, r#"/: "name" is a required property"#);
        assert!(
            s.check(&r(r#"{"name":"x","birth_date":"2020-12-01"}"#))
                .is_none()
        );
        // Every problem at once; the first one's code.
        let e = s.check(&r(r#"{"birth_date":"2020-13-01"}"#)).unwrap();
        assert_eq!(
            e.message,
            r#"/: "name" is a required property; /birth_date: "2020-13-01" is not a "date""#
        );
        assert_eq!(e.code, sdk::ErrorCode::Missing);
        // Other kinds are not checked; control characters are escaped, values bounded.
        assert!(s.check(&sdk::Record::new("o", "other", "{}")).is_none());
        let long = format!(
            r#"{{"name":"x","birth_date":"\u001b[31m{}"}}"#,
            "9".repeat(5000)
        );
        let e = s.check(&r(&long)).unwrap();
        assert!(
            !e.message.contains('\u{1b}') && e.message.len() < 400,
            "{}",
            e.message
        );
    }

    #[test]
    fn bad_schemas_are_refused_naming_the_kind() {
        let bad = |kind: &str, text: &str| {
            Schemas::compile(&kinds(), vec![(kind.into(), text.into())]).unwrap_err()
        };
        assert!(bad("child", "{").contains("kind `child` is not JSON"));
        assert!(
            bad("child", r#"{"type": 5}"#).contains("kind `child` is not a valid JSON Schema"),
            "{}",
            bad("child", r#"{"type": 5}"#)
        );
        assert_eq!(
            bad("toy", "{}"),
            "schemas: a schema for kind `toy`, which describe does not list (kinds: child)"
        );
        let remote = bad("child", r#"{"$ref": "https://example.invalid/s.json"}"#);
        assert!(remote.contains("not a valid JSON Schema"), "{remote}");
    }
}
