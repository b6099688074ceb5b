-- Schema 009: data protection and proof.
--
-- Retention: once a record is final (delivered, resolved, superseded) and its transfer
-- done, its body and the transfer's payload bytes may be purged after the target's
-- `retention_days`; the row keeps its metadata and hashes (records.body_sha256 and
-- content_sha256, payloads.sha256 and size), and `purged_at` says when the rest went.
ALTER TABLE records ADD COLUMN purged_at INTEGER;
ALTER TABLE payloads ADD COLUMN purged_at INTEGER;

-- The audit trail: every delivery outcome and operator action, as a hash chain. `id`
-- runs 1, 2, 3 … without gaps (written by the store, never AUTOINCREMENT-skipped); `hash`
-- is SHA-256 over `prev` and the entry's canonical JSON (`hub_store::audit`).
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,          -- Unix ms
    actor   TEXT NOT NULL,             -- a user, or `hub`
    action  TEXT NOT NULL,             -- delivery, settle, resolve, resend, purge, plugin-change, …
    target  TEXT,
    subject TEXT NOT NULL,             -- e.g. `transfer #12 payload #30`
    detail  TEXT NOT NULL,
    prev    TEXT NOT NULL,
    hash    TEXT NOT NULL
);
CREATE INDEX audit_by_at ON audit(at);
