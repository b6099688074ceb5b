//! Packed bodies (schema 025): a delivered record's body is kept as a zstd frame made
//! with a dictionary trained on its target's own bodies. A record's body was half of what
//! a delivered record cost (194 of ~500 bytes in the enqueue benchmark); packed, ~40.
//!
//! Only delivered bodies are packed, as they are marked delivered (the row is written
//! then anyway): queued ones, read by every encode, stay text, and so do sealed ones
//! (ciphertext does not compress) and those of a target with too few records to train
//! on. `records.body` is TEXT as before, or a BLOB when packed; a reader tells them
//! apart by type ([`Bodies::text`]). A dictionary is never changed or deleted: each
//! frame names the id of the one it was made with.
//!
//! A dictionary outlives the bodies it was trained on (retention purges bodies, not
//! dictionaries), so it must not hold what identifies one person: it is trained on the
//! sampled bodies with every value blanked that fewer than [`SHARED`] of them have
//! (names, dates of birth, amounts), keeping keys, structure and the values many
//! records share (a record kind, a fiscal year, an account). In the benchmark a body
//! packs to ~63 bytes so (~35 with a dictionary of whole bodies).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hub_core::time::Timestamp;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};
use zstd::bulk::{Compressor, Decompressor};

use super::sql;
use crate::Result;

/// A target's records before a dictionary is trained for it: fewer are not worth one.
const MIN_RECORDS: i64 = 1000;
/// Bodies a dictionary is trained on.
const SAMPLES: i64 = 2000;
/// A dictionary's size at most.
const DICT_BYTES: usize = 16 * 1024;
/// A value goes into a dictionary only when at least this many sampled bodies have it.
const SHARED: usize = 20;
/// zstd's fastest regular level: packing is on the enqueue's storing thread, its
/// slowest; level 3 was 5.4 % of a 1,000,000-record enqueue's samples for ~63 bytes a
/// posting, level 1 packs to ~66.
const LEVEL: i32 = 1;
/// A packed body never unpacks to more than this (a damaged frame cannot claim more).
const MAX_BODY: usize = 64 << 20;

/// The dictionaries of one store, shared with the SQL function that packs.
#[derive(Clone, Default)]
pub(crate) struct Bodies(Arc<Mutex<Dicts>>);

#[derive(Default)]
struct Dicts {
    /// By target: how its delivered bodies are packed.
    packers: HashMap<String, Packer>,
    /// By dictionary id: how a packed body is read.
    unpackers: HashMap<u32, Decompressor<'static>>,
}

enum Packer {
    Ready(Box<Compressor<'static>>),
    /// Too few records, or training failed: text, looked at again once this many more
    /// records of the target were queued (by this process).
    NotYet(i64),
}

impl std::fmt::Debug for Bodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.dicts();
        f.debug_struct("Bodies")
            .field("targets", &d.packers.len())
            .field("dictionaries", &d.unpackers.len())
            .finish()
    }
}

impl Bodies {
    fn dicts(&self) -> std::sync::MutexGuard<'_, Dicts> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `hub_pack(target, body)` on `conn`: a plain text body packed with the
    /// target's dictionary ([`Bodies::pack`]), else as it is. The caller passes only
    /// unsealed text bodies.
    pub(super) fn register(&self, conn: &Connection) -> rusqlite::Result<()> {
        let bodies = self.clone();
        conn.create_scalar_function("hub_pack", 2, FunctionFlags::SQLITE_UTF8, move |ctx| {
            let body = ctx.get_raw(1);
            let packed = match (ctx.get_raw(0), body) {
                (ValueRef::Text(target), ValueRef::Text(text)) => {
                    match (std::str::from_utf8(target), std::str::from_utf8(text)) {
                        (Ok(target), Ok(text)) => bodies.pack(target, text),
                        _ => None,
                    }
                }
                _ => None,
            };
            Ok(packed.map_or_else(|| Value::from(body), Value::Blob))
        })
    }

    /// Before records of `target` are marked delivered: trains its dictionary when it has
    /// none yet and enough records, so that `hub_pack` can pack their bodies.
    pub(super) fn prepare(&self, tx: &Connection, target: &str, now: Timestamp) -> Result<()> {
        match self.dicts().packers.get(target) {
            Some(Packer::Ready(_)) => return Ok(()),
            Some(Packer::NotYet(n)) if *n > 0 => return Ok(()),
            _ => {}
        }
        let dict = match load(tx, target)? {
            Some(dict) => Ok(dict),
            None => train(tx, target, now)?,
        };
        let packer = match dict.map(|d| Compressor::with_dictionary(LEVEL, &d)) {
            Ok(Ok(c)) => Packer::Ready(Box::new(c)),
            Ok(Err(_)) => Packer::NotYet(MIN_RECORDS),
            Err(found) => Packer::NotYet((MIN_RECORDS - found).max(1)),
        };
        self.dicts().packers.insert(target.to_string(), packer);
        Ok(())
    }

    /// `n` more records of `target` were queued: a target waiting for enough records to
    /// train on is that much nearer.
    pub(super) fn added(&self, target: &str, n: usize) {
        if let Some(Packer::NotYet(left)) = self.dicts().packers.get_mut(target) {
            *left -= i64::try_from(n).unwrap_or(i64::MAX);
        }
    }

    /// `body` packed with `target`'s dictionary; `None` while it has none (or packing
    /// would not make it smaller).
    pub(super) fn pack(&self, target: &str, body: &str) -> Option<Vec<u8>> {
        match self.dicts().packers.get_mut(target) {
            Some(Packer::Ready(c)) => c
                .compress(body.as_bytes())
                .ok()
                .filter(|p| p.len() < body.len()),
            _ => None,
        }
    }

    /// The text of the body in column `i` of `row` (whose column 0 is the record's
    /// number): as stored, or unpacked. `conn` is the connection the row was read with
    /// (the dictionary is read there when not yet known).
    pub(super) fn text(
        &self,
        conn: &Connection,
        row: &rusqlite::Row<'_>,
        i: usize,
    ) -> rusqlite::Result<String> {
        match row.get_ref(i)? {
            ValueRef::Blob(packed) => self.unpack(conn, packed).map_err(|e| {
                let seq = row.get::<_, i64>(0).unwrap_or_default();
                rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Blob,
                    format!("record #{seq}: its packed body cannot be read: {e}").into(),
                )
            }),
            _ => row.get(i),
        }
    }

    fn unpack(&self, conn: &Connection, packed: &[u8]) -> std::result::Result<String, String> {
        let id = zstd::zstd_safe::get_dict_id_from_frame(packed)
            .ok_or("no dictionary named")?
            .get();
        let mut dicts = self.dicts();
        let d = match dicts.unpackers.entry(id) {
            std::collections::hash_map::Entry::Occupied(d) => d.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let dict: Option<Vec<u8>> = conn
                    .query_row(
                        "SELECT dict FROM body_dicts WHERE id = ?1",
                        [i64::from(id)],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| e.to_string())?;
                let dict =
                    dict.ok_or_else(|| format!("its dictionary {id} is not in the store"))?;
                slot.insert(Decompressor::with_dictionary(&dict).map_err(|e| e.to_string())?)
            }
        };
        // The frame says its size (written by `compress`); the buffer is exactly that.
        let size = zstd::zstd_safe::get_frame_content_size(packed)
            .ok()
            .flatten()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= MAX_BODY)
            .ok_or("damaged (no size, or too large)")?;
        let bytes = d
            .decompress(packed, size)
            .map_err(|e| format!("damaged ({e})"))?;
        String::from_utf8(bytes).map_err(|_| "damaged (not UTF-8)".to_string())
    }
}

fn load(tx: &Connection, target: &str) -> Result<Option<Vec<u8>>> {
    tx.query_row(
        "SELECT dict FROM body_dicts WHERE target = ?1",
        [target],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql("read a body dictionary"))
}

/// Trains `target`'s dictionary on its plain bodies and keeps it, once it has enough
/// records; else how many it found (a shortfall; `MIN_RECORDS` when zstd could not make
/// a dictionary of them).
fn train(
    tx: &Connection,
    target: &str,
    now: Timestamp,
) -> Result<std::result::Result<Vec<u8>, i64>> {
    let mut stmt = tx
        .prepare(
            "SELECT body FROM records
             WHERE target = ?1 AND body_key IS NULL AND typeof(body) = 'text'
             LIMIT ?2",
        )
        .map_err(sql("prepare body samples"))?;
    let samples: Vec<Vec<u8>> = stmt
        .query_map(params![target, SAMPLES], |r| {
            Ok(r.get_ref(0)?.as_bytes()?.to_vec())
        })
        .map_err(sql("read body samples"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("read body samples"))?;
    if (samples.len() as i64) < MIN_RECORDS {
        return Ok(Err(samples.len() as i64));
    }
    let Ok(dict) = zstd::dict::from_samples(&masked(&samples), DICT_BYTES) else {
        return Ok(Err(0));
    };
    let Some(id) = zstd::zstd_safe::get_dict_id_from_dict(&dict) else {
        return Ok(Err(0));
    };
    // Another target's dictionary with the same id (1 in 2^32): this one stays text.
    let kept = tx
        .execute(
            "INSERT INTO body_dicts (id, target, dict, made_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![i64::from(id.get()), target, dict, now.0],
        )
        .map_err(sql("keep a body dictionary"))?;
    Ok(if kept == 1 { Ok(dict) } else { Err(0) })
}

/// The samples with every value (a string that is not a key, a number) blanked that
/// fewer than [`SHARED`] of them have; keys, structure and order stay as they are.
fn masked(samples: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for sample in samples {
        let mut values: Vec<&[u8]> = Vec::new();
        scan(sample, |value| values.push(value));
        values.sort_unstable();
        values.dedup();
        for v in values {
            *seen.entry(v).or_default() += 1;
        }
    }
    samples
        .iter()
        .map(|sample| {
            let mut out = Vec::with_capacity(sample.len());
            let mut at = 0;
            scan(sample, |value| {
                // `value` is a slice of `sample`: copy up to it, then it or its blank.
                let start = value.as_ptr() as usize - sample.as_ptr() as usize;
                out.extend_from_slice(&sample[at..start]);
                if seen.get(value).is_some_and(|n| *n >= SHARED) {
                    out.extend_from_slice(value);
                } else if value.first() == Some(&b'"') {
                    out.extend_from_slice(b"\"\"");
                } else {
                    out.push(b'0');
                }
                at = start + value.len();
            });
            out.extend_from_slice(&sample[at..]);
            out
        })
        .collect()
}

/// Calls `value` with each value token of the JSON text `text`, in order: strings that
/// are not keys (with their quotes) and numbers. Not a validator: the bodies were
/// checked as JSON when they were enqueued; anything else is passed over.
fn scan<'a>(text: &'a [u8], mut value: impl FnMut(&'a [u8])) {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(text.len());
                let token = &text[start..i];
                let next = text[i..].iter().find(|b| !b.is_ascii_whitespace());
                if next != Some(&b':') {
                    value(token);
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                value(&text[start..i]);
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::{Completion, NewAttempt, NewRecord, SqliteStore, Store};
    use hub_core::state::AttemptResult;

    fn record(i: usize) -> NewRecord {
        let body = format!(
            r#"{{"id":"c-{i}","kind":"child","name":"secret-{i:04}","group":"Sonnenblume"}}"#
        );
        testing::record(&format!("c-{i}"), body)
    }

    /// Enqueues `n` records of `target`, sends them in one payload and delivers it.
    fn delivered(s: &mut SqliteStore, target: &str, n: usize) -> i64 {
        let records: Vec<NewRecord> = (0..n).map(record).collect();
        let payload = testing::one_payload(s, target, &records, "all.txt", b"x");
        let transfer = s
            .conn
            .query_row(
                "SELECT transfer_id FROM payloads WHERE id = ?1",
                [payload],
                |r| r.get(0),
            )
            .unwrap();
        let attempt = NewAttempt {
            begun: None,
            transfer_id: transfer,
            payload_id: Some(payload),
            started_at: Timestamp(3),
            duration_ms: 1,
            endpoint: "dir:".into(),
            credential: None,
            sent: "x".into(),
            received: None,
            result: AttemptResult::Delivered,
            error: None,
        };
        s.complete_payload(payload, Completion::InPlace, &attempt, Timestamp(3))
            .unwrap();
        payload
    }

    fn scalar<T: rusqlite::types::FromSql>(s: &SqliteStore, sql: &str) -> T {
        s.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn sealed_bodies_are_never_packed_and_no_dictionary_is_trained_on_them() {
        use crate::seal::{Keyring, Sealing};
        let mut s = SqliteStore::in_memory().unwrap();
        let ring = Keyring::new(Some("k1"), vec![("k1".into(), [7; 32])]).unwrap();
        s.set_keyring(Some(Arc::new(ring)), Timestamp(1)).unwrap();
        let payload = delivered(&mut s, "t", MIN_RECORDS as usize + 100);
        let packed: i64 = scalar(
            &s,
            "SELECT count(*) FROM records WHERE typeof(body) = 'blob'",
        );
        let dicts: i64 = scalar(&s, "SELECT count(*) FROM body_dicts");
        assert_eq!((packed, dicts), (0, 0));
        assert_eq!(s.payload_records(payload).unwrap()[7].body, record(7).body);
    }

    #[test]
    fn delivered_bodies_are_packed_read_back_whole_and_the_dictionary_holds_no_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let mut s = SqliteStore::open(&path).unwrap();
        let payload = delivered(&mut s, "t", MIN_RECORDS as usize + 100);
        // A target with fewer records keeps its bodies as text.
        let few = delivered(&mut s, "few", 10);
        let packed: i64 = scalar(
            &s,
            "SELECT count(*) FROM records WHERE typeof(body) = 'blob'",
        );
        assert_eq!(packed, MIN_RECORDS + 100);
        let size: f64 = scalar(
            &s,
            "SELECT avg(length(body)) FROM records WHERE target = 't'",
        );
        let plain = record(500).body.len() as f64;
        assert!(size < 0.6 * plain, "{size} bytes a body, {plain} as text");
        let dict: Vec<u8> = scalar(&s, "SELECT dict FROM body_dicts WHERE target = 't'");
        assert!(
            !dict.windows(6).any(|w| w == b"secret"),
            "a name in the dictionary"
        );
        assert!(dict.windows(11).any(|w| w == b"Sonnenblume"));
        // Read back as they were, also by a store that has not seen the dictionary yet.
        drop(s);
        let mut s = SqliteStore::open(&path).unwrap();
        let back = s.payload_records(payload).unwrap();
        assert_eq!(back.len(), MIN_RECORDS as usize + 100);
        for (i, r) in back.iter().enumerate() {
            assert_eq!(r.body, record(i).body);
        }
        assert_eq!(s.payload_records(few).unwrap()[3].body, record(3).body);
        // Once the target has a dictionary, new records go in packed, and read back whole.
        let more: Vec<NewRecord> = (5000..5005).map(record).collect();
        s.enqueue("t", &more, Timestamp(4)).unwrap();
        let queued_packed: i64 = scalar(
            &s,
            "SELECT count(*) FROM records WHERE state = 'queued' AND typeof(body) = 'blob'",
        );
        assert_eq!(queued_packed, 5);
        let queued = s.queued_records("t", &testing::batch(), 10).unwrap();
        // Each body holds what it needs, not a buffer of the largest body allowed.
        assert!(queued.iter().all(|r| r.body.capacity() < 1024));
        let bodies: Vec<&str> = queued.iter().map(|r| r.body.as_str()).collect();
        let want: Vec<String> = (5000..5005).map(|i| record(i).body).collect();
        assert_eq!(bodies, want);
        // A damaged packed body is an error that names the record.
        s.conn
            .execute(
                "UPDATE records SET body = CAST(substr(body, 1, 12) || x'00ff' AS BLOB) WHERE seq = 5",
                [],
            )
            .unwrap();
        let e = s.payload_records(payload).unwrap_err().to_string();
        assert!(
            e.contains("record #5: its packed body cannot be read"),
            "{e}"
        );
    }

    #[test]
    fn only_values_many_samples_share_are_kept_for_the_dictionary() {
        let samples: Vec<Vec<u8>> = (0..SHARED + 5)
            .map(|i| {
                let name = if i < SHARED - 1 { "Anna" } else { "Bo" };
                format!(
                    r#"{{"id":"c-{i}","kind":"child","name":"{name}","born":"2019-03-{:02}","n":{i},"k":7,"esc":"a\"{i}:","list":[1, "x"]}}"#,
                    i % 28 + 1
                )
                .into_bytes()
            })
            .collect();
        let masked = masked(&samples);
        let first = String::from_utf8(masked[0].clone()).unwrap();
        // "Anna" is in SHARED - 1 samples: one short of being kept.
        assert_eq!(
            first,
            r#"{"id":"","kind":"child","name":"","born":"","n":0,"k":7,"esc":"","list":[1, "x"]}"#
        );
        assert_eq!(masked.len(), samples.len());
    }
}
