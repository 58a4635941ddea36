#!/usr/bin/env python3
"""What each index of the SQLite event store costs per inserted row, with Python's sqlite3.

The same table and indexes as keptn-core/migrations/sqlite/datastore/, 1.5 KB rows in
transactions of 512 (WAL, synchronous=NORMAL, 8 KiB pages as the store uses), each index set
on a fresh file, once with random (v4) ids and Keptn contexts and once with time-ordered (v7)
ones as keptn-rs generates them. It measures SQLite alone, without the store's Rust layer, so
that the cost of the schema and the cost of the code around it can be told apart.

Usage: benches/scripts/sqlite-index-cost.py [rows, default 60000]
"""
import os
import sqlite3
import sys
import tempfile
import time
import uuid

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
BATCH = 512
TABLE = """CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,
    keptn_context TEXT NOT NULL, project TEXT, stage TEXT, service TEXT, type TEXT NOT NULL,
    source TEXT NOT NULL, time INTEGER NOT NULL, triggered_id TEXT, result TEXT,
    event TEXT NOT NULL)"""
INDEXES = {
    "id": "CREATE UNIQUE INDEX events_id ON events (id)",
    "context": "CREATE INDEX events_context_time ON events (keptn_context, time)",
    "project": "CREATE INDEX events_project_time ON events (project, time)",
    "project+type": "CREATE INDEX events_project_type_time ON events (project, type, time)",
    "project+stage+service+type": "CREATE INDEX events_project_stage_service_type_time "
    "ON events (project, stage, service, type, time)",
    "evaluations (partial)": "CREATE INDEX events_evaluations ON events "
    "(project, stage, service, time) WHERE type = 'sh.keptn.event.evaluation.finished'",
}
# The index sets of schema version 1 and version 2.
VERSION_1 = ["id", "context", "project", "project+type", "project+stage+service+type"]
VERSION_2 = ["id", "context", "project", "project+type", "evaluations (partial)"]
TYPES = [f"sh.keptn.event.{task}.{phase}" for task in ("deployment", "test", "evaluation")
         for phase in ("triggered", "started", "finished")]
INSERT = ("INSERT OR IGNORE INTO events (id, keptn_context, project, stage, service, type, "
          "source, time, triggered_id, result, event) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


def time_ordered(millis):
    """A UUIDv7: 48-bit Unix milliseconds, version 7, variant, 74 random bits."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    return str(uuid.UUID(int=value))


def rows(ordered):
    """30 events per keptn context, 10 projects x 3 stages x 50 services, nine task types."""
    start = time.time_ns()
    message = "x" * 1100

    def new_id(n):
        return time_ordered(start // 1_000_000 + n) if ordered else str(uuid.uuid4())

    contexts = [new_id(i * 30) for i in range(ROWS // 30 + 1)]
    return [(new_id(n), contexts[n // 30], f"project{n % 10}", f"stage{n % 3}",
             f"service{n % 50}", TYPES[n % len(TYPES)], "bench", start + n * 1000,
             str(uuid.uuid4()), "pass", f'{{"id":"{n}","message":"{message}"}}')
            for n in range(ROWS)]


def run(label, indexes, data):
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(os.path.join(tmp, "events.db"), isolation_level=None)
        db.execute("PRAGMA page_size=8192")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(TABLE)
        for name in indexes:
            db.execute(INDEXES[name])
        cpu, wall = time.process_time(), time.time()
        for i in range(0, len(data), BATCH):
            db.execute("BEGIN")
            db.executemany(INSERT, data[i:i + BATCH])
            db.execute("COMMIT")
        cpu, wall = time.process_time() - cpu, time.time() - wall
        db.close()
    print(f"{label:72s} {len(data) / wall:9.0f} rows/s  {cpu / len(data) * 1e6:6.1f} us CPU/row",
          flush=True)


def main():
    for ordered in (False, True):
        data = rows(ordered)
        print(f"-- {'time-ordered' if ordered else 'random'} ids", flush=True)
        run("no index", [], data)
        for k in range(1, len(VERSION_1) + 1):
            run(" + ".join(VERSION_1[:k]), VERSION_1[:k], data)
        run("schema version 2 (partial evaluation index)", VERSION_2, data)


if __name__ == "__main__":
    main()
