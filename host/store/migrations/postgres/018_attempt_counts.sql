-- Schema 018, as ../018_attempt_counts.sql: the protocol log's totals per target and
-- result, so `/metrics` reads a few rows instead of grouping the whole log. As with
-- `record_counts` (008), several workers write attempts at once: each change appends a
-- row of deltas, readers sum them, and the metrics read folds them now and then
-- (`postgres/reads.rs`).
CREATE TABLE attempt_counts (
    target      TEXT NOT NULL,
    result      TEXT NOT NULL,
    n           BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX attempt_counts_by_target ON attempt_counts(target, result);
INSERT INTO attempt_counts (target, result, n, duration_ms)
    SELECT t.target, a.result, count(*), coalesce(sum(a.duration_ms), 0)
    FROM attempts a JOIN transfers t ON t.id = a.transfer_id GROUP BY t.target, a.result;
CREATE FUNCTION attempt_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO attempt_counts (target, result, n, duration_ms)
            SELECT target, OLD.result, -1, -OLD.duration_ms FROM transfers
            WHERE id = OLD.transfer_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO attempt_counts (target, result, n, duration_ms)
            SELECT target, NEW.result, 1, NEW.duration_ms FROM transfers
            WHERE id = NEW.transfer_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER attempts_counted AFTER INSERT OR DELETE ON attempts
    FOR EACH ROW EXECUTE FUNCTION attempt_counts_change();
CREATE TRIGGER attempts_counted_update AFTER UPDATE OF result, duration_ms ON attempts
    FOR EACH ROW WHEN (OLD.result IS DISTINCT FROM NEW.result
                       OR OLD.duration_ms IS DISTINCT FROM NEW.duration_ms)
    EXECUTE FUNCTION attempt_counts_change();
