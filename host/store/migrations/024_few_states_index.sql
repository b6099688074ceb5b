-- Schema 024 (issue 19): records_by_state_seq (008) held an entry for every record and
-- moved it at every change of state (queued, in-transfer, delivered), so each enqueued
-- or delivered record paid for it, and it cost 26 bytes a record in a store of
-- delivered ones. It serves reads by state without a target: the records that need a
-- person, a page of records in one state. It now holds only the states few records are
-- in (hub_store's `few_states!`); those reads name the same condition. Queued and
-- delivered records are paged per target (records_by_target_state_seq) or, across
-- targets, newest first through the table (where they are most of the rows).
DROP INDEX records_by_state_seq;
CREATE INDEX records_by_state_seq ON records(state, seq)
    WHERE state IN ('in-doubt', 'rejected', 'failed', 'resolved', 'superseded');
