-- Schema 015: settling a transfer counts its records by state after every file, payload
-- or receipt. With the index on `transfer_id` alone each count read every record row
-- (bodies included) of the transfer, so a transfer of many files cost the square of its
-- size; with `state` in the index the count reads the index only.
DROP INDEX records_by_transfer;
CREATE INDEX records_by_transfer ON records(transfer_id, state);
