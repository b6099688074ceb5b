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
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{OpenFlags, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ftps::join;
use crate::http::Secret;
use crate::layout::{Layout, RemoteName};
use crate::{Digest, DigestWriter};
use crate::{RemoteState, Transport, TransportError};

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

/// An error and whether the session is still usable after it.
struct Failure {
    error: TransportError,
    keep_connection: bool,
}

impl Failure {
    fn permanent(message: String) -> Failure {
        Failure {
            error: TransportError::permanent(message),
            keep_connection: true,
        }
    }
}

impl From<TransportError> for Failure {
    fn from(error: TransportError) -> Self {
        let keep_connection = error.kind == crate::ErrorKind::Permanent;
        Failure {
            error,
            keep_connection,
        }
    }
}

async fn within<T>(
    endpoint: &str,
    what: &str,
    timeout: Duration,
    f: impl Future<Output = T>,
) -> Result<T, TransportError> {
    tokio::time::timeout(timeout, f).await.map_err(|_| {
        TransportError::retryable(format!("{endpoint}: {what}: no answer within {timeout:?}"))
    })
}

fn ssh_error(endpoint: &str, what: &str, e: &russh::Error) -> TransportError {
    use russh::Error as E;
    let message = format!("{endpoint}: {what}: {e}");
    match e {
        E::IO(_)
        | E::Disconnect
        | E::HUP
        | E::ConnectionTimeout
        | E::KeepaliveTimeout
        | E::InactivityTimeout
        | E::SendError
        | E::Pending
        | E::Elapsed(_)
        | E::ChannelOpenFailure(_) => TransportError::retryable(message),
        _ => TransportError::permanent(message),
    }
}

fn sftp_error(endpoint: &str, what: &str, e: &SftpError) -> Failure {
    let message = format!("{endpoint}: {what}: {e}");
    match e {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoConnection | StatusCode::ConnectionLost => Failure {
                error: TransportError::retryable(message),
                keep_connection: false,
            },
            _ => Failure::permanent(message),
        },
        SftpError::Limited(_) => Failure::permanent(message),
        _ => Failure {
            error: TransportError::retryable(message),
            keep_connection: false,
        },
    }
}

fn is_no_such_file(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

async fn exists(
    conn: &mut Conn,
    endpoint: &str,
    timeout: Duration,
    path: &str,
) -> Result<bool, Failure> {
    match within(endpoint, path, timeout, conn.sftp.metadata(path)).await? {
        Ok(_) => Ok(true),
        Err(e) if is_no_such_file(&e) => Ok(false),
        Err(e) => Err(sftp_error(endpoint, &format!("stat {path}"), &e)),
    }
}

/// Makes sure the folder `rel` (relative to the root) exists and returns its absolute path.
/// Prisme's tree is never created: a missing folder is refused. In the plain layout missing
/// folders below the root are made one level at a time; one that exists already (or appears
/// meanwhile, made by another sender) is fine. The root itself is never created.
async fn ensure_folder(
    conn: &mut Conn,
    endpoint: &str,
    timeout: Duration,
    layout: &Layout,
    rel: &str,
) -> Result<String, Failure> {
    let folder = join(&conn.base, rel);
    if conn.folders.contains(&folder) {
        return Ok(folder);
    }
    match within(
        endpoint,
        &folder,
        timeout,
        conn.sftp.metadata(folder.as_str()),
    )
    .await?
    {
        Ok(m) if m.is_dir() => {
            conn.folders.insert(folder.clone());
            return Ok(folder);
        }
        Ok(_) => {
            return Err(Failure::permanent(format!(
                "{endpoint}: {folder} on the server is not a folder"
            )));
        }
        Err(e) if is_no_such_file(&e) && (!layout.creates_folders() || rel.is_empty()) => {
            return Err(Failure::permanent(format!(
                "{endpoint}: the folder {folder} does not exist on the server; {}",
                layout.missing_folder_hint()
            )));
        }
        Err(e) if is_no_such_file(&e) => {}
        Err(e) => return Err(sftp_error(endpoint, &format!("stat {folder}"), &e)),
    }
    let mut path = conn.base.clone();
    for segment in rel.split('/') {
        path = join(&path, segment);
        if conn.folders.contains(&path) {
            continue;
        }
        let made = within(
            endpoint,
            &path,
            timeout,
            conn.sftp.create_dir(path.as_str()),
        )
        .await?;
        if let Err(e) = made {
            // The folder exists already (or a refusal): fine if it is a folder now.
            let failure = sftp_error(endpoint, &format!("mkdir {path}"), &e);
            if !failure.keep_connection {
                return Err(failure);
            }
            match within(endpoint, &path, timeout, conn.sftp.metadata(path.as_str())).await? {
                Ok(m) if m.is_dir() => {}
                _ => return Err(failure),
            }
        }
        conn.folders.insert(path.clone());
    }
    Ok(folder)
}

/// Bytes read from the store and written per step of a streamed upload.
const CHUNK: usize = 256 * 1024;

fn paths(conn: &Conn, p: &RemoteName) -> (String, String, String) {
    let folder = join(&conn.base, &p.folder);
    let temp = join(&folder, &p.temp_file());
    let path = join(&folder, &p.file);
    (folder, temp, path)
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
            let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE;
            let mut file = within(
                endpoint,
                &temp,
                timeout,
                conn.sftp.open_with_flags(temp.as_str(), flags),
            )
            .await?
            .map_err(|e| sftp_error(endpoint, &format!("create {temp}"), &e))?;
            let io = |what: &str, e: std::io::Error| Failure {
                error: TransportError::retryable(format!("{endpoint}: {what} {temp}: {e}")),
                keep_connection: false,
            };
            // Each SFTP request has its own time limit (set_timeout); a whole file may take
            // longer than one step's limit.
            let mut chunk = vec![0u8; CHUNK.min(usize::try_from(size).unwrap_or(CHUNK)).max(1)];
            let mut sent = 0u64;
            loop {
                let n = bytes.read(&mut chunk).map_err(|e| Failure {
                    error: TransportError::retryable(format!(
                        "{endpoint}: cannot read what to send for {temp}: {e}"
                    )),
                    keep_connection: true,
                })?;
                if n == 0 {
                    break;
                }
                file.write_all(&chunk[..n])
                    .await
                    .map_err(|e| io("write", e))?;
                sent += n as u64;
            }
            // flush: every write acknowledged (and fsync@openssh.com where offered).
            file.flush().await.map_err(|e| io("flush", e))?;
            file.shutdown().await.map_err(|e| io("close", e))?;
            if sent != size {
                return Err(Failure::from(TransportError::retryable(format!(
                    "{endpoint}: {temp}: {sent} bytes to send, {size} expected"
                ))));
            }
            // Which check this is for: each write was acknowledged, but a server may still
            // hold less than it acknowledged (a full disk noticed at close); the size read
            // back is what the file will hold under its final name.
            let held = within(endpoint, &temp, timeout, conn.sftp.metadata(temp.as_str()))
                .await?
                .map_err(|e| sftp_error(endpoint, &format!("stat {temp}"), &e))?
                .size;
            match held {
                Some(n) if n != size => Err(Failure::from(TransportError::retryable(format!(
                    "{endpoint}: {temp} holds {n} bytes on the server, {size} were sent"
                )))),
                _ => Ok(()),
            }
        })
    }

    fn make_final(&mut self, name: &str) -> Result<(), TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        let layout = self.config.layout.clone();
        self.with_conn(async |conn, endpoint, timeout| {
            let (_, temp, path) = paths(conn, &p);
            ensure_folder(conn, endpoint, timeout, &layout, &p.folder).await?;
            let taken = || {
                Failure::permanent(format!(
                    "{endpoint}: {path} already exists; the hub never replaces a delivered file"
                ))
            };
            if exists(conn, endpoint, timeout, &path).await? {
                return Err(taken());
            }
            // SFTP v3 rename (OpenSSH: link, then unlink) fails when the target exists.
            let renamed = within(
                endpoint,
                &temp,
                timeout,
                conn.sftp.rename(temp.as_str(), path.as_str()),
            )
            .await?;
            match renamed {
                Ok(()) => Ok(()),
                Err(e) => {
                    let failure = sftp_error(endpoint, &format!("rename {temp} to {path}"), &e);
                    if failure.keep_connection && exists(conn, endpoint, timeout, &path).await? {
                        return Err(taken());
                    }
                    Err(failure)
                }
            }
        })
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
