//! The tenant's keys for encryption at rest: read through the one secret reader from the
//! files or variables `[encryption]` names, never from the store, never printed.

use std::sync::Arc;

use hub_core::config::Config;
use hub_store::seal::{Keyring, parse_key};

/// The keyring `[encryption]` describes (`None` without that section). The error names the
/// key and where it was read from, never its value.
pub fn keyring(config: &Config) -> Result<Option<Arc<Keyring>>, String> {
    let Some(e) = &config.encryption else {
        return Ok(None);
    };
    let mut keys = Vec::with_capacity(e.keys.len());
    for (id, k) in &e.keys {
        let source = k
            .source()
            .ok_or_else(|| format!("encryption.keys.{id}: give exactly one of file and env"))?;
        let text = source
            .read_secret()
            .map_err(|why| format!("encryption.keys.{id}: {why}"))?;
        let key = parse_key(&text)
            .map_err(|why| format!("encryption.keys.{id} ({source}): the key is {why}"))?;
        keys.push((id.clone(), key));
    }
    Keyring::new(e.current.as_deref(), keys)
        .map(|r| Some(Arc::new(r)))
        .map_err(|e| e.to_string())
}
