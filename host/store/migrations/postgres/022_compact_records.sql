-- Schema 022 changes SQLite's files only (hashes as BLOBs, a smaller lookup index,
-- compressed payload bytes). PostgreSQL compresses large BYTEA values itself (TOAST), and
-- its duplicate check reads the hash from records_by_content without the row; nothing
-- changes here.
SELECT 1;
