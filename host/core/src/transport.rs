//! The transport port: the few verbs the pipeline needs from any protocol (put a payload
//! under a temporary name, make it final, inspect what the remote side holds, send a
//! request), and errors that say whether a retry is worth it. Defined here, with no I/O,
//! so the engine and its tests know transports only by this trait; `hub-transports`
//! implements it for each protocol.

use crate::config::TransportConfig;
use hub_plugin_sdk::Response;
use thiserror::Error;

/// Whether an error is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Connection refused, timeout, 5xx, a full disk: the same bytes may go through later.
    Retryable,
    /// Refused certificate, wrong password, 4xx, a name already taken: a person must act.
    Permanent,
    /// The request may or may not have arrived (the answer was lost).
    Unknown,
}

/// A failed transport step, with a message fit for the protocol log (never a secret).
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: ErrorKind,
    pub message: String,
    /// How long the server asked us to wait (`Retry-After`), where it said so.
    pub retry_after: Option<std::time::Duration>,
}

impl TransportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Retryable,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The request may have arrived; nobody can tell from here.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Unknown,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP date (RFC 9110
/// §10.2.3), capped at an hour so a hostile or broken server cannot park a target for ever.
pub fn retry_after(
    headers: &[(String, String)],
    now: std::time::SystemTime,
) -> Option<std::time::Duration> {
    const CAP: std::time::Duration = std::time::Duration::from_secs(3600);
    let value = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.trim())?;
    let wait = match value.parse::<u64>() {
        Ok(seconds) => std::time::Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or_default(),
    };
    Some(wait.min(CAP))
}

/// What the remote side holds for one payload name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteState {
    pub final_present: bool,
    pub temp_present: bool,
}

/// What a file under a final name holds, read back over the transport's own connection:
/// compared with what the hub wrote before a file found in place is called delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub size: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes, sha256 {}",
            self.size,
            self.sha256.get(..16).unwrap_or(&self.sha256)
        )
    }
}

/// One request of several sent at once ([`Transport::request_many`]): what
/// [`Transport::request`] takes.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub name: &'a str,
    pub media_type: &'a str,
    pub bytes: &'a [u8],
    pub idempotency_key: &'a str,
    pub shape: Option<&'a hub_plugin_sdk::RequestShape>,
}

/// One protocol.
pub trait Transport: Send {
    /// Where payloads go, for the protocol log; never with credentials.
    fn endpoint(&self) -> String;

    /// The name of the credential this transport authenticates with, if any.
    fn credential(&self) -> Option<String> {
        None
    }

    /// Writes a payload under its temporary name, replacing a partial earlier try.
    fn put_temp(&mut self, name: &str, bytes: &[u8]) -> Result<(), TransportError>;

    /// Writes a payload of `size` bytes read from `bytes` under its temporary name. The
    /// default reads it whole and calls [`Transport::put_temp`]; `dir` streams it.
    fn put_temp_from(
        &mut self,
        name: &str,
        bytes: &mut dyn std::io::Read,
        size: u64,
    ) -> Result<(), TransportError> {
        let mut all = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        bytes.read_to_end(&mut all).map_err(|e| {
            TransportError::retryable(format!("{name}: cannot read what to send: {e}"))
        })?;
        self.put_temp(name, &all)
    }

    /// Writes several small payloads under their temporary names: the result of each, in
    /// order. Where the protocol can keep several requests in flight (SFTP), their round
    /// trips overlap; the default writes one after another.
    fn put_temps(&mut self, files: &[(&str, &[u8])]) -> Vec<Result<(), TransportError>> {
        files
            .iter()
            .map(|(name, bytes)| self.put_temp(name, bytes))
            .collect()
    }

    /// Moves the temporary file to its final name; never replaces an existing file.
    fn make_final(&mut self, name: &str) -> Result<(), TransportError>;

    /// Moves several temporary files to their final names, in order, stopping at the
    /// first that fails: the results of those tried, the last of them the failure if one
    /// failed. Never replaces an existing file. The default calls
    /// [`Transport::make_final`] for each.
    fn make_finals(&mut self, names: &[&str]) -> Vec<Result<(), TransportError>> {
        each_final(self, names)
    }

    /// Removes a leftover temporary file (after a crash between link and unlink).
    fn remove_temp(&mut self, name: &str) -> Result<(), TransportError>;

    /// What the remote side holds for `name`.
    fn inspect(&mut self, name: &str) -> Result<RemoteState, TransportError>;

    /// Size and SHA-256 of the file under the final name `name`, read back (streamed),
    /// or `None` when there is none.
    fn digest(&mut self, name: &str) -> Result<Option<Digest>, TransportError>;

    /// Sends one payload as a request and returns the answer (request-response targets):
    /// a `POST` to the target's URL, or as `shape` says (contract 0.2.1, checked by
    /// [`crate::request::check_shape`] when it was recorded; the transport checks again).
    fn request(
        &mut self,
        name: &str,
        _media_type: &str,
        _bytes: &[u8],
        _idempotency_key: &str,
        _shape: Option<&hub_plugin_sdk::RequestShape>,
    ) -> Result<Response, TransportError> {
        Err(TransportError::permanent(format!(
            "{} cannot send {name} as a request: it delivers files",
            self.endpoint()
        )))
    }

    /// Sends several independent payloads as requests at once (a pipelined send) and
    /// returns each answer or error in the order given. The default sends them one after
    /// another; `http` sends them side by side over its connection pool.
    fn request_many(&mut self, requests: &[Outgoing<'_>]) -> Vec<Result<Response, TransportError>> {
        requests
            .iter()
            .map(|r| self.request(r.name, r.media_type, r.bytes, r.idempotency_key, r.shape))
            .collect()
    }

    /// Sends a plugin's question about an earlier request (contract 0.1.1 `inquiry`) to
    /// the same host with the same credential, and returns the answer.
    fn ask(&mut self, question: &hub_plugin_sdk::Question) -> Result<Response, TransportError> {
        Err(TransportError::permanent(format!(
            "{} cannot be asked `{} {}`: it delivers files",
            self.endpoint(),
            question.method,
            question.path
        )))
    }

    /// Whether the target is reachable, without sending anything.
    fn health(&mut self) -> Result<(), TransportError>;

    /// Whether this transport delivers files (file-drop) or requests (request-response).
    fn delivers_files(&self) -> bool {
        true
    }
}

/// Whether a transport of this configuration delivers files (else: requests).
pub fn delivers_files(config: &TransportConfig) -> bool {
    !matches!(config, TransportConfig::Http { .. })
}

/// [`Transport::make_finals`] one file at a time: in order, up to the first failure.
pub fn each_final<T: Transport + ?Sized>(
    transport: &mut T,
    names: &[&str],
) -> Vec<Result<(), TransportError>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let result = transport.make_final(name);
        let stop = result.is_err();
        out.push(result);
        if stop {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn retry_after_takes_seconds_and_dates_and_is_capped() {
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after(&h("120"), now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after(&h("99999"), now),
            Some(Duration::from_secs(3600))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&h(&later), now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&h(&past), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&h("soon"), now), None);
        assert_eq!(retry_after(&[], now), None);
    }
}
