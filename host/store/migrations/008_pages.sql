-- Schema 008: reads that cost what they show (host/store/src/views.rs).
--
-- Records per target and state, kept by triggers in the transaction that changes a
-- record, so the overview reads a handful of rows instead of counting the history (one
-- writer at a time on SQLite: one row per target and state is never contended).
CREATE TABLE record_counts (
    target TEXT NOT NULL,
    state  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (target, state)
) WITHOUT ROWID;
INSERT INTO record_counts (target, state, n)
    SELECT target, state, count(*) FROM records GROUP BY target, state;
CREATE TRIGGER records_counted_insert AFTER INSERT ON records BEGIN
    INSERT INTO record_counts (target, state, n) VALUES (NEW.target, NEW.state, 1)
        ON CONFLICT (target, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER records_counted_update AFTER UPDATE OF target, state ON records
    WHEN OLD.state IS NOT NEW.state OR OLD.target IS NOT NEW.target BEGIN
    UPDATE record_counts SET n = n - 1 WHERE target = OLD.target AND state = OLD.state;
    INSERT INTO record_counts (target, state, n) VALUES (NEW.target, NEW.state, 1)
        ON CONFLICT (target, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER records_counted_delete AFTER DELETE ON records BEGIN
    UPDATE record_counts SET n = n - 1 WHERE target = OLD.target AND state = OLD.state;
END;

-- A payload's labels one per row, so a file search by label reads an index (ordered by
-- payload: newest first is a backward walk) instead of parsing every payload's JSON.
CREATE TABLE payload_labels (
    payload_id INTEGER NOT NULL REFERENCES payloads(id),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (payload_id, key)
) WITHOUT ROWID;
CREATE INDEX payload_labels_by_value ON payload_labels(key, value, payload_id);
INSERT OR IGNORE INTO payload_labels (payload_id, key, value)
    SELECT p.id, json_extract(l.value, '$[0]'), json_extract(l.value, '$[1]')
    FROM payloads p, json_each(p.labels) l;
CREATE TRIGGER payloads_labelled AFTER INSERT ON payloads BEGIN
    INSERT OR IGNORE INTO payload_labels (payload_id, key, value)
        SELECT NEW.id, json_extract(l.value, '$[0]'), json_extract(l.value, '$[1]')
        FROM json_each(NEW.labels) l;
END;
CREATE TRIGGER payloads_unlabelled AFTER DELETE ON payloads BEGIN
    DELETE FROM payload_labels WHERE payload_id = OLD.id;
END;

-- Pages newest first by target, by state, since a time; the oldest queued record per
-- target; the last transfer done per target; files still on the receiver.
-- (transfers(target, state) of 001 ends in the rowid: already ordered by id per state.)
CREATE INDEX transfers_by_target ON transfers(target, id);
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
