//! Small files of one transfer delivered as a group. Each file takes the same steps as
//! alone (upload under the temporary name; "uploaded" made durable; rename; "delivered"
//! made durable), but each step is taken for the whole group before the next: the
//! uploads overlap where the transport can keep several in flight (SFTP), and the two
//! durable points are one commit each for the group instead of one per file.
//!
//! What a crash leaves is what it leaves for one file: a temporary file not recorded
//! (uploaded again), or "uploaded" recorded (looked at before anything is done). No
//! group is open while the receiver is touched, and the renames go in the transfer's
//! order, one at a time, stopping at the first that fails: a receiver never sees a
//! later file of the transfer before an earlier one.

use std::time::Instant;

use hub_core::state::{AttemptResult, PayloadState};
use hub_core::time::Timestamp;
use hub_core::transport::Transport;
use hub_store::{Completion, NewAttempt, Payload, Transfer};

use super::{FileTry, Step, failed, keep_lease, look_after_failed_rename, new_attempt};
use crate::Engine;
use crate::fault;
use crate::pipeline::SendError;

/// Files per group: enough to hide the round trips and share the commits.
const FILES: usize = 32;
/// A file up to this size may join a group (held in memory while the group is sent);
/// larger ones are streamed alone.
const FILE_BYTES: usize = 1 << 20;
/// The bytes of one group held in memory at most.
const GROUP_BYTES: usize = 8 << 20;

/// What a group settled, in order, and how the first file after them failed, if it did
/// (its retries go on one at a time from there).
pub(super) struct Ran {
    pub(super) steps: Vec<(String, Step)>,
    pub(super) next: Option<SendError>,
}

/// How many of `pending`, from the first, can go as one group: small files with nothing
/// recorded for them yet, within the group's limits.
pub(super) fn extent(pending: &[Payload]) -> usize {
    let mut bytes = 0;
    pending
        .iter()
        .take(FILES)
        .take_while(|p| {
            bytes += p.size;
            p.state != PayloadState::Uploaded && p.size <= FILE_BYTES && bytes <= GROUP_BYTES
        })
        .count()
}

/// Delivers `group` (see the module's note); stops early at a file that fails or is
/// held, leaving it and those after it to be delivered one at a time.
pub(super) fn deliver_group(
    engine: &mut Engine,
    transport: &mut dyn Transport,
    transfer: &Transfer,
    group: &[Payload],
    receipt: bool,
    leased_until: &mut Timestamp,
) -> Result<Ran, SendError> {
    keep_lease(engine, transfer, leased_until)?;
    let started = Instant::now();
    let mut next = None;

    // Read from the store whole (the group's size is bounded), checked as a stream is. A
    // read that stops ends the group there: that file goes alone, streamed.
    let mut bodies = Vec::with_capacity(group.len());
    for p in group {
        fault::point("uploading");
        let mut bytes = Vec::with_capacity(p.size);
        let read = engine.store.send_payload(p.id, &mut |r, _| {
            r.read_to_end(&mut bytes).map(drop).map_err(drop)
        })?;
        if read.is_err() {
            break;
        }
        bodies.push(bytes);
    }
    let read = bodies.len();
    let files: Vec<(&str, &[u8])> = group
        .iter()
        .zip(&bodies)
        .map(|(p, b)| (p.name.as_str(), b.as_slice()))
        .collect();
    let uploaded = transport.put_temps(&files);
    drop(files);
    drop(bodies);
    let ok = uploaded.iter().take_while(|r| r.is_ok()).count().min(read);
    for _ in 0..ok {
        fault::point("uploaded-temp");
    }
    if let Some(Err(e)) = uploaded.get(ok).filter(|_| ok < read) {
        // Files after it that did go up stay unrecorded: uploaded again, in order.
        let p = &group[ok];
        let a = new_attempt(transport, transfer, p, engine.now());
        next = Some(failed(engine, &a, transfer, p, started, e));
    }
    let group = &group[..ok];
    if group.is_empty() {
        return Ok(Ran {
            steps: Vec::new(),
            next,
        });
    }

    // The durable point before the renames, for the whole group.
    let mut attempts = Vec::with_capacity(group.len());
    engine.store.begin_group()?;
    let recorded = group.iter().try_for_each(|p| {
        let mut a = new_attempt(transport, transfer, p, engine.now());
        a.begun = Some(
            engine
                .store
                .begin_attempt(p.id, PayloadState::Uploaded, &a)?,
        );
        attempts.push(a);
        Ok::<_, SendError>(())
    });
    let committed = engine.store.end_group();
    recorded?;
    committed?;
    for _ in group {
        fault::point("recorded-uploaded");
    }

    // Renames in the transfer's order, up to the first that fails.
    keep_lease(engine, transfer, leased_until)?;
    let names: Vec<&str> = group.iter().map(|p| p.name.as_str()).collect();
    let mut refused = None;
    let mut renamed = 0;
    for result in transport.make_finals(&names) {
        match result {
            Ok(()) => {
                fault::point("renamed");
                renamed += 1;
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }

    // The durable point after them.
    let completion = if receipt {
        Completion::AwaitingReceipt
    } else {
        Completion::InPlace
    };
    let mut steps = Vec::with_capacity(group.len());
    engine.store.begin_group()?;
    let now = engine.now();
    let completed = group
        .iter()
        .zip(&attempts)
        .take(renamed)
        .try_for_each(|(p, a)| {
            let a = NewAttempt {
                duration_ms: started.elapsed().as_millis() as u64,
                result: AttemptResult::Delivered,
                ..a.clone()
            };
            let state = engine.store.complete_payload(p.id, completion, &a, now)?;
            steps.push((p.name.clone(), Step::Done(state)));
            Ok::<_, SendError>(())
        });
    let committed = engine.store.end_group();
    completed?;
    committed?;
    for _ in 0..renamed {
        fault::point("completed");
    }

    if let Some(e) = refused {
        // As for a file alone: whose file is under the final name now, if any?
        let p = &group[renamed];
        let file = FileTry {
            transfer,
            p,
            started,
            receipt,
        };
        match look_after_failed_rename(engine, transport, &attempts[renamed], file, e) {
            Ok(step) => steps.push((p.name.clone(), step)),
            Err(e) => {
                return Ok(Ran {
                    steps,
                    next: Some(e),
                });
            }
        }
        // The files after it are recorded "uploaded": renamed one at a time, after a look.
        next = None;
    }
    Ok(Ran { steps, next })
}
