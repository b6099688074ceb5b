//! Payload bytes kept compressed in the SQLite store (schema 022, `payload_bytes.codec`).
//! G files, JSON and XML are text with repeating fields; kept as they are, a delivered
//! Prisme posting cost 123 bytes of payload in the store. Sealing, where configured,
//! seals the compressed bytes, so both are undone in the reverse order.

use std::borrow::Cow;
use std::io::Read;

use crate::{Result, StoreError};

/// The codec name in `payload_bytes.codec`.
pub(crate) const ZSTD: &str = "zstd";

/// Smaller payloads stay as they are: a few hundred bytes gain little, and a Kita POST
/// of one record should not pay for a compressor.
const MIN_SIZE: usize = 1024;

/// zstd's default level: fast to write, and reading back runs at memory speed.
const LEVEL: i32 = 3;

/// The bytes to store and their codec: compressed where that saves at least an eighth.
pub(crate) fn pack(bytes: &[u8]) -> (Cow<'_, [u8]>, Option<&'static str>) {
    if bytes.len() < MIN_SIZE {
        return (bytes.into(), None);
    }
    match zstd::bulk::compress(bytes, LEVEL) {
        Ok(small) if small.len() <= bytes.len() - bytes.len() / 8 => (small.into(), Some(ZSTD)),
        _ => (bytes.into(), None),
    }
}

/// Stored bytes (opened, if they were sealed) as they were given: `size` is the payload's
/// recorded size, which the result must have.
pub(crate) fn unpack(
    codec: Option<&str>,
    stored: Vec<u8>,
    size: u64,
    payload_id: i64,
) -> Result<Vec<u8>> {
    let bytes = match codec {
        None => stored,
        Some(ZSTD) => {
            let capacity = usize::try_from(size).map_err(|_| too_large(payload_id))?;
            zstd::bulk::decompress(&stored, capacity).map_err(|e| {
                StoreError::Damaged(format!("payload #{payload_id}: cannot decompress: {e}"))
            })?
        }
        Some(other) => return Err(unknown(other, payload_id)),
    };
    if bytes.len() as u64 != size {
        return Err(StoreError::Damaged(format!(
            "payload #{payload_id}: {} bytes stored, {size} recorded",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A reader of the payload as it was given, over a reader of the stored bytes; at most
/// `size` bytes (a short stream is the transport's to notice: it announced `size`).
pub(crate) fn reader<'a>(
    codec: Option<&str>,
    stored: impl Read + 'a,
    size: u64,
    payload_id: i64,
) -> Result<Box<dyn Read + 'a>> {
    match codec {
        None => Ok(Box::new(stored.take(size))),
        Some(ZSTD) => {
            let decoder = zstd::stream::read::Decoder::new(stored).map_err(|e| {
                StoreError::Damaged(format!("payload #{payload_id}: cannot decompress: {e}"))
            })?;
            Ok(Box::new(decoder.take(size)))
        }
        Some(other) => Err(unknown(other, payload_id)),
    }
}

/// A payload's stored bytes on their way to a transport, checked as they go: an error
/// reading or decompressing them, fewer bytes than recorded, or other bytes than the
/// recorded SHA-256 (zstd frames carry no checksum of their own) fail the read before the
/// last chunk is handed over, so the transport never completes an upload of them.
/// After the transport is done, [`Watched::fault`] tells a fault in the stored bytes
/// (another try would send the same: a person must look) from one of the connection.
pub(crate) struct Watched<R> {
    inner: R,
    size: u64,
    read: u64,
    sha256: String,
    hasher: sha2::Sha256,
    /// The payload as errors name it: `payload #12 (522-24-001-G.txt)`.
    what: String,
    fault: Option<StoreError>,
}

impl<R: Read> Watched<R> {
    pub(crate) fn new(inner: R, size: u64, sha256: String, what: String) -> Self {
        use sha2::Digest;
        Watched {
            inner,
            size,
            read: 0,
            sha256,
            hasher: sha2::Sha256::new(),
            what,
            fault: None,
        }
    }

    /// What was wrong with the stored bytes, if anything.
    pub(crate) fn fault(self) -> Option<StoreError> {
        self.fault
    }

    fn fail(&mut self, why: String) -> std::io::Error {
        let why = format!("{}: {why}", self.what);
        self.fault = Some(StoreError::Damaged(why.clone()));
        std::io::Error::other(why)
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(format!("cannot read its stored bytes: {e}"))),
        };
        if n == 0 && self.read < self.size && !buf.is_empty() {
            return Err(self.fail(format!(
                "its stored bytes end after {} of the {} recorded",
                self.read, self.size
            )));
        }
        self.hasher.update(&buf[..n]);
        let before = self.read;
        self.read += n as u64;
        if before < self.size && self.read >= self.size {
            let found = hex::encode(self.hasher.clone().finalize());
            if !found.eq_ignore_ascii_case(&self.sha256) {
                return Err(self.fail(format!(
                    "its stored bytes have SHA-256 {found}, not the recorded {}",
                    self.sha256
                )));
            }
        }
        Ok(n)
    }
}

fn unknown(codec: &str, payload_id: i64) -> StoreError {
    StoreError::Corrupt(format!(
        "payload #{payload_id}: unknown codec `{codec}` (a newer hub wrote it?)"
    ))
}

fn too_large(payload_id: i64) -> StoreError {
    StoreError::Corrupt(format!("payload #{payload_id}: recorded size out of range"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_is_kept_compressed_and_comes_back_whole() {
        let line = "522 24 00123 20240131 9002009002 D       1000 Daginstitution\r\n";
        let text = line.repeat(200);
        let (stored, codec) = pack(text.as_bytes());
        assert_eq!(codec, Some(ZSTD));
        assert!(stored.len() * 10 < text.len(), "{} bytes", stored.len());
        let size = text.len() as u64;
        let whole = unpack(codec, stored.to_vec(), size, 1).unwrap();
        assert_eq!(whole, text.as_bytes());
        let mut streamed = Vec::new();
        reader(codec, stored.as_ref(), size, 1)
            .unwrap()
            .read_to_end(&mut streamed)
            .unwrap();
        assert_eq!(streamed, text.as_bytes());
    }

    #[test]
    fn small_or_incompressible_bytes_stay_as_they_are() {
        let (stored, codec) = pack(b"{\"id\":\"k1\"}");
        assert_eq!((stored.as_ref(), codec), (&b"{\"id\":\"k1\"}"[..], None));
        // A xorshift stream: no repetition for zstd to find.
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(pack(&noise).1, None);
    }

    #[test]
    fn a_wrong_size_or_codec_is_named_not_passed_on() {
        let text = "abc".repeat(1000);
        let (stored, codec) = pack(text.as_bytes());
        let e = unpack(codec, stored.to_vec(), 2999, 7).unwrap_err();
        assert!(e.to_string().contains("payload #7"), "{e}");
        let e = unpack(Some("lz9"), b"x".to_vec(), 1, 8).unwrap_err();
        assert!(e.to_string().contains("unknown codec `lz9`"), "{e}");
    }

    /// Through the store: kept compressed (and sealed, where a key is set), read back
    /// whole and streamed byte for byte.
    #[test]
    fn the_store_keeps_text_payloads_compressed_and_gives_them_back_whole() {
        use super::super::testing;
        use crate::Store;
        use crate::seal::{Keyring, Sealing};
        use hub_core::time::Timestamp;

        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::SqliteStore::open(&dir.path().join("hub.db")).unwrap();
        let text = "522 24 00123 20240131 9002009002 D       1000 Daginstitution\r\n".repeat(5000);
        let sent = |store: &mut super::super::SqliteStore, id: &str| {
            let record = testing::record(id, format!("{{\"id\":\"{id}\"}}"));
            let payload =
                testing::one_payload(store, "t", &[record], &format!("{id}.txt"), text.as_bytes());
            let (stored, codec, key): (i64, Option<String>, Option<String>) = store
                .conn
                .query_row(
                    "SELECT length(bytes), codec, key_id FROM payload_bytes WHERE payload_id = ?1",
                    [payload],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            assert_eq!(codec.as_deref(), Some(ZSTD));
            assert!(stored * 20 < text.len() as i64, "{stored} bytes stored");
            assert_eq!(store.payload_bytes(payload).unwrap(), text.as_bytes());
            let mut streamed = Vec::new();
            let announced = std::cell::Cell::new(0);
            store
                .send_payload(payload, &mut |r, n| {
                    announced.set(n);
                    r.read_to_end(&mut streamed).map(|_| ()).map_err(|_| ())
                })
                .unwrap()
                .unwrap();
            assert_eq!(announced.get(), text.len() as u64);
            assert!(streamed == text.as_bytes(), "the streamed payload differs");
            (key, payload)
        };
        let (key, payload) = sent(&mut store, "plain");
        assert_eq!(key, None);

        // Damaged stored bytes fail the stream before its end and are the store's error
        // (not the connection's, which would be tried again): cut in half, and whole but
        // not what the recorded SHA-256 says.
        let stream = |store: &mut super::super::SqliteStore| {
            let mut got = Vec::new();
            let r = store.send_payload(payload, &mut |r, _| {
                r.read_to_end(&mut got).map(|_| ()).map_err(|_| ())
            });
            (r, got.len())
        };
        let stored: Vec<u8> = store
            .conn
            .query_row(
                "SELECT bytes FROM payload_bytes WHERE payload_id = ?1",
                [payload],
                |r| r.get(0),
            )
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE payload_bytes SET bytes = ?2 WHERE payload_id = ?1",
                rusqlite::params![payload, &stored[..stored.len() / 2]],
            )
            .unwrap();
        let (r, got) = stream(&mut store);
        let e = r.unwrap_err();
        assert!(matches!(e, StoreError::Damaged(_)), "{e}");
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("payload #{payload} (plain.txt)")),
            "{e}"
        );
        assert!(shown.contains("not sent"), "{e}");
        assert!(got < text.len(), "{got} bytes handed over");
        store
            .conn
            .execute(
                "UPDATE payload_bytes SET bytes = ?2 WHERE payload_id = ?1",
                rusqlite::params![payload, &stored],
            )
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE payloads SET sha256 = ?2 WHERE id = ?1",
                rusqlite::params![payload, "00".repeat(32)],
            )
            .unwrap();
        let (r, got) = stream(&mut store);
        let e = r.unwrap_err();
        assert!(matches!(e, StoreError::Damaged(_)), "{e}");
        assert!(e.to_string().contains("not the recorded 0000"), "{e}");
        assert!(got < text.len(), "{got} bytes handed over");

        let ring = Keyring::new(Some("a"), vec![("a".into(), [1; 32])]).unwrap();
        store
            .set_keyring(Some(std::sync::Arc::new(ring)), Timestamp(0))
            .unwrap();
        assert_eq!(sent(&mut store, "sealed").0.as_deref(), Some("a"));
    }
}
