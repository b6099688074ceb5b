-- Schema 020: the outbox's index holds queued records only. records_by_state (target,
-- state, batch_key, seq) moved an entry at every state change of a record (queued →
-- in-transfer → delivered); the queue is only ever read for state = 'queued' (the next
-- batches, the next records of a batch, the oldest waiting), so a partial index on it
-- loses its entry once, when the record leaves the queue. Other states are paged through
-- records_by_target_state_seq (migration 008).
DROP INDEX records_by_state;
CREATE INDEX records_queued ON records(target, batch_key, seq) WHERE state = 'queued';
