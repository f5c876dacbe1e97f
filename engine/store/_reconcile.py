"""Reconciling the files on disk with the rows, and verifying checksums. Nothing is deleted."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.atomic import write_json_atomic
from engine.store._files import LOST_AND_FOUND, move_aside, sha256_hex, walk_files
from engine.store._records import ReconcileReport

__all__ = ["reconcile_files", "session_files", "verify_files"]


def reconcile_files(
    root: Path, conn: sqlite3.Connection, write: Callable[[Callable], Any]
) -> ReconcileReport:
    """Move files without a row and temporary leftovers to ``lost+found/<time>/``; flag rows
    whose file is gone (``files.missing_since``) or back; write ``report.json`` when any."""
    on_disk, partials = walk_files(root)
    known = dict(conn.execute("SELECT path, missing_since FROM files").fetchall())
    orphans = sorted(on_disk - known.keys())
    missing = sorted(p for p, gone in known.items() if gone is None and p not in on_disk)
    restored = sorted(p for p, gone in known.items() if gone is not None and p in on_disk)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = root / LOST_AND_FOUND / stamp
    if orphans or partials:
        move_aside(root, [*orphans, *sorted(partials)], stamp)
    if missing or restored:
        now = time.time()

        def mark(c: sqlite3.Connection) -> None:
            c.executemany(
                "UPDATE files SET missing_since = ? WHERE path = ?", [(now, p) for p in missing]
            )
            c.executemany(
                "UPDATE files SET missing_since = NULL WHERE path = ?", [(p,) for p in restored]
            )

        write(mark)
    report = ReconcileReport(
        tuple(orphans), tuple(sorted(partials)), tuple(missing), tuple(restored), None
    )
    if report.clean:
        return report
    report = ReconcileReport(*[getattr(report, k) for k in REPORT_KEYS], moved_to=str(target))
    write_json_atomic(
        target / "report.json", {"at": stamp, **{k: list(getattr(report, k)) for k in REPORT_KEYS}}
    )
    return report


REPORT_KEYS = ("orphans", "partials", "missing", "restored")


def session_files(conn: sqlite3.Connection, session_id: int | None = None) -> list[tuple]:
    """(path, sha256) of every file the store owns, or of one session's."""
    sql = "SELECT f.path, f.sha256 FROM files f"
    params: tuple = ()
    if session_id is not None:
        sql += (
            " WHERE f.id IN (SELECT file_id FROM captures WHERE session_id = ?) OR f.id IN "
            "(SELECT o.file_id FROM run_outputs o JOIN runs r ON r.id = o.run_id JOIN pairs "
            "p ON p.id = r.pair_id WHERE p.session_id = ?)"
        )
        params = (session_id, session_id)
    return conn.execute(sql, params).fetchall()


def verify_files(root: Path, conn: sqlite3.Connection, session_id: int | None = None) -> list[str]:
    """Re-read the store's files (one session's, or all) against their checksums."""
    problems = []
    for rel, digest in session_files(conn, session_id):
        try:
            data = (root / rel).read_bytes()
        except FileNotFoundError:
            problems.append(f"{rel}: missing")
            continue
        if sha256_hex(data) != digest:
            problems.append(f"{rel}: checksum mismatch")
    return problems
