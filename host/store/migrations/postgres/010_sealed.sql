-- Schema 010: encryption at rest (`hub_store::seal`). A body or payload sealed under a
-- tenant's key keeps that key's id beside it (NULL: stored as it came, or purged), so keys
-- can rotate and `hub rekey` finds what an old key sealed; `seal_keys` holds, per key id,
-- a value sealed under that key, so a different key configured under a known id is
-- refused. The keys themselves are never in the store.
ALTER TABLE records ADD COLUMN body_key TEXT;
ALTER TABLE payload_bytes ADD COLUMN key_id TEXT;
CREATE INDEX records_by_body_key ON records(body_key) WHERE body_key IS NOT NULL;
CREATE INDEX payload_bytes_by_key ON payload_bytes(key_id);
CREATE TABLE seal_keys (
    key_id      TEXT PRIMARY KEY,
    check_value TEXT NOT NULL,
    added_at    BIGINT NOT NULL           -- Unix ms
);
