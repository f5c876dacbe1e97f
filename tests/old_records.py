"""A data folder whose record an older NightLab wrote (schema v1, v2), for the tests of what
this one does with it (migrate it, read it without migrating).

Built by the store's own migrations up to that version, with the rows such a NightLab wrote:
one session, a night and a day capture of one file, and their pair."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.store import DB_NAME, migrate

_ROWS = """
INSERT INTO sessions (id, uid, name, created_at) VALUES (1, :uid, :name, 1.0);
INSERT INTO files (id, path, sha256, size, created_at) VALUES (1, 'x', 'h', 1, 1.0);
INSERT INTO captures (id, session_id, file_id, kind, width, height, channels, taken_at,
                      created_at) VALUES (1, 1, 1, 'night', 4, 4, 1, 1.0, 1.0);
INSERT INTO captures (id, session_id, file_id, kind, width, height, channels, taken_at,
                      created_at) VALUES (2, 1, 1, 'day', 4, 4, 3, 1.0, 1.0);
INSERT INTO pairs (id, session_id, night_id, ssim_mean, created_at) VALUES (1, 1, 1, 0.5, 1.0);
INSERT INTO pair_days (pair_id, capture_id, position) VALUES (1, 2, 0);
"""


def old_record(
    data_dir: Path, version: int, more_rows: str = "", *, uid: str = "u1", name: str = "old"
) -> Path:
    """``data_dir`` holding a record at schema ``version``: session 1 (``uid``, ``name``),
    captures 1 (night) and 2 (day) of file ``x`` (written, relative as old paths were, so
    reconcile stays quiet), pair 1 of them (SSIM 0.5), then ``more_rows`` (SQL: the test's
    own verdicts, runs...). Returns the database's path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / DB_NAME
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        migrate(conn, target=version)
        for statement in _ROWS.split(";"):
            if statement.strip():
                conn.execute(statement, {"uid": uid, "name": name})
        conn.executescript(more_rows)
    finally:
        conn.close()
    (data_dir / "x").write_bytes(b"x")
    return db


def user_version(db: Path) -> int:
    """The schema version the record at ``db`` says it is (``PRAGMA user_version``)."""
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
