//! JSON Schemas for record kinds (contract 0.2.1 `schema`), built in code so a plugin's
//! schema and its field table cannot drift apart. The host validates each record body
//! against its kind's schema before [`crate::Plugin::validate`] sees it and serves the
//! schemas to source systems; draft 2020-12, formats (`date`, `email`, …) are checked.
//!
//! ```
//! use hub_plugin_sdk::schema::{Field, Object};
//! let child = Object::new()
//!     .required("name", Field::string().min_length(1))
//!     .field("birth_date", Field::date())
//!     .field("group", Field::one_of(&["a", "b"]))
//!     .closed();
//! let (kind, text) = child.for_kind("child");
//! assert_eq!(kind, "child");
//! assert!(text.contains(r#""required":["name"]"#));
//! ```

use serde_json::{Map, Value, json};

/// The draft the host validates with.
pub const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The schema of one property.
#[derive(Debug, Clone, PartialEq)]
pub struct Field(Map<String, Value>);

impl Field {
    fn of(t: &str) -> Self {
        let mut m = Map::new();
        m.insert("type".into(), t.into());
        Field(m)
    }

    /// A JSON string.
    pub fn string() -> Self {
        Self::of("string")
    }

    /// A JSON integer.
    pub fn integer() -> Self {
        Self::of("integer")
    }

    /// A JSON number.
    pub fn number() -> Self {
        Self::of("number")
    }

    /// `true` or `false`.
    pub fn boolean() -> Self {
        Self::of("boolean")
    }

    /// A string that is an RFC 3339 full date, `2024-02-01`.
    pub fn date() -> Self {
        Self::string().format("date")
    }

    /// A string that is one of `values`.
    pub fn one_of(values: &[&str]) -> Self {
        Self::string().with("enum", json!(values))
    }

    /// Any other keyword, e.g. `("multipleOf", json!(5))`.
    pub fn with(mut self, keyword: &str, value: Value) -> Self {
        self.0.insert(keyword.into(), value);
        self
    }

    /// A named format (`date`, `date-time`, `email`, …).
    pub fn format(self, format: &str) -> Self {
        self.with("format", format.into())
    }

    /// A regular expression the string must match (ECMA 262; anchor it).
    pub fn pattern(self, regex: &str) -> Self {
        self.with("pattern", regex.into())
    }

    /// At least this many characters.
    pub fn min_length(self, n: u64) -> Self {
        self.with("minLength", n.into())
    }

    /// At most this many characters.
    pub fn max_length(self, n: u64) -> Self {
        self.with("maxLength", n.into())
    }

    /// The smallest number allowed.
    pub fn minimum(self, n: i64) -> Self {
        self.with("minimum", n.into())
    }

    /// The largest number allowed.
    pub fn maximum(self, n: i64) -> Self {
        self.with("maximum", n.into())
    }

    /// What the field means, for the source system's developers.
    pub fn describe(self, text: &str) -> Self {
        self.with("description", text.into())
    }

    /// The schema as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The schema of a record body: a JSON object with named properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    properties: Map<String, Value>,
    required: Vec<String>,
    others: Option<Value>,
}

impl Object {
    /// An object that allows any property (add [`Object::closed`] to refuse unnamed ones).
    pub fn new() -> Self {
        Self::default()
    }

    /// An optional property.
    pub fn field(mut self, name: &str, field: Field) -> Self {
        self.properties.insert(name.into(), field.into_value());
        self
    }

    /// A property that must be present.
    pub fn required(mut self, name: &str, field: Field) -> Self {
        self.required.push(name.into());
        self.field(name, field)
    }

    /// What any property not named must be (`additionalProperties`).
    pub fn others(mut self, field: Field) -> Self {
        self.others = Some(field.into_value());
        self
    }

    /// Refuses properties not named.
    pub fn closed(mut self) -> Self {
        self.others = Some(Value::Bool(false));
        self
    }

    /// The schema as a JSON value.
    pub fn into_value(self) -> Value {
        let mut m = Map::new();
        m.insert("$schema".into(), DRAFT.into());
        m.insert("type".into(), "object".into());
        m.insert("properties".into(), Value::Object(self.properties));
        if !self.required.is_empty() {
            m.insert("required".into(), json!(self.required));
        }
        if let Some(others) = self.others {
            m.insert("additionalProperties".into(), others);
        }
        Value::Object(m)
    }

    /// The schema as text (keys sorted, so the same code gives the same bytes).
    pub fn to_json(&self) -> String {
        self.clone().into_value().to_string()
    }

    /// `(kind, schema text)`, as [`crate::Plugin::schemas`] returns it.
    pub fn for_kind(&self, kind: &str) -> (String, String) {
        (kind.to_string(), self.to_json())
    }
}
