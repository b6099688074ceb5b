-- Schema 014: encryption at rest on the receiving side, as 010 for the sending side. A
-- received record version's body and an arrived archive sealed under a tenant's key keep
-- that key's id beside them (NULL: stored as they came). The archive's key id is on its
-- transport's row: a column after `inbound_bytes.bytes` would make SQLite build the
-- zeroblob the archive is streamed into in memory.
ALTER TABLE record_versions ADD COLUMN body_key TEXT;
ALTER TABLE inbound_transports ADD COLUMN bytes_key TEXT;
CREATE INDEX record_versions_by_body_key ON record_versions(body_key) WHERE body_key IS NOT NULL;
