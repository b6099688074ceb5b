//! What the runtime's test files share: where the repository and the built plugins are.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses what it needs

use std::path::PathBuf;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A plugin built by `cargo xtask plugins` (or found in `HUB_PLUGIN_DIR`).
pub fn plugin_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("HUB_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `cargo xtask plugins`",
        path.display()
    );
    path
}
