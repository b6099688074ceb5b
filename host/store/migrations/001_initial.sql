-- Schema version 1. Never edit a released migration: add the next file instead.

-- The outbox and the archive: every record ever enqueued, with where it is now.
CREATE TABLE records (
    seq            INTEGER PRIMARY KEY,          -- enqueue order, the host's record number
    target         TEXT NOT NULL,
    record_id      TEXT NOT NULL,                -- the source's id
    kind           TEXT NOT NULL,
    body_sha256    TEXT NOT NULL,
    batch_key      TEXT NOT NULL,
    sequence_scope TEXT,
    supersede_key  TEXT,
    state          TEXT NOT NULL,                -- hub_core::state::RecordState
    transfer_id    INTEGER REFERENCES transfers(id),
    messages       TEXT NOT NULL DEFAULT '[]',   -- latest outcome's messages, JSON array
    enqueued_at    INTEGER NOT NULL,             -- Unix ms
    updated_at     INTEGER NOT NULL,
    body           TEXT NOT NULL                 -- JSON object as received; last, so a large
                                                 -- body never sits between a query and `state`
);
CREATE INDEX records_by_id ON records(target, record_id);
CREATE INDEX records_by_state ON records(target, state, batch_key, seq);
CREATE INDEX records_by_supersede ON records(target, supersede_key, state) WHERE supersede_key IS NOT NULL;
CREATE INDEX records_by_transfer ON records(transfer_id);

-- Gapless counters per target and scope (a sender/receiver pair, a page and fiscal year).
CREATE TABLE sequences (
    target TEXT NOT NULL,
    scope  TEXT NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (target, scope)
);

-- One unit sent to a target: numbered and fixed at creation.
CREATE TABLE transfers (
    id             INTEGER PRIMARY KEY,
    target         TEXT NOT NULL,
    batch_key      TEXT NOT NULL,
    sequence_scope TEXT,
    sequence_no    INTEGER,
    state          TEXT NOT NULL,                -- hub_core::state::TransferState
    plugin         TEXT NOT NULL,                -- name@version
    plugin_sha256  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    done_at        INTEGER,                      -- the "done on" date
    UNIQUE (target, sequence_scope, sequence_no)
);
CREATE INDEX transfers_by_state ON transfers(target, state);

-- One file or request body of a transfer.
CREATE TABLE payloads (
    id           INTEGER PRIMARY KEY,
    transfer_id  INTEGER NOT NULL REFERENCES transfers(id),
    idx          INTEGER NOT NULL,
    name         TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    state        TEXT NOT NULL,                  -- hub_core::state::PayloadState
    delivered_at INTEGER,
    labels       TEXT NOT NULL DEFAULT '[]',     -- the plugin's [key, value] pairs, JSON
    checked_at   INTEGER,                        -- last look at the receiver after delivery
    gone_at      INTEGER,                        -- first seen taken away by the receiver
    UNIQUE (transfer_id, idx)
);

-- The bytes, kept for audit and re-sending, in their own table: SQLite reads a row's
-- columns in order, so a state column behind a multi-megabyte blob would cost a walk
-- through its overflow pages on every status query.
CREATE TABLE payload_bytes (
    payload_id INTEGER PRIMARY KEY REFERENCES payloads(id),
    bytes      BLOB NOT NULL
);

CREATE TABLE payload_records (
    payload_id INTEGER NOT NULL REFERENCES payloads(id),
    record_seq INTEGER NOT NULL REFERENCES records(seq),
    PRIMARY KEY (payload_id, record_seq)
);
CREATE INDEX payload_records_by_record ON payload_records(record_seq);

-- The protocol log: every try to deliver a payload.
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    transfer_id INTEGER NOT NULL REFERENCES transfers(id),
    payload_id  INTEGER REFERENCES payloads(id),
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    endpoint    TEXT NOT NULL,
    credential  TEXT,                            -- the credential's name, never the secret
    sent        TEXT NOT NULL,
    received    TEXT,
    result      TEXT NOT NULL,                   -- hub_core::state::AttemptResult
    error       TEXT
);
CREATE INDEX attempts_by_transfer ON attempts(transfer_id);

-- Every outcome a record was given, in order (the latest is on the record).
CREATE TABLE outcomes (
    id          INTEGER PRIMARY KEY,
    record_seq  INTEGER NOT NULL REFERENCES records(seq),
    transfer_id INTEGER REFERENCES transfers(id),
    state       TEXT NOT NULL,
    messages    TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX outcomes_by_record ON outcomes(record_seq);

-- Records completed by hand without import: who, when, why.
CREATE TABLE resolutions (
    id         INTEGER PRIMARY KEY,
    record_seq INTEGER NOT NULL REFERENCES records(seq),
    who        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at         INTEGER NOT NULL
);
