//! `[target.transport]` and the file-drive rules.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::target::{default_connect_timeout_ms, default_timeout_ms};

/// `[target.transport]`: how payloads reach the target.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TransportConfig {
    /// Files into a local folder tree (written under a temporary name, fsynced, renamed).
    Dir {
        /// The root folder; payload names are relative to it.
        path: PathBuf,
    },
    /// One HTTPS POST per payload, with the target's client certificate.
    Http {
        /// The URL payloads are POSTed to (`https://…`).
        url: String,
        /// PEM file of the CA that signed the server's certificate (default: the system's).
        ca_file: Option<PathBuf>,
        #[serde(default = "default_connect_timeout_ms")]
        connect_timeout_ms: u64,
        /// Limit for one whole request, from connect to the last byte of the answer.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
        /// A URL answering `GET` without side effects, asked before sending. Without it the
        /// reachability check is a TLS handshake with the credential and no request at all.
        health_url: Option<String>,
    },
    /// Files over FTP with explicit TLS (Prisme's file drive, or any other receiver with
    /// `layout = "plain"`): a hidden temporary name, then the final name, never replacing a
    /// file.
    Ftps {
        host: String,
        #[serde(default = "default_ftp_port")]
        port: u16,
        /// The FTP user; in the Prisme layout the municipality's, its name must contain the
        /// municipality.
        user: String,
        /// A file holding the password (first line), or:
        password_file: Option<PathBuf>,
        /// an environment variable holding it.
        password_env: Option<String>,
        /// PEM of the CA (or the server's own certificate) to trust; default: the system's.
        ca_file: Option<PathBuf>,
        /// The remote folder the payload names are below (Prisme: the municipality folders).
        #[serde(default = "default_root")]
        root: String,
        /// Which payload names are accepted: `prisme` (the default) or `plain`.
        layout: Option<FileLayout>,
        /// Prisme layout only: the first folder level; payloads for another municipality are
        /// refused.
        municipality: Option<String>,
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
    /// Files over SFTP, with the server's host key pinned.
    Sftp {
        host: String,
        #[serde(default = "default_ssh_port")]
        port: u16,
        user: String,
        password_file: Option<PathBuf>,
        password_env: Option<String>,
        /// A private key file instead of a password …
        key_file: Option<PathBuf>,
        /// … and, if it is encrypted, where its passphrase is.
        passphrase_file: Option<PathBuf>,
        passphrase_env: Option<String>,
        /// The server's public key in OpenSSH form (`ssh-ed25519 AAAA…`); any other is refused.
        host_key: String,
        #[serde(default = "default_root")]
        root: String,
        /// As for `ftps`.
        layout: Option<FileLayout>,
        /// As for `ftps`.
        municipality: Option<String>,
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
}

/// How an `ftps` or `sftp` transport maps payload names to folders on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileLayout {
    /// Prisme's tree `<municipality>/<prod|test>/<G|Q>/<file>`; its folders are never created.
    /// Needs `municipality`.
    Prisme,
    /// Any safe relative payload name below `root`; missing folders below it are created.
    Plain,
}

impl FileLayout {
    /// The layout a transport uses: the one it names; else Prisme's where it names a
    /// `municipality` (every configuration from before `layout` did, and keeps working),
    /// else plain. No receiver's tree is the default of a generic transport.
    pub fn of(layout: Option<FileLayout>, municipality: Option<&str>) -> FileLayout {
        match (layout, municipality) {
            (Some(l), _) => l,
            (None, Some(_)) => FileLayout::Prisme,
            (None, None) => FileLayout::Plain,
        }
    }
}

const fn default_ftp_port() -> u16 {
    21
}
const fn default_ssh_port() -> u16 {
    22
}
fn default_root() -> String {
    "/".into()
}

impl TransportConfig {
    /// Makes every file path absolute (relative paths are relative to hub.toml).
    pub(super) fn resolve_paths(&mut self, resolve: &impl Fn(&Path) -> PathBuf) {
        let files: Vec<&mut PathBuf> = match self {
            TransportConfig::Dir { path } => vec![path],
            TransportConfig::Http { ca_file, .. } => ca_file.iter_mut().collect(),
            TransportConfig::Ftps {
                password_file,
                ca_file,
                ..
            } => password_file.iter_mut().chain(ca_file.iter_mut()).collect(),
            TransportConfig::Sftp {
                password_file,
                key_file,
                passphrase_file,
                ..
            } => password_file
                .iter_mut()
                .chain(key_file.iter_mut())
                .chain(passphrase_file.iter_mut())
                .collect(),
        };
        for f in files {
            *f = resolve(f);
        }
    }

    /// The transport's type as spelled in hub.toml.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportConfig::Dir { .. } => "dir",
            TransportConfig::Http { .. } => "http",
            TransportConfig::Ftps { .. } => "ftps",
            TransportConfig::Sftp { .. } => "sftp",
        }
    }
}

/// The file-drive rules: secrets come from exactly one place; in the Prisme layout (named,
/// or implied by a `municipality`) the municipality is given and the municipality's FTP user name names it. (The
/// transports also refuse any payload outside `<municipality>/<prod|test>/<G|Q>/`, or in the
/// plain layout any unsafe name.)
pub(super) fn check_file_transport(t: &TransportConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let (user, layout, municipality, password, key) = match t {
        TransportConfig::Ftps {
            user,
            layout,
            municipality,
            password_file,
            password_env,
            ..
        } => (
            user,
            layout,
            municipality,
            [password_file.is_some(), password_env.is_some()],
            false,
        ),
        TransportConfig::Sftp {
            user,
            layout,
            municipality,
            password_file,
            password_env,
            key_file,
            ..
        } => (
            user,
            layout,
            municipality,
            [password_file.is_some(), password_env.is_some()],
            key_file.is_some(),
        ),
        _ => return problems,
    };
    let sources = password.iter().filter(|x| **x).count() + usize::from(key);
    if sources != 1 {
        problems.push(format!(
            "transport {}: give exactly one of password_file, password_env{} (never the password itself)",
            t.kind(),
            if matches!(t, TransportConfig::Sftp { .. }) {
                ", key_file"
            } else {
                ""
            }
        ));
    }
    match (FileLayout::of(*layout, municipality.as_deref()), municipality) {
        (FileLayout::Plain, None) => {}
        (FileLayout::Plain, Some(_)) => problems.push(format!(
            "transport {}: `municipality` belongs to layout = \"prisme\"; layout = \"plain\" delivers any relative name below root",
            t.kind()
        )),
        (FileLayout::Prisme, None) => problems.push(format!(
            "transport {}: layout = \"prisme\" needs `municipality` (the first folder of every payload name); other receivers use layout = \"plain\"",
            t.kind(),
        )),
        (FileLayout::Prisme, Some(municipality)) => {
            if municipality.is_empty()
                || !municipality
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "transport {}: municipality `{municipality}` must be the lower-case folder name",
                    t.kind()
                ));
            } else if matches!(t, TransportConfig::Ftps { .. })
                && !user.to_ascii_lowercase().contains(municipality.as_str())
            {
                // The seed's rule for the municipality's FTP user; SFTP logins are site-specific.
                problems.push(format!(
                    "transport {}: user `{user}` is not the user of municipality `{municipality}` (its name must contain the municipality)",
                    t.kind()
                ));
            }
        }
    }
    problems
}
