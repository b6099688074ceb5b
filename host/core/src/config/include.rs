//! `include = "shared.toml"`: settings many municipality files share (`[api]`,
//! `[plugins]`, `[runtime]`, `[credentials]`) written once. The including file's own
//! values win, key by key; what belongs to one municipality alone (its store, targets,
//! inbounds, keys, audit head) cannot be shared. Paths in the shared file are read as if
//! written in the including file.

use std::path::Path;

use super::ConfigError;

/// Top-level keys a shared file may set.
const SHAREABLE: &[&str] = &["version", "api", "plugins", "runtime", "credentials"];

/// The file's settings with its include merged in, or `None` when it includes nothing.
pub(super) fn resolve(file: &Path, text: &str) -> Result<Option<toml::Table>, ConfigError> {
    let syntax = |file: &Path, e: toml::de::Error| ConfigError::Syntax {
        file: file.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    };
    let mut own: toml::Table = toml::from_str(text).map_err(|e| syntax(file, e))?;
    let Some(include) = own.remove("include") else {
        return Ok(None);
    };
    let invalid = |problem: String| ConfigError::Invalid {
        file: file.to_path_buf(),
        problems: vec![problem],
    };
    let Some(name) = include.as_str() else {
        return Err(invalid(
            "include must be a file name, e.g. include = \"shared.toml\"".into(),
        ));
    };
    let shared_file = file.parent().unwrap_or(Path::new(".")).join(name);
    let shared_text =
        std::fs::read_to_string(&shared_file).map_err(|source| ConfigError::Read {
            file: shared_file.clone(),
            source,
        })?;
    let shared: toml::Table = toml::from_str(&shared_text).map_err(|e| syntax(&shared_file, e))?;
    let refused: Vec<&str> = shared
        .keys()
        .map(String::as_str)
        .filter(|k| !SHAREABLE.contains(k))
        .collect();
    if !refused.is_empty() {
        return Err(ConfigError::Invalid {
            file: shared_file,
            problems: vec![format!(
                "{} cannot be shared (each municipality keeps its own); a shared file may set {}",
                refused.join(", "),
                SHAREABLE[1..].join(", ")
            )],
        });
    }
    let mut merged = shared;
    overlay(&mut merged, own);
    Ok(Some(merged))
}

/// `top` over `base`: tables merged key by key, anything else replaced.
fn overlay(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => overlay(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
