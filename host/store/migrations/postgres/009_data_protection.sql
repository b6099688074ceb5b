-- Schema 009: data protection and proof (see the SQLite file for the why).
ALTER TABLE records ADD COLUMN purged_at BIGINT;
ALTER TABLE payloads ADD COLUMN purged_at BIGINT;

-- `id` is written by the store under a transaction-scoped advisory lock (last + 1), never
-- from a sequence: a sequence leaves gaps on rollback, and a gap must mean a removed entry.
CREATE TABLE audit (
    id      BIGINT PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL,
    prev    TEXT NOT NULL,
    hash    TEXT NOT NULL
);
CREATE INDEX audit_by_at ON audit(at);
