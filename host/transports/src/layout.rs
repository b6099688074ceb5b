//! Where a payload name puts a file on an FTPS or SFTP server, and which names are refused
//! before anything is sent. One small check per layout, shared by [`crate::ftps`] and
//! [`crate::sftp`]:
//!
//! * [`Layout::Prisme`]: Prisme's tree `<municipality>/<prod|test>/<G|Q>/<file>`. The tree
//!   belongs to Prisme: a missing folder is refused, never created.
//! * [`Layout::Plain`]: any safe relative name below the transport's root (the same rules as
//!   every payload name, [`hub_core::names::check_payload_name`]); missing folders below the
//!   root are created.
//!
//! Either way a file is first written as `.<file>.hub-part` in its own folder, then renamed.

use hub_core::names::check_payload_name;

use crate::TransportError;

/// How payload names map to folders on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `<municipality>/<prod|test>/<G|Q>/<file>`, where the first folder must be the
    /// municipality the login belongs to; folders are never created.
    Prisme { municipality: String },
    /// Any safe relative name below the root; missing folders below the root are created.
    Plain,
}

/// A checked payload name taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteName {
    /// The folder, relative to the root; empty for a file at the top level.
    pub folder: String,
    /// The final file name.
    pub file: String,
}

impl RemoteName {
    /// The hidden temporary name in the same folder: `.<file>.hub-part`.
    pub fn temp_file(&self) -> String {
        format!(".{}.hub-part", self.file)
    }
}

impl Layout {
    /// Checks a payload name against this layout's rules before anything is sent.
    pub(crate) fn check(&self, endpoint: &str, name: &str) -> Result<RemoteName, TransportError> {
        match self {
            Layout::Prisme { municipality } => prisme_name(endpoint, municipality, name),
            Layout::Plain => plain_name(endpoint, name),
        }
    }

    /// Whether missing folders below the root are created.
    pub(crate) fn creates_folders(&self) -> bool {
        matches!(self, Layout::Plain)
    }

    /// The folder (relative to the root) a health check looks for.
    pub(crate) fn health_folder(&self) -> &str {
        match self {
            Layout::Prisme { municipality } => municipality,
            Layout::Plain => "",
        }
    }

    /// What to tell about a folder that is missing and will not be created.
    pub(crate) fn missing_folder_hint(&self) -> &'static str {
        match self {
            Layout::Prisme { .. } => {
                "the hub does not create folders on Prisme's server (check municipality and \
                 environment)"
            }
            Layout::Plain => "the hub creates folders below root, never root itself",
        }
    }

    /// A Prisme layout without its municipality cannot work.
    pub(crate) fn is_incomplete(&self) -> bool {
        matches!(self, Layout::Prisme { municipality } if municipality.is_empty())
    }
}

/// Checks a payload name against Prisme's folder rules before anything is sent.
pub(crate) fn prisme_name(
    endpoint: &str,
    municipality: &str,
    name: &str,
) -> Result<RemoteName, TransportError> {
    let refuse = |why: String| {
        TransportError::permanent(format!("{endpoint}: cannot deliver {name}: {why}"))
    };
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\'))
    {
        return Err(refuse(
            "Prisme expects <municipality>/<prod|test>/<G|Q>/<file>".into(),
        ));
    }
    let (muni, env, kind, file) = (parts[0], parts[1], parts[2], parts[3]);
    if muni != municipality {
        return Err(refuse(format!(
            "its first folder is the municipality \"{muni}\", but this connection's user belongs \
             to municipality \"{municipality}\""
        )));
    }
    if env != "prod" && env != "test" {
        return Err(refuse(format!(
            "its second folder is \"{env}\"; it must be \"prod\" or \"test\""
        )));
    }
    if kind != "G" && kind != "Q" {
        return Err(refuse(format!(
            "its third folder is \"{kind}\"; it must be \"G\" or \"Q\""
        )));
    }
    let upper = file.to_ascii_uppercase();
    for letter in ["G", "Q"] {
        if upper.ends_with(&format!("-{letter}.TXT")) && kind != letter {
            return Err(refuse(format!(
                "a {letter} file belongs in the {letter} folder, not in {kind}"
            )));
        }
    }
    if file.starts_with('.') {
        return Err(refuse("a file name must not start with a dot".into()));
    }
    Ok(RemoteName {
        folder: format!("{muni}/{env}/{kind}"),
        file: file.to_string(),
    })
}

/// Checks a payload name for the plain layout: relative, safe segments (no empty, `.`, `..`,
/// hidden or absolute names, no backslash or control characters), as every payload name.
pub(crate) fn plain_name(endpoint: &str, name: &str) -> Result<RemoteName, TransportError> {
    check_payload_name(name).map_err(|e| {
        TransportError::permanent(format!("{endpoint}: cannot deliver {name}: {e}"))
    })?;
    let (folder, file) = name.rsplit_once('/').unwrap_or(("", name));
    Ok(RemoteName {
        folder: folder.to_string(),
        file: file.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftps::join;

    #[test]
    fn names_follow_prismes_folder_rules() {
        let ok = prisme_name("e", "sermersooq", "sermersooq/test/G/522-24-001-G.txt").unwrap();
        assert_eq!(ok.folder, "sermersooq/test/G");
        assert_eq!(ok.temp_file(), ".522-24-001-G.txt.hub-part");
        for (name, needle) in [
            ("qeqqata/test/G/1-24-1-G.txt", "\"qeqqata\""),
            ("sermersooq/demo/G/1-24-1-G.txt", "\"prod\" or \"test\""),
            ("sermersooq/test/X/1-24-1-G.txt", "\"G\" or \"Q\""),
            ("sermersooq/test/Q/1-24-1-G.txt", "G folder"),
            ("sermersooq/test/1-24-1-G.txt", "<municipality>"),
            ("sermersooq/test/G/../x", "<municipality>"),
            ("sermersooq/test/G/.x", "dot"),
        ] {
            let e = prisme_name("e", "sermersooq", name).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Permanent);
            assert!(e.message.contains(needle), "{name}: {}", e.message);
        }
        assert_eq!(join("/", "a/b"), "/a/b");
        assert_eq!(join("/up/", "a"), "/up/a");
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("/up", ""), "/up");
    }

    #[test]
    fn plain_names_are_any_safe_relative_path() {
        let top = Layout::Plain
            .check("e", "RKI_1.01.0.02._1.01._00000001.zip")
            .unwrap();
        assert_eq!(top.folder, "");
        assert_eq!(top.file, "RKI_1.01.0.02._1.01._00000001.zip");
        assert_eq!(
            top.temp_file(),
            ".RKI_1.01.0.02._1.01._00000001.zip.hub-part"
        );
        let deep = Layout::Plain.check("e", "rki/2024/RKI_x.zip").unwrap();
        assert_eq!(
            (deep.folder.as_str(), deep.file.as_str()),
            ("rki/2024", "RKI_x.zip")
        );
        for name in [
            "",
            "../x",
            "a/../x",
            "/abs",
            ".hidden",
            "a/.hidden",
            "a//b",
            "a/./b",
            "a\\b",
            "x\ny",
            "a/",
        ] {
            let e = Layout::Plain.check("e", name).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Permanent);
            assert!(
                e.message
                    .starts_with(&format!("e: cannot deliver {name}: ")),
                "{name:?}: {}",
                e.message
            );
        }
    }
}
