-- Schema 007, as ../007_answer_bytes.sql in effect, with nothing to change: PostgreSQL
-- keeps an answer's bytes in its row's `bytea`, which TOAST already stores out of line,
-- and reads them with substring() in pieces (see postgres/inbound.rs). The migration is
-- recorded so both backends share one list of numbers.
SELECT 1;
