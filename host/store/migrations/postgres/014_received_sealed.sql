-- Schema 014, as ../014_received_sealed.sql.
ALTER TABLE record_versions ADD COLUMN body_key TEXT;
ALTER TABLE inbound_transports ADD COLUMN bytes_key TEXT;
CREATE INDEX record_versions_by_body_key ON record_versions(body_key) WHERE body_key IS NOT NULL;
