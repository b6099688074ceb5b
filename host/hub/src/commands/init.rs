//! `hub init`: a commented hub.toml and an empty store.

use std::path::{Path, PathBuf};
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
path = "{prisme}"
# Pin the exact file: a different one is refused, naming both hashes.
# sha256 = "…"

# One [[target]] per receiving system.
[[target]]
name = "prisme"
plugin = "prisme"
# Dates in files are written in this time zone (IANA), summer time included. The older
# `utc_offset_minutes = -120` still works: a fixed offset, the same all year.
timezone = "America/Nuuk"
# Record bodies and the bytes sent are purged this many days after a record is final
# (`hub purge`, and hourly in `hub serve`); hashes and the protocol log stay. Unset: kept.
# retention_days = 90

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
    let (dir, found) = plugin_dir(args.plugin_dir.as_deref());
    let prisme = dir.join("prisme.wasm");
    let text = TEMPLATE.replace("{prisme}", &toml_path(&prisme));
    std::fs::write(config, text).with_context(|| format!("cannot write {}", config.display()))?;
    if !found {
        eprintln!(
            "hub init: no prisme.wasm in {}: build the plugins (`cargo xtask plugins`) or pass --plugin-dir",
            dir.display()
        );
    }
    let app = g.open()?;
    println!(
        "wrote {} and created the store {}",
        config.display(),
        app.config.store.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The plugin directory: the one given, else `$HUB_PLUGIN_DIR`, else the first of the
/// places beside the executable that holds `prisme.wasm`; `true` when it holds it.
pub fn plugin_dir(given: Option<&Path>) -> (PathBuf, bool) {
    let has = |d: &Path| d.join("prisme.wasm").is_file();
    if let Some(d) = given {
        return (absolute(d), has(d));
    }
    if let Some(d) = std::env::var_os("HUB_PLUGIN_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        return (absolute(&d), has(&d));
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf));
    let candidates: Vec<PathBuf> = exe_dir
        .iter()
        .flat_map(|d| {
            [
                d.join("plugins"),
                d.join("../plugins"),
                d.join("../share/hub/plugins"),
            ]
        })
        .collect();
    for c in &candidates {
        if has(c) {
            let c = c.canonicalize().unwrap_or_else(|_| c.clone());
            return (c, true);
        }
    }
    let first = candidates
        .into_iter()
        .next()
        .unwrap_or_else(|| PathBuf::from("plugins"));
    (first, false)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A path as a TOML basic string's content.
fn toml_path(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}
