//! The contract version this hub speaks, and which plugin versions it can load.
//!
//! A plugin names its contract in its export names (`hub:plugin/target@0.1.0`). wasmtime
//! looks exports up semver-compatibly (0.1.0 and 0.1.1 match), so a plugin built against
//! an older or newer patch of the same minor loads; anything else is refused at load, with
//! both versions named, before bindgen's lookup would fail with a less helpful message.

/// The contract package the hub's bindings are generated from (`wit/hub-plugin.wit`).
pub const CONTRACT_PACKAGE: &str = "hub:plugin";

/// The contract version the hub's bindings are generated from. Raise it together with
/// `wit/` (a test checks they agree).
pub const CONTRACT_VERSION: &str = "0.1.2";

/// The versions this hub loads, as semver's compatibility rule gives them: `0.1.*` (for
/// 0.x, the minor is the breaking part), or `1.*` from 1.0 on.
pub fn compatible_range() -> String {
    match parse(CONTRACT_VERSION) {
        Some((0, 0, patch)) => format!("0.0.{patch}"),
        Some((0, minor, _)) => format!("0.{minor}.*"),
        Some((major, _, _)) => format!("{major}.*"),
        None => CONTRACT_VERSION.to_string(),
    }
}

/// The first contract version among `exports` that this hub cannot speak, if any.
/// Exports outside the contract package (none today) are left to the bindings' check.
pub(crate) fn incompatible_export(exports: &[String]) -> Option<String> {
    let prefix = format!("{CONTRACT_PACKAGE}/");
    exports
        .iter()
        .filter(|e| e.starts_with(&prefix))
        .find_map(|e| match e.split_once('@') {
            Some((_, version)) if compatible(version) => None,
            Some((_, version)) => Some(version.to_string()),
            None => Some("(no version)".to_string()),
        })
}

/// Whether a plugin built for `version` can be loaded by this hub.
fn compatible(version: &str) -> bool {
    match (parse(version), parse(CONTRACT_VERSION)) {
        (Some((0, 0, p)), Some((0, 0, q))) => p == q,
        (Some((0, m, _)), Some((0, n, _))) => m == n && m > 0,
        (Some((a, _, _)), Some((b, _, _))) => a == b && a > 0,
        _ => false,
    }
}

/// `MAJOR.MINOR.PATCH` without pre-release or build parts (which the hub never uses).
fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constant_is_the_version_of_wit() {
        let wit = include_str!("../../../wit/hub-plugin.wit");
        let declared = wit
            .lines()
            .find_map(|l| l.strip_prefix("package "))
            .and_then(|l| l.strip_suffix(';'));
        assert_eq!(
            declared,
            Some(format!("{CONTRACT_PACKAGE}@{CONTRACT_VERSION}").as_str())
        );
    }

    #[test]
    fn same_minor_is_compatible_and_nothing_else() {
        assert_eq!(compatible_range(), "0.1.*");
        for ok in ["0.1.0", "0.1.1", "0.1.2", "0.1.17"] {
            assert!(compatible(ok), "{ok}");
        }
        for bad in ["0.2.0", "1.0.0", "0.0.1", "0.1", "0.1.0-rc1", "x"] {
            assert!(!compatible(bad), "{bad}");
        }
        let exports = |v: &str| vec![format!("hub:plugin/target@{v}")];
        assert_eq!(incompatible_export(&exports("0.1.1")), None);
        assert_eq!(incompatible_export(&exports("0.2.0")), Some("0.2.0".into()));
        assert_eq!(
            incompatible_export(&["hub:plugin/target".into()]),
            Some("(no version)".into())
        );
        assert_eq!(incompatible_export(&["other:x/y@9.0.0".into()]), None);
    }
}
