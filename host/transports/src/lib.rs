//! How payloads reach a target. Every protocol implements [`Transport`] with the few verbs
//! the pipeline needs: put a payload under a temporary name, make it final, inspect what
//! the remote side holds (to recover after a crash), send a request and return its answer,
//! and a health check that sends nothing. Each error says whether a retry is worth it.
//!
//! A transport never sees a plugin, and a plugin never sees a transport.
#![deny(unsafe_code)]

pub mod credential;
pub mod dir;
pub mod ftps;
pub mod http;
pub mod layout;
pub mod sftp;
mod shape;

use hub_core::config::{FileLayout, TransportConfig};

pub use hub_core::transport::{
    Digest, ErrorKind, Outgoing, RemoteState, Transport, TransportError, delivers_files,
    retry_after,
};

/// Hashes a stream as it is read, so a read-back never holds a whole file.
pub(crate) struct DigestWriter {
    hasher: sha2::Sha256,
    size: u64,
}

impl DigestWriter {
    pub(crate) fn new() -> Self {
        use sha2::Digest as _;
        Self {
            hasher: sha2::Sha256::new(),
            size: 0,
        }
    }

    pub(crate) fn finish(self) -> Digest {
        use sha2::Digest as _;
        Digest {
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

impl std::io::Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens the transport a target's configuration names, with the client identity the
/// host chose for it (HTTPS targets). Fails before anything is sent when the identity
/// cannot be used (a missing .p12, a wrong password, an expired certificate).
pub fn open(
    config: &TransportConfig,
    identity: Option<http::ClientIdentity>,
) -> Result<Box<dyn Transport>, TransportError> {
    Ok(match config {
        TransportConfig::Dir { path } => Box::new(dir::DirTransport::new(path.clone())),
        TransportConfig::Http {
            url,
            ca_file,
            connect_timeout_ms,
            timeout_ms,
            health_url,
        } => Box::new(http::HttpTransport::new(
            http::HttpConfig {
                url: url.clone(),
                ca_file: ca_file.clone(),
                connect_timeout: std::time::Duration::from_millis(*connect_timeout_ms),
                timeout: std::time::Duration::from_millis(*timeout_ms),
                health_url: health_url.clone(),
            },
            identity,
        )?),
        TransportConfig::Ftps {
            host,
            port,
            user,
            password_file,
            password_env,
            ca_file,
            root,
            layout,
            municipality,
            timeout_ms,
        } => Box::new(ftps::FtpsTransport::new(ftps::FtpsConfig {
            host: host.clone(),
            port: *port,
            user: user.clone(),
            password: read_secret(
                "password",
                password_file.as_deref(),
                password_env.as_deref(),
            )?,
            ca_file: ca_file.clone(),
            root: root.clone(),
            layout: file_layout(*layout, municipality.as_deref()),
            timeout: std::time::Duration::from_millis(*timeout_ms),
        })?),
        TransportConfig::Sftp {
            host,
            port,
            user,
            password_file,
            password_env,
            key_file,
            passphrase_file,
            passphrase_env,
            host_key,
            root,
            layout,
            municipality,
            timeout_ms,
        } => {
            let auth = match key_file {
                Some(path) => sftp::SftpAuth::KeyFile {
                    path: path.clone(),
                    passphrase: if passphrase_file.is_some() || passphrase_env.is_some() {
                        Some(read_secret(
                            "passphrase",
                            passphrase_file.as_deref(),
                            passphrase_env.as_deref(),
                        )?)
                    } else {
                        None
                    },
                },
                None => sftp::SftpAuth::Password(read_secret(
                    "password",
                    password_file.as_deref(),
                    password_env.as_deref(),
                )?),
            };
            Box::new(sftp::SftpTransport::new(sftp::SftpConfig {
                host: host.clone(),
                port: *port,
                user: user.clone(),
                auth,
                host_key: host_key.clone(),
                root: root.clone(),
                layout: file_layout(*layout, municipality.as_deref()),
                timeout: std::time::Duration::from_millis(*timeout_ms),
            })?)
        }
    })
}

/// The layout of an `ftps` or `sftp` transport ([`FileLayout::of`]): Prisme's with its
/// municipality, or plain. (A Prisme layout without municipality is refused by the
/// configuration check, and by the transport if it gets this far.)
fn file_layout(layout: Option<FileLayout>, municipality: Option<&str>) -> layout::Layout {
    match FileLayout::of(layout, municipality) {
        FileLayout::Prisme => layout::Layout::Prisme {
            municipality: municipality.unwrap_or_default().to_string(),
        },
        FileLayout::Plain => layout::Layout::Plain,
    }
}

/// Reads a secret from a file (its first line) or an environment variable through the
/// one secret reader of hub.toml's secrets; the error names where it looked, never a
/// value.
fn read_secret(
    what: &str,
    file: Option<&std::path::Path>,
    env: Option<&str>,
) -> Result<http::Secret, TransportError> {
    let source = match (file, env) {
        (Some(file), _) => hub_core::api::SecretSource::File(file.to_path_buf()),
        (None, Some(var)) => hub_core::api::SecretSource::Env(var.to_string()),
        (None, None) => {
            return Err(TransportError::permanent(format!(
                "no {what} source configured"
            )));
        }
    };
    source
        .read_secret()
        .map(http::Secret::new)
        .map_err(|e| TransportError::permanent(format!("the {what}: {e}")))
}
