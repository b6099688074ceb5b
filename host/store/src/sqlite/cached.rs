//! Every statement through the connection's statement cache: compiled once per
//! connection, not per call (issue 19: `sqlite3_prepare_v3` was 14 % of the samples of a
//! send at one record per POST). `run` and `one` are `execute` and `query_row` of
//! `rusqlite::Connection`, cached.

use rusqlite::{Connection, Params, Row};

/// Statements kept per connection; more than the store's distinct statements, so the
/// cache never evicts one the hot paths use.
pub(crate) const CAPACITY: usize = 256;

pub(crate) trait Cached {
    /// `execute`, through the statement cache.
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// `query_row`, through the statement cache.
    fn one<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn one<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
