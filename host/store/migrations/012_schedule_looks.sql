-- Schema 012: when each scheduled target's schedule was last looked at, shared by every
-- worker on the store: a slot is taken by one worker, and a slot that fell while every
-- worker was off is sent once at the next start. (Before: a file beside the store, one
-- per machine.)
CREATE TABLE schedule_looks (
    target    TEXT PRIMARY KEY,
    looked_at INTEGER NOT NULL   -- ms since the epoch
);
