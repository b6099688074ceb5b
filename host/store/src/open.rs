//! The store `[store]` names, whatever its backend.

use hub_core::config::StoreConfig;

use crate::{HubStore, PgOptions, PgStore, Result, SqliteStore};

/// Opens the store `[store]` names: PostgreSQL when `url` is set (password read from its
/// file or variable), else the SQLite file.
/// The audit trail's head goes to `[audit] head_file` after every append, where set.
/// With `keyring`, bodies and payload bytes are sealed under its current key and opened
/// with its keys (each checked against the store's record of it first).
pub fn open(
    config: &StoreConfig,
    keyring: Option<std::sync::Arc<crate::seal::Keyring>>,
    now: hub_core::time::Timestamp,
) -> Result<Box<dyn HubStore>> {
    let mut store: Box<dyn HubStore> = match PgOptions::from_config(config)? {
        Some(options) => Box::new(PgStore::open(&options)?),
        None => Box::new(SqliteStore::open(&config.path)?),
    };
    store.set_audit_head_file(config.audit_head_file.clone());
    store.set_keyring(keyring, now)?;
    Ok(store)
}

/// Whether workers on other machines may share this store (PostgreSQL). Then a lock file
/// beside `path` proves nothing about other senders, and their leases must not be freed
/// ([`Store::free_leases`](crate::Store::free_leases)): they expire.
pub fn is_shared(config: &StoreConfig) -> bool {
    config.url.is_some()
}
