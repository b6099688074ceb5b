-- Schema 006, as ../006_backoff.sql: when a target is tried again after failed sends,
-- shared by every worker.
CREATE TABLE target_backoff (
    target   TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    next_at  BIGINT NOT NULL
);
