//! `[encryption]`: this file's (this tenant's) keys for record bodies and payload bytes
//! in the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::api::SecretSource;
use crate::names::check_config_name;

/// Record bodies and payload bytes are sealed (XChaCha20-Poly1305) under `current`; every
/// key still listed opens what it sealed before. Deleting a key makes what it sealed
/// unreadable for good (crypto-shredding). A key is 32 random bytes, written as 64 hex
/// digits or base64 on the first line of its file or in its variable
/// (`openssl rand -hex 32`), never in this file.
///
/// ```toml
/// [encryption]
/// current = "kita-2026"
/// keys = { kita-2026 = { file = "/etc/hub/keys/kita-2026" }, kita-2025 = { env = "HUB_KEY_KITA_2025" } }
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The key new bodies and bytes are sealed under (unset: nothing new is sealed).
    pub current: Option<String>,
    /// Every key by its id (stored beside each value it sealed).
    #[serde(default)]
    pub keys: BTreeMap<String, KeySource>,
}

/// Where one key comes from: a file (first line) or an environment variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

impl KeySource {
    /// The secret reader for this key (checked at parse time to be exactly one place).
    pub fn source(&self) -> Option<SecretSource> {
        SecretSource::from_pair(&self.env, &self.file).and_then(Result::ok)
    }
}

impl EncryptionConfig {
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (id, k) in &self.keys {
            if let Err(e) = check_config_name(id) {
                problems.push(format!("encryption.keys.{id}: {e}"));
            }
            if !matches!(SecretSource::from_pair(&k.env, &k.file), Some(Ok(_))) {
                problems.push(format!(
                    "encryption.keys.{id}: give exactly one of file and env (never the key itself)"
                ));
            }
        }
        if let Some(c) = &self.current
            && !self.keys.contains_key(c)
        {
            problems.push(format!(
                "encryption.current = `{c}` is not one of encryption.keys"
            ));
        }
        problems
    }

    /// Makes key files absolute (relative to hub.toml).
    pub(crate) fn resolve_paths(&mut self, resolve: &impl Fn(&Path) -> PathBuf) {
        for k in self.keys.values_mut() {
            if let Some(f) = &mut k.file {
                *f = resolve(f);
            }
        }
    }
}
