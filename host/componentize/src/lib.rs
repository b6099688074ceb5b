//! Turns a plugin's core module into a component, the way `cargo xtask plugins` and
//! `hub plugin build` both do it, so a third-party plugin is built exactly like the
//! built-in ones.
//!
//! Plugins are compiled for `wasm32-unknown-unknown` (no WASI, so zero imports); the
//! module carries its WIT world in a custom section that `wit-bindgen` put there, and
//! `wit-component` wraps it into a component. That avoids installing `wasm-tools`.

use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

/// The target plugins are compiled for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Why a module could not become a component, or the toolchain cannot build one.
#[derive(Debug, Error)]
pub enum ComponentizeError {
    /// The file is not a core module with the component-type section of a plugin.
    #[error("{} is not a plugin module (was it built with the hub plugin SDK?): {message}", module.display())]
    NotAPlugin {
        /// The module file.
        module: PathBuf,
        /// wit-component's reason.
        message: String,
    },
    /// wit-component could not encode or validate the component.
    #[error("{}: cannot make a component: {message}", module.display())]
    Encode {
        /// The module file.
        module: PathBuf,
        /// wit-component's reason.
        message: String,
    },
    /// Reading the module or writing the component failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Rust toolchain lacks the wasm target and rustup could not add it.
    #[error(
        "the {WASM_TARGET} target is not installed and `rustup target add {WASM_TARGET}` failed: {0}"
    )]
    Toolchain(String),
}

/// Reads the core module at `module` and returns the component's bytes.
pub fn componentize(module: &Path) -> Result<Vec<u8>, ComponentizeError> {
    let bytes = std::fs::read(module).map_err(|source| ComponentizeError::Io {
        path: module.to_path_buf(),
        source,
    })?;
    wit_component::ComponentEncoder::default()
        .module(&bytes)
        .map_err(|e| ComponentizeError::NotAPlugin {
            module: module.to_path_buf(),
            message: format!("{e:#}"),
        })?
        .validate(true)
        .encode()
        .map_err(|e| ComponentizeError::Encode {
            module: module.to_path_buf(),
            message: format!("{e:#}"),
        })
}

/// Writes `bytes` to `dest` unless it already holds exactly them, so an unchanged
/// component keeps its mtime (a running `hub serve` does not look at it again) and its
/// compile-cache entry. Writes beside it and renames, so a reader never sees half a file.
/// Returns whether it wrote.
pub fn write_if_changed(dest: &Path, bytes: &[u8]) -> Result<bool, ComponentizeError> {
    if std::fs::read(dest).ok().as_deref() == Some(bytes) {
        return Ok(false);
    }
    let io = |source| ComponentizeError::Io {
        path: dest.to_path_buf(),
        source,
    };
    if let Some(dir) = dest.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = dest.with_extension(format!("wasm.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, dest).map_err(io)?;
    Ok(true)
}

/// Adds the wasm target through rustup when the toolchain lacks it.
pub fn ensure_wasm_target() -> Result<(), ComponentizeError> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| ComponentizeError::Toolchain(format!("cannot run rustc: {e}")))?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .exists()
    {
        return Ok(());
    }
    eprintln!("installing the {WASM_TARGET} target with rustup");
    match Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(ComponentizeError::Toolchain(s.to_string())),
        Err(e) => Err(ComponentizeError::Toolchain(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_file_that_is_no_plugin_module_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("x.wasm");
        std::fs::write(&module, b"not wasm").unwrap();
        let e = componentize(&module).unwrap_err();
        assert!(matches!(e, ComponentizeError::NotAPlugin { .. }), "{e}");
        assert!(e.to_string().contains("x.wasm"), "{e}");
    }

    #[test]
    fn leaves_an_unchanged_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/p.wasm");
        assert!(write_if_changed(&dest, b"abc").unwrap());
        assert!(!write_if_changed(&dest, b"abc").unwrap());
        assert!(write_if_changed(&dest, b"abd").unwrap());
        assert_eq!(std::fs::read(&dest).unwrap(), b"abd");
    }
}
