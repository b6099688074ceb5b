-- Schema 022: a delivered record cost ~850 bytes in a store where its body is ~190
-- (issue 19), and a backlog's batches were grouped in memory. Five changes:
-- * The two SHA-256 hashes of a record are kept as 32-byte BLOBs, not 64 hex characters
--   (SQLite keeps a BLOB as it is in a TEXT column). Text that is not a hash (none the
--   hub wrote) stays as it was.
-- * The lookup by id is an index on (target, record_id) alone: the one query that
--   compares the content hash reads the row for its state anyway, so the hash in the
--   index only made it larger.
-- * Payload bytes may be kept compressed (`codec` 'zstd'); NULL: as they are.
-- * The queue's index holds the sequence scope too: the next batches (grouped by batch
--   key and scope) are read in the index's order; before, SQLite sorted every queued
--   record to group them (48 MB of sorter at a 1,000,000-record backlog, in memory).
-- * A record gets an entry in records_by_transfer when it goes into a transfer, not
--   while it is queued (every lookup there is by a transfer's id): one index entry less
--   to write per enqueued record, and none to move when its transfer is created.
UPDATE records SET body_sha256 = coalesce(unhex(body_sha256), body_sha256),
                   content_sha256 = coalesce(unhex(content_sha256), content_sha256)
    WHERE typeof(body_sha256) = 'text' OR typeof(content_sha256) = 'text';
DROP INDEX records_by_content;
CREATE INDEX records_by_id ON records(target, record_id);
ALTER TABLE payload_bytes ADD COLUMN codec TEXT;
DROP INDEX records_queued;
CREATE INDEX records_queued ON records(target, batch_key, sequence_scope, seq)
    WHERE state = 'queued';
DROP INDEX records_by_transfer;
CREATE INDEX records_by_transfer ON records(transfer_id, state) WHERE transfer_id IS NOT NULL;
