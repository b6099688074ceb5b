"""The baseline of `cargo bench -p hub --bench enqueue`: what a municipality's IT person
would write in an afternoon to store an NDJSON file of records: read it line by line,
parse each line, and INSERT the rows with Python's sqlite3 in batches, in one
transaction, WAL with synchronous=FULL (as the hub's store).

    python3 enqueue.py INPUT.ndjson STORE.db
"""

import json
import sqlite3
import sys

BATCH = 10_000


def main(path, db):
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute(
        "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, "
        "record_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL)"
    )
    insert = "INSERT INTO records (record_id, kind, body) VALUES (?, ?, ?)"
    con.execute("BEGIN")
    rows = []
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            v = json.loads(line)
            rows.append((v["id"], v["kind"], line))
            if len(rows) >= BATCH:
                con.executemany(insert, rows)
                n += len(rows)
                rows.clear()
    con.executemany(insert, rows)
    n += len(rows)
    con.execute("COMMIT")
    con.close()
    print(n)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
