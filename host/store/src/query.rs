//! The SQL of the paged reads ([`crate::views`]), written once for both backends: the
//! dialects differ here only in how a parameter is written (`?1` or `$1`) and in the
//! case-insensitive match (`LIKE` or `ILIKE`). Each backend runs what this builds and
//! reads the rows its own way.

use hub_core::state::{AttemptResult, PayloadState, RecordState, TransferState};

use crate::views::Query;
use crate::{Result, StoreError};

/// The states of [`few_states!`], as values.
pub(crate) const FEW_STATES: [RecordState; 5] = [
    RecordState::InDoubt,
    RecordState::Rejected,
    RecordState::Failed,
    RecordState::Resolved,
    RecordState::Superseded,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// A statement being built: its conditions and their parameters, in order.
#[derive(Debug)]
pub(crate) struct Sql {
    dialect: Dialect,
    conditions: Vec<String>,
    pub params: Vec<Param>,
    /// The finished statement.
    pub text: String,
}

impl Sql {
    fn new(dialect: Dialect) -> Self {
        Sql {
            dialect,
            conditions: Vec::new(),
            params: Vec::new(),
            text: String::new(),
        }
    }

    /// Binds a value and returns its placeholder (usable more than once).
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        }
    }

    fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// Any of `templates` (each with `{}` where `LIKE '%text%'` goes) holds:
    /// case-insensitive, with `%`, `_` and `\` in the text taken literally.
    fn contains(&mut self, templates: &[&str], text: &str) {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let p = self.bind(Param::Text(format!("%{escaped}%")));
        let like = match self.dialect {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        };
        let matches = format!("{like} {p} ESCAPE '\\'");
        let any = templates
            .iter()
            .map(|t| t.replace("{}", &matches))
            .collect::<Vec<_>>()
            .join(" OR ");
        self.and(format!("({any})"));
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    fn limit(&mut self, q: &Query) -> String {
        // One row more than shown: whether there is a next page.
        let p = self.bind(Param::Int((q.page_size() + 1) as i64));
        format!("LIMIT {p}")
    }
}

/// A state's spelling checked against the known ones (an unknown state would silently
/// match nothing).
fn state<T: Copy + std::fmt::Display>(
    given: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    what: &str,
) -> Result<String> {
    match parse(given) {
        Some(_) => Ok(given.to_string()),
        None => Err(StoreError::Refused(format!(
            "unknown {what} state `{given}`; known: {}",
            all.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn time_and_cursor(s: &mut Sql, q: &Query, time: &str, id: &str) {
    if let Some(since) = q.since {
        let p = s.bind(Param::Int(since.0));
        s.and(format!("{time} >= {p}"));
    }
    if let Some(before) = q.before {
        let p = s.bind(Param::Int(before));
        s.and(format!("{id} < {p}"));
    }
}

fn target(s: &mut Sql, q: &Query, column: &str) {
    if let Some(t) = &q.target {
        let p = s.bind(Param::Text(t.clone()));
        s.and(format!("{column} = {p}"));
    }
}

fn transfer(s: &mut Sql, q: &Query, column: &str) {
    if let Some(t) = q.transfer {
        let p = s.bind(Param::Int(t));
        s.and(format!("{column} = {p}"));
    }
}

/// A label condition on payload `payload` (a column holding its id).
fn label(s: &mut Sql, key: &str, value: &str, payload: &str) -> String {
    let k = s.bind(Param::Text(key.into()));
    let v = s.bind(Param::Text(value.into()));
    format!(
        "EXISTS (SELECT 1 FROM payload_labels l WHERE l.payload_id = {payload}
                 AND l.key = {k} AND l.value = {v})"
    )
}

/// The ids of a page of transfers, newest first.
pub(crate) fn transfer_ids(d: Dialect, q: &Query) -> Result<Sql> {
    let mut s = Sql::new(d);
    target(&mut s, q, "t.target");
    if let Some(st) = &q.state {
        let st = state(st, TransferState::parse, TransferState::ALL, "transfer")?;
        let p = s.bind(Param::Text(st));
        s.and(format!("t.state = {p}"));
    }
    time_and_cursor(&mut s, q, "t.created_at", "t.id");
    if let Some(text) = &q.text {
        s.contains(
            &[
                "t.batch_key {}",
                "EXISTS (SELECT 1 FROM payloads n WHERE n.transfer_id = t.id AND n.name {})",
            ],
            text,
        );
    }
    for (k, v) in &q.labels {
        let k = s.bind(Param::Text(k.clone()));
        let v = s.bind(Param::Text(v.clone()));
        s.and(format!(
            "t.id IN (SELECT p.transfer_id FROM payload_labels l
                      JOIN payloads p ON p.id = l.payload_id WHERE l.key = {k} AND l.value = {v})"
        ));
    }
    let w = s.where_clause();
    let limit = s.limit(q);
    s.text = format!("SELECT t.id FROM transfers t {w} ORDER BY t.id DESC {limit}");
    Ok(s)
}

/// The ids of a page of files, newest first. With labels, the first label's index drives
/// the read (its entries are ordered by payload), the others are checked per row.
pub(crate) fn file_ids(d: Dialect, q: &Query) -> Result<Sql> {
    let mut s = Sql::new(d);
    let mut from = "payloads p JOIN transfers t ON t.id = p.transfer_id".to_string();
    let mut order = "p.id";
    let mut labels = q.labels.iter();
    if let Some((k, v)) = labels.next() {
        let k = s.bind(Param::Text(k.clone()));
        let v = s.bind(Param::Text(v.clone()));
        from = "payload_labels l0 JOIN payloads p ON p.id = l0.payload_id
                JOIN transfers t ON t.id = p.transfer_id"
            .to_string();
        s.and(format!("l0.key = {k} AND l0.value = {v}"));
        order = "l0.payload_id";
    }
    for (k, v) in labels {
        let c = label(&mut s, k, v, "p.id");
        s.and(c);
    }
    target(&mut s, q, "t.target");
    transfer(&mut s, q, "p.transfer_id");
    if let Some(st) = &q.state {
        let st = state(st, PayloadState::parse, PayloadState::ALL, "file")?;
        let p = s.bind(Param::Text(st));
        s.and(format!("p.state = {p}"));
    }
    time_and_cursor(&mut s, q, "t.created_at", order);
    if let Some(text) = &q.text {
        s.contains(&["p.name {}"], text);
    }
    let w = s.where_clause();
    let limit = s.limit(q);
    s.text = format!("SELECT p.id FROM {from} {w} ORDER BY {order} DESC {limit}");
    Ok(s)
}

/// A page of records (the columns of a record view, `r.` prefixed), newest first.
pub(crate) fn records(d: Dialect, q: &Query, columns: &str) -> Result<Sql> {
    let mut s = Sql::new(d);
    target(&mut s, q, "r.target");
    transfer(&mut s, q, "r.transfer_id");
    if let Some(st) = &q.state {
        let st = state(st, RecordState::parse, RecordState::ALL, "record")?;
        if FEW_STATES.iter().any(|f| f.as_str() == st) {
            // Lets the partial index on (state, seq) serve a page without a target.
            s.and(concat!("r.", few_states!()).to_string());
        }
        let p = s.bind(Param::Text(st));
        s.and(format!("r.state = {p}"));
    }
    time_and_cursor(&mut s, q, "r.updated_at", "r.seq");
    if let Some(text) = &q.text {
        s.contains(&["r.record_id {}", "r.messages {}"], text);
    }
    let w = s.where_clause();
    let limit = s.limit(q);
    s.text = format!("SELECT {columns} FROM records r {w} ORDER BY r.seq DESC {limit}");
    Ok(s)
}

/// The columns of a protocol entry, in the order both backends read them.
pub(crate) const LOG_COLUMNS: &str = "a.id, a.transfer_id, t.target, p.name, a.started_at,
    a.duration_ms, a.endpoint, a.credential, a.sent, a.received, a.result, a.error,
    t.plugin_name, t.plugin_version, t.plugin_sha256";

/// A page of the protocol log, newest first.
pub(crate) fn log(d: Dialect, q: &Query) -> Result<Sql> {
    let mut s = Sql::new(d);
    target(&mut s, q, "t.target");
    transfer(&mut s, q, "a.transfer_id");
    if let Some(st) = &q.state {
        let st = state(st, AttemptResult::parse, AttemptResult::ALL, "attempt")?;
        let p = s.bind(Param::Text(st));
        s.and(format!("a.result = {p}"));
    }
    time_and_cursor(&mut s, q, "a.started_at", "a.id");
    if let Some(text) = &q.text {
        s.contains(
            &["a.endpoint {}", "a.sent {}", "a.received {}", "a.error {}"],
            text,
        );
    }
    let w = s.where_clause();
    let limit = s.limit(q);
    s.text = format!(
        "SELECT {LOG_COLUMNS} FROM attempts a JOIN transfers t ON t.id = a.transfer_id
         LEFT JOIN payloads p ON p.id = a.payload_id {w} ORDER BY a.id DESC {limit}"
    );
    Ok(s)
}
