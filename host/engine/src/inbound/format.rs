//! The receiving side's port: a numbered transport format, as the receiving office reads
//! it. The engine owns the order (numbers per sender, held transports, duplicates), the
//! store, the limits and the answers; the format knows names, headers, records, who may
//! change what, and how a receipt and a request for missing numbers are written. SurvNet
//! is one (`host/hub/src/survnet.rs`, over `hub-plugin-rki`'s reader).

use std::any::Any;
use std::io::Write;

use hub_core::config::InboundConfig;
use hub_core::time::Civil;

use super::archive::Archive;

/// What a transport says of itself, read before its records.
pub struct Header {
    pub sender: String,
    pub receiver: String,
    pub number: u64,
    pub guid: String,
    pub documents: usize,
    /// The format's own reading, handed back to [`InboundFormat::receipt`].
    pub detail: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .field("number", &self.number)
            .finish()
    }
}

/// A version's body: its text, or a function that writes it. Reading a transport runs on
/// one thread and storing on another; the reader was the longer of the two (`hub import`
/// of SurvNet: parsing plus writing each body as JSON), so a format may leave the writing
/// to the storing thread.
pub enum Body {
    Text(String),
    Later {
        /// About what the text will take (the version's bytes as read): what bounds the
        /// versions in flight between the threads.
        size: usize,
        write: Box<dyn FnOnce() -> String + Send>,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Text(t) => f.debug_tuple("Text").field(t).finish(),
            Body::Later { size, .. } => f.debug_struct("Later").field("size", size).finish(),
        }
    }
}

impl Body {
    /// Bytes it takes, or about what it will.
    pub fn size(&self) -> usize {
        match self {
            Body::Text(t) => t.len(),
            Body::Later { size, .. } => *size,
        }
    }

    /// Writes the text now if it was left for later (the reader does, while the storing
    /// side is too busy to take the next batch).
    pub fn write_now(&mut self) {
        if let Body::Later { .. } = self {
            let later = std::mem::replace(self, Body::Text(String::new()));
            *self = Body::Text(later.into_text());
        }
    }

    /// The text, written now if it was left for later.
    pub fn into_text(self) -> String {
        match self {
            Body::Text(t) => t,
            Body::Later { write, .. } => write(),
        }
    }
}

/// One record version as it arrives.
#[derive(Debug)]
pub struct Incoming {
    pub record_id: String,
    pub version: u32,
    pub kind: String,
    /// What the version does (the format's name for it), where it says.
    pub action: Option<String>,
    /// The version as the store keeps it (JSON text), or what writes it.
    pub body: Body,
    /// Refused whatever the store knows (an action the sender may not send): code, why.
    pub refused: Option<(&'static str, String)>,
}

/// A record's line in a receipt.
#[derive(Debug, Clone)]
pub struct ReceiptLine {
    pub record_id: String,
    pub version: u32,
    pub imported: bool,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// A receipt being written as the records come: never whole in memory.
pub trait ReceiptOut {
    fn record(&mut self, line: ReceiptLine);
    /// Bytes written but not yet drained.
    fn pending(&self) -> usize;
    fn drain_into(&mut self, out: &mut dyn Write) -> std::io::Result<()>;
    fn finish_into(self: Box<Self>, out: &mut dyn Write) -> std::io::Result<()>;
}

/// A numbered transport format on the receiving side. `Sync`: a transport's versions
/// are read on a thread of their own while the store takes them.
pub trait InboundFormat: Send + Sync {
    /// This office's code.
    fn site(&self) -> &str;
    /// Who may send here when the inbound lists no `senders`.
    fn default_senders(&self) -> Vec<String>;
    /// Reads the archive's names and its transport header (not its records), checked
    /// against this office.
    fn header(&self, archive: &mut Archive<'_>) -> Result<Header, String>;
    /// Streams every record version of the transport to `each`, with the file it came
    /// from; other files are read through (their size counts against the limits).
    fn versions(
        &self,
        archive: &mut Archive<'_>,
        sender: &str,
        each: &mut dyn FnMut(&str, Incoming) -> Result<(), super::take::Taken>,
    ) -> Result<(), super::take::Taken>;
    /// Whether `sender` may make a new version of a record `owner` owns.
    fn may_edit(&self, sender: &str, owner: &str) -> bool;
    /// The receipt for a transport: its file name and a writer.
    fn receipt(&self, header: &Header) -> Result<(String, Box<dyn ReceiptOut>), String>;
    /// A request to `sender` for the `missing` numbers: its file name and bytes.
    fn missing_request(&self, sender: &str, missing: &[u64], now: Civil) -> (String, Vec<u8>);
}

/// Builds the format an inbound names (the shell knows which formats exist).
pub trait Formats: Send {
    fn format(&self, cfg: &InboundConfig) -> Result<Box<dyn InboundFormat>, String>;
}

/// No receiving formats: for engines that only send (tests, `hub plugin test`).
#[derive(Debug, Default)]
pub struct NoFormats;

impl Formats for NoFormats {
    fn format(&self, cfg: &InboundConfig) -> Result<Box<dyn InboundFormat>, String> {
        Err(format!(
            "inbound {}: this engine reads no incoming transports",
            cfg.name
        ))
    }
}
