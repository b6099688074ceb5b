-- Schema 015, as ../015_transfer_states.sql: the count of a transfer's records by state
-- reads the index only.
DROP INDEX records_by_transfer;
CREATE INDEX records_by_transfer ON records(transfer_id, state);
