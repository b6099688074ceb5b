-- Schema 024: as SQLite's, records_by_state_seq holds only the states few records are
-- in (hub_store's `few_states!`), and the reads by state without a target name them.
DROP INDEX records_by_state_seq;
CREATE INDEX records_by_state_seq ON records(state, seq)
    WHERE state IN ('in-doubt', 'rejected', 'failed', 'resolved', 'superseded');
