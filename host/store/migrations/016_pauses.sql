-- Schema 016: targets paused by an operator (`hub pause`): nothing is numbered or sent
-- for them until `hub resume`. One row per paused target.
CREATE TABLE target_pauses (
    target TEXT PRIMARY KEY,
    since  INTEGER NOT NULL,   -- Unix ms
    by     TEXT NOT NULL,
    reason TEXT NOT NULL
);
