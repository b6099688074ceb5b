//! `hub init`: a commented hub.toml and an empty store.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::InitArgs;

/// The file `hub init` writes: the embedded default (SQLite + a local folder).
pub const TEMPLATE: &str = r#"# hub.toml: one file per municipality, carrier or health office.
# Relative paths are relative to this file. Secrets never go here: credentials name the
# file or environment variable that holds them.
version = 1

[store]
# The SQLite database: outbox, transfers with their bytes, the protocol log.
path = "hub-data/hub.db"

[runtime]
# Each plugin call runs in a fresh sandbox with these limits.
memory_limit_mb = 64
call_timeout_ms = 5000
# Compiled plugins are cached here (default: cache/ beside the database).
# cache_dir = "hub-data/cache"

# Plugins: WebAssembly components built with `cargo xtask plugins`.
[plugins.prisme]
path = "target/plugins/prisme.wasm"
# Pin the exact file: a different one is refused, naming both hashes.
# sha256 = "…"

# One [[target]] per receiving system.
[[target]]
name = "prisme"
plugin = "prisme"
# Dates in files are written in this offset from UTC (Greenland: -120, or -60 in summer).
utc_offset_minutes = -120

[target.transport]
# dir: files into a local folder (temporary name, fsync, then the final name).
type = "dir"
path = "hub-data/outbox/prisme"

[target.settings]
municipality = "sermersooq"
environment = "test"
organisation_unit = "0956"
"#;

pub fn run(g: &super::Global, args: &InitArgs) -> Result<ExitCode> {
    let config = g.config.as_path();
    if config.exists() && !args.force {
        bail!(
            "{} already exists; use --force to overwrite it",
            config.display()
        );
    }
    if let Some(dir) = config.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(config, TEMPLATE)
        .with_context(|| format!("cannot write {}", config.display()))?;
    let app = g.open()?;
    println!(
        "wrote {} and created the store {}",
        config.display(),
        app.config.store.path.display()
    );
    Ok(ExitCode::SUCCESS)
}
