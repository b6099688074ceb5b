-- Schema 012, as ../012_schedule_looks.sql: when each scheduled target's schedule was
-- last looked at, shared by every worker.
CREATE TABLE schedule_looks (
    target    TEXT PRIMARY KEY,
    looked_at BIGINT NOT NULL
);
