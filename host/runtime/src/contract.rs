//! The contract versions this hub speaks, and which of them a plugin is built for.
//!
//! A plugin names its contract in its export names (`hub:plugin/target@0.1.0`). The hub
//! links every version line it knows beside the others ([`KNOWN`]) and, at load, reads
//! the versions off a component's exports: `target`'s line says which bindings drive it;
//! an export of a version the hub does not know refuses the plugin, with both versions
//! named, before bindgen's lookup would fail with a less helpful message. The policy is
//! written once, in the header of `wit/hub-plugin.wit`.

/// The contract package the hub's bindings are generated from (`wit/`).
pub const CONTRACT_PACKAGE: &str = "hub:plugin";

/// The newest contract version, the one `wit/hub-plugin.wit` declares (a test checks
/// they agree). Older lines live under `wit/deps/` and are linked too.
pub const CONTRACT_VERSION: &str = "0.2.1";

/// A line of compatible contract versions: semver's rule, where for 0.x the minor is the
/// breaking part (0.1.0 and 0.1.2 are one line, 0.2.0 another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Line {
    /// `hub:plugin@0.1.*`: string settings, no codes, delivered/rejected only.
    V0_1,
    /// `hub:plugin@0.2.*`: typed settings, error codes, diagnostics, retry-later/unknown;
    /// from 0.2.1 the optional `schema` and `request-shape`.
    V0_2,
}

impl Line {
    /// The newest version of the line this hub has bindings for.
    pub fn version(self) -> &'static str {
        match self {
            Line::V0_1 => "0.1.2",
            Line::V0_2 => CONTRACT_VERSION,
        }
    }

    /// The versions the line takes, e.g. `0.1.*`.
    pub fn range(self) -> &'static str {
        match self {
            Line::V0_1 => "0.1.*",
            Line::V0_2 => "0.2.*",
        }
    }

    fn of(version: &str) -> Option<Line> {
        match parse(version)? {
            (0, 1, _) => Some(Line::V0_1),
            (0, 2, _) => Some(Line::V0_2),
            _ => None,
        }
    }
}

/// Every interface version the hub can drive: `target` in both lines; the optional
/// interfaces in the line they were released in and have not changed since.
pub const KNOWN: &[(&str, Line)] = &[
    ("target", Line::V0_1),
    ("target", Line::V0_2),
    ("identity", Line::V0_1),
    ("inquiry", Line::V0_1),
    ("batching", Line::V0_1),
    ("schema", Line::V0_2),
    ("request-shape", Line::V0_2),
];

/// The lines a hub speaks, newest first: all of [`KNOWN`]'s, or fewer (a test's hub
/// that speaks only 0.1, to show what an older hub does with a newer plugin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaks(Vec<Line>);

impl Default for Speaks {
    fn default() -> Self {
        Speaks(vec![Line::V0_2, Line::V0_1])
    }
}

impl Speaks {
    /// Only these lines.
    pub fn only(lines: &[Line]) -> Self {
        let mut l = lines.to_vec();
        l.sort_unstable_by(|a, b| b.cmp(a));
        l.dedup();
        Speaks(l)
    }

    /// `hub:plugin@0.2.1 and hub:plugin@0.1.2`, for messages.
    pub fn versions(&self) -> String {
        self.0
            .iter()
            .map(|l| format!("{CONTRACT_PACKAGE}@{}", l.version()))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// `0.2.*, 0.1.*`, for messages.
    pub fn ranges(&self) -> String {
        self.0
            .iter()
            .map(|l| l.range())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn knows(&self, interface: &str, line: Line) -> bool {
        self.0.contains(&line) && KNOWN.contains(&(interface, line))
    }

    /// The line of `target` among a component's exports, or the first export of the
    /// contract package whose version this hub cannot drive. `Ok(None)`: no `target`
    /// export at all (left to the bindings' check, which names what is exported).
    pub(crate) fn check(&self, exports: &[String]) -> Result<Option<Line>, String> {
        let prefix = format!("{CONTRACT_PACKAGE}/");
        let mut target = None;
        // The version named when refusing: `target`'s where that is the unknown one (the
        // version the plugin is built for), else the first unknown export's.
        let mut unknown: Option<(bool, String)> = None;
        for e in exports {
            let Some(rest) = e.strip_prefix(&prefix) else {
                continue;
            };
            let Some((interface, version)) = rest.split_once('@') else {
                return Err("(no version)".into());
            };
            match Line::of(version) {
                Some(line) if self.knows(interface, line) => {
                    if interface == "target" {
                        target = Some(line);
                    }
                }
                _ => {
                    let is_target = interface == "target";
                    if unknown.as_ref().is_none_or(|(t, _)| is_target && !t) {
                        unknown = Some((is_target, version.to_string()));
                    }
                }
            }
        }
        match unknown {
            Some((_, version)) => Err(version),
            None => Ok(target),
        }
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

    fn declared(wit: &str) -> Option<&str> {
        wit.lines()
            .find_map(|l| l.strip_prefix("package "))
            .and_then(|l| l.strip_suffix(';'))
    }

    #[test]
    fn the_versions_are_those_of_wit() {
        let new = include_str!("../../../wit/hub-plugin.wit");
        assert_eq!(
            declared(new),
            Some(format!("{CONTRACT_PACKAGE}@{}", Line::V0_2.version()).as_str())
        );
        let released = include_str!("../../../wit/deps/hub-plugin-0.2.0/hub-plugin.wit");
        assert_eq!(declared(released), Some("hub:plugin@0.2.0"));
        let old = include_str!("../../../wit/deps/hub-plugin-0.1.2/hub-plugin.wit");
        assert_eq!(
            declared(old),
            Some(format!("{CONTRACT_PACKAGE}@{}", Line::V0_1.version()).as_str())
        );
    }

    #[test]
    fn known_lines_load_and_nothing_else() {
        let all = Speaks::default();
        let target = |v: &str| vec![format!("hub:plugin/target@{v}")];
        for (v, line) in [
            ("0.1.0", Line::V0_1),
            ("0.1.17", Line::V0_1),
            ("0.2.0", Line::V0_2),
            ("0.2.3", Line::V0_2),
        ] {
            assert_eq!(all.check(&target(v)), Ok(Some(line)), "{v}");
        }
        for bad in ["0.3.0", "1.0.0", "0.0.1", "0.1", "0.2.0-rc1", "x"] {
            assert_eq!(all.check(&target(bad)), Err(bad.to_string()), "{bad}");
        }
        assert_eq!(
            all.check(&["hub:plugin/target".into()]),
            Err("(no version)".into())
        );
        assert_eq!(all.check(&["other:x/y@9.0.0".into()]), Ok(None));
        // An optional interface is known only in the line it was released in.
        let v2 = vec![
            "hub:plugin/target@0.2.0".to_string(),
            "hub:plugin/identity@0.1.2".to_string(),
        ];
        assert_eq!(all.check(&v2), Ok(Some(Line::V0_2)));
        let identity_v2 = vec![
            "hub:plugin/target@0.2.0".to_string(),
            "hub:plugin/identity@0.2.0".to_string(),
        ];
        assert_eq!(all.check(&identity_v2), Err("0.2.0".into()));
        // A hub that speaks only 0.1 refuses what 0.2 brings.
        let old = Speaks::only(&[Line::V0_1]);
        assert_eq!(old.check(&v2), Err("0.2.0".into()));
        assert_eq!(old.versions(), "hub:plugin@0.1.2");
        assert_eq!(all.versions(), "hub:plugin@0.2.1 and hub:plugin@0.1.2");
        // 0.2.1's interfaces beside 0.2.0's target; not in the 0.1 line.
        let v21 = vec![
            "hub:plugin/target@0.2.0".to_string(),
            "hub:plugin/schema@0.2.1".to_string(),
            "hub:plugin/request-shape@0.2.1".to_string(),
        ];
        assert_eq!(all.check(&v21), Ok(Some(Line::V0_2)));
        // Refused, the plugin is named by `target`'s version, whatever the export order.
        let v21_on_old = vec![
            "hub:plugin/schema@0.2.1".to_string(),
            "hub:plugin/target@0.2.0".to_string(),
        ];
        assert_eq!(old.check(&v21_on_old), Err("0.2.0".into()));
        let schema_v1 = vec![
            "hub:plugin/target@0.1.2".to_string(),
            "hub:plugin/schema@0.1.2".to_string(),
        ];
        assert_eq!(all.check(&schema_v1), Err("0.1.2".into()));
        assert_eq!(all.ranges(), "0.2.*, 0.1.*");
    }
}
