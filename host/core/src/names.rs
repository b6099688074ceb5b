//! Checks on names that come from plugins or configuration before the host uses them as
//! paths: a plugin is untrusted, so a payload name must not climb out of the target's
//! folder, hide itself, or carry characters a remote file system might read differently.

use thiserror::Error;

/// Why a proposed name is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name `{0}` is longer than 255 bytes")]
    TooLong(String),
    #[error("name `{0}` is absolute; payload names are relative to the target's folder")]
    Absolute(String),
    #[error(
        "name `{name}` has a bad path segment `{segment}` (empty, `.`, `..` or starting with `.`)"
    )]
    BadSegment { name: String, segment: String },
    #[error("name `{name}` has a character the host does not allow: {ch:?}")]
    BadChar { name: String, ch: char },
    #[error("name `{0}` has more than 8 folder levels")]
    TooDeep(String),
}

/// Checks a payload name: relative, `/`-separated, each segment non-empty, not `.`/`..`,
/// not hidden (the host's temporary files are hidden), of ASCII letters, digits and
/// `-_.+` only, at most 8 levels and 255 bytes.
pub fn check_payload_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > 255 {
        return Err(NameError::TooLong(name.to_string()));
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(NameError::Absolute(name.to_string()));
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/')))
    {
        return Err(NameError::BadChar {
            name: name.to_string(),
            ch,
        });
    }
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() > 8 {
        return Err(NameError::TooDeep(name.to_string()));
    }
    for segment in segments {
        if segment.is_empty() || segment.starts_with('.') {
            return Err(NameError::BadSegment {
                name: name.to_string(),
                segment: segment.to_string(),
            });
        }
    }
    Ok(())
}

/// Checks a key a plugin proposes for batching, numbering or superseding: printable,
/// at most 200 bytes, so the store and the status view can show it as it is.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.len() > 200 {
        return Err(format!(
            "key is {} bytes long, at most 200 are allowed",
            key.len()
        ));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(format!("key contains the control character {c:?}"));
    }
    Ok(())
}

/// Checks a target or plugin name from hub.toml: lower-case ASCII letters, digits and `-`,
/// starting with a letter, as they appear in commands, paths and metrics.
pub fn check_config_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid name: use lower-case letters, digits and `-`, starting with a letter"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        assert!(check_payload_name("sermersooq/prod/G/522-24-001-G.txt").is_ok());
        assert!(check_payload_name("RKI_1._1.14._00000001.xml").is_ok());
    }

    #[test]
    fn refuses_escapes_and_oddities() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            ".hidden",
            "a/./b",
            "a\\b",
            "a b",
            "ä.txt",
            "x\n.txt",
            "a/b/c/d/e/f/g/h/i",
        ] {
            assert!(check_payload_name(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            check_payload_name("../x").unwrap_err().to_string(),
            "name `../x` has a bad path segment `..` (empty, `.`, `..` or starting with `.`)"
        );
    }

    #[test]
    fn config_names() {
        assert!(check_config_name("prisme-sermersooq").is_ok());
        assert!(check_config_name("Prisme").is_err());
        assert!(check_config_name("1x").is_err());
    }
}
