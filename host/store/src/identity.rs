//! What an earlier body under a record's id means for a new one: the plugin's declaration
//! for the record's kind applied to what the store holds. One rule for every backend; each
//! backend only reads the rows.

use crate::{Change, NewRecord, Result};

/// What an earlier record under the same id means for a new body.
pub(crate) enum Earlier {
    /// No earlier body that matters.
    None,
    /// An earlier body was delivered; this one goes out as the plugin declares.
    Delivered,
    /// Refused, with the reason naming where the earlier body is.
    Refused(String),
}

/// Judges `r` against the earlier records under its id (`seq, state, transfer_id`, newest
/// first); `files_of` names the payloads a record went out in.
pub(crate) fn judge(
    r: &NewRecord,
    earlier: &[(i64, String, Option<i64>)],
    files_of: impl FnOnce(i64) -> Result<Vec<String>>,
) -> Result<Earlier> {
    if earlier.is_empty() {
        return Ok(Earlier::None);
    }
    let delivered = earlier.iter().any(|(_, s, _)| s == "delivered");
    match r.change {
        Change::Snapshot | Change::Version => Ok(if delivered {
            Earlier::Delivered
        } else {
            Earlier::None
        }),
        Change::Refuse => {
            // A body that was failed, rejected or replaced never reached the books: a
            // corrected one may take its id.
            let Some((seq, state, transfer)) = earlier
                .iter()
                .find(|(_, s, _)| !matches!(s.as_str(), "failed" | "rejected" | "superseded"))
            else {
                return Ok(Earlier::None);
            };
            let place = match transfer {
                Some(t) => format!("in transfer #{t} ({})", files_of(*seq)?.join(", ")),
                None => "in the outbox, not sent yet".to_string(),
            };
            Ok(Earlier::Refused(format!(
                "record {}: another body under this id is {state} {place}; a {} is not changed \
                 after it is queued: give the correction its own id",
                r.id, r.kind
            )))
        }
    }
}
