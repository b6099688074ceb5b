-- Schema 004: exactly once at the edges.
--
-- A record's identity beside its id: SHA-256 of its canonical JSON (RFC 8785), so the
-- same record with its keys in another order or other whitespace is recognised. NULL only
-- for rows written before this migration; the store fills them when it opens.
ALTER TABLE records ADD COLUMN content_sha256 TEXT;
CREATE INDEX records_by_content ON records(target, record_id, content_sha256);

-- Deliveries whose outcome the hub cannot know: a lost or late answer, a crash between
-- sending and recording, a file under the final name the hub did not write, a temporary
-- file gone without a final one. The payload (and its records and transfer) stay
-- `in-doubt` until the receiver is looked at or a person settles it: who, when, why.
CREATE TABLE doubts (
    id          INTEGER PRIMARY KEY,
    transfer_id INTEGER NOT NULL REFERENCES transfers(id),
    payload_id  INTEGER NOT NULL REFERENCES payloads(id),
    kind        TEXT NOT NULL,              -- unknown-outcome | conflict | vanished
    detail      TEXT NOT NULL,              -- what the hub saw, one line
    expected    TEXT,                       -- what the hub wrote: size and sha256
    found       TEXT,                       -- what the receiver holds: size and sha256
    opened_at   INTEGER NOT NULL,
    settled_at  INTEGER,
    settled_by  TEXT,
    settled_as  TEXT,                       -- delivered | not-delivered
    reason      TEXT
);
CREATE INDEX doubts_by_transfer ON doubts(transfer_id);
CREATE INDEX doubts_open ON doubts(settled_at) WHERE settled_at IS NULL;
