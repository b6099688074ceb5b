//! Where SQLite keeps what is temporary. Statement journals (every insert that fires the
//! count triggers opens one) stay in memory: in temp files they cost a syscall per page
//! (`hub enqueue` of 20,000 records spent 1.1 s in the kernel on them). Temporary tables
//! and sorts go to temp files beyond their page cache, so they are bounded: held in
//! memory they grew with the input (the ids of one enqueue, ~20 bytes each; the sort
//! grouping a backlog's batches, 48 MB at 1,000,000 records).

use std::sync::OnceLock;

use rusqlite::Connection;

use super::sql;
use crate::Result;

/// Whether statement journals stay in memory whatever their size: SQLite's process-wide
/// `SQLITE_CONFIG_STMTJRNL_SPILL`, which only takes before SQLite initializes. Called
/// before the store opens its first connection.
pub(crate) fn journals_in_memory() -> bool {
    static SET: OnceLock<bool> = OnceLock::new();
    *SET.get_or_init(|| {
        // SAFETY: `sqlite3_config` sets a process-wide option. Before SQLite initializes
        // (no connection yet: the store calls this before its first open, and the
        // OnceLock lets one thread in) it stores the integer; after, it returns
        // SQLITE_MISUSE and changes nothing. The variadic argument is the C int it reads.
        #[allow(unsafe_code)]
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_STMTJRNL_SPILL,
                -1 as std::os::raw::c_int,
            )
        };
        rc == rusqlite::ffi::SQLITE_OK
    })
}

/// Temporary tables and sorts in files (bounded) where statement journals stay in memory
/// without them; else everything temporary in memory, as before.
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    // SQLite initialized before the store (another connection first): as before.
    let store = if journals_in_memory() {
        "FILE"
    } else {
        "MEMORY"
    };
    conn.pragma_update(None, "temp_store", store)
        .map_err(sql("set temp_store"))?;
    // A page cache for the temporary tables like the main database's, so an enqueue's
    // ids spill to their file only past a few hundred thousand.
    conn.pragma_update(Some("temp"), "cache_size", super::PAGE_CACHE_KIB)
        .map_err(sql("size the temp page cache"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{PAGE_CACHE_KIB, SqliteStore};

    #[test]
    fn temporary_tables_go_to_files_past_a_bounded_cache_when_journals_stay_in_memory() {
        let store = SqliteStore::in_memory().unwrap();
        let kind: i64 = store
            .conn
            .query_row("PRAGMA temp_store", [], |r| r.get(0))
            .unwrap();
        let cache: i64 = store
            .conn
            .query_row("PRAGMA temp.cache_size", [], |r| r.get(0))
            .unwrap();
        // 1: FILE; 2: MEMORY, where another test of this binary started SQLite first.
        let expected = if super::journals_in_memory() { 1 } else { 2 };
        assert_eq!((kind, cache), (expected, PAGE_CACHE_KIB));
    }
}
