//! The receiving side's store: transports that arrived (held or imported), the record
//! versions they carried, and the answers owed to their senders.
//!
//! The importer decides; the store guarantees: a transport is imported only as its pair's
//! next number (checked inside the importing transaction), its versions and its receipt
//! are written in that same transaction, and a held transport keeps its bytes until its
//! turn comes.

use hub_core::time::Timestamp;
use serde::Serialize;

use crate::{Result, StoreError};

mod archive_bytes;
mod bytes;
mod importing;
mod sqlite;
pub(crate) use archive_bytes::reseal_received;
pub use bytes::{Bytes, FileAt};
pub use importing::RecordFacts;

/// Where one transport number of a pair stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownTransport {
    pub id: i64,
    pub state: String,
    pub sha256: String,
    pub file_name: String,
    pub arrived_at: i64,
    pub imported_at: Option<i64>,
}

/// The header of an arriving transport and its archive.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    pub inbound: &'a str,
    pub sender: &'a str,
    pub receiver: &'a str,
    pub number: u64,
    pub transport_guid: &'a str,
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub bytes: Bytes<'a>,
}

/// One record version to store with an imported transport.
#[derive(Debug, Clone, Serialize)]
pub struct NewVersion {
    pub record_id: String,
    pub version: u32,
    pub kind: String,
    pub action: Option<String>,
    pub file: String,
    pub imported: bool,
    pub code: Option<String>,
    pub message: Option<String>,
    pub body: String,
}

/// A file owed to a sender (its bytes are read with [`InboundStore::answer_bytes`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: i64,
    pub name: String,
    pub size: u64,
}

/// A stored record version, for `hub records show`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub record_id: String,
    pub version: u32,
    pub kind: String,
    pub action: Option<String>,
    pub result: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub inbound: String,
    pub sender: String,
    pub transport_number: u64,
    pub file: String,
    pub imported_at: Option<i64>,
    pub body: serde_json::Value,
}

/// A sender/receiver pair as the receiving side sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PairView {
    pub sender: String,
    pub receiver: String,
    /// The last number imported (0: none yet).
    pub imported_up_to: u64,
    /// Numbers that arrived early and wait for the ones before them.
    pub held: Vec<u64>,
    /// Numbers not yet seen below the highest held one.
    pub missing: Vec<u64>,
    /// When the oldest held transport arrived (ms since the epoch): how long the pair
    /// has been waiting.
    pub waiting_since: Option<i64>,
}

/// The receiving side's store operations; each is one transaction.
pub trait InboundStore {
    /// What is known of this number of the pair.
    fn inbound_known(
        &mut self,
        inbound: &str,
        sender: &str,
        receiver: &str,
        number: u64,
    ) -> Result<Option<KnownTransport>>;

    /// The pair's next number to import (1 when none was imported yet).
    fn inbound_next(&mut self, inbound: &str, sender: &str, receiver: &str) -> Result<u64>;

    /// Keeps a transport that arrived before its turn, with its bytes.
    fn inbound_hold(&mut self, a: &Arrival<'_>, now: Timestamp) -> Result<i64>;

    /// Writes a held transport's bytes to `into`, as a stream; returns its file name.
    fn inbound_held_bytes(&mut self, id: i64, into: &mut dyn std::io::Write) -> Result<String>;

    /// Refuses a held transport that cannot be imported after all (unreadable, over a
    /// limit, a store error): its row and bytes go, the refusal is noted, and its number
    /// is missing again, to be reported and requested.
    fn inbound_refuse_held(&mut self, id: i64, reason: &str, now: Timestamp) -> Result<()>;

    /// Records a request for re-transmission to deliver (one per name: asking twice for the
    /// same numbers writes it once).
    fn inbound_request(
        &mut self,
        inbound: &str,
        name: &str,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<bool>;

    /// Answers not yet delivered, oldest first (names and sizes, not their bytes).
    fn pending_answers(&mut self, inbound: &str) -> Result<Vec<Answer>>;

    /// An answer's bytes as a stream, so a receipt of any length is never held whole.
    fn answer_bytes(&mut self, id: i64) -> Result<Box<dyn std::io::Read + '_>>;

    /// Whether any answer waits for delivery (without reading the answers).
    fn answers_owed(&mut self, inbound: &str) -> Result<bool>;

    /// Marks an answer delivered.
    fn answer_delivered(&mut self, id: i64, now: Timestamp) -> Result<()>;

    /// Notes an archive refused before anything was imported.
    fn inbound_refuse(
        &mut self,
        inbound: &str,
        file_name: &str,
        sha256: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<()>;

    /// Every pair of this inbound with its numbering state.
    fn inbound_pairs(&mut self, inbound: &str) -> Result<Vec<PairView>>;

    /// Every stored version of a record, oldest first.
    fn record_versions(&mut self, record_id: &str) -> Result<Vec<VersionView>>;

    /// The transports that arrived at `inbound` (every inbound: `None`), newest first,
    /// at most `limit`.
    fn inbound_transports(
        &mut self,
        inbound: Option<&str>,
        limit: usize,
    ) -> Result<Vec<InboundTransportView>>;

    /// An arrived transport and its bytes, as they arrived (held or imported).
    fn inbound_archive(&mut self, id: i64) -> Result<(InboundTransportView, Vec<u8>)>;

    /// Starts importing a transport: refuses unless it is its pair's next number, and
    /// stores it (or takes its held row) in a transaction that [`ImportTx::finish`]
    /// commits; dropped unfinished, nothing of it stays.
    fn inbound_begin<'a>(
        &'a mut self,
        a: &Arrival<'_>,
        now: Timestamp,
    ) -> Result<Box<dyn ImportTx + 'a>>;
}

/// A transport being imported as a stream, inside its transaction.
pub trait ImportTx {
    /// What the store knows of this record, including versions added earlier in this
    /// transaction.
    fn facts(&self, record_id: &str, version: u32) -> Result<importing::RecordFacts>;

    /// Adds one record version.
    fn add(&mut self, v: &NewVersion) -> Result<()>;

    /// Writes the receipt and commits; returns the transport's id.
    fn finish(
        self: Box<Self>,
        documents: u32,
        receipt: (&str, &[u8]),
        now: Timestamp,
    ) -> Result<i64> {
        let (name, mut bytes) = receipt;
        let len = bytes.len() as u64;
        self.finish_from(documents, name, &mut bytes, len, now)
    }

    /// As [`ImportTx::finish`], with the receipt's `len` bytes read from `receipt` and
    /// written into the store piece by piece, so a receipt of any length is never held
    /// whole.
    fn finish_from(
        self: Box<Self>,
        documents: u32,
        name: &str,
        receipt: &mut dyn std::io::Read,
        len: u64,
        now: Timestamp,
    ) -> Result<i64>;
}

/// A transport that arrived, for the status page and `hub records view`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundTransportView {
    pub id: i64,
    pub inbound: String,
    pub sender: String,
    pub receiver: String,
    pub number: u64,
    /// `held` (waiting for an earlier number) or `imported`.
    pub state: String,
    pub file_name: String,
    pub size: u64,
    pub arrived_at: i64,
    pub imported_at: Option<i64>,
    pub records: u64,
    pub rejected: u64,
    pub documents: u64,
}

/// The pairs' numbering state from their transports' rows (`sender, receiver, number,
/// state, arrived_at`, ordered by sender, receiver and number); one rule for every backend.
pub(crate) fn pairs_from(rows: Vec<(String, String, i64, String, i64)>) -> Result<Vec<PairView>> {
    let mut pairs: Vec<PairView> = Vec::new();
    for (sender, receiver, number, state, arrived_at) in rows {
        let number = u64::try_from(number).unwrap_or(0);
        let pair = match pairs.last_mut() {
            Some(p) if p.sender == sender && p.receiver == receiver => p,
            _ => {
                pairs.push(PairView {
                    sender,
                    receiver,
                    imported_up_to: 0,
                    held: Vec::new(),
                    missing: Vec::new(),
                    waiting_since: None,
                });
                pairs
                    .last_mut()
                    .ok_or_else(|| StoreError::Corrupt("transport pairs vanished".into()))?
            }
        };
        if state == "imported" {
            pair.imported_up_to = pair.imported_up_to.max(number);
        } else {
            pair.held.push(number);
            pair.waiting_since = Some(pair.waiting_since.map_or(arrived_at, |w| w.min(arrived_at)));
        }
    }
    for p in &mut pairs {
        if let Some(&top) = p.held.iter().max() {
            p.missing = (p.imported_up_to + 1..top)
                .filter(|n| !p.held.contains(n))
                .collect();
        }
    }
    Ok(pairs)
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A received version's body as stored, opened when sealed, as JSON (as text when it is
/// not JSON).
pub(crate) fn version_body(
    ring: Option<&crate::seal::Keyring>,
    stored: String,
    key: Option<&str>,
    id: i64,
) -> Result<serde_json::Value> {
    let body = crate::seal::open_text(
        ring,
        crate::seal::Purpose::ReceivedBody,
        key,
        stored,
        &|| format!("the body of received version #{id}"),
    )?;
    Ok(serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}
