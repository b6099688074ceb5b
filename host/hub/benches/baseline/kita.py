"""The baseline of `cargo bench -p hub --bench kita`: what a municipality's IT person would
write in an afternoon to send Kita-Planer records: keep them in SQLite (WAL,
synchronous=FULL, as the hub's store), POST them over HTTPS with the client certificate
(converted from the .p12 with `openssl pkcs12`), one keep-alive connection, and store
each record's answer in one transaction per POST. Python's standard library only.

    python3 kita.py load STORE.db INPUT.ndjson
    python3 kita.py send STORE.db URL CA.pem CLIENT.pem BATCH

`send` prints how many records were imported.
"""

import http.client
import json
import sqlite3
import ssl
import sys
import urllib.parse

BENUTZER = "bench"
TRAEGER = "T-1"


def open_store(db):
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute(
        "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, "
        "record_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, "
        "state TEXT NOT NULL DEFAULT 'queued', messages TEXT)"
    )
    return con


def load(db, path):
    con = open_store(db)
    con.execute("BEGIN")
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                con.execute(
                    "INSERT INTO records (record_id, body) VALUES (?, ?)",
                    (json.loads(line)["id"], line),
                )
    con.execute("COMMIT")


def send(db, url, ca, client, batch):
    con = open_store(db)
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(client)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    rows = con.execute(
        "SELECT record_id, body FROM records WHERE state = 'queued' ORDER BY seq"
    ).fetchall()
    imported = 0
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        datensaetze = []
        for _, body in chunk:
            v = json.loads(body)
            v.pop("id", None)
            v.pop("kind", None)
            datensaetze.append(v)
        payload = json.dumps(
            {"benutzerId": BENUTZER, "traeger": TRAEGER, "datensaetze": datensaetze},
            ensure_ascii=False,
        ).encode()
        conn.request(
            "POST",
            u.path,
            body=payload,
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        if resp.status != 200:
            sys.exit(f"POST answered {resp.status}: {answer}")
        con.execute("BEGIN")
        for (record_id, _), entry in zip(chunk, answer["datensaetze"]):
            state = "delivered" if entry["status"] == 0 else "rejected"
            imported += state == "delivered"
            con.execute(
                "UPDATE records SET state = ?, messages = ? WHERE record_id = ?",
                (state, json.dumps(entry.get("meldungen", [])), record_id),
            )
        con.execute("COMMIT")
    print(imported)


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    else:
        send(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
