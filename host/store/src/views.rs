//! Reads that cost what they show: one page of transfers, files, records or protocol
//! entries at a time, filtered in the database through indexes (migration 008), and an
//! overview per target that reads kept counts instead of the history.
//!
//! A store of years holds millions of records; the status page, `hub status` and
//! `/metrics` must not read all of them to show fifty. Pages go newest first and continue
//! from a cursor (the last id shown), so the next page costs the same as the first.

use hub_core::time::Timestamp;
use serde::Serialize;

use crate::{Attempt, Counts, Payload, RecordView, Result, Transfer};

/// The most rows one page returns, whatever a caller asks for.
pub const MAX_PAGE: usize = 1_000;

/// What a page shows: every field narrows; `None` or empty does not.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this target.
    pub target: Option<String>,
    /// Only rows in this state (the spelling of the row's kind: a transfer's, payload's,
    /// record's state or an attempt's result). An unknown state is refused, naming the
    /// known ones.
    pub state: Option<String>,
    /// Only rows from this time on (transfers: created; files: created with their
    /// transfer; records: last changed; log: started).
    pub since: Option<Timestamp>,
    /// Only rows with this text in them, case-insensitively (transfers: batch key or a
    /// payload's name; files: name; records: id or messages; log: endpoint, what was sent,
    /// what came back, the error). Not indexed: it narrows what the other filters leave.
    pub text: Option<String>,
    /// Only files (and transfers with a file) carrying every one of these labels.
    pub labels: Vec<(String, String)>,
    /// Only this transfer (files, log).
    pub transfer: Option<i64>,
    /// Continue after this id (the `next` of the page before).
    pub before: Option<i64>,
    /// Rows wanted; 0 means the default of 50, and more than [`MAX_PAGE`] is cut to it.
    pub limit: usize,
}

impl Query {
    /// The number of rows to read: the limit, bounded.
    pub fn page_size(&self) -> usize {
        match self.limit {
            0 => 50,
            n => n.min(MAX_PAGE),
        }
    }
}

/// One page, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page begins (pass as [`Query::before`]); `None`: this is the last.
    pub next: Option<i64>,
}

/// A file (or request body) with its transfer's target and creation time.
#[derive(Debug, Clone, Serialize)]
pub struct FileRow {
    pub target: String,
    pub sequence_no: Option<u64>,
    #[serde(serialize_with = "crate::ser_display")]
    pub created_at: Timestamp,
    #[serde(flatten)]
    pub payload: Payload,
}

/// The waits a target's configuration allows, for [`TargetSummary`]'s counts of what
/// waits too long.
#[derive(Debug, Clone, Default)]
pub struct TargetLimits {
    pub target: String,
    /// A delivered file still on the receiver this long after delivery is stuck.
    pub stuck_after_ms: Option<i64>,
    /// A sent transport without its receipt this long is missing its receipt.
    pub receipt_after_ms: Option<i64>,
}

/// One target at a glance: what the status page's summary and `/metrics` show. Read from
/// kept counts and from indexes over what is still open, never from the history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetSummary {
    pub target: String,
    /// Records per state.
    pub records: Counts,
    /// Transfers still to deliver.
    pub open_transfers: usize,
    /// Transfers held in doubt.
    pub in_doubt_transfers: usize,
    /// Transfers whose files are in place and whose receipt is awaited.
    pub sent_transfers: usize,
    /// Transfers with a rejected or failed record.
    pub needs_check_transfers: usize,
    /// When the oldest record still queued was enqueued.
    #[serde(serialize_with = "crate::ser_opt_display")]
    pub oldest_queued_at: Option<Timestamp>,
    /// When a transfer of this target was last done.
    #[serde(serialize_with = "crate::ser_opt_display")]
    pub last_done_at: Option<Timestamp>,
    /// Delivered files seen still on the receiver at the last look.
    pub files_on_receiver: usize,
    /// Of those, the ones there longer than the target's `stuck_after`.
    pub stuck_files: usize,
    /// Sent transports without their receipt for longer than `receipt_after`.
    pub missing_receipts: usize,
}

/// Paged reads and the overview: a trait of its own beside [`crate::Store`], so each
/// backend keeps them in one file (`sqlite/pages.rs`, `postgres/pages.rs`).
pub trait Pages {
    /// Every target with records or named in `limits` (so a configured target with no
    /// records yet is there with zeros), sorted by name.
    fn overview(&mut self, limits: &[TargetLimits], now: Timestamp) -> Result<Vec<TargetSummary>>;

    /// Transfers, newest first, with their payloads.
    fn transfer_page(&mut self, query: &Query) -> Result<Page<Transfer>>;

    /// Files (payloads), newest first.
    fn file_page(&mut self, query: &Query) -> Result<Page<FileRow>>;

    /// Records, newest first.
    fn record_page(&mut self, query: &Query) -> Result<Page<RecordView>>;

    /// The protocol log, newest first.
    fn log_page(&mut self, query: &Query) -> Result<Page<Attempt>>;

    /// Whether any file carries a label named `key` (to tell a mistyped label from one
    /// that matches nothing).
    fn has_label(&mut self, key: &str) -> Result<bool>;
}

/// Cuts a page read with one row too many and says where the next one begins.
pub(crate) fn paged<T>(mut items: Vec<T>, size: usize, id: impl Fn(&T) -> i64) -> Page<T> {
    let more = items.len() > size;
    items.truncate(size);
    let next = if more { items.last().map(id) } else { None };
    Page { items, next }
}

/// Targets in `limits` without records get a summary of zeros; the result is by name.
pub(crate) fn with_configured(
    mut out: Vec<TargetSummary>,
    limits: &[TargetLimits],
) -> Vec<TargetSummary> {
    for l in limits {
        if !out.iter().any(|s| s.target == l.target) {
            out.push(TargetSummary {
                target: l.target.clone(),
                records: Counts {
                    target: l.target.clone(),
                    ..Counts::default()
                },
                ..TargetSummary::default()
            });
        }
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

/// Adds a count of a target's transfers in an open state to its summary.
pub(crate) fn add_transfers(s: &mut TargetSummary, state: &str, n: i64) {
    let n = usize::try_from(n).unwrap_or(0);
    match state {
        "open" => s.open_transfers += n,
        "in-doubt" => s.in_doubt_transfers += n,
        "sent" => s.sent_transfers += n,
        "needs-check" => s.needs_check_transfers += n,
        _ => {}
    }
}

/// Whether a delivered file seen still on the receiver has been there too long: the one
/// rule for `hub status`, the overview and `/metrics`.
pub fn is_stuck(delivered_at: Timestamp, checked_at: Timestamp, stuck_after_ms: i64) -> bool {
    checked_at.0 - delivered_at.0 >= stuck_after_ms
}

/// Whether a transport sent at `sent_at` has waited too long for its receipt.
pub fn is_missing_receipt(sent_at: Timestamp, now: Timestamp, receipt_after_ms: i64) -> bool {
    now.0 - sent_at.0 >= receipt_after_ms
}

/// Adds the files still on the receiver (`target, delivered, checked`) and the sent
/// transports (`target, last delivery`) to the summaries, counting what waits too long
/// by the targets' limits.
pub(crate) fn add_waiting(
    out: &mut [TargetSummary],
    limits: &[TargetLimits],
    files: &[(String, Option<i64>, i64)],
    sent: &[(String, Option<i64>)],
    now: Timestamp,
) {
    let limit = |t: &str| limits.iter().find(|l| l.target == t);
    for (target, delivered, checked) in files {
        let Some(s) = out.iter_mut().find(|s| &s.target == target) else {
            continue;
        };
        s.files_on_receiver += 1;
        let stuck = limit(target)
            .and_then(|l| l.stuck_after_ms)
            .zip(*delivered)
            .is_some_and(|(ms, d)| is_stuck(Timestamp(d), Timestamp(*checked), ms));
        if stuck {
            s.stuck_files += 1;
        }
    }
    for (target, at) in sent {
        let Some(s) = out.iter_mut().find(|s| &s.target == target) else {
            continue;
        };
        let missing = limit(target)
            .and_then(|l| l.receipt_after_ms)
            .zip(*at)
            .is_some_and(|(ms, at)| is_missing_receipt(Timestamp(at), now, ms));
        if missing {
            s.missing_receipts += 1;
        }
    }
}

/// The files `ids` of `transfers`, in the order of `ids`.
pub(crate) fn files_in_order(transfers: Vec<Transfer>, ids: &[i64]) -> Vec<FileRow> {
    let mut by_id: std::collections::BTreeMap<i64, FileRow> = transfers
        .into_iter()
        .flat_map(|t| {
            let (target, sequence_no, created_at) = (t.target, t.sequence_no, t.created_at);
            t.payloads.into_iter().map(move |p| {
                (
                    p.id,
                    FileRow {
                        target: target.clone(),
                        sequence_no,
                        created_at,
                        payload: p,
                    },
                )
            })
        })
        .collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}
