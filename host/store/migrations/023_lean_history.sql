-- Schema 023 (issue 19): less written per record, the same facts kept.
-- * Records are counted where they are inserted, one upsert per statement (sqlite/
--   states.rs, count_added), not by a trigger per row: the trigger doubled the cost of
--   an INSERT into records (100,000 rows from Python's sqlite3: 4.2-4.5 s with it,
--   2.1-2.2 s without). Updates and deletes are still counted by their triggers (008).
-- * `outcomes` holds the outcomes a record had before its latest one; the latest is on
--   the record (state, messages, transfer_id, updated_at). A row per delivered record
--   repeated the record's own columns (46 bytes a record with its index). The rows that
--   repeat their record's latest outcome go.
-- * payload_records is keyed by (payload_id, record_seq) alone (WITHOUT ROWID): the
--   rowid table beside its primary-key index held the same two numbers again.
DROP TRIGGER records_counted_insert;
DELETE FROM outcomes WHERE id IN (
    SELECT o.id FROM outcomes o JOIN records r ON r.seq = o.record_seq
    WHERE o.id = (SELECT max(l.id) FROM outcomes l WHERE l.record_seq = o.record_seq)
      AND o.state = r.state AND o.messages = r.messages);
CREATE TABLE payload_records_023 (
    payload_id INTEGER NOT NULL REFERENCES payloads(id),
    record_seq INTEGER NOT NULL REFERENCES records(seq),
    PRIMARY KEY (payload_id, record_seq)
) WITHOUT ROWID;
INSERT INTO payload_records_023 (payload_id, record_seq)
    SELECT payload_id, record_seq FROM payload_records;
DROP TABLE payload_records;
ALTER TABLE payload_records_023 RENAME TO payload_records;
CREATE INDEX payload_records_by_record ON payload_records(record_seq);
