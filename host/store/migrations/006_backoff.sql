-- Schema 006: when a target is tried again after failed sends, shared by every worker
-- on the store (a receiver that is down is not tried once per worker), and kept across
-- restarts.
CREATE TABLE target_backoff (
    target   TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,   -- failed sends in a row
    next_at  INTEGER NOT NULL    -- not before (ms since the epoch)
);
