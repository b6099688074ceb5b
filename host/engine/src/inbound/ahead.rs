//! A transport read on one core while its versions are stored on another: unpacking and
//! parsing (about 40 % of an import's work) run on a scoped thread that hands the versions
//! over in small batches through a channel of one slot, so what is in flight is bounded
//! (at most three batches of [`BATCH_BYTES`] plus one record each, whatever the
//! transport's size). The versions reach `each` in the order the format read them, on the
//! calling thread, which keeps the store's transaction; a failure on either side stops
//! both, and the store's own error wins over the reader's "stopped".

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use super::archive::Archive;
use super::format::{InboundFormat, Incoming};
use super::take::Taken;

/// Versions per batch handed over.
const BATCH_RECORDS: usize = 512;
/// Bytes of bodies per batch handed over (one record may exceed it alone).
const BATCH_BYTES: usize = 1 << 20;

/// Versions read from one file of the archive, in order.
struct Batch {
    file: String,
    versions: Vec<Incoming>,
    bytes: usize,
}

impl Batch {
    fn new(file: &str) -> Self {
        Batch {
            file: file.to_string(),
            versions: Vec::with_capacity(BATCH_RECORDS),
            bytes: 0,
        }
    }
}

/// What the reader says when the storing side has stopped; never shown, because the
/// storing side's own error is returned instead.
const STOPPED: &str = "reading stopped: storing the versions failed";

/// Hands a batch to the storing side. While that side is still busy with the one before,
/// the reader writes the batch's bodies itself instead of waiting idle: whichever thread
/// has time writes them (see [`super::format::Body`]).
fn hand_over(tx: &SyncSender<Batch>, b: Batch) -> Result<(), Taken> {
    match tx.try_send(b) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(mut b)) => {
            for v in &mut b.versions {
                v.body.write_now();
            }
            tx.send(b).map_err(|_| Taken::Refused(STOPPED.into()))
        }
        Err(TrySendError::Disconnected(_)) => Err(Taken::Refused(STOPPED.into())),
    }
}

/// [`InboundFormat::versions`] with the reading on a thread of its own.
pub(super) fn versions(
    format: &dyn InboundFormat,
    archive: &mut Archive<'_>,
    sender: &str,
    each: &mut dyn FnMut(&str, Incoming) -> Result<(), Taken>,
) -> Result<(), Taken> {
    let (tx, rx) = sync_channel::<Batch>(1);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut batch: Option<Batch> = None;
            let read = format.versions(archive, sender, &mut |file, v| {
                let full = batch.as_ref().is_some_and(|b| {
                    b.file != file || b.versions.len() >= BATCH_RECORDS || b.bytes >= BATCH_BYTES
                });
                if full && let Some(b) = batch.take() {
                    hand_over(&tx, b)?;
                }
                let b = batch.get_or_insert_with(|| Batch::new(file));
                b.bytes += v.body.size();
                b.versions.push(v);
                Ok(())
            });
            match (read, batch) {
                (Ok(()), Some(b)) => hand_over(&tx, b),
                (read, _) => read,
            }
        });
        let stored = (|| {
            for b in &rx {
                for v in b.versions {
                    each(&b.file, v)?;
                }
            }
            Ok(())
        })();
        // Dropping the receiver makes a reader still sending stop at its next batch.
        drop(rx);
        let read = match reader.join() {
            Ok(read) => read,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        stored.and(read)
    })
}

#[cfg(test)]
mod tests {
    use hub_core::config::InboundLimits;
    use hub_core::time::Civil;

    use super::super::format::{Body, Header, ReceiptOut};
    use super::*;

    /// Emits `n` versions, the first 700 from `a.xml` and the rest from `b.xml`, and
    /// fails after `fail_at` of them if set.
    struct Counting {
        n: usize,
        fail_at: Option<usize>,
    }

    impl InboundFormat for Counting {
        fn site(&self) -> &str {
            "x"
        }
        fn default_senders(&self) -> Vec<String> {
            Vec::new()
        }
        fn header(&self, _: &mut Archive<'_>) -> Result<Header, String> {
            Err("not used".into())
        }
        fn versions(
            &self,
            _: &mut Archive<'_>,
            _: &str,
            each: &mut dyn FnMut(&str, Incoming) -> Result<(), Taken>,
        ) -> Result<(), Taken> {
            for i in 0..self.n {
                if self.fail_at == Some(i) {
                    return Err(Taken::Refused(format!("bad record {i}")));
                }
                let file = if i < 700 { "a.xml" } else { "b.xml" };
                each(
                    file,
                    Incoming {
                        record_id: i.to_string(),
                        version: 1,
                        kind: "SAL".into(),
                        action: None,
                        body: Body::Text("{}".into()),
                        refused: None,
                    },
                )?;
            }
            Ok(())
        }
        fn may_edit(&self, _: &str, _: &str) -> bool {
            true
        }
        fn receipt(&self, _: &Header) -> Result<(String, Box<dyn ReceiptOut>), String> {
            Err("not used".into())
        }
        fn missing_request(&self, _: &str, _: &[u64], _: Civil) -> (String, Vec<u8>) {
            (String::new(), Vec::new())
        }
    }

    fn run(
        format: &Counting,
        mut store: impl FnMut(&str, Incoming) -> Result<(), Taken>,
    ) -> Result<(), Taken> {
        let mut archive = Archive::open(
            "t.xml",
            std::io::Cursor::new(b"<x/>"),
            &InboundLimits::default(),
        )
        .expect("archive");
        versions(format, &mut archive, "s", &mut store)
    }

    fn reason(r: Result<(), Taken>) -> String {
        match r {
            Ok(()) => "ok".into(),
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn versions_arrive_in_order_with_their_file_across_batches() {
        let mut seen = Vec::new();
        let r = run(
            &Counting {
                n: 1300,
                fail_at: None,
            },
            |f, v| {
                seen.push((f.to_string(), v.record_id));
                Ok(())
            },
        );
        assert_eq!(reason(r), "ok");
        assert_eq!(seen.len(), 1300);
        for (i, (f, id)) in seen.iter().enumerate() {
            assert_eq!(id, &i.to_string());
            assert_eq!(f, if i < 700 { "a.xml" } else { "b.xml" });
        }
    }

    #[test]
    fn the_store_error_wins_and_a_reading_error_comes_through() {
        let r = run(
            &Counting {
                n: 5000,
                fail_at: None,
            },
            |_, v| {
                if v.record_id == "900" {
                    return Err(Taken::Refused("store full".into()));
                }
                Ok(())
            },
        );
        assert_eq!(reason(r), "store full");
        let mut stored = 0;
        let r = run(
            &Counting {
                n: 5000,
                fail_at: Some(1200),
            },
            |_, _| {
                stored += 1;
                Ok(())
            },
        );
        assert_eq!(reason(r), "bad record 1200");
        assert!(stored <= 1200, "{stored}");
    }
}
