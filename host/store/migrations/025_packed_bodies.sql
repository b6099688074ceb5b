-- Schema 025: a delivered record's body is kept packed, a zstd frame made with a
-- dictionary trained on its target's own bodies (sqlite/bodies.rs): the body was half
-- of what a delivered record cost (194 of ~500 bytes in the enqueue benchmark; issue
-- 19 asks for at most 400). `records.body` stays TEXT for every body not packed
-- (queued, sealed, a target with too few records to train on) and is a BLOB when
-- packed; each frame names its dictionary's id. A dictionary is never changed or
-- deleted while a body packed with it may exist.
CREATE TABLE body_dicts (
    id      INTEGER PRIMARY KEY,     -- the id zstd gave the dictionary; frames name it
    target  TEXT NOT NULL UNIQUE,
    dict    BLOB NOT NULL,
    made_at INTEGER NOT NULL         -- Unix ms
);
