//! An arrived archive's bytes in PostgreSQL, as SQLite's `inbound/archive_bytes.rs`:
//! streamed in with a binary `COPY`, read out a megabyte at a time, sealed frame by frame
//! under the tenant's current key when there is one (the key id on the transport's row).

use postgres::GenericClient;

use super::pg;
use crate::inbound::Bytes;
use crate::seal::{self, Keyring, Purpose};
use crate::{Result, StoreError};

/// Streams a transport's bytes into `inbound_bytes` with a binary `COPY`: one row whose
/// length is known beforehand, written piece by piece, so the hub never holds the value
/// whole (PostgreSQL assembles it on its side). Sealed under `ring`'s current key when
/// there is one; returns that key's id.
pub(super) fn copy_bytes_in<'r>(
    tx: &mut impl GenericClient,
    ring: Option<&'r Keyring>,
    id: i64,
    bytes: Bytes<'_>,
) -> Result<Option<&'r str>> {
    let ring = ring.filter(|r| r.current().is_some());
    let stored = match ring {
        Some(_) => seal::sealed_len(bytes.size()),
        None => bytes.size(),
    };
    use std::io::Write;
    let what = "keep a transport's bytes";
    let io = |source| StoreError::Io {
        context: what,
        source,
    };
    let len = i32::try_from(stored).map_err(|_| {
        StoreError::Refused(format!(
            "{what}: {stored} bytes, more than PostgreSQL takes in one value"
        ))
    })?;
    let mut w = tx
        .copy_in("COPY inbound_bytes (transport, bytes) FROM STDIN (FORMAT binary)")
        .map_err(pg(what))?;
    // Header (signature, flags, extension length), one tuple of two fields, trailer.
    w.write_all(b"PGCOPY\n\xff\r\n\0").map_err(io)?;
    w.write_all(&[0u8; 8]).map_err(io)?;
    w.write_all(&2i16.to_be_bytes()).map_err(io)?;
    w.write_all(&8i32.to_be_bytes()).map_err(io)?;
    w.write_all(&id.to_be_bytes()).map_err(io)?;
    w.write_all(&len.to_be_bytes()).map_err(io)?;
    let key = match ring {
        Some(r) => r.seal_stream(
            Purpose::ReceivedArchive,
            &mut bytes.reader(),
            bytes.size(),
            &mut w,
            &|| format!("received transport #{id}"),
        )?,
        None => {
            let copied = std::io::copy(&mut bytes.reader(), &mut w).map_err(io)?;
            if copied != bytes.size() {
                return Err(StoreError::Refused(format!(
                    "{what}: {copied} bytes, {} were announced",
                    bytes.size()
                )));
            }
            None
        }
    };
    w.write_all(&(-1i16).to_be_bytes()).map_err(io)?;
    w.finish().map_err(pg(what))?;
    Ok(key)
}

/// As SQLite's `reseal_received`: re-seals up to `limit` received bodies and arrived
/// archives sealed under `from` under the current key, in the caller's transaction.
pub(super) fn reseal_received(
    tx: &mut postgres::Transaction<'_>,
    ring: &Keyring,
    from: Option<&str>,
    limit: i64,
) -> Result<(usize, usize)> {
    let versions = tx
        .query(
            "SELECT id, body FROM record_versions WHERE body_key IS NOT DISTINCT FROM $1
             ORDER BY id LIMIT $2 FOR UPDATE",
            &[&from, &limit],
        )
        .map_err(pg("read received bodies to re-seal"))?;
    for row in &versions {
        let id: i64 = row.get(0);
        let body = seal::open_text(Some(ring), Purpose::ReceivedBody, from, row.get(1), &|| {
            format!("the body of received version #{id}")
        })?;
        let (sealed, key) = seal::seal_text(Some(ring), Purpose::ReceivedBody, &body)?;
        tx.execute(
            "UPDATE record_versions SET body = $2, body_key = $3 WHERE id = $1",
            &[&id, &sealed.as_ref(), &key],
        )
        .map_err(pg("re-seal a received body"))?;
    }
    let archives: Vec<i64> = tx
        .query(
            "SELECT t.id FROM inbound_transports t JOIN inbound_bytes b ON b.transport = t.id
             WHERE t.bytes_key IS NOT DISTINCT FROM $1 ORDER BY t.id LIMIT $2 FOR UPDATE OF t",
            &[&from, &limit],
        )
        .map_err(pg("read archives to re-seal"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &archives {
        let mut plain = Vec::new();
        read_archive(tx, Some(ring), *id, &mut plain)?;
        tx.execute("DELETE FROM inbound_bytes WHERE transport = $1", &[id])
            .map_err(pg("re-seal an archive"))?;
        let key = copy_bytes_in(tx, Some(ring), *id, Bytes::Memory(&plain))?;
        tx.execute(
            "UPDATE inbound_transports SET bytes_key = $2 WHERE id = $1",
            &[id, &key],
        )
        .map_err(pg("re-seal an archive"))?;
    }
    Ok((versions.len(), archives.len()))
}

/// Writes transport `id`'s bytes, opened when sealed, to `into`, a megabyte at a time;
/// returns its file name.
pub(super) fn read_archive(
    client: &mut impl GenericClient,
    ring: Option<&Keyring>,
    id: i64,
    into: &mut dyn std::io::Write,
) -> Result<String> {
    let what = "read an arrived transport's bytes";
    let row = client
        .query_opt(
            "SELECT t.file_name, t.bytes_key, octet_length(b.bytes) FROM inbound_transports t
             JOIN inbound_bytes b ON b.transport = t.id WHERE t.id = $1",
            &[&id],
        )
        .map_err(pg(what))?
        .ok_or_else(|| StoreError::NotFound(format!("no bytes of received transport {id}")))?;
    let (name, key, len): (String, Option<String>, i32) = (row.get(0), row.get(1), row.get(2));
    let mut r = ByteaReader::new(
        client,
        "SELECT substring(bytes FROM $2::int4 FOR $3::int4) FROM inbound_bytes
         WHERE transport = $1",
        id,
    );
    match key {
        Some(key) => {
            let name_it = || format!("received transport #{id}");
            let ring = ring.ok_or_else(|| seal::SealError::KeyMissing {
                what: name_it(),
                key: key.clone(),
            })?;
            let len = u64::try_from(len).unwrap_or(0);
            seal::open_stream(
                ring,
                &key,
                Purpose::ReceivedArchive,
                &mut r,
                len,
                into,
                &name_it,
            )?;
        }
        None => {
            std::io::copy(&mut r, into).map_err(|source| StoreError::Io {
                context: what,
                source,
            })?;
        }
    }
    Ok(name)
}

/// A `bytea` read from PostgreSQL a megabyte at a time (`substring` of the value, by the
/// query given), so a long receipt or a held transport is never held whole.
pub(super) struct ByteaReader<'a, C> {
    client: &'a mut C,
    /// Takes the row's id, the 1-based start and the length.
    query: &'static str,
    id: i64,
    /// 1-based position of the next chunk in the value.
    at: i64,
    chunk: Vec<u8>,
    used: usize,
    done: bool,
}

const ANSWER_CHUNK: i32 = 1 << 20;

impl<'a, C: GenericClient> ByteaReader<'a, C> {
    pub(super) fn new(client: &'a mut C, query: &'static str, id: i64) -> Self {
        ByteaReader {
            client,
            query,
            id,
            at: 0,
            chunk: Vec::new(),
            used: 0,
            done: false,
        }
    }
}

impl<C: GenericClient> std::io::Read for ByteaReader<'_, C> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.used == self.chunk.len() && !self.done {
            let row = self
                .client
                .query_opt(
                    self.query,
                    &[
                        &self.id,
                        &i32::try_from(self.at + 1).unwrap_or(i32::MAX),
                        &ANSWER_CHUNK,
                    ],
                )
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such row"))?;
            self.chunk = row.get(0);
            self.used = 0;
            self.at += self.chunk.len() as i64;
            self.done = self.chunk.len() < ANSWER_CHUNK as usize;
        }
        let n = buf.len().min(self.chunk.len() - self.used);
        buf[..n].copy_from_slice(&self.chunk[self.used..self.used + n]);
        self.used += n;
        Ok(n)
    }
}
