//! `cargo xtask package`: the Debian package, with cargo-deb at a pinned version
//! (installed with `cargo install --locked` when missing or different). It builds `hub`
//! in release (cargo-deb strips the copy it packages; the build keeps its line tables)
//! and the plugins, then packages them with `--no-build`: the plugins' asset paths are
//! outside the `hub` crate, which would make a building `cargo deb` build the whole
//! workspace. What goes where is `[package.metadata.deb]` in `host/hub/Cargo.toml`;
//! `packaging/check.sh` installs the result into a fresh Debian chroot.
//!
//! The path of the `.deb` is the last line on stdout.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The cargo-deb this project's packaging is written for.
pub const CARGO_DEB_VERSION: &str = "3.8.0";

pub fn package(root: &Path) -> Result<PathBuf> {
    ensure_cargo_deb()?;
    super::build_plugins(root)?;
    super::run(
        super::cargo()
            .current_dir(root)
            .args(["build", "-p", "hub", "--release"]),
    )?;
    let out_dir = super::target_dir(root).join("debian");
    let out = super::cargo()
        .current_dir(root)
        .args(["deb", "-p", "hub", "--no-build", "--strip", "--output"])
        .arg(&out_dir)
        .output()
        .context("cannot start cargo deb")?;
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        bail!("cargo deb failed with {}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .context("cargo deb named no .deb on stdout")?;
    let size = std::fs::metadata(&deb)
        .with_context(|| format!("cannot read {}", deb.display()))?
        .len();
    eprintln!("xtask: {} ({})", deb.display(), megabytes(size));
    println!("{}", deb.display());
    Ok(deb)
}

/// Installs cargo-deb at [`CARGO_DEB_VERSION`] unless that version is on PATH.
fn ensure_cargo_deb() -> Result<()> {
    let installed = Command::new("cargo-deb")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if installed
        .as_deref()
        .is_some_and(|v| v.split_whitespace().any(|w| w == CARGO_DEB_VERSION))
    {
        return Ok(());
    }
    eprintln!(
        "xtask: installing cargo-deb {CARGO_DEB_VERSION} (found: {})",
        installed.as_deref().unwrap_or("none")
    );
    super::run(super::cargo().args([
        "install",
        "cargo-deb",
        "--locked",
        "--version",
        CARGO_DEB_VERSION,
    ]))
    .context("cannot install cargo-deb")
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}
