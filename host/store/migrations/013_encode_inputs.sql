-- Schema 013: what a transfer was encoded from, beside the plugin that encoded it (003),
-- so `hub audit reencode` can encode it again and compare the bytes: the context the
-- engine gave `encode` that the row does not already hold (settings, sender, receiver,
-- time and offset, packaging) and the records in the order given, as the engine's JSON.
-- NULL for transfers created before this migration: those cannot be re-encoded.
ALTER TABLE transfers ADD COLUMN encode_inputs TEXT;
