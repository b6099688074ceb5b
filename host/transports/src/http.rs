//! The `http` transport: one HTTPS POST per payload, optionally with a PKCS#12 client
//! certificate (mutual TLS), as Kita-Planer 2 takes its imports.
//!
//! The .p12 is opened with p12-keystore (modern AES files and legacy RC2/3DES exports) and
//! its key and chain handed to rustls (ring) directly; the server is trusted through the
//! configured CA file only, or through the platform's roots when none is given. The client
//! is reqwest's async one on a runtime the transport owns: the pipeline calls it
//! synchronously, and a window of requests is awaited together on the calling thread (a
//! thread started per request was ~15 system calls a request). The runtime's one worker
//! thread keeps the pool's connections watched between requests, as reqwest's blocking
//! client does: a connection the server closed while idle is dropped when it closes, not
//! found dead by the next POST (whose fate would then be unknown).
//!
//! Every HTTP answer, whatever its status, is returned to the plugin to interpret. An error
//! is returned only when no answer came, classified by whether a retry can help:
//!
//! | what happened | kind |
//! |---|---|
//! | .p12 missing, wrong password, no key, certificate expired or not yet valid | Permanent (at [`HttpTransport::new`]) |
//! | connection refused, DNS failure, connect timeout | Retryable |
//! | the server rejected our client certificate (TLS alert) | Permanent |
//! | the server's certificate is not trusted by us | Permanent |
//! | other TLS failure | Permanent |
//! | timeout or connection lost after the request was sent | Unknown |
//!
//! No password, key or .p12 bytes ever reach an error, a log line or `Debug` output.

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hub_plugin_sdk::Response;
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use reqwest::Client;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{AlertDescription, ClientConfig, RootCertStore};

use crate::{RemoteState, Transport, TransportError};

/// Where and how to send.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The URL every payload is POSTed to.
    pub url: String,
    /// PEM file with the CA certificate(s) to trust for the server; when absent, the
    /// platform's trust store.
    pub ca_file: Option<PathBuf>,
    /// Limit for the TCP connect (and TLS handshake).
    pub connect_timeout: Duration,
    /// Limit for the whole request, from connect to the last byte of the answer.
    pub timeout: Duration,
    /// A URL to `GET` for the reachability check; without it, a TLS handshake only.
    pub health_url: Option<String>,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("url", &without_userinfo(&self.url))
            .field("ca_file", &self.ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field(
                "health_url",
                &self.health_url.as_deref().map(without_userinfo),
            )
            .finish()
    }
}

/// A text that must not be shown: `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A client certificate: a .p12 file and the password that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The credential's name, for messages and the protocol log.
    pub name: String,
    pub p12_file: PathBuf,
    pub password: Secret,
}

/// HTTPS POSTs with an optional client certificate.
pub struct HttpTransport {
    client: Client,
    /// Drives the client: requests are awaited on the thread that asks, the connections
    /// live on the runtime's worker.
    runtime: tokio::runtime::Runtime,
    url: reqwest::Url,
    endpoint: String,
    credential: Option<String>,
    /// The credential's .p12 file, for messages.
    credential_file: Option<PathBuf>,
    timeout: Duration,
    connect_timeout: Duration,
    /// The same TLS setup as the client's, for the handshake-only reachability check.
    tls: Arc<ClientConfig>,
    health_url: Option<reqwest::Url>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("endpoint", &self.endpoint)
            .field("credential", &self.credential)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A key and its certificate chain, read from a .p12.
pub(crate) struct Loaded {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl HttpTransport {
    /// Opens the credential and builds the client; connects to nothing.
    pub fn new(
        config: HttpConfig,
        identity: Option<ClientIdentity>,
    ) -> Result<HttpTransport, TransportError> {
        let url = reqwest::Url::parse(&config.url).map_err(|e| {
            TransportError::permanent(format!(
                "http transport: invalid URL {}: {e}",
                without_userinfo(&config.url)
            ))
        })?;
        let endpoint = without_userinfo(&config.url);
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(TransportError::permanent(format!(
                "http transport: {endpoint} is not an http or https URL"
            )));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::permanent(format!("{endpoint}: TLS setup: {e}")))?;
        let builder = match &config.ca_file {
            Some(ca_file) => builder.with_root_certificates(read_roots(ca_file)?),
            None => {
                let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
                    TransportError::permanent(format!(
                        "{endpoint}: cannot load the platform's trusted certificates: {e}"
                    ))
                })?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
        };
        let mut tls = match &identity {
            Some(id) => {
                let Loaded { chain, key } = load_identity(id, SystemTime::now())?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    TransportError::permanent(format!(
                        "credential {} ({}): the key cannot be used for TLS: {e}",
                        id.name,
                        id.p12_file.display()
                    ))
                })?
            }
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let health_url = match &config.health_url {
            Some(h) => Some(reqwest::Url::parse(h).map_err(|e| {
                TransportError::permanent(format!(
                    "http transport: invalid health_url {}: {e}",
                    without_userinfo(h)
                ))
            })?),
            None => None,
        };
        let handshake_tls = Arc::new(tls.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hub-http")
            .enable_all()
            .build()
            .map_err(|e| {
                TransportError::permanent(format!("{endpoint}: cannot start a runtime: {e}"))
            })?;
        let client = Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // A redirect is an answer for the plugin, never a silent second POST.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                TransportError::permanent(format!(
                    "{endpoint}: cannot build the HTTP client: {}",
                    chain_text(&e)
                ))
            })?;
        Ok(HttpTransport {
            client,
            runtime,
            url,
            endpoint,
            credential_file: identity.as_ref().map(|i| i.p12_file.clone()),
            credential: identity.map(|i| i.name),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            tls: handshake_tls,
            health_url,
        })
    }

    /// One request: [`Transport::request`]; several are driven together by
    /// [`Transport::request_many`].
    async fn send_one(&self, out: &crate::Outgoing<'_>) -> Result<Response, TransportError> {
        let crate::Outgoing {
            name,
            media_type,
            bytes,
            idempotency_key,
            shape,
        } = *out;
        let header = |what: &str, value: &str| {
            HeaderValue::from_str(value).map_err(|_| {
                TransportError::permanent(format!(
                    "{}: payload {name}: {what} {value:?} is not a valid header value",
                    self.endpoint
                ))
            })
        };
        let content_type = header("media type", media_type)?;
        let key = header("idempotency key", idempotency_key)?;
        // A shaped request is checked before anything goes out: refused, nothing is sent.
        let (method, url) = match shape {
            None => (reqwest::Method::POST, self.url.clone()),
            Some(s) => crate::shape::target_url(&self.url, s).map_err(|why| {
                TransportError::permanent(format!(
                    "{}: payload {name}: the plugin's request refused: {why}; nothing was sent",
                    self.endpoint
                ))
            })?,
        };
        let mut req = self.client.request(method.clone(), url.clone());
        for (k, v) in shape.map(|s| s.headers.as_slice()).unwrap_or_default() {
            let value = header(&format!("header {k}"), v)?;
            req = req.header(k.as_str(), value);
        }
        tracing::debug!(endpoint = %self.endpoint, payload = name, bytes = bytes.len(), method = %method, path = url.path(), "request");
        let response = req
            .header(CONTENT_TYPE, content_type)
            .header("Idempotency-Key", key)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| self.classify(&e, true))?;
        let answer = self.read_answer(response, true).await?;
        tracing::debug!(endpoint = %self.endpoint, payload = name, status = answer.status, "answer");
        Ok(answer)
    }

    /// Status, headers and body of an answer; `sent`: whether a payload went with the
    /// request (a body lost on the way back leaves its outcome unknown).
    async fn read_answer(
        &self,
        response: reqwest::Response,
        sent: bool,
    ) -> Result<Response, TransportError> {
        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| self.classify(&e, sent))?
            .to_vec();
        Ok(Response {
            status: Some(status),
            headers,
            body,
        })
    }

    /// The client certificate in use, for messages.
    fn credential_text(&self) -> String {
        match (&self.credential, &self.credential_file) {
            (Some(name), Some(file)) => {
                format!("client certificate {name} ({})", file.display())
            }
            (Some(name), None) => format!("client certificate {name}"),
            _ => "request without a client certificate".to_string(),
        }
    }

    /// A TLS failure in words; all are permanent (a person must fix a certificate).
    fn tls_failure(&self, tls: &rustls::Error) -> TransportError {
        let endpoint = &self.endpoint;
        let credential = self.credential_text();
        let message = match tls {
            rustls::Error::AlertReceived(alert) if rejects_client_cert(*alert) => {
                format!("{endpoint}: the server rejected the {credential}: TLS alert {alert:?}")
            }
            rustls::Error::AlertReceived(alert) => format!(
                "{endpoint}: the server ended the TLS handshake (alert {alert:?}; {credential})"
            ),
            rustls::Error::InvalidCertificate(why) => format!(
                "{endpoint}: the server's certificate is not trusted ({why:?}); \
                 check the CA file or the URL's host name"
            ),
            other => format!("{endpoint}: TLS failed: {other}"),
        };
        TransportError::permanent(message)
    }

    /// Connects and completes a TLS handshake with the credential, then closes: proves
    /// the server, the certificate and its password without sending a request, so a
    /// POST-only receiver (HEAD → 501) and one that acts on every GET are both safe.
    fn handshake(&self) -> Result<(), TransportError> {
        use std::io::Read;
        use std::net::{TcpStream, ToSocketAddrs};
        let endpoint = &self.endpoint;
        let host = self.url.host_str().unwrap_or_default().to_string();
        let port = self.url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<_> = (host.trim_matches(['[', ']']), port)
            .to_socket_addrs()
            .map_err(|e| TransportError::retryable(format!("cannot connect to {endpoint}: {e}")))?
            .collect();
        let mut last = None;
        let mut sock = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(mut sock) = sock else {
            return Err(TransportError::retryable(format!(
                "cannot connect to {endpoint}: {}",
                last.map_or("no address".to_string(), |e| e.to_string())
            )));
        };
        if self.url.scheme() == "http" {
            return Ok(());
        }
        let io = |e: std::io::Error| TransportError::retryable(format!("{endpoint}: {e}"));
        sock.set_read_timeout(Some(self.connect_timeout))
            .map_err(io)?;
        sock.set_write_timeout(Some(self.connect_timeout))
            .map_err(io)?;
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| TransportError::permanent(format!("{endpoint}: host name: {e}")))?;
        let mut conn = rustls::ClientConnection::new(self.tls.clone(), name)
            .map_err(|e| self.tls_failure(&e))?;
        let fail = |e: std::io::Error| match find_rustls_error(&e) {
            Some(tls) => self.tls_failure(tls),
            None => TransportError::retryable(format!(
                "{endpoint}: TLS handshake did not complete: {e}"
            )),
        };
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(fail)?;
        }
        // With TLS 1.3 a server judges the client certificate after the client's last
        // handshake message: its refusal arrives as an alert on the next read.
        conn.send_close_notify();
        let _ = conn.complete_io(&mut sock);
        let mut stream = rustls::Stream::new(&mut conn, &mut sock);
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    return match find_rustls_error(&e) {
                        Some(tls) => Err(self.tls_failure(tls)),
                        // A server that closes without close_notify, or keeps quiet.
                        None => Ok(()),
                    };
                }
            }
        }
    }

    /// Turns a failed exchange into an error of the right kind. `sent`: whether a payload
    /// may have reached the server (false for the health check).
    fn classify(&self, e: &reqwest::Error, sent: bool) -> TransportError {
        let endpoint = &self.endpoint;
        if let Some(tls) = find_rustls_error(e) {
            return self.tls_failure(tls);
        }
        let detail = chain_text(e);
        if e.is_builder() {
            return TransportError::permanent(format!("{endpoint}: {detail}"));
        }
        if e.is_connect() {
            return TransportError::retryable(format!("cannot connect to {endpoint}: {detail}"));
        }
        if !sent {
            return TransportError::retryable(format!("{endpoint}: {detail}"));
        }
        let message = if e.is_timeout() {
            format!(
                "{endpoint}: no answer within {:?}; the request may have arrived",
                self.timeout
            )
        } else {
            format!("{endpoint}: the answer was lost ({detail}); the request may have arrived")
        };
        TransportError::unknown(message)
    }

    fn sends_requests(&self, verb: &str, name: &str) -> TransportError {
        TransportError::permanent(format!(
            "{} sends requests; it cannot {verb} {name}",
            self.endpoint
        ))
    }
}

impl Transport for HttpTransport {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn credential(&self) -> Option<String> {
        self.credential.clone()
    }

    fn put_temp(&mut self, name: &str, _bytes: &[u8]) -> Result<(), TransportError> {
        Err(self.sends_requests("store a file as", name))
    }

    fn make_final(&mut self, name: &str) -> Result<(), TransportError> {
        Err(self.sends_requests("rename a file to", name))
    }

    fn remove_temp(&mut self, name: &str) -> Result<(), TransportError> {
        Err(self.sends_requests("remove a temporary file for", name))
    }

    fn inspect(&mut self, name: &str) -> Result<RemoteState, TransportError> {
        Err(self.sends_requests("look for a file named", name))
    }

    fn request(
        &mut self,
        name: &str,
        media_type: &str,
        bytes: &[u8],
        idempotency_key: &str,
        shape: Option<&hub_plugin_sdk::RequestShape>,
    ) -> Result<Response, TransportError> {
        self.runtime.block_on(self.send_one(&crate::Outgoing {
            name,
            media_type,
            bytes,
            idempotency_key,
            shape,
        }))
    }

    /// The requests side by side on the client's one connection pool (HTTP/1.1: a
    /// connection per request in flight, kept alive for the next ones), driven together on
    /// this thread. A request that panics is an answer not known, as a lost one is.
    fn request_many(
        &mut self,
        requests: &[crate::Outgoing<'_>],
    ) -> Vec<Result<Response, TransportError>> {
        use futures_util::FutureExt;
        let this = &*self;
        let all = requests.iter().map(|r| {
            std::panic::AssertUnwindSafe(this.send_one(r))
                .catch_unwind()
                .map(|sent| {
                    sent.unwrap_or_else(|_| {
                        Err(TransportError::unknown(format!(
                            "{}: sending a request panicked; whether it arrived is not known",
                            this.endpoint
                        )))
                    })
                })
        });
        this.runtime.block_on(futures_util::future::join_all(all))
    }

    /// Reachability without side effects: a TLS handshake with the credential, or, where
    /// `health_url` is configured, a `GET` of it (5xx: retry later, honouring
    /// `Retry-After`; 4xx: the URL or the credential is wrong).
    fn health(&mut self) -> Result<(), TransportError> {
        let Some(url) = self.health_url.clone() else {
            return self.handshake();
        };
        let response = self
            .runtime
            .block_on(async { self.client.get(url).send().await })
            .map_err(|e| self.classify(&e, false))?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            return Ok(());
        }
        let message = format!(
            "{}: the health URL answered HTTP {}",
            self.endpoint,
            status.as_u16()
        );
        if status.is_server_error() || status.as_u16() == 429 {
            let mut e = TransportError::retryable(message);
            e.retry_after =
                crate::retry_after(&header_pairs(response.headers()), SystemTime::now());
            return Err(e);
        }
        Err(TransportError::permanent(message))
    }

    /// The plugin's question goes to this target's own host only: `GET` or `POST`, a path
    /// starting with one `/`, printable, at most 2 KiB; its headers must be valid.
    fn ask(&mut self, q: &hub_plugin_sdk::Question) -> Result<Response, TransportError> {
        let refuse = |why: &str| {
            TransportError::permanent(format!(
                "{}: the plugin's status question refused: {why}",
                self.endpoint
            ))
        };
        let method = match q.method.as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            _ => return Err(refuse("only GET or POST")),
        };
        if !q.path.starts_with('/')
            || q.path.starts_with("//")
            || q.path.len() > 2048
            || q.path.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(refuse(
                "the path must start with one `/`, printable, at most 2 KiB",
            ));
        }
        let url = self
            .url
            .join(&q.path)
            .map_err(|e| refuse(&format!("bad path: {e}")))?;
        if url.origin() != self.url.origin() {
            return Err(refuse("the path leaves the target's host"));
        }
        let mut req = self.client.request(method, url).body(q.body.clone());
        for (k, v) in &q.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| refuse("a header name is not valid"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| refuse("a header value is not valid"))?;
            req = req.header(name, value);
        }
        self.runtime.block_on(async {
            let response = req.send().await.map_err(|e| self.classify(&e, false))?;
            self.read_answer(response, false).await
        })
    }

    fn digest(&mut self, name: &str) -> Result<Option<crate::Digest>, TransportError> {
        Err(self.sends_requests("read back a file named", name))
    }

    fn delivers_files(&self) -> bool {
        false
    }
}

/// Headers as the plugin contract carries them (values not UTF-8 are shown lossily).
fn header_pairs(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The URL without user name and password (also when it cannot be parsed: then everything
/// between `://` and the last `@` of the authority is dropped).
fn without_userinfo(url: &str) -> String {
    if let Ok(mut u) = reqwest::Url::parse(url) {
        let _ = u.set_username("");
        let _ = u.set_password(None);
        return u.to_string();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

/// The CA certificates of a PEM file.
pub(crate) fn read_roots(ca_file: &Path) -> Result<RootCertStore, TransportError> {
    let fail =
        |why: String| TransportError::permanent(format!("CA file {}: {why}", ca_file.display()));
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| fail(pem_error(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(pem_error(&e)))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| fail(format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("{other:?}"),
    }
}

/// Opens the .p12 and checks its certificate's validity period against `now`.
pub(crate) fn load_identity(
    id: &ClientIdentity,
    now: SystemTime,
) -> Result<Loaded, TransportError> {
    let fail = |why: String| {
        TransportError::permanent(format!(
            "credential {} ({}): {why}",
            id.name,
            id.p12_file.display()
        ))
    };
    let bytes = std::fs::read(&id.p12_file).map_err(|e| fail(format!("cannot read: {e}")))?;
    let store = KeyStore::from_pkcs12(&bytes, id.password.expose(), Pkcs12ImportPolicy::Strict)
        .map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => {
                fail("wrong password (the file's integrity check failed)".into())
            }
            other => fail(format!("not a readable PKCS#12 file ({other})")),
        })?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(fail("holds no private key with its certificate".into()));
    };
    let Some(leaf) = chain.certs().first() else {
        return Err(fail("holds a private key without a certificate".into()));
    };
    check_validity(leaf.as_der(), now).map_err(fail)?;
    Ok(Loaded {
        chain: chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec())),
    })
}

/// Whether a DER certificate is valid at `now` (notBefore ≤ now ≤ notAfter).
fn check_validity(der: &[u8], now: SystemTime) -> Result<(), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the client certificate cannot be read ({e})"))?;
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    let validity = cert.validity();
    let subject = cert.subject().to_string();
    if now > validity.not_after.timestamp() {
        return Err(format!(
            "the client certificate ({subject}) expired on {}",
            validity.not_after
        ));
    }
    if now < validity.not_before.timestamp() {
        return Err(format!(
            "the client certificate ({subject}) is not valid before {}",
            validity.not_before
        ));
    }
    Ok(())
}

/// Alerts a server sends when it does not accept the client certificate.
fn rejects_client_cert(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError
    )
}

/// The rustls error somewhere in the chain: as a source, or inside an `io::Error` (whose
/// `source()` skips the error it wraps).
fn find_rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = find_rustls_error(inner)
        {
            return Some(tls);
        }
        current = err.source();
    }
    None
}

/// The messages of an error's sources on one line, without reqwest's own top line (which
/// carries the full URL).
fn chain_text(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = e.source();
    while let Some(err) = current {
        let text = err.to_string().replace(['\n', '\r'], " ");
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        current = err.source();
    }
    if parts.is_empty() {
        if e.is_timeout() {
            return "timed out".into();
        }
        return "request failed".into();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn secrets_never_print() {
        let id = ClientIdentity {
            name: "kita-central".into(),
            p12_file: "/x/c.p12".into(),
            password: Secret::new("hunter2"),
        };
        let shown = format!("{id:?} {} {:?}", id.password, id.password);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(id.password.expose(), "hunter2");
    }

    #[test]
    fn endpoints_drop_userinfo() {
        assert_eq!(
            without_userinfo("https://u:pw@example.org:8443/a/b?x=1"),
            "https://example.org:8443/a/b?x=1"
        );
        assert_eq!(
            without_userinfo("https://example.org/a"),
            "https://example.org/a"
        );
        assert_eq!(without_userinfo("weird://u:pw@h x/p"), "weird://h x/p");
        let config = HttpConfig {
            url: "https://u:pw@example.org/".into(),
            ca_file: None,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            health_url: None,
        };
        assert!(!format!("{config:?}").contains("pw"));
    }

    #[test]
    fn a_missing_p12_names_credential_and_file() {
        let id = ClientIdentity {
            name: "kita-central".into(),
            p12_file: "/nonexistent/c.p12".into(),
            password: Secret::new("hunter2"),
        };
        let Err(e) = load_identity(&id, SystemTime::now()) else {
            panic!("a missing file loaded");
        };
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains("kita-central"), "{}", e.message);
        assert!(e.message.contains("/nonexistent/c.p12"), "{}", e.message);
        assert!(!e.message.contains("hunter2"));
        assert!(!e.message.contains('\n'));
    }

    #[test]
    fn file_verbs_say_this_transport_sends_requests() {
        let mut t = HttpTransport::new(
            HttpConfig {
                url: "https://example.invalid/import".into(),
                ca_file: None,
                connect_timeout: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                health_url: None,
            },
            None,
        )
        .expect("no I/O happens in new");
        assert!(!t.delivers_files());
        assert_eq!(t.credential(), None);
        for e in [
            t.put_temp("a.json", b"x").err(),
            t.make_final("a.json").err(),
            t.remove_temp("a.json").err(),
            t.inspect("a.json").err(),
        ] {
            let e = e.expect("file verbs fail");
            assert_eq!(e.kind, ErrorKind::Permanent);
            assert!(e.message.contains("sends requests"), "{}", e.message);
        }
    }

    #[test]
    fn a_plugins_status_question_stays_on_the_targets_host() {
        let mut t = HttpTransport::new(
            HttpConfig {
                url: "https://example.invalid/kitaplaner/api/import".into(),
                ca_file: None,
                connect_timeout: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                health_url: None,
            },
            None,
        )
        .expect("no I/O happens in new");
        let q = |method: &str, path: &str| hub_plugin_sdk::Question {
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (method, path) in [
            ("DELETE", "/x"),
            ("GET", "x"),
            ("GET", "//evil.example/x"),
            ("GET", "/a b"),
            ("GET", "/a\nb"),
        ] {
            let e = t.ask(&q(method, path)).expect_err(path);
            assert_eq!(e.kind, ErrorKind::Permanent, "{path}");
            assert!(
                e.message.contains("status question refused"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn invalid_urls_are_permanent() {
        let e = HttpTransport::new(
            HttpConfig {
                url: "not a url".into(),
                ca_file: None,
                connect_timeout: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                health_url: None,
            },
            None,
        )
        .expect_err("invalid URL");
        assert_eq!(e.kind, ErrorKind::Permanent);
    }
}
