//! The contract 0.2 test plugin. Records of kind `item` carry `{"n": <integer>}`; a file
//! `items-<sequence>.txt` lists `<id> <n>` per record. The answer (or receipt) has a line
//! `<id> OK|NO|LATER|?` per record: delivered, rejected, retry-later, unknown.
//!
//! Settings: `prefix` (text, required) and `limit` (integer, default 10, must be > 0). An
//! `n` above the limit is encoded with a warning diagnostic naming the record.
//!
//! Contract 0.2.1: a JSON Schema for `item` (`n` an integer, `when` an RFC 3339 date), and
//! each payload sent as `PUT items/<payload name>` with `Accept: text/plain`. The setting
//! `shape` (default `put`) makes it propose what the host must refuse: `bad-header` adds
//! an `Authorization` header, `bad-path` puts the payload at `../<name>`, `refuse` gives
//! no request at all; `post` keeps the default request.

use hub_plugin_sdk::*;

/// The plugin.
pub struct Contract2;

impl Plugin for Contract2 {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "contract2".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            record_kinds: vec!["item".into()],
            settings: vec![
                SettingSpec::required("prefix", SettingType::Text, "the first word of each line"),
                SettingSpec::optional("limit", SettingType::Integer, "10", "above it: a warning"),
                SettingSpec::optional(
                    "shape",
                    SettingType::Text,
                    "put",
                    "put, post, bad-header, bad-path or refuse",
                ),
            ],
            delivery: Delivery::RequestResponse,
            max_batch: 100,
        }
    }

    fn schemas() -> Vec<(String, String)> {
        vec![
            schema::Object::new()
                .required("n", schema::Field::integer())
                .field("when", schema::Field::date())
                .for_kind("item"),
        ]
    }

    fn request_shape(
        settings: &Settings,
        _transfer_id: u64,
        payload: &str,
        _media_type: &str,
    ) -> Result<RequestShape, String> {
        let put = RequestShape::new(Method::Put, format!("items/{payload}"))
            .header("Accept", "text/plain");
        match settings.text("shape").unwrap_or("put") {
            "post" => Ok(RequestShape::default()),
            "bad-header" => Ok(put.header("Authorization", "Bearer stolen")),
            "bad-path" => Ok(RequestShape::new(Method::Put, format!("../{payload}"))),
            "refuse" => Err(format!("no request for {payload}")),
            _ => Ok(put),
        }
    }

    fn check_settings(settings: &Settings) -> Result<(), SettingError> {
        let limit = settings.integer("limit")?;
        if limit <= 0 {
            return Err(SettingError::new(
                "limit",
                format!("must be above 0, found {limit}"),
            ));
        }
        settings.text("prefix").map(|_| ())
    }

    fn validate(_settings: &Settings, r: &Record) -> Result<RecordMeta, RecordError> {
        number(r)?;
        Ok(RecordMeta::single_batch())
    }

    fn encode(ctx: &Context, records: &[Record]) -> Result<Vec<Payload>, EncodeError> {
        let prefix = ctx.settings.text("prefix")?;
        let limit = ctx.settings.integer("limit")?;
        let mut text = String::new();
        for r in records {
            let n = number(r)?;
            if n > limit {
                diag::warn_record(&r.id, format!("n = {n} is above the limit {limit}"));
            }
            text.push_str(&format!("{prefix} {} {n}\n", r.id));
        }
        diag::info(format!("{} records", records.len()));
        let name = format!("items-{:06}.txt", ctx.sequence.unwrap_or(0));
        Ok(vec![
            Payload::new(name, "text/plain", text.into_bytes()).carrying(records),
        ])
    }

    fn interpret(
        _ctx: &Context,
        payload: &str,
        records: &[Record],
        response: &Response,
    ) -> Result<Vec<Outcome>, InterpretError> {
        let text = std::str::from_utf8(&response.body)
            .map_err(|_| InterpretError::Malformed(format!("{payload}: answer not UTF-8")))?;
        let mut out = Vec::new();
        for r in records {
            let verdict = text
                .lines()
                .find_map(|l| l.strip_prefix(r.id.as_str())?.strip_prefix(' '));
            out.push(match verdict {
                Some("OK") => Outcome::delivered(&r.id),
                Some("NO") => Outcome::rejected(&r.id, vec!["refused".into()]),
                Some("LATER") => Outcome::retry_later(&r.id, vec!["locked, try later".into()]),
                Some("?") => Outcome::unknown(&r.id, vec!["no word on it".into()]),
                _ => {
                    diag::warn_record(&r.id, "not in the answer");
                    Outcome::rejected(&r.id, vec!["not in the answer".into()])
                }
            });
        }
        Ok(out)
    }
}

/// The record's `n`, or an error with its code.
fn number(r: &Record) -> Result<i64, RecordError> {
    let body: serde_json::Value = serde_json::from_str(&r.body).map_err(|e| {
        RecordError::record(&r.id, format!("not JSON: {e}")).code(ErrorCode::Malformed)
    })?;
    match body.get("n") {
        None | Some(serde_json::Value::Null) => {
            Err(RecordError::field(&r.id, "n", "is required").code(ErrorCode::Missing))
        }
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(n),
            Some(n) => Err(RecordError::field(&r.id, "n", format!("{n} is below 0"))
                .code(ErrorCode::OutOfRange)),
            None => {
                Err(RecordError::field(&r.id, "n", "must be an integer").code(ErrorCode::Malformed))
            }
        },
    }
}

export_plugin!(Contract2);
