-- The receiving side (`hub import`): transports that arrived, the record versions they
-- carried, and the answers (receipts, re-transmission requests) owed to their senders.

-- One row per transport number of a sender/receiver pair: held (arrived before an
-- earlier number) or imported. The pair's next number is one past its highest imported.
CREATE TABLE inbound_transports (
    id INTEGER PRIMARY KEY,
    inbound TEXT NOT NULL,
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    number INTEGER NOT NULL,
    transport_guid TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('held', 'imported')),
    arrived_at INTEGER NOT NULL,
    imported_at INTEGER,
    records INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    documents INTEGER NOT NULL DEFAULT 0,
    UNIQUE (inbound, sender, receiver, number)
);

-- The archive as it arrived, byte for byte (kept apart so lookups never read it).
CREATE TABLE inbound_bytes (
    transport INTEGER PRIMARY KEY REFERENCES inbound_transports (id),
    bytes BLOB NOT NULL
);

-- Every record version an imported transport carried, with the action that made it and
-- the verdict the receipt gave.
CREATE TABLE record_versions (
    id INTEGER PRIMARY KEY,
    transport INTEGER NOT NULL REFERENCES inbound_transports (id),
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    action TEXT,
    file TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('imported', 'rejected')),
    code TEXT,
    message TEXT,
    body TEXT NOT NULL
);
CREATE INDEX record_versions_record ON record_versions (record_id, version);

-- Files owed to a sender, kept until delivered so a crash never loses or doubles one.
CREATE TABLE inbound_answers (
    id INTEGER PRIMARY KEY,
    inbound TEXT NOT NULL,
    transport INTEGER REFERENCES inbound_transports (id),
    kind TEXT NOT NULL CHECK (kind IN ('receipt', 'request')),
    name TEXT NOT NULL,
    bytes BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (inbound, name)
);

-- Archives refused before anything was imported from them, and why.
CREATE TABLE inbound_refused (
    id INTEGER PRIMARY KEY,
    inbound TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
