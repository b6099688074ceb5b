-- Schema 005, as ../005_leases.sql: a worker delivers a transfer only while it holds the
-- transfer's lease (who, and until when, in Unix milliseconds).
CREATE TABLE leases (
    transfer_id BIGINT PRIMARY KEY REFERENCES transfers(id),
    worker      TEXT NOT NULL,
    until       BIGINT NOT NULL
);
CREATE INDEX leases_by_worker ON leases(worker);
CREATE INDEX transfers_open ON transfers(target, state, sequence_scope, id);
CREATE INDEX attempts_by_payload ON attempts(payload_id);
