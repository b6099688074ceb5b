-- Schema 023 (SQLite: records counted per INSERT statement, payload_records without a
-- rowid). Here as there: `outcomes` holds the outcomes a record had before its latest
-- one, which is on the record itself; the rows that repeat it go.
DELETE FROM outcomes WHERE id IN (
    SELECT o.id FROM outcomes o JOIN records r ON r.seq = o.record_seq
    WHERE o.id = (SELECT max(l.id) FROM outcomes l WHERE l.record_seq = o.record_seq)
      AND o.state = r.state AND o.messages = r.messages);
