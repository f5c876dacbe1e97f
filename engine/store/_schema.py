"""The database schema as a list of forward migrations, versioned by ``PRAGMA user_version``.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; a new database runs them
all. Never edit a released migration: add the next one (a database made by an older NightLab
is upgraded in place, in one transaction, when a writer opens it).

- v1: sessions, files (every image the store owns, with its sha256), captures (bursts keep their
  members through ``burst_of``), pairs (day reference = one or more captures in ``pair_days``),
  runs and their output files, verdicts (history), tags, and a per-session log.
- v2: the latest verdict kept on ``pairs.verdict`` (a trigger maintains it) and indexes on the
  columns the QA grid filters and sorts by, so 10^5 pairs list in milliseconds.
- v3: ``verdicts.run_id``: the stored run a verdict was given on (the QA panel showed that
  run's outputs); NULL for a verdict on the live model's render, and for every older verdict.
"""

from __future__ import annotations

import sqlite3

__all__ = ["MIGRATIONS", "READABLE_FROM", "SCHEMA_VERSION", "migrate", "schema_version"]

_V1 = """
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY,
    uid             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    operator        TEXT NOT NULL DEFAULT '',
    scene_notes     TEXT NOT NULL DEFAULT '',
    camera_backend  TEXT NOT NULL DEFAULT '',
    device_id       TEXT NOT NULL DEFAULT '',
    app_version     TEXT NOT NULL DEFAULT '',
    settings_json   TEXT NOT NULL DEFAULT '{}',
    created_at      REAL NOT NULL,
    closed_at       REAL
);
CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    path            TEXT NOT NULL UNIQUE,   -- relative to the data folder, '/' separated
    sha256          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    missing_since   REAL                    -- set by reconcile when the file is gone
);
CREATE TABLE captures (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    file_id         INTEGER NOT NULL REFERENCES files(id),
    kind            TEXT NOT NULL CHECK (kind IN ('day', 'night')),
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    channels        INTEGER NOT NULL,
    taken_at        REAL NOT NULL,
    meta_json       TEXT NOT NULL DEFAULT '{}',
    controls_json   TEXT NOT NULL DEFAULT '{}',
    burst_of        INTEGER REFERENCES captures(id) ON DELETE CASCADE,
    burst_index     INTEGER,
    burst_size      INTEGER NOT NULL DEFAULT 1,
    created_at      REAL NOT NULL
);
CREATE INDEX captures_session ON captures(session_id, id);
CREATE INDEX captures_burst ON captures(burst_of);
CREATE TABLE pairs (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    night_id        INTEGER NOT NULL REFERENCES captures(id) ON DELETE CASCADE,
    aligned_ok      INTEGER,
    method          TEXT,
    motion          TEXT,
    score           REAL,
    reason          TEXT NOT NULL DEFAULT '',
    matrix_json     TEXT,
    leak_params_json TEXT NOT NULL DEFAULT '{}',
    ssim_mean       REAL,
    leak_area_pct   REAL,
    created_at      REAL NOT NULL
);
CREATE INDEX pairs_session ON pairs(session_id, id);
CREATE TABLE pair_days (
    pair_id         INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    capture_id      INTEGER NOT NULL REFERENCES captures(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    PRIMARY KEY (pair_id, position)
);
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    pair_id         INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    model_name      TEXT NOT NULL,
    model_sha256    TEXT NOT NULL,
    params_json     TEXT NOT NULL DEFAULT '{}',
    metrics_json    TEXT NOT NULL DEFAULT '{}',
    timings_json    TEXT NOT NULL DEFAULT '{}',
    created_at      REAL NOT NULL
);
CREATE INDEX runs_pair ON runs(pair_id, id);
CREATE TABLE run_outputs (
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    file_id         INTEGER NOT NULL REFERENCES files(id),
    PRIMARY KEY (run_id, role)
);
CREATE TABLE verdicts (
    id              INTEGER PRIMARY KEY,
    pair_id         INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    verdict         TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'review')),
    note            TEXT NOT NULL DEFAULT '',
    operator        TEXT NOT NULL DEFAULT '',
    created_at      REAL NOT NULL
);
CREATE INDEX verdicts_pair ON verdicts(pair_id, id);
CREATE TABLE tags (
    pair_id         INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tag             TEXT NOT NULL,
    PRIMARY KEY (pair_id, tag)
);
CREATE TABLE session_log (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    at              REAL NOT NULL,
    kind            TEXT NOT NULL,
    message         TEXT NOT NULL
);
CREATE INDEX session_log_session ON session_log(session_id, id);
"""

_V2 = """
ALTER TABLE pairs ADD COLUMN verdict TEXT;
UPDATE pairs SET verdict = (
    SELECT v.verdict FROM verdicts v WHERE v.pair_id = pairs.id ORDER BY v.id DESC LIMIT 1
);
CREATE TRIGGER verdicts_latest AFTER INSERT ON verdicts BEGIN
    UPDATE pairs SET verdict = NEW.verdict WHERE id = NEW.pair_id;
END;
CREATE INDEX pairs_verdict ON pairs(verdict, id);
CREATE INDEX pairs_ssim ON pairs(ssim_mean);
CREATE INDEX pairs_leak ON pairs(leak_area_pct);
CREATE INDEX pairs_score ON pairs(score);
CREATE INDEX pairs_created ON pairs(created_at);
CREATE INDEX pairs_session_verdict ON pairs(session_id, verdict);
CREATE INDEX tags_tag ON tags(tag, pair_id);
CREATE INDEX files_missing ON files(missing_since) WHERE missing_since IS NOT NULL;
"""

_V3 = """
ALTER TABLE verdicts ADD COLUMN run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL;
CREATE INDEX verdicts_run ON verdicts(run_id) WHERE run_id IS NOT NULL;
"""

#: ``MIGRATIONS[i]`` upgrades version ``i`` to ``i + 1``.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)

#: The oldest schema a read-only store reads as it is: v3 only added ``verdicts.run_id``
#: (read as NULL before it). A reader cannot upgrade a record (a partner's copy on a read-only
#: disk; the data folder a capture started before the upgrade still writes), and every read
#: of a v2 record was refused until a writer had opened it.
READABLE_FROM = 2


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> int:
    """Upgrade ``conn``'s database to ``target`` (default: the latest); returns the old version.

    Each step runs in its own transaction together with the ``user_version`` bump, so a crash
    leaves the database at a whole version. ``conn`` must be in autocommit mode
    (``isolation_level=None``).

    Raises
    ------
    ValueError
        The database is newer than this NightLab knows (``user_version > SCHEMA_VERSION``).
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"target schema must be 0..{SCHEMA_VERSION}, got {target}")
    old = schema_version(conn)
    if old > SCHEMA_VERSION:
        raise ValueError(
            f"database schema v{old} is newer than this NightLab understands "
            f"(v{SCHEMA_VERSION}); upgrade NightLab"
        )
    for version in range(old, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return old


def _statements(script: str) -> list[str]:
    """Split a script into statements (triggers hold ';' inside BEGIN ... END)."""
    out, buf = [], ""
    for line in script.splitlines():
        code = line.split("--", 1)[0]
        if not code.strip():
            continue
        buf += code + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]}")
    return out
