//! Enqueue as a stream: one transaction that takes a file's records chunk by chunk, so
//! the hub never holds a whole input, and still queues it all or nothing (nothing is
//! visible before [`Enqueueing::finish`]; dropped unfinished, nothing stays).

use crate::{EnqueueReport, NewRecord, Result};

/// A file's records going into the outbox, inside its transaction.
pub trait Enqueueing {
    /// Notes that `id` is on `line` of this input; the line it was on first, if it came
    /// before (the store keeps the ids, so memory does not grow with the input).
    fn first_line(&mut self, id: &str, line: usize) -> Result<Option<usize>>;

    /// Adds validated records in input order: duplicates (same id and body as before) are
    /// skipped and a record with a supersede key replaces older queued ones. Returns the
    /// records the store refuses (index in `records`, why); after one, nothing more is
    /// added, but later records are still checked so every refusal is named.
    fn add(&mut self, records: &[NewRecord]) -> Result<Vec<(usize, String)>>;

    /// Commits: every record added is queued. Refused when one was refused.
    fn finish(self: Box<Self>) -> Result<EnqueueReport>;
}

/// Starting an enqueue; every backend implements it.
pub trait BeginEnqueue {
    /// Opens the transaction of one input for `target` (records are stamped `now`).
    fn begin_enqueue(
        &mut self,
        target: &str,
        now: hub_core::time::Timestamp,
    ) -> Result<Box<dyn Enqueueing + '_>>;
}
