-- Schema 013, as ../013_encode_inputs.sql: what a transfer was encoded from (the engine's
-- JSON), so `hub audit reencode` can encode it again; NULL for older transfers.
ALTER TABLE transfers ADD COLUMN encode_inputs TEXT;
