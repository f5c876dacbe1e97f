"""What a data folder's record says about one session, read without opening it as a `Store`.

For a replay of a recorded session (``replay:DATA/sessions/<uid>``), which only needs the
session's name: no folder lock (the app may be writing that record), no migration (the folder
may belong to an older NightLab still in use, and a replay never writes), any schema version
up to this NightLab's (the sessions table's ``uid`` and ``name`` are the same since v1).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.store._paths import DB_NAME
from engine.store._schema import SCHEMA_VERSION, schema_version

__all__ = ["recorded_session_name"]


def recorded_session_name(data_dir: str | Path, uid: str) -> str | None:
    """The name of the session ``uid`` in the record of ``data_dir``; None when there is no
    record, no such session, a newer schema than this NightLab reads, or a database that
    cannot be read."""
    db = Path(data_dir).absolute() / DB_NAME
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(db.as_uri() + "?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA query_only=1")
        if not 1 <= schema_version(conn) <= SCHEMA_VERSION:
            return None
        row = conn.execute("SELECT name FROM sessions WHERE uid = ?", (str(uid),)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])
