-- Schema 005: several workers on one store.
--
-- A worker delivers a transfer only while it holds the transfer's lease: who, and until
-- when. A worker that dies loses its lease when `until` passes; another worker then takes
-- the transfer over through the same look that recovers a crash (an attempt `started` and
-- never completed is an outcome the hub cannot know).
CREATE TABLE leases (
    transfer_id INTEGER PRIMARY KEY REFERENCES transfers(id),
    worker      TEXT NOT NULL,
    until       INTEGER NOT NULL
);
CREATE INDEX leases_by_worker ON leases(worker);
-- The next transfer to deliver, per target and scope, without reading the history.
CREATE INDEX transfers_open ON transfers(target, state, sequence_scope, id);
CREATE INDEX attempts_by_payload ON attempts(payload_id);
