//! The store `[store]` names, whatever its backend.

use hub_core::config::StoreConfig;

use crate::{HubStore, PgOptions, PgStore, Result, SqliteStore};

/// Opens the store `[store]` names: PostgreSQL when `url` is set (password read from its
/// file or variable), else the SQLite file.
/// The audit trail's head goes to `[audit] head_file` after every append, where set.
pub fn open(config: &StoreConfig) -> Result<Box<dyn HubStore>> {
    let mut store: Box<dyn HubStore> = match PgOptions::from_config(config)? {
        Some(options) => Box::new(PgStore::open(&options)?),
        None => Box::new(SqliteStore::open(&config.path)?),
    };
    store.set_audit_head_file(config.audit_head_file.clone());
    Ok(store)
}

/// Whether workers on other machines may share this store (PostgreSQL). Then a lock file
/// beside `path` proves nothing about other senders, and their leases must not be freed
/// ([`Store::free_leases`](crate::Store::free_leases)): they expire.
pub fn is_shared(config: &StoreConfig) -> bool {
    config.url.is_some()
}
