-- Schema 016, as ../016_pauses.sql.
CREATE TABLE target_pauses (
    target TEXT PRIMARY KEY,
    since  BIGINT NOT NULL,
    by     TEXT NOT NULL,
    reason TEXT NOT NULL
);
