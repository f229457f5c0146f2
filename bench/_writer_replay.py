"""The statements ``_writer_capture.py`` captured, run again on a copy of its database, with
those of one kind (``claim``, ``payloads``, ``attempts``, ``delivery``, ``success``, ``commit``,
``begin``; ``all``) through the connection's own methods and the others through a cursor, so
that callgrind counts that kind only. A diagnosis, not a benchmark; per delivery = PROGRAM
TOTALS / the drain's deliveries (6,000 by default):

    T="--toggle-collect=pysqlite_connection_execute --toggle-collect=pysqlite_cursor_fetchmany
       --toggle-collect=pysqlite_connection_executemany --toggle-collect=pysqlite_connection_commit"
    valgrind --tool=callgrind $T --callgrind-out-file=/tmp/r.out \\
        .venv/bin/python bench/_writer_replay.py /tmp/cap-1000 claim
    callgrind_annotate /tmp/r.out | grep 'PROGRAM TOTALS'

``--sub OLD=>NEW`` (repeatable) replaces text in every statement (a variant of a statement,
measured on the same work: the claims' digest printed at the end says whether it claimed the
same deliveries); ``--pragma P`` runs ``PRAGMA P`` first; ``--before SQL`` runs SQL first (an
index, to measure it before writing its migration).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import pickle
import shutil
import sqlite3
import tempfile

# the connection's own settings (rampwire.storage.sqlite)
PRAGMAS = (
    "busy_timeout = 10000",
    "journal_mode = WAL",
    "synchronous = NORMAL",
    "foreign_keys = ON",
)


def kind_of(sql: str) -> str:
    text = sql.lstrip()
    if text.startswith("BEGIN"):
        return "begin"
    if "lease_token = ?2 WHERE id IN" in text:
        return "claim"
    if text.startswith("SELECT id AS event_id"):
        return "payloads"
    if text.startswith("INSERT INTO attempts"):
        return "attempts"
    if text.startswith("UPDATE deliveries SET status = ?14"):
        return "delivery"
    if text.startswith("UPDATE endpoints SET last_success_at"):
        return "success"
    return "other"


def main(args: argparse.Namespace) -> None:
    with open(f"{args.capture}/log.pickle", "rb") as source:
        captured = pickle.load(source)
    folder = tempfile.mkdtemp(prefix="rampwire_replay_")
    path = f"{folder}/replay.db"
    shutil.copy(f"{args.capture}/start.db", path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in (*PRAGMAS, *args.pragma):
        conn.execute(f"PRAGMA {pragma}")
    for sql in args.before:
        conn.execute(sql)
    subs = [sub.split("=>", 1) for sub in args.sub]
    cursor = conn.cursor()
    counted = collections.Counter[str]()
    digest = hashlib.sha1()
    for op, sql, params in captured:
        if op in "cr":
            counted["commit"] += 1
            if args.kind in ("commit", "all"):
                conn.commit() if op == "c" else conn.rollback()
            else:
                cursor.execute("COMMIT" if op == "c" else "ROLLBACK")
            continue
        for old, new in subs:
            sql = sql.replace(old, new)
        kind = kind_of(sql)
        counted[kind] += 1
        counting = args.kind in (kind, "all")
        if op == "m":
            (conn.executemany if counting else cursor.executemany)(sql, params)
            continue
        if counting:
            rows = conn.execute(sql, params).fetchmany(1_000_000)
        else:
            rows = cursor.execute(sql, params).fetchall()
        if kind == "claim":
            digest.update(repr(sorted(row[0] for row in rows)).encode())
    conn.close()
    shutil.rmtree(folder, ignore_errors=True)
    print(dict(counted), "claimed:", digest.hexdigest()[:12])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", help="the folder _writer_capture.py wrote")
    parser.add_argument("kind", help="the statements counted, or all")
    parser.add_argument("--sub", action="append", default=[], help="OLD=>NEW in every statement")
    parser.add_argument("--pragma", action="append", default=[])
    parser.add_argument("--before", action="append", default=[], help="SQL run first")
    main(parser.parse_args())
