-- Schema 017: how a request-response payload is sent, where its plugin shaped it
-- (contract 0.2.1 `request-shape`): JSON {"method","path","headers"}; NULL is the default,
-- a POST to the target's URL. Recorded with the payload so a retry or re-send uses the
-- same method, path and headers, even after the plugin changed.
ALTER TABLE payloads ADD COLUMN request TEXT;
