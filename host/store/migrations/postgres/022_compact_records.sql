-- Schema 022 (SQLite: hashes as BLOBs, a smaller lookup index, compressed payload
-- bytes; PostgreSQL compresses large BYTEA values itself, TOAST, and its duplicate check
-- reads the hash from records_by_content without the row). Here as there: the queue's
-- index holds the sequence scope, so the next batches are grouped in the index's order.
DROP INDEX records_queued;
CREATE INDEX records_queued ON records(target, batch_key, sequence_scope, seq)
    WHERE state = 'queued';
