//! The states records, transfers and payloads move through, with the spellings the store,
//! `hub status` and `--json` use.
//!
//! A record leaves the outbox only with an outcome: it is queued, in a transfer, or has a
//! final state with a reason. Nothing is dropped silently.

macro_rules! spelled_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $variant,)* }

        impl $name {
            /// Every state, in life-cycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses the stable spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled_enum! {
    /// Where a record is.
    RecordState {
        /// In the outbox, waiting for the next send.
        Queued = "queued",
        /// Encoded into a transfer that is not finished yet.
        InTransfer = "in-transfer",
        /// The target took it (archived).
        Delivered = "delivered",
        /// The target refused it; its messages say why. Needs a person.
        Rejected = "rejected",
        /// The hub could not encode it (the plugin named a problem). Needs a person.
        Failed = "failed",
        /// Completed by hand without import (who, when, why are kept).
        Resolved = "resolved",
        /// Replaced in the outbox by a newer snapshot before it was sent.
        Superseded = "superseded",
        /// Sent, but whether the target took it is unknown (a lost answer, a crash between
        /// sending and recording, a file the hub did not write under its name). Held, never
        /// sent again, until the receiver answers a look or a person settles it.
        InDoubt = "in-doubt",
    }
}

impl RecordState {
    /// States that need a person to look at them.
    pub fn needs_check(self) -> bool {
        matches!(
            self,
            RecordState::Rejected | RecordState::Failed | RecordState::InDoubt
        )
    }
}

spelled_enum! {
    /// Where a transfer is.
    TransferState {
        /// Created (numbered, bytes fixed) and not yet delivered.
        Open = "open",
        /// Every payload is in place; the per-record outcomes come with a receipt later.
        Sent = "sent",
        /// Delivered; some records were rejected and are not yet resolved.
        NeedsCheck = "needs-check",
        /// Delivered and every record has its final outcome ("done on").
        Done = "done",
        /// A payload's delivery is in doubt: held for a look or a person, not sent again.
        InDoubt = "in-doubt",
    }
}

spelled_enum! {
    /// The delivery steps of one payload. The store records each step before the remote
    /// side is touched, so after a crash the next run knows what to inspect.
    PayloadState {
        /// Not yet touched on the remote side.
        Pending = "pending",
        /// Being written under its temporary name (or a request is about to be sent).
        Uploading = "uploading",
        /// Complete under its temporary name; the rename comes next.
        Uploaded = "uploaded",
        /// In place under its final name, or answered.
        Delivered = "delivered",
        /// Whether it arrived is unknown (or another file holds its name): held until
        /// settled (`hub doubt settle`); never sent again by itself.
        InDoubt = "in-doubt",
    }
}

spelled_enum! {
    /// How one attempt in the protocol log ended.
    AttemptResult {
        /// Delivered (and answered, for request-response targets).
        Delivered = "delivered",
        /// Failed in a way worth retrying (connection refused, timeout, 5xx).
        Retryable = "retryable",
        /// Failed in a way a retry will not fix (refused certificate, 4xx, bad payload name).
        Failed = "failed",
        /// The remote side may or may not have it; the next run finds out.
        Unknown = "unknown",
        /// Found delivered when a run resumed after an interruption.
        Recovered = "recovered",
        /// Written before the remote side is touched; an attempt still `started` was cut
        /// off (a crash, a kill) and its outcome is unknown.
        Started = "started",
        /// Settled by a person (`hub doubt settle`): who, and why, are in the entry.
        Settled = "settled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in RecordState::ALL {
            assert_eq!(RecordState::parse(s.as_str()), Some(*s));
        }
        for s in PayloadState::ALL {
            assert_eq!(PayloadState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            TransferState::parse("needs-check"),
            Some(TransferState::NeedsCheck)
        );
        assert_eq!(AttemptResult::parse("nope"), None);
        assert!(RecordState::Rejected.needs_check());
        assert!(!RecordState::Resolved.needs_check());
    }
}
