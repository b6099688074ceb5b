-- Schema 021: settling a transfer after each file asks whether any payload is left
-- undelivered or in doubt. Without an index on (transfer_id, state) that read every
-- payload row of the transfer, so each file of a transfer of n files cost O(n) and the
-- transfer O(n²) (issue 19: 1,000 files). With it each question is one index probe.
CREATE INDEX payloads_by_transfer_state ON payloads(transfer_id, state);
