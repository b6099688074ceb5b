//! The `ftps` transport: files over FTP with explicit TLS (`AUTH TLS`).
//!
//! Payload names are relative paths below `root`; the [`Layout`] says which are accepted.
//! Prisme's FTP user sees a tree `/<municipality>/<prod|test>/<G|Q>/`; the first folder must be
//! the municipality the user belongs to (`sermersooq/test/G/522-24-001-G.txt`), and the tree
//! belongs to Prisme: a missing folder is refused, never created. In the plain layout (RKI
//! transports, other receivers) any safe relative name is accepted and missing folders below
//! `root` are created (MKD).
//!
//! One control connection is kept and reused for many files (a NOOP checks it after a pause;
//! a dropped one is replaced on the next call). Binary mode is set right after login: the
//! files must arrive byte for byte (CRLF line ends, ISO-8859-1 letters).
//!
//! | what happened | kind |
//! |---|---|
//! | connection refused, DNS failure, timeout, connection lost | Retryable |
//! | 421 and other 4xx replies | Retryable |
//! | 530 at login | Permanent: "login as <user> refused" |
//! | other 5xx replies, a missing folder, a final name already taken | Permanent |
//! | a TLS failure of trust or setup (untrusted or invalid certificate, no common protocol) | Permanent |
//! | a TLS record broken off or garbled mid-session (a server killed mid-upload: "received corrupt message") | Retryable |
//!
//! The password is sent in `PASS` only; it never reaches a message, a log line or `Debug`.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use suppaftp::types::FileType;
use suppaftp::{FtpError, RustlsConnector, RustlsFtpStream};

use crate::http::Secret;
use crate::layout::Layout;
use crate::{Digest, DigestWriter, RemoteState, Transport, TransportError};

/// Where and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpsConfig {
    /// Host name (checked against the server certificate) or IP address.
    pub host: String,
    /// The control port, usually 21.
    pub port: u16,
    /// The FTP user, e.g. `ftp-winformatik-sermersooq`.
    pub user: String,
    pub password: Secret,
    /// PEM file with the CA (or pinned server) certificate(s) to trust; when absent, the
    /// platform's trust store.
    pub ca_file: Option<PathBuf>,
    /// The remote base folder the payload names are below, e.g. `/`; a relative one is taken
    /// from the login folder.
    pub root: String,
    /// Which names are accepted and whether missing folders are created.
    pub layout: Layout,
    /// Limit for connecting and for each read or write on the control and data connections.
    pub timeout: Duration,
}

/// A connection that was idle longer than this is checked with NOOP before it is used.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Files to Prisme over FTPS, one kept connection.
pub struct FtpsTransport {
    config: FtpsConfig,
    tls: Arc<ClientConfig>,
    endpoint: String,
    conn: Option<Conn>,
}

struct Conn {
    ftp: RustlsFtpStream,
    /// Absolute remote folder the payload names are joined to.
    base: String,
    /// Folders known to exist on this connection.
    folders: HashSet<String>,
    last_used: Instant,
}

impl std::fmt::Debug for FtpsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpsTransport")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

/// `scheme://user@host:port/root` for the protocol log: never a password.
pub(crate) fn endpoint(scheme: &str, user: &str, host: &str, port: u16, root: &str) -> String {
    let slash = if root.starts_with('/') { "" } else { "/" };
    format!("{scheme}://{user}@{host}:{port}{slash}{root}")
}

/// `base` + `/` + `rel`, with exactly one slash between; `base` itself when `rel` is empty.
pub(crate) fn join(base: &str, rel: &str) -> String {
    if base.is_empty() {
        return rel.to_string();
    }
    if rel.is_empty() {
        return base.to_string();
    }
    format!("{}/{rel}", base.trim_end_matches('/'))
}

impl FtpsTransport {
    /// Checks the configuration and reads the CA file; connects to nothing.
    pub fn new(config: FtpsConfig) -> Result<FtpsTransport, TransportError> {
        let endpoint = endpoint(
            "ftps",
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
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // TLS 1.2 only. FTPS servers (proftpd by default, vsftpd with require_ssl_reuse, and
        // the production servers) require every data connection to resume the control
        // connection's TLS session. With TLS 1.3, rustls uses each session ticket once and
        // servers send about two, so the third upload in a session fails with "522 SSL
        // connection failed: session reuse required". TLS 1.2 session resumption reuses the
        // one session for every data connection.
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .map_err(|e| TransportError::permanent(format!("{endpoint}: TLS setup: {e}")))?;
        let tls = match &config.ca_file {
            Some(ca_file) => builder
                .with_root_certificates(read_roots(&endpoint, ca_file)?)
                .with_no_client_auth(),
            None => {
                let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
                    TransportError::permanent(format!(
                        "{endpoint}: cannot load the platform's trusted certificates: {e}"
                    ))
                })?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
        };
        Ok(FtpsTransport {
            config,
            tls: Arc::new(tls),
            endpoint,
            conn: None,
        })
    }

    fn connect(&self) -> Result<Conn, TransportError> {
        let c = &self.config;
        let endpoint = &self.endpoint;
        let addrs: Vec<SocketAddr> = (c.host.as_str(), c.port)
            .to_socket_addrs()
            .map_err(|e| {
                TransportError::retryable(format!("{endpoint}: cannot resolve {}: {e}", c.host))
            })?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, c.timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(stream) = stream else {
            return Err(TransportError::retryable(format!(
                "{endpoint}: cannot connect: {}",
                last.map_or_else(|| "no address".to_string(), |e| e.to_string())
            )));
        };
        let timeout = c.timeout;
        set_timeouts(&stream, timeout).map_err(|e| {
            TransportError::retryable(format!("{endpoint}: cannot set timeouts: {e}"))
        })?;
        let step = |what: &'static str| move |e: FtpError| classify(endpoint, what, &e);
        let mut ftp = RustlsFtpStream::connect_with_stream(stream)
            .map_err(step("greeting"))?
            .passive_stream_builder(move |addr| {
                TcpStream::connect_timeout(&addr, timeout)
                    .and_then(|s| set_timeouts(&s, timeout).map(|()| s))
                    .map_err(FtpError::ConnectionError)
            });
        // Data connections go to the control connection's peer, whatever address PASV names
        // (servers behind NAT announce private addresses; and no one can redirect us).
        ftp.set_passive_nat_workaround(true);
        let mut ftp = ftp
            .into_secure(RustlsConnector::from(self.tls.clone()), &c.host)
            .map_err(step("TLS (AUTH TLS)"))?;
        ftp.login(c.user.as_str(), c.password.expose())
            .map_err(|e| match &e {
                FtpError::UnexpectedResponse(r) if r.status.code() == 530 => {
                    TransportError::permanent(format!(
                        "{endpoint}: login as {} refused: {}",
                        c.user,
                        reply_text(r)
                    ))
                }
                _ => classify(endpoint, "login", &e),
            })?;
        ftp.transfer_type(FileType::Binary)
            .map_err(step("binary mode (TYPE I)"))?;
        let base = if c.root.starts_with('/') {
            c.root.clone()
        } else {
            let home = ftp.pwd().map_err(step("PWD"))?;
            join(&home, &c.root)
        };
        Ok(Conn {
            ftp,
            base,
            folders: HashSet::new(),
            last_used: Instant::now(),
        })
    }

    /// The kept connection (checked with NOOP after a pause), or a new one.
    fn take_conn(&mut self) -> Result<Conn, TransportError> {
        if let Some(mut conn) = self.conn.take() {
            if conn.last_used.elapsed() < IDLE_CHECK || conn.ftp.noop().is_ok() {
                return Ok(conn);
            }
            tracing::debug!(endpoint = %self.endpoint, "kept FTPS connection is gone; reconnecting");
        }
        self.connect()
    }

    /// Runs `op` on a connection, keeping the connection unless it broke.
    fn with_conn<T>(
        &mut self,
        op: impl FnOnce(&mut Conn, &str) -> Result<T, Failure>,
    ) -> Result<T, TransportError> {
        let mut conn = self.take_conn()?;
        let result = op(&mut conn, &self.endpoint);
        match result {
            Ok(v) => {
                conn.last_used = Instant::now();
                self.conn = Some(conn);
                Ok(v)
            }
            Err(f) => {
                if f.keep_connection {
                    conn.last_used = Instant::now();
                    self.conn = Some(conn);
                }
                Err(f.error)
            }
        }
    }
}

/// An error and whether the connection is still usable after it.
struct Failure {
    error: TransportError,
    keep_connection: bool,
}

impl Failure {
    fn ftp(endpoint: &str, what: &str, e: &FtpError) -> Failure {
        Failure {
            error: classify(endpoint, what, e),
            keep_connection: keeps_connection(e),
        }
    }

    fn permanent(message: String) -> Failure {
        Failure {
            error: TransportError::permanent(message),
            keep_connection: true,
        }
    }

    fn retryable(message: String) -> Failure {
        Failure {
            error: TransportError::retryable(message),
            keep_connection: true,
        }
    }
}

impl From<TransportError> for Failure {
    fn from(error: TransportError) -> Self {
        Failure {
            error,
            keep_connection: true,
        }
    }
}

fn set_timeouts(stream: &TcpStream, timeout: Duration) -> std::io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)
}

/// The reply as the server wrote it: `530 Login incorrect.` (its body already starts with
/// the code; it is added only where it does not).
fn reply_text(r: &suppaftp::types::Response) -> String {
    let code = r.status.code().to_string();
    let body = String::from_utf8_lossy(&r.body);
    let body = body.trim_end();
    if body.starts_with(&code) {
        body.to_string()
    } else {
        format!("{code} {body}")
    }
}

/// Whether a TLS error is about trust or setup (the same next time) rather than a session
/// broken off or garbled in the middle (a killed server, a dropped line: worth retrying).
fn tls_is_permanent(e: &rustls::Error) -> bool {
    use rustls::Error as E;
    matches!(
        e,
        E::InvalidCertificate(_)
            | E::NoCertificatesPresented
            | E::UnsupportedNameType
            | E::PeerIncompatible(_)
            | E::InvalidCertRevocationList(_)
            | E::NoApplicationProtocol
            | E::InconsistentKeys(_)
    )
}

fn reply_code(e: &FtpError) -> Option<u32> {
    match e {
        FtpError::UnexpectedResponse(r) => Some(r.status.code()),
        _ => None,
    }
}

/// Whether the control connection can be used after this error.
fn keeps_connection(e: &FtpError) -> bool {
    match e {
        // 421: the server is closing the connection.
        FtpError::UnexpectedResponse(r) => r.status.code() != 421,
        _ => false,
    }
}

/// The TLS error inside an I/O error, if it is one.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

fn classify(endpoint: &str, what: &str, e: &FtpError) -> TransportError {
    match e {
        FtpError::ConnectionError(io) => match tls_error(io) {
            Some(tls) if tls_is_permanent(tls) => {
                TransportError::permanent(format!("{endpoint}: {what}: TLS: {tls}"))
            }
            Some(tls) => TransportError::retryable(format!(
                "{endpoint}: {what}: connection broken off (TLS: {tls})"
            )),
            None => TransportError::retryable(format!(
                "{endpoint}: {what}: connection failed or lost: {io}"
            )),
        },
        FtpError::SecureError(s) => {
            TransportError::permanent(format!("{endpoint}: {what}: TLS: {s}"))
        }
        FtpError::UnexpectedResponse(r) => {
            let code = r.status.code();
            let message = format!("{endpoint}: {what}: the server answered {}", reply_text(r));
            if (500..600).contains(&code) {
                TransportError::permanent(message)
            } else {
                TransportError::retryable(message)
            }
        }
        other => TransportError::retryable(format!("{endpoint}: {what}: {other}")),
    }
}

fn read_roots(endpoint: &str, ca_file: &Path) -> Result<RootCertStore, TransportError> {
    let fail = |why: String| {
        TransportError::permanent(format!("{endpoint}: CA file {}: {why}", ca_file.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    Ok(roots)
}

/// Whether `path` exists as a file: SIZE, or MLST where SIZE is not implemented.
fn exists(conn: &mut Conn, endpoint: &str, path: &str) -> Result<bool, Failure> {
    match conn.ftp.size(path) {
        Ok(_) => return Ok(true),
        Err(e) if reply_code(&e) == Some(550) => return Ok(false),
        Err(e) if matches!(reply_code(&e), Some(500..=504)) => {}
        Err(e) => return Err(Failure::ftp(endpoint, &format!("SIZE {path}"), &e)),
    }
    match conn.ftp.mlst(Some(path)) {
        Ok(_) => Ok(true),
        Err(e) if reply_code(&e) == Some(550) => Ok(false),
        Err(e) => Err(Failure::ftp(endpoint, &format!("MLST {path}"), &e)),
    }
}

/// Makes sure the folder `rel` (relative to the root) exists and returns its absolute path.
/// Prisme's tree is never created: a missing folder is refused. In the plain layout missing
/// folders below the root are made one level at a time; one that exists already (or appears
/// meanwhile, made by another sender) is fine. The root itself is never created.
fn ensure_folder(
    conn: &mut Conn,
    endpoint: &str,
    layout: &Layout,
    rel: &str,
) -> Result<String, Failure> {
    let folder = join(&conn.base, rel);
    if conn.folders.contains(&folder) {
        return Ok(folder);
    }
    match conn.ftp.cwd(&folder) {
        Ok(()) => {
            conn.folders.insert(folder.clone());
            return Ok(folder);
        }
        Err(e) if reply_code(&e) == Some(550) && (!layout.creates_folders() || rel.is_empty()) => {
            return Err(Failure::permanent(format!(
                "{endpoint}: the folder {folder} does not exist on the server; {}",
                layout.missing_folder_hint()
            )));
        }
        Err(e) if reply_code(&e) == Some(550) => {}
        Err(e) => return Err(Failure::ftp(endpoint, &format!("CWD {folder}"), &e)),
    }
    let mut path = conn.base.clone();
    for segment in rel.split('/') {
        path = join(&path, segment);
        if conn.folders.contains(&path) {
            continue;
        }
        if let Err(e) = conn.ftp.mkdir(&path) {
            // 550 "File exists" (or a refusal): fine if the folder is there now.
            if !matches!(reply_code(&e), Some(500..=599)) || conn.ftp.cwd(&path).is_err() {
                return Err(Failure::ftp(endpoint, &format!("MKD {path}"), &e));
            }
        }
        conn.folders.insert(path.clone());
    }
    Ok(folder)
}

impl Transport for FtpsTransport {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn put_temp(&mut self, name: &str, bytes: &[u8]) -> Result<(), TransportError> {
        self.put_temp_from(name, &mut { bytes }, bytes.len() as u64)
    }

    /// Streams `size` bytes from `bytes` into the temporary file: memory stays flat
    /// whatever the file's size.
    fn put_temp_from(
        &mut self,
        name: &str,
        bytes: &mut dyn std::io::Read,
        size: u64,
    ) -> Result<(), TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        let layout = self.config.layout.clone();
        self.with_conn(|conn, endpoint| {
            let folder = ensure_folder(conn, endpoint, &layout, &p.folder)?;
            let temp = join(&folder, &p.temp_file());
            let mut reader: &mut dyn std::io::Read = &mut *bytes;
            let sent = match conn.ftp.put_file(&temp, &mut reader) {
                Ok(n) => n,
                // A server that does not overwrite: remove the partial file, then again.
                // The refusal is STOR's first reply, before any byte was read from `bytes`.
                Err(e) if matches!(reply_code(&e), Some(550 | 553)) => {
                    if exists(conn, endpoint, &temp)? {
                        conn.ftp
                            .rm(&temp)
                            .map_err(|e| Failure::ftp(endpoint, &format!("DELE {temp}"), &e))?;
                    }
                    conn.ftp
                        .put_file(&temp, &mut reader)
                        .map_err(|e| Failure::ftp(endpoint, &format!("STOR {temp}"), &e))?
                }
                Err(e) => return Err(Failure::ftp(endpoint, &format!("STOR {temp}"), &e)),
            };
            if sent != size {
                return Err(Failure::retryable(format!(
                    "{endpoint}: STOR {temp}: sent {sent} of {size} bytes"
                )));
            }
            // Which check this is for: STOR's 226 says the data connection closed cleanly,
            // not that the server kept every byte (a full disk, a quota); SIZE reads back
            // what it holds before the file gets its final name.
            match conn.ftp.size(&temp) {
                Ok(n) if n as u64 == size => Ok(()),
                Ok(n) => Err(Failure::retryable(format!(
                    "{endpoint}: {temp} holds {n} bytes on the server, {size} were sent"
                ))),
                // SIZE not implemented: the transfer's own completion reply has to do.
                Err(e) if matches!(reply_code(&e), Some(500..=504)) => Ok(()),
                Err(e) => Err(Failure::ftp(endpoint, &format!("SIZE {temp}"), &e)),
            }
        })
    }

    /// Renames the temporary file to its final name after checking that the final name is
    /// free. FTP has no rename that refuses to replace, so a file that appears under the
    /// final name between the check and RNTO (only another sender could do that, within
    /// one round trip) would be replaced.
    fn make_final(&mut self, name: &str) -> Result<(), TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        let layout = self.config.layout.clone();
        self.with_conn(|conn, endpoint| {
            let folder = ensure_folder(conn, endpoint, &layout, &p.folder)?;
            let temp = join(&folder, &p.temp_file());
            let path = join(&folder, &p.file);
            if exists(conn, endpoint, &path)? {
                return Err(Failure::permanent(format!(
                    "{endpoint}: {path} already exists; the hub never replaces a delivered file"
                )));
            }
            conn.ftp.rename(&temp, &path).map_err(|e| {
                if reply_code(&e) == Some(550) {
                    Failure::permanent(format!(
                        "{endpoint}: cannot rename {temp} to {path}: the server answered {}",
                        match &e {
                            FtpError::UnexpectedResponse(r) => reply_text(r),
                            other => other.to_string(),
                        }
                    ))
                } else {
                    Failure::ftp(endpoint, &format!("rename {temp} to {path}"), &e)
                }
            })
        })
    }

    fn remove_temp(&mut self, name: &str) -> Result<(), TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        self.with_conn(|conn, endpoint| {
            let temp = join(&join(&conn.base, &p.folder), &p.temp_file());
            match conn.ftp.rm(&temp) {
                Ok(()) => Ok(()),
                Err(e) if reply_code(&e) == Some(550) => {
                    if exists(conn, endpoint, &temp)? {
                        Err(Failure::ftp(endpoint, &format!("DELE {temp}"), &e))
                    } else {
                        Ok(())
                    }
                }
                Err(e) => Err(Failure::ftp(endpoint, &format!("DELE {temp}"), &e)),
            }
        })
    }

    fn inspect(&mut self, name: &str) -> Result<RemoteState, TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        self.with_conn(|conn, endpoint| {
            let folder = join(&conn.base, &p.folder);
            Ok(RemoteState {
                final_present: exists(conn, endpoint, &join(&folder, &p.file))?,
                temp_present: exists(conn, endpoint, &join(&folder, &p.temp_file()))?,
            })
        })
    }

    /// RETR of the final file through a hasher: nothing of it is kept in memory.
    fn digest(&mut self, name: &str) -> Result<Option<Digest>, TransportError> {
        let p = self.config.layout.check(&self.endpoint, name)?;
        self.with_conn(|conn, endpoint| {
            let path = join(&join(&conn.base, &p.folder), &p.file);
            if !exists(conn, endpoint, &path)? {
                return Ok(None);
            }
            let digest = conn
                .ftp
                .retr(&path, |reader| {
                    let mut out = DigestWriter::new();
                    std::io::copy(reader, &mut out).map_err(FtpError::ConnectionError)?;
                    Ok(out.finish())
                })
                .map_err(|e| Failure::ftp(endpoint, &format!("RETR {path}"), &e))?;
            Ok(Some(digest))
        })
    }

    /// Connects and logs in (or checks the kept connection), then PWD and NOOP, and looks
    /// for the municipality's folder (Prisme layout) or the root (plain). Sends no file.
    fn health(&mut self) -> Result<(), TransportError> {
        let layout = self.config.layout.clone();
        self.with_conn(|conn, endpoint| {
            conn.ftp
                .pwd()
                .map_err(|e| Failure::ftp(endpoint, "PWD", &e))?;
            conn.ftp
                .noop()
                .map_err(|e| Failure::ftp(endpoint, "NOOP", &e))?;
            ensure_folder(conn, endpoint, &layout, layout.health_folder()).map(|_| ())
        })
    }
}

impl Drop for FtpsTransport {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.ftp.quit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_prints() {
        let t = FtpsTransport::new(FtpsConfig {
            host: "localhost".into(),
            port: 21,
            user: "u".into(),
            password: Secret::new("hunter2"),
            ca_file: None,
            root: "/".into(),
            layout: Layout::Prisme {
                municipality: "sermersooq".into(),
            },
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert!(!format!("{t:?} {}", t.endpoint()).contains("hunter2"));
        assert!(!format!("{:?}", t.config).contains("hunter2"));
    }

    #[test]
    fn a_session_broken_off_mid_upload_is_retryable_an_untrusted_certificate_not() {
        let io = |e: rustls::Error| {
            FtpError::ConnectionError(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        let corrupt = io(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        let e = classify("ftps://h", "STOR", &corrupt);
        assert_eq!(e.kind, crate::ErrorKind::Retryable, "{}", e.message);
        assert!(
            e.message.contains("received corrupt message"),
            "{}",
            e.message
        );
        let untrusted = io(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        let e = classify("ftps://h", "TLS (AUTH TLS)", &untrusted);
        assert_eq!(e.kind, crate::ErrorKind::Permanent, "{}", e.message);
    }

    #[test]
    fn a_reply_is_shown_once_with_its_code() {
        let r = suppaftp::types::Response::new(530.into(), b"530 Login incorrect.\r\n".to_vec());
        assert_eq!(reply_text(&r), "530 Login incorrect.");
        let r = suppaftp::types::Response::new(550.into(), b"No such file".to_vec());
        assert_eq!(reply_text(&r), "550 No such file");
    }
}
