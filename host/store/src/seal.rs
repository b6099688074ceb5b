//! Encryption at rest: record bodies and payload bytes sealed with XChaCha20-Poly1305
//! under the tenant's current key, each stored value beside the id of the key that sealed
//! it (`records.body_key`, `payload_bytes.key_id`), so that keys can rotate and a deleted
//! key makes exactly its data unreadable (crypto-shredding).
//!
//! The keys come from the configuration's secret reader, never from the store; the store
//! only keeps, per key id, a value sealed under it (`seal_keys`), so that a different key
//! under a known id is refused before it writes or misreads anything. Hashes (SHA-256 of
//! bodies and payloads) are always of the plaintext: sealing changes nothing a receiver
//! or an auditor compares.
//!
//! A sealed value is a run of frames, one per 64 KiB of plaintext: a random 24-byte nonce,
//! then the chunk's ciphertext and tag. Each frame's associated data names the format, what
//! the value is, the key id, the frame's index and whether it is the last, so frames cannot
//! be swapped, dropped or moved to another key's column. Reading needs one frame in memory
//! at a time ([`open_frames`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hub_core::time::Timestamp;
use serde::Serialize;
use thiserror::Error;

/// Plaintext bytes per frame.
mod stream;
pub use stream::{open_stream, sealed_len};

pub const CHUNK: usize = 64 * 1024;
const NONCE: usize = 24;
const TAG: usize = 16;
const FORMAT: &[u8] = b"hub-seal-1";

/// What a sealed value is: bound into every frame, so a body cannot pass for a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    RecordBody,
    PayloadBytes,
    KeyCheck,
    /// A record version's body on the receiving side.
    ReceivedBody,
    /// An archive as it arrived.
    ReceivedArchive,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::RecordBody => "record-body",
            Purpose::PayloadBytes => "payload-bytes",
            Purpose::KeyCheck => "key-check",
            Purpose::ReceivedBody => "received-body",
            Purpose::ReceivedArchive => "received-archive",
        }
    }
}

/// Why a value could not be sealed or opened. Never holds key material.
#[derive(Debug, Error)]
pub enum SealError {
    #[error(
        "encryption key id `{0}`: use lower-case letters, digits and `-`, starting with a letter"
    )]
    BadId(String),
    #[error("[encryption] current = `{0}` is not one of the configured keys")]
    NoCurrent(String),
    #[error(
        "{what} is sealed under key `{key}`, which is not configured: the key was deleted \
         (crypto-shredded) or is missing from [encryption.keys]"
    )]
    KeyMissing { what: String, key: String },
    #[error(
        "{what} cannot be opened with key `{key}`: the configured key is not the one it was \
         sealed with, or the stored bytes were altered"
    )]
    Refused { what: String, key: String },
    #[error("{what}: the sealed value is malformed ({why})")]
    Malformed { what: String, why: &'static str },
    #[error(
        "key `{0}` is not the key this store's data under that id was sealed with: the \
         configured file or variable holds another key (refused before anything was read \
         or written)"
    )]
    WrongKey(String),
    #[error("no [encryption] current key: there is no key to seal under")]
    NoCurrentKey,
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("{0}")]
    Io(String),
}

type Result<T> = std::result::Result<T, SealError>;

/// The store's side of encryption at rest, beside [`Store`](crate::Store): every backend
/// implements it, and [`HubStore`](crate::HubStore) asks for it.
pub trait Sealing {
    /// Seals new bodies and bytes under `ring`'s current key from now on and opens older
    /// ones with its keys. Each key is checked against the value the store sealed under
    /// its id when first seen (recorded now for a new id): another key under a known id
    /// is refused with [`SealError::WrongKey`].
    fn set_keyring(&mut self, ring: Option<Arc<Keyring>>, now: Timestamp) -> crate::Result<()>;

    /// How many bodies (not purged) and payloads each key sealed; `key: None` counts
    /// those stored plain.
    fn key_uses(&mut self) -> crate::Result<Vec<KeyUse>>;

    /// Re-seals up to `limit` bodies and `limit` payloads sealed under `from` (`None`:
    /// stored plain) under the current key, in one transaction; returns how many of each.
    fn reseal_batch(&mut self, from: Option<&str>, limit: usize) -> crate::Result<(u64, u64)>;
}

/// How many stored values one key sealed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyUse {
    /// `None`: stored plain (before encryption was configured).
    pub key: Option<String>,
    /// Record bodies, sent (not purged) and received.
    pub records: u64,
    /// Payloads sent and archives arrived.
    pub payloads: u64,
}

/// What [`Sealing::key_uses`] counts, in SQL both backends run as it is: (a query of
/// key id and count, whether it counts bodies rather than files).
pub(crate) const KEY_USES: &[(&str, bool)] = &[
    (
        "SELECT body_key, count(*) FROM records WHERE purged_at IS NULL GROUP BY body_key",
        true,
    ),
    (
        "SELECT key_id, count(*) FROM payload_bytes GROUP BY key_id",
        false,
    ),
    (
        "SELECT body_key, count(*) FROM record_versions GROUP BY body_key",
        true,
    ),
    (
        "SELECT t.bytes_key, count(*) FROM inbound_transports t
         JOIN inbound_bytes b ON b.transport = t.id GROUP BY t.bytes_key",
        false,
    ),
];

/// Adds `n` bodies (`records`) or payloads under `key` to `uses`.
pub(crate) fn add_use(uses: &mut Vec<KeyUse>, key: Option<String>, records: bool, n: i64) {
    let n = u64::try_from(n).unwrap_or(0);
    let i = match uses.iter().position(|u| u.key == key) {
        Some(i) => i,
        None => {
            uses.push(KeyUse {
                key,
                ..KeyUse::default()
            });
            uses.len() - 1
        }
    };
    if records {
        uses[i].records += n;
    } else {
        uses[i].payloads += n;
    }
}

pub(crate) fn wrong_key(id: &str) -> SealError {
    SealError::WrongKey(id.to_string())
}

pub(crate) fn no_current() -> SealError {
    SealError::NoCurrentKey
}

/// What `hub rekey` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resealed {
    /// The key everything readable is sealed under now.
    pub key: String,
    /// Bodies and payloads re-sealed (from older keys, or stored plain before).
    pub records: u64,
    pub payloads: u64,
    /// What is sealed under keys this configuration does not have: left as it is.
    pub unreadable: Vec<KeyUse>,
}

/// Re-seals everything sealed under an older configured key, or stored plain, under the
/// current key, `batch` rows a transaction; values under keys not configured stay as they
/// are and are reported. Appends one audit entry signed `who`.
pub fn reseal<S: Sealing + crate::protection::Protection + ?Sized>(
    store: &mut S,
    ring: &Keyring,
    who: &str,
    now: Timestamp,
    batch: usize,
) -> crate::Result<Resealed> {
    let current = ring.current().ok_or_else(no_current)?;
    let mut done = Resealed {
        key: current.to_string(),
        ..Resealed::default()
    };
    let mut from_keys = Vec::new();
    for u in store.key_uses()? {
        match u.key.as_deref() {
            Some(k) if k == current => {}
            Some(k) if !ring.keys.contains_key(k) => done.unreadable.push(u),
            _ => from_keys.push(u.key),
        }
    }
    for from in &from_keys {
        loop {
            let (r, p) = store.reseal_batch(from.as_deref(), batch.max(1))?;
            done.records += r;
            done.payloads += p;
            if r + p == 0 {
                break;
            }
        }
    }
    if done.records + done.payloads > 0 {
        let from: Vec<&str> = from_keys
            .iter()
            .map(|k| k.as_deref().unwrap_or("plain"))
            .collect();
        store.audit_append(&[crate::protection::NewAuditEntry {
            at: now,
            actor: who.to_string(),
            action: "rekey".into(),
            target: None,
            subject: format!("key `{current}`"),
            detail: format!(
                "{} record bodies and {} payloads re-sealed under key `{current}` (from: {})",
                done.records,
                done.payloads,
                from.join(", ")
            ),
        }])?;
    }
    Ok(done)
}

/// The keys of one tenant (one configuration file): the one new data is sealed under, and
/// every older one still configured so that what it sealed stays readable.
pub struct Keyring {
    current: Option<String>,
    keys: BTreeMap<String, XChaCha20Poly1305>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// A keyring of 32-byte keys by id; with `current`, new values are sealed under it,
    /// without, nothing new is sealed (the keys only open what they sealed before).
    pub fn new(current: Option<&str>, keys: Vec<(String, [u8; 32])>) -> Result<Self> {
        let mut ring = BTreeMap::new();
        for (id, key) in keys {
            if hub_core::names::check_config_name(&id).is_err() {
                return Err(SealError::BadId(id));
            }
            ring.insert(id, XChaCha20Poly1305::new(&key.into()));
        }
        if let Some(c) = current
            && !ring.contains_key(c)
        {
            return Err(SealError::NoCurrent(c.to_string()));
        }
        Ok(Self {
            current: current.map(str::to_string),
            keys: ring,
        })
    }

    /// The key new values are sealed under.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The ids of every configured key.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Seals `plain` under the current key: `None` when there is none.
    pub fn seal(&self, purpose: Purpose, plain: &[u8]) -> Result<Option<(&str, Vec<u8>)>> {
        let Some(id) = self.current.as_deref() else {
            return Ok(None);
        };
        self.seal_with(id, purpose, plain).map(|v| Some((id, v)))
    }

    fn seal_with(&self, id: &str, purpose: Purpose, plain: &[u8]) -> Result<Vec<u8>> {
        let cipher = self.cipher(id, &|| "a value".into())?;
        let chunks = plain.len().div_ceil(CHUNK).max(1);
        let mut out = Vec::with_capacity(plain.len() + chunks * (NONCE + TAG));
        for i in 0..chunks {
            let chunk = &plain[(i * CHUNK).min(plain.len())..((i + 1) * CHUNK).min(plain.len())];
            out.extend_from_slice(&seal_frame(cipher, purpose, id, i, i + 1 == chunks, chunk)?);
        }
        Ok(out)
    }

    fn cipher(&self, id: &str, what: &dyn Fn() -> String) -> Result<&XChaCha20Poly1305> {
        self.keys.get(id).ok_or_else(|| SealError::KeyMissing {
            what: what(),
            key: id.to_string(),
        })
    }

    /// Opens a value sealed under key `id`; `what` names it in an error ("record #12").
    pub fn open(
        &self,
        id: &str,
        purpose: Purpose,
        sealed: &[u8],
        what: impl Fn() -> String,
    ) -> Result<Vec<u8>> {
        let mut plain = Vec::with_capacity(sealed.len());
        open_frames(self, id, purpose, sealed, &what, |chunk| {
            plain.extend_from_slice(chunk)
        })?;
        Ok(plain)
    }

    /// A value sealed under key `id` whose only use is to show later that a key configured
    /// under that id is the same key ([`Keyring::check`]).
    pub fn check_value(&self, id: &str) -> Result<String> {
        let sealed = self.seal_with(id, Purpose::KeyCheck, FORMAT)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// Whether the key configured as `id` opens `check` (from [`Keyring::check_value`]).
    pub fn check(&self, id: &str, check: &str) -> Result<()> {
        let what = || format!("the store's check value of key `{id}`");
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(check)
            .map_err(|_| SealError::Malformed {
                what: what(),
                why: "not base64",
            })?;
        self.open(id, Purpose::KeyCheck, &sealed, what).map(|_| ())
    }
}

/// The associated data of frame `index`.
fn aad(purpose: Purpose, id: &str, index: usize, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(FORMAT.len() + 96);
    for part in [FORMAT, purpose.as_str().as_bytes(), id.as_bytes()] {
        aad.extend_from_slice(part);
        aad.push(0);
    }
    aad.extend_from_slice(&(index as u64).to_be_bytes());
    aad.push(u8::from(last));
    aad
}

/// Opens `sealed` frame by frame, handing each plaintext chunk to `sink`: memory stays one
/// frame whatever the value's size.
pub fn open_frames(
    ring: &Keyring,
    id: &str,
    purpose: Purpose,
    sealed: &[u8],
    what: &dyn Fn() -> String,
    mut sink: impl FnMut(&[u8]),
) -> Result<()> {
    let cipher = ring.cipher(id, what)?;
    let frame = NONCE + CHUNK + TAG;
    let frames = sealed.len().div_ceil(frame).max(1);
    for i in 0..frames {
        let part = &sealed[(i * frame).min(sealed.len())..((i + 1) * frame).min(sealed.len())];
        sink(&open_frame(
            cipher,
            purpose,
            id,
            i,
            i + 1 == frames,
            part,
            what,
        )?);
    }
    Ok(())
}

/// Seals frame `index` of a value: a fresh random nonce, then the ciphertext and tag.
fn seal_frame(
    cipher: &XChaCha20Poly1305,
    purpose: Purpose,
    id: &str,
    index: usize,
    last: bool,
    chunk: &[u8],
) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE];
    chacha20poly1305::aead::common::getrandom::fill(&mut nonce)
        .map_err(|e| SealError::Random(e.to_string()))?;
    let aad = aad(purpose, id, index, last);
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: chunk,
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Malformed {
            what: "a value".into(),
            why: "too long",
        })?;
    let mut out = Vec::with_capacity(NONCE + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens frame `index` of a value sealed under key `id`.
fn open_frame(
    cipher: &XChaCha20Poly1305,
    purpose: Purpose,
    id: &str,
    index: usize,
    last: bool,
    part: &[u8],
    what: &dyn Fn() -> String,
) -> Result<Vec<u8>> {
    if part.len() < NONCE + TAG {
        return Err(SealError::Malformed {
            what: what(),
            why: "a frame is cut short",
        });
    }
    let (nonce, body) = part.split_at(NONCE);
    let mut n = [0u8; NONCE];
    n.copy_from_slice(nonce);
    let aad = aad(purpose, id, index, last);
    cipher
        .decrypt(
            &XNonce::from(n),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| SealError::Refused {
            what: what(),
            key: id.to_string(),
        })
}

/// A body as the store keeps it: sealed as base64 text under the current key, or as it
/// is without one. Returns the text and the key id.
pub(crate) fn seal_body<'a>(
    ring: Option<&'a Keyring>,
    body: &'a str,
) -> Result<(std::borrow::Cow<'a, str>, Option<&'a str>)> {
    seal_text(ring, Purpose::RecordBody, body)
}

/// Text sealed for `purpose` as base64 under the current key, or as it is without one.
pub(crate) fn seal_text<'a>(
    ring: Option<&'a Keyring>,
    purpose: Purpose,
    body: &'a str,
) -> Result<(std::borrow::Cow<'a, str>, Option<&'a str>)> {
    match ring.map(|r| r.seal(purpose, body.as_bytes())) {
        Some(Ok(Some((id, sealed)))) => Ok((
            base64::engine::general_purpose::STANDARD
                .encode(sealed)
                .into(),
            Some(id),
        )),
        Some(Err(e)) => Err(e),
        _ => Ok((body.into(), None)),
    }
}

/// A stored body opened again: as it is when `key` is `None` (plain, or purged).
pub(crate) fn open_body(
    ring: Option<&Keyring>,
    key: Option<&str>,
    stored: String,
    seq: i64,
) -> Result<String> {
    open_text(ring, Purpose::RecordBody, key, stored, &|| {
        format!("the body of record #{seq}")
    })
}

/// Text from [`seal_text`] opened again; `what` names it in an error.
pub(crate) fn open_text(
    ring: Option<&Keyring>,
    purpose: Purpose,
    key: Option<&str>,
    stored: String,
    what: &dyn Fn() -> String,
) -> Result<String> {
    let Some(id) = key else {
        return Ok(stored);
    };
    let ring = ring.ok_or_else(|| SealError::KeyMissing {
        what: what(),
        key: id.to_string(),
    })?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(stored.as_bytes())
        .map_err(|_| SealError::Malformed {
            what: what(),
            why: "not base64",
        })?;
    let plain = ring.open(id, purpose, &sealed, what)?;
    String::from_utf8(plain).map_err(|_| SealError::Malformed {
        what: what(),
        why: "not UTF-8",
    })
}

/// A record as read (its body as stored) with the id of the key that sealed the body.
pub(crate) type SealedRecord = (crate::StoredRecord, Option<String>);

/// Opens the bodies of records as read.
pub(crate) fn open_records(
    ring: Option<&Keyring>,
    rows: Vec<SealedRecord>,
) -> Result<Vec<crate::StoredRecord>> {
    rows.into_iter()
        .map(|(mut r, key)| {
            r.body = open_body(ring, key.as_deref(), r.body, r.seq)?;
            Ok(r)
        })
        .collect()
}

/// Payload bytes as the store keeps them, and the key id (`None`: plain).
pub(crate) fn seal_bytes<'a>(
    ring: Option<&'a Keyring>,
    bytes: &'a [u8],
) -> Result<(std::borrow::Cow<'a, [u8]>, Option<&'a str>)> {
    match ring.map(|r| r.seal(Purpose::PayloadBytes, bytes)) {
        Some(Ok(Some((id, sealed)))) => Ok((sealed.into(), Some(id))),
        Some(Err(e)) => Err(e),
        _ => Ok((bytes.into(), None)),
    }
}

/// Stored payload bytes opened again.
pub(crate) fn open_bytes(
    ring: Option<&Keyring>,
    key: Option<&str>,
    stored: Vec<u8>,
    payload_id: i64,
) -> Result<Vec<u8>> {
    let Some(id) = key else {
        return Ok(stored);
    };
    let what = || format!("the bytes of payload #{payload_id}");
    let ring = ring.ok_or_else(|| SealError::KeyMissing {
        what: what(),
        key: id.to_string(),
    })?;
    ring.open(id, Purpose::PayloadBytes, &stored, what)
}

/// Reads a key: 64 hex digits or standard base64 of 32 bytes (`openssl rand -hex 32`).
/// The error never quotes the text.
pub fn parse_key(text: &str) -> std::result::Result<[u8; 32], &'static str> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| "not hex")?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "neither 64 hex digits nor base64 of 32 bytes")?
    };
    bytes
        .try_into()
        .map_err(|_| "not 32 bytes (64 hex digits, or base64 of 32 bytes)")
}

#[cfg(test)]
mod tests;
