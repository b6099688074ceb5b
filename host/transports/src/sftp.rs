//! The `sftp` transport: files over SFTP, with the same [`Layout`]s (Prisme's folder rules,
//! or plain names below `root` with missing folders created), temporary names and once-only
//! rename as [`crate::ftps`].
//!
//! Client: russh + russh-sftp, pure Rust (ring; no OpenSSL, no C libssh2). They are async: the
//! transport owns a small current-thread tokio runtime and blocks on it, since the pipeline is
//! synchronous. One SSH connection and SFTP session is kept and reused; a dropped one is
//! replaced on the next call.
//!
//! The server is trusted through one pinned public key (`host_key`, OpenSSH format); any
//! other key is refused with its fingerprint. A file is written as `.<file>.hub-part` in its
//! folder, then renamed; SFTP's rename (OpenSSH: link + unlink) fails when the final name
//! exists, so a delivered file is never replaced.
//!
//! A group of small files ([`Transport::put_temps`], [`Transport::make_finals`]) goes out
//! on the one session together: SFTP answers each request by its id, so the uploads and
//! the looks under the final names overlap instead of adding up their round trips. The
//! renames still go one at a time, in order.
//!
//! | what happened | kind |
//! |---|---|
//! | connection refused, DNS failure, timeout, connection lost | Retryable |
//! | a host key other than the pinned one | Permanent (fingerprint shown) |
//! | password or key refused | Permanent: "login as <user> refused" |
//! | key file unreadable or wrong passphrase | Permanent (at [`SftpTransport::new`]) |
//! | missing folder, permission denied, final name taken, other SFTP failures | Permanent |

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ftps::join;
use crate::http::Secret;
use crate::layout::Layout;
use crate::{Digest, DigestWriter};
use crate::{RemoteState, Transport, TransportError};

mod steps;
use steps::{
    Failure, ensure_folder, exists, is_no_such_file, paths, rename, sftp_error, ssh_error, taken,
    upload, within,
};

/// How the user logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpAuth {
    Password(Secret),
    /// A private key file (OpenSSH or PKCS#8 PEM), optionally encrypted.
    KeyFile {
        path: PathBuf,
        passphrase: Option<Secret>,
    },
}

/// Where and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpConfig {
    pub host: String,
    /// Usually 22.
    pub port: u16,
    pub user: String,
    pub auth: SftpAuth,
    /// The server's public key in OpenSSH format, e.g. `ssh-ed25519 AAAA…` (a comment after
    /// it is ignored). No other key is accepted.
    pub host_key: String,
    /// The remote base folder the payload names are below, e.g. `/`; a relative one is taken
    /// from the login folder.
    pub root: String,
    /// Which names are accepted and whether missing folders are created.
    pub layout: Layout,
    /// Limit for connecting and for each SFTP step.
    pub timeout: Duration,
}

/// Files to Prisme over SFTP, one kept session.
pub struct SftpTransport {
    config: SftpConfig,
    host_key: PublicKey,
    key: Option<Arc<PrivateKey>>,
    endpoint: String,
    runtime: tokio::runtime::Runtime,
    conn: Option<Conn>,
}

struct Conn {
    ssh: Handle<Pinned>,
    sftp: SftpSession,
    base: String,
    folders: HashSet<String>,
}

impl fmt::Debug for SftpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpTransport")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// Accepts exactly the pinned host key and remembers what the server showed.
struct Pinned {
    expected: PublicKey,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let (ok, seen) = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => (
                key.key_data() == self.expected.key_data(),
                format!(
                    "{} {}",
                    key.algorithm().as_str(),
                    key.fingerprint(HashAlg::Sha256)
                ),
            ),
            PublicKeyOrCertificate::Certificate(cert) => (
                false,
                format!(
                    "a certificate for {} {}",
                    cert.algorithm().as_str(),
                    cert.public_key().fingerprint(HashAlg::Sha256)
                ),
            ),
        };
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(seen);
        }
        Ok(ok)
    }
}

impl SftpTransport {
    /// Parses the pinned host key and reads the private key (if any); connects to nothing.
    pub fn new(config: SftpConfig) -> Result<SftpTransport, TransportError> {
        let endpoint = crate::ftps::endpoint(
            "sftp",
            &config.user,
            &config.host,
            config.port,
            &config.root,
        );
        if config.host.is_empty() || config.user.is_empty() || config.layout.is_incomplete() {
            return Err(TransportError::permanent(format!(
                "{endpoint}: host, user and (for the Prisme layout) municipality must be set"
            )));
        }
        let host_key = PublicKey::from_openssh(config.host_key.trim()).map_err(|e| {
            TransportError::permanent(format!(
                "{endpoint}: the pinned host key is not an OpenSSH public key \
                 (\"ssh-ed25519 AAAA…\"): {e}"
            ))
        })?;
        let key = match &config.auth {
            SftpAuth::Password(_) => None,
            SftpAuth::KeyFile { path, passphrase } => Some(Arc::new(
                russh::keys::load_secret_key(path, passphrase.as_ref().map(Secret::expose))
                    .map_err(|e| {
                        TransportError::permanent(format!(
                            "{endpoint}: cannot use the key file {}: {e}",
                            path.display()
                        ))
                    })?,
            )),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                TransportError::permanent(format!("{endpoint}: cannot start a runtime: {e}"))
            })?;
        Ok(SftpTransport {
            config,
            host_key,
            key,
            endpoint,
            runtime,
            conn: None,
        })
    }

    async fn connect(
        config: &SftpConfig,
        endpoint: &str,
        host_key: PublicKey,
        key: Option<Arc<PrivateKey>>,
    ) -> Result<Conn, TransportError> {
        let seen = Arc::new(Mutex::new(None));
        let handler = Pinned {
            expected: host_key.clone(),
            seen: seen.clone(),
        };
        let ssh_config = Arc::new(client::Config {
            inactivity_timeout: None,
            nodelay: true,
            ..Default::default()
        });
        let timeout = config.timeout;
        let connected = tokio::time::timeout(
            timeout,
            client::connect(ssh_config, (config.host.as_str(), config.port), handler),
        )
        .await
        .map_err(|_| {
            TransportError::retryable(format!("{endpoint}: no SSH connection within {timeout:?}"))
        })?;
        let mut ssh = match connected {
            Ok(ssh) => ssh,
            Err(russh::Error::UnknownKey) => {
                let seen = seen
                    .lock()
                    .ok()
                    .and_then(|s| s.clone())
                    .unwrap_or_else(|| "an unknown key".into());
                return Err(TransportError::permanent(format!(
                    "{endpoint}: the server presented host key {seen}, but {} {} is pinned; \
                     refusing to connect",
                    host_key.algorithm().as_str(),
                    host_key.fingerprint(HashAlg::Sha256)
                )));
            }
            Err(e) => return Err(ssh_error(endpoint, "connect", &e)),
        };
        let step = |what: &'static str| move |e: russh::Error| ssh_error(endpoint, what, &e);
        let auth = async {
            match (&config.auth, &key) {
                (_, Some(key)) => {
                    let hash = ssh
                        .best_supported_rsa_hash()
                        .await
                        .map_err(step("key login"))?
                        .flatten();
                    ssh.authenticate_publickey(
                        config.user.as_str(),
                        PrivateKeyWithHashAlg::new(key.clone(), hash),
                    )
                    .await
                    .map_err(step("key login"))
                }
                (SftpAuth::Password(pw), None) => ssh
                    .authenticate_password(config.user.as_str(), pw.expose())
                    .await
                    .map_err(step("password login")),
                (SftpAuth::KeyFile { .. }, None) => Err(TransportError::permanent(format!(
                    "{endpoint}: the key was not loaded"
                ))),
            }
        };
        let result = within(endpoint, "login", timeout, auth).await??;
        if !result.success() {
            return Err(TransportError::permanent(format!(
                "{endpoint}: login as {} refused",
                config.user
            )));
        }
        let sftp = within(endpoint, "SFTP start", timeout, async {
            let channel = ssh
                .channel_open_session()
                .await
                .map_err(step("open channel"))?;
            channel
                .request_subsystem(true, "sftp")
                .await
                .map_err(step("SFTP subsystem"))?;
            SftpSession::new(channel.into_stream())
                .await
                .map_err(|e| sftp_error(endpoint, "SFTP start", &e).error)
        })
        .await??;
        sftp.set_timeout(timeout.as_secs().max(1));
        let base = if config.root.starts_with('/') {
            config.root.clone()
        } else {
            let home = within(endpoint, "realpath .", timeout, sftp.canonicalize("."))
                .await?
                .map_err(|e| sftp_error(endpoint, "realpath .", &e).error)?;
            join(&home, &config.root)
        };
        Ok(Conn {
            ssh,
            sftp,
            base,
            folders: HashSet::new(),
        })
    }

    /// Runs `op` on the kept session (or a new one), keeping the session unless it broke.
    fn with_conn<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut Conn, &str, Duration) -> Result<T, Failure>,
    ) -> Result<T, TransportError> {
        let mut conn = match self.conn.take() {
            Some(conn) if !conn.ssh.is_closed() => conn,
            _ => self.runtime.block_on(Self::connect(
                &self.config,
                &self.endpoint,
                self.host_key.clone(),
                self.key.clone(),
            ))?,
        };
        let timeout = self.config.timeout;
        let result = self
            .runtime
            .block_on(op(&mut conn, &self.endpoint, timeout));
        match result {
            Ok(v) => {
                self.conn = Some(conn);
                Ok(v)
            }
            Err(f) => {
                if f.keep_connection && !conn.ssh.is_closed() {
                    self.conn = Some(conn);
                }
                Err(f.error)
            }
        }
    }
}

impl Transport for SftpTransport {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn put_temp(&mut self, name: &str, bytes: &[u8]) -> Result<(), TransportError> {
        self.put_temp_from(name, &mut { bytes }, bytes.len() as u64)
    }

    /// Streams `size` bytes from `bytes` into the temporary file in chunks: memory stays
    /// flat whatever the file's size.
    fn put_temp_from(
        &mut self,
        name: &str,
        bytes: &mut dyn std::io::Read,
        size: u64,
    ) -> Result<(), TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        let layout = self.config.layout.clone();
        self.with_conn(async |conn, endpoint, timeout| {
            let (_, temp, _) = paths(conn, &p);
            ensure_folder(conn, endpoint, timeout, &layout, &p.folder).await?;
            upload(conn, endpoint, timeout, &temp, bytes, size).await
        })
    }

    /// The uploads go out together on the one session: SFTP answers requests by their id,
    /// so the round trips of the files overlap instead of adding up.
    fn put_temps(&mut self, files: &[(&str, &[u8])]) -> Vec<Result<(), TransportError>> {
        let checked: Vec<_> = files
            .iter()
            .map(|(name, _)| self.config.layout.check(&self.endpoint, name))
            .collect();
        let layout = self.config.layout.clone();
        let ran = self.with_conn(async |conn, endpoint, timeout| {
            let mut ready = Vec::with_capacity(files.len());
            for (p, (_, bytes)) in checked.iter().zip(files) {
                ready.push(match p {
                    Ok(p) => match ensure_folder(conn, endpoint, timeout, &layout, &p.folder).await
                    {
                        Ok(_) => Ok((paths(conn, p).1, *bytes)),
                        Err(f) if f.keep_connection => Err(f),
                        Err(f) => return Err(f),
                    },
                    Err(e) => Err(Failure::from(e.clone())),
                });
            }
            let conn = &*conn;
            let uploads = ready.into_iter().map(async |file| {
                let (temp, bytes) = file?;
                upload(
                    conn,
                    endpoint,
                    timeout,
                    &temp,
                    &mut { bytes },
                    bytes.len() as u64,
                )
                .await
            });
            Ok(futures_util::future::join_all(uploads).await)
        });
        match ran {
            Ok(results) => {
                if results
                    .iter()
                    .any(|r| r.as_ref().is_err_and(|f| !f.keep_connection))
                {
                    // The session broke under one of them: the next step starts a new one.
                    self.conn = None;
                }
                results
                    .into_iter()
                    .map(|r| r.map_err(|f| f.error))
                    .collect()
            }
            Err(e) => files.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn make_final(&mut self, name: &str) -> Result<(), TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        let layout = self.config.layout.clone();
        self.with_conn(async |conn, endpoint, timeout| {
            let (_, temp, path) = paths(conn, &p);
            ensure_folder(conn, endpoint, timeout, &layout, &p.folder).await?;
            if exists(conn, endpoint, timeout, &path).await? {
                return Err(taken(endpoint, &path));
            }
            rename(conn, endpoint, timeout, &temp, &path).await
        })
    }

    /// The looks under the final names go out together; the renames follow one at a
    /// time, in order.
    fn make_finals(&mut self, names: &[&str]) -> Vec<Result<(), TransportError>> {
        let checked: Result<Vec<_>, _> = names
            .iter()
            .map(|name| self.config.layout.check(&self.endpoint, name))
            .collect();
        let checked = match checked {
            Ok(c) => c,
            // A name the layout refuses: the ones before it go alone.
            Err(_) => return hub_core::transport::each_final(self, names),
        };
        let layout = self.config.layout.clone();
        let mut out = Vec::with_capacity(names.len());
        let ran = self.with_conn(async |conn, endpoint, timeout| {
            let mut files = Vec::with_capacity(checked.len());
            for p in &checked {
                ensure_folder(conn, endpoint, timeout, &layout, &p.folder).await?;
                let (_, temp, path) = paths(conn, p);
                files.push((temp, path));
            }
            let conn = &*conn;
            let looks = files
                .iter()
                .map(async |(_, path)| exists(conn, endpoint, timeout, path).await);
            let found = futures_util::future::join_all(looks).await;
            for ((temp, path), found) in files.iter().zip(found) {
                let step = match found {
                    Ok(true) => Err(taken(endpoint, path)),
                    Ok(false) => rename(conn, endpoint, timeout, temp, path).await,
                    Err(f) => Err(f),
                };
                match step {
                    Ok(()) => out.push(Ok(())),
                    Err(f) if f.keep_connection => {
                        out.push(Err(f.error));
                        break;
                    }
                    Err(f) => return Err(f),
                }
            }
            Ok(())
        });
        if let Err(e) = ran {
            out.push(Err(e));
        }
        out
    }

    fn remove_temp(&mut self, name: &str) -> Result<(), TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        self.with_conn(async |conn, endpoint, timeout| {
            let (_, temp, _) = paths(conn, &p);
            match within(
                endpoint,
                &temp,
                timeout,
                conn.sftp.remove_file(temp.as_str()),
            )
            .await?
            {
                Ok(()) => Ok(()),
                Err(e) if is_no_such_file(&e) => Ok(()),
                Err(e) => Err(sftp_error(endpoint, &format!("remove {temp}"), &e)),
            }
        })
    }

    fn inspect(&mut self, name: &str) -> Result<RemoteState, TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        self.with_conn(async |conn, endpoint, timeout| {
            let (_, temp, path) = paths(conn, &p);
            Ok(RemoteState {
                final_present: exists(conn, endpoint, timeout, &path).await?,
                temp_present: exists(conn, endpoint, timeout, &temp).await?,
            })
        })
    }

    /// Reads the final file back through a hasher, a block at a time.
    fn digest(&mut self, name: &str) -> Result<Option<Digest>, TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        self.with_conn(async |conn, endpoint, timeout| {
            let (_, _, path) = paths(conn, &p);
            let opened = within(endpoint, &path, timeout, conn.sftp.open(path.as_str())).await?;
            let mut file = match opened {
                Ok(f) => f,
                Err(e) if is_no_such_file(&e) => return Ok(None),
                Err(e) => return Err(sftp_error(endpoint, &format!("open {path}"), &e)),
            };
            let mut out = DigestWriter::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf).await.map_err(|e| Failure {
                    error: TransportError::retryable(format!("{endpoint}: read {path}: {e}")),
                    keep_connection: false,
                })?;
                if n == 0 {
                    break;
                }
                std::io::Write::write_all(&mut out, &buf[..n])
                    .map_err(|e| Failure::permanent(format!("{endpoint}: hash {path}: {e}")))?;
            }
            let _ = file.shutdown().await;
            Ok(Some(out.finish()))
        })
    }

    /// Connects and logs in (or checks the kept session) and looks for the municipality's
    /// folder (Prisme layout) or the root (plain). Sends no file.
    fn health(&mut self) -> Result<(), TransportError> {
        let layout = self.config.layout.clone();
        self.with_conn(async |conn, endpoint, timeout| {
            let rel = layout.health_folder();
            conn.folders.remove(&join(&conn.base, rel));
            ensure_folder(conn, endpoint, timeout, &layout, rel)
                .await
                .map(|_| ())
        })
    }
}

impl Drop for SftpTransport {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let timeout = self.config.timeout;
            self.runtime.block_on(async {
                let _ = tokio::time::timeout(timeout, async {
                    let _ = conn.sftp.close().await;
                    let _ = conn
                        .ssh
                        .disconnect(russh::Disconnect::ByApplication, "", "en")
                        .await;
                })
                .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host_key: &str) -> SftpConfig {
        SftpConfig {
            host: "localhost".into(),
            port: 22,
            user: "u".into(),
            auth: SftpAuth::Password(Secret::new("hunter2")),
            host_key: host_key.into(),
            root: "/".into(),
            layout: Layout::Prisme {
                municipality: "sermersooq".into(),
            },
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_bad_pinned_key_is_refused_and_the_password_never_prints() {
        let e = SftpTransport::new(config("not a key")).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Permanent);
        assert!(e.message.contains("pinned host key"), "{e}");
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb7nBWe2ZpSR3lmXIk9x0bKH4yPmUXrTQ0XnzJ6C4ZL";
        let t = SftpTransport::new(config(key)).unwrap();
        assert!(!format!("{t:?} {}", t.endpoint()).contains("hunter2"));
        assert!(!format!("{:?}", t.config).contains("hunter2"));
    }
}
