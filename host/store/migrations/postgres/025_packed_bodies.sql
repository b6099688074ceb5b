-- Schema 025: SQLite packs delivered bodies with a dictionary per target (its
-- body_dicts table). PostgreSQL compresses large values itself (TOAST) and keeps every
-- body as text; it keeps the same table, empty, so both schemas name the same tables.
CREATE TABLE body_dicts (
    id      BIGINT PRIMARY KEY,
    target  TEXT NOT NULL UNIQUE,
    dict    BYTEA NOT NULL,
    made_at BIGINT NOT NULL
);
