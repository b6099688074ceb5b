-- Schema 008, as ../008_pages.sql: reads that cost what they show.
--
-- Records per target and state, kept by triggers in the transaction that changes a
-- record. Several workers change records at once here, and one row per target and state
-- would make every one of them wait for the others' commits (and could deadlock two that
-- move records in opposite directions): so each statement appends its change as a row of
-- deltas (statement triggers, aggregated per statement), readers sum them, and the
-- overview folds them into one row per target and state now and then
-- (`postgres/pages.rs`).
CREATE TABLE record_counts (
    target TEXT NOT NULL,
    state  TEXT NOT NULL,
    n      BIGINT NOT NULL
);
CREATE INDEX record_counts_by_target ON record_counts(target, state);
INSERT INTO record_counts (target, state, n)
    SELECT target, state, count(*) FROM records GROUP BY target, state;
CREATE FUNCTION record_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO record_counts (target, state, n)
        SELECT target, state, count(*) FROM new_rows GROUP BY target, state;
    RETURN NULL;
END $$;
CREATE FUNCTION record_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO record_counts (target, state, n)
        SELECT target, state, sum(d)::bigint FROM (
            SELECT target, state, 1 AS d FROM new_rows
            UNION ALL SELECT target, state, -1 FROM old_rows
        ) c GROUP BY target, state HAVING sum(d) <> 0;
    RETURN NULL;
END $$;
CREATE FUNCTION record_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO record_counts (target, state, n)
        SELECT target, state, -count(*) FROM old_rows GROUP BY target, state;
    RETURN NULL;
END $$;
CREATE TRIGGER records_counted_insert AFTER INSERT ON records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_counts_insert();
CREATE TRIGGER records_counted_update AFTER UPDATE ON records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_counts_update();
CREATE TRIGGER records_counted_delete AFTER DELETE ON records
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_counts_delete();

-- A payload's labels one per row, so a file search by label reads an index.
CREATE TABLE payload_labels (
    payload_id BIGINT NOT NULL REFERENCES payloads(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (payload_id, key)
);
CREATE INDEX payload_labels_by_value ON payload_labels(key, value, payload_id);
INSERT INTO payload_labels (payload_id, key, value)
    SELECT p.id, l.value->>0, l.value->>1
    FROM payloads p, jsonb_array_elements(p.labels::jsonb) l
    ON CONFLICT DO NOTHING;
CREATE FUNCTION payloads_labelled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO payload_labels (payload_id, key, value)
        SELECT NEW.id, l.value->>0, l.value->>1 FROM jsonb_array_elements(NEW.labels::jsonb) l
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER payloads_labelled AFTER INSERT ON payloads
    FOR EACH ROW EXECUTE FUNCTION payloads_labelled();

-- Pages newest first by target, by state, since a time; the oldest queued record per
-- target; the last transfer done per target; files still on the receiver.
CREATE INDEX transfers_by_target ON transfers(target, id);
CREATE INDEX transfers_by_target_state_id ON transfers(target, state, id);
CREATE INDEX transfers_by_state_id ON transfers(state, id);
CREATE INDEX transfers_by_created ON transfers(created_at);
CREATE INDEX transfers_done ON transfers(target, done_at) WHERE done_at IS NOT NULL;
CREATE INDEX records_by_target_state_seq ON records(target, state, seq);
CREATE INDEX records_by_state_seq ON records(state, seq);
CREATE INDEX attempts_by_started ON attempts(started_at);
-- Covering: the overview reads these columns of every file still on the receiver.
CREATE INDEX payloads_on_receiver ON payloads(transfer_id, delivered_at, checked_at)
    WHERE state = 'delivered' AND gone_at IS NULL AND checked_at IS NOT NULL;
-- The log by result (a result no entry has must not read the whole log).
CREATE INDEX attempts_by_result ON attempts(result, id);
