-- Schema 007: an answer's bytes in a table of their own, the blob the last column of its
-- row. SQLite writes a zeroblob that ends its row without building it, so a receipt of
-- any length goes into the store, and comes out of it, piece by piece (incremental blob
-- I/O); in `inbound_answers` the bytes stood before other columns and a 96 MB receipt
-- was built in memory whole.
CREATE TABLE inbound_answer_bytes (
    answer INTEGER PRIMARY KEY REFERENCES inbound_answers (id),
    bytes BLOB NOT NULL
);
INSERT INTO inbound_answer_bytes (answer, bytes) SELECT id, bytes FROM inbound_answers;
ALTER TABLE inbound_answers DROP COLUMN bytes;
