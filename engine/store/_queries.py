"""Read side of the store: rows to records, and the pair query (filters and sorts on indexes)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from engine.store._records import Capture, LogEntry, Pair, PairQuery, Run, Session, Verdict

__all__ = [
    "capture_from_row",
    "log_from_row",
    "pair_query_sql",
    "pairs_from_rows",
    "run_from_row",
    "session_from_row",
    "verdict_from_row",
]

CAPTURE_COLUMNS = (
    "c.id, c.session_id, c.kind, f.path, f.sha256, c.width, c.height, c.channels, c.taken_at, "
    "c.meta_json, c.controls_json, c.burst_of, c.burst_index, c.burst_size"
)
PAIR_COLUMNS = (
    "p.id, p.session_id, p.night_id, p.aligned_ok, p.method, p.motion, p.score, p.reason, "
    "p.matrix_json, p.leak_params_json, p.ssim_mean, p.leak_area_pct, p.created_at, p.verdict"
)
SESSION_COLUMNS = (
    "s.id, s.uid, s.name, s.operator, s.scene_notes, s.camera_backend, s.device_id, "
    "s.app_version, s.created_at, s.closed_at, s.settings_json"
)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


def session_from_row(row: tuple, n_captures: int = 0, n_pairs: int = 0) -> Session:
    return Session(*row[:10], settings=_loads(row[10]), n_captures=n_captures, n_pairs=n_pairs)


def capture_from_row(row: tuple) -> Capture:
    r = list(row)
    r[9], r[10] = _loads(r[9]), _loads(r[10])
    return Capture(*r)


def run_from_row(row: tuple, outputs: dict[str, str]) -> Run:
    rid, pair_id, name, sha, params, metrics, timings, created = row
    return Run(
        rid, pair_id, name, sha, _loads(params), outputs, _loads(metrics), _loads(timings), created
    )


def verdict_from_row(row: tuple) -> Verdict:
    return Verdict(*row)


def log_from_row(row: tuple) -> LogEntry:
    return LogEntry(*row)


def pairs_from_rows(
    conn: sqlite3.Connection, rows: list[tuple], *, verdict_runs: bool = True
) -> list[Pair]:
    """Records for pair rows, with their day captures, tags and verdict notes fetched in three
    queries."""
    if not rows:
        return []
    ids = [r[0] for r in rows]
    days: dict[int, list[int]] = {i: [] for i in ids}
    tags: dict[int, list[str]] = {i: [] for i in ids}
    notes: dict[int, tuple[str, int | None, str | None]] = {}
    for chunk in _chunks(ids, 900):  # stay under SQLite's bound-parameter limit
        marks = ",".join("?" * len(chunk))
        for pid, cid in conn.execute(
            f"SELECT pair_id, capture_id FROM pair_days WHERE pair_id IN ({marks}) "
            "ORDER BY pair_id, position",
            chunk,
        ):
            days[pid].append(cid)
        for pid, tag in conn.execute(
            f"SELECT pair_id, tag FROM tags WHERE pair_id IN ({marks}) ORDER BY pair_id, tag",
            chunk,
        ):
            tags[pid].append(tag)
        run = (  # a schema v2 record (read as it is) has no verdicts.run_id
            "v.run_id, r.model_name FROM verdicts v LEFT JOIN runs r ON r.id = v.run_id"
            if verdict_runs
            else "NULL, NULL FROM verdicts v"
        )
        for pid, note, run_id, model in conn.execute(  # the verdict in force: note and run
            f"SELECT v.pair_id, v.note, {run} WHERE v.pair_id IN ({marks}) AND v.id = "
            "(SELECT MAX(w.id) FROM verdicts w WHERE w.pair_id = v.pair_id)",
            chunk,
        ):
            notes[pid] = (note or "", run_id, model)
    out = []
    for r in rows:
        note, verdict_run_id, verdict_model = notes.get(r[0], ("", None, None))
        (pid, sid, night, ok, method, motion, score, reason, matrix, leak, ssim, leak_pct,
         created, verdict) = r  # fmt: skip
        out.append(
            Pair(
                id=pid,
                session_id=sid,
                night_id=night,
                day_ids=tuple(days[pid]),
                aligned_ok=None if ok is None else bool(ok),
                method=method,
                motion=motion,
                score=score,
                reason=reason,
                matrix=None if matrix is None else tuple(map(tuple, json.loads(matrix))),
                leak_params=_loads(leak),
                ssim_mean=ssim,
                leak_area_pct=leak_pct,
                created_at=created,
                verdict=verdict,
                tags=tuple(tags[pid]),
                note=note,
                verdict_run_id=verdict_run_id,
                verdict_model=verdict_model,
            )
        )
    return out


def _chunks(items: list[int], n: int):
    for i in range(0, len(items), n):
        yield items[i : i + n]


def pair_query_sql(
    q: PairQuery, *, count: bool = False, before_start: bool = False
) -> tuple[str, list[Any]]:
    """SQL and parameters for a `PairQuery`: a page of rows, or the count of matches
    (``count``; of every match, or with ``before_start`` of those before ``q.start``: the
    page's position)."""
    where, params = [], []
    if q.session_id is not None:
        where.append("p.session_id = ?")
        params.append(int(q.session_id))
    if q.verdict == "none":
        where.append("p.verdict IS NULL")
    elif q.verdict is not None:
        where.append("p.verdict = ?")
        params.append(q.verdict)
    if q.tag is not None:
        where.append("p.id IN (SELECT pair_id FROM tags WHERE tag = ?)")
        params.append(q.tag)
    for metric, (lo, hi) in q.ranges.items():
        if lo is not None:
            where.append(f"p.{metric} >= ?")
            params.append(float(lo))
        if hi is not None:
            where.append(f"p.{metric} <= ?")
            params.append(float(hi))
    if q.start is not None and (before_start or not count):
        seek, seek_params = _at_or_after(q.sort, *q.start)
        where.append(f"NOT COALESCE({seek}, 0)" if before_start else seek)
        params += seek_params
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    if count or before_start:
        return f"SELECT COUNT(*) FROM pairs p{clause}", params
    key = q.sort.lstrip("-")
    direction = "DESC" if q.sort.startswith("-") else "ASC"
    order = f" ORDER BY p.{key} {direction}" + ("" if key == "id" else f", p.id {direction}")
    sql = f"SELECT {PAIR_COLUMNS} FROM pairs p{clause}{order}"
    if q.limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [int(q.limit), int(q.offset)]
    return sql, params


def _at_or_after(sort: str, value: Any, pair_id: int) -> tuple[str, list[Any]]:
    """The condition "at or after (value, pair_id) in the order ``sort``": a seek that uses
    the sort's index. SQLite puts NULLs (a pair not measured) first ascending, last
    descending, and the id breaks ties in the same direction."""
    key = sort.lstrip("-")
    desc = sort.startswith("-")
    beyond, idwise = ("<", "<=") if desc else (">", ">=")
    if key == "id":
        return f"p.id {idwise} ?", [int(pair_id)]
    col = f"p.{key}"
    if value is None:  # among the NULLs: ascending, every measured pair is after them
        tail = "" if desc else f" OR {col} IS NOT NULL"
        return f"(({col} IS NULL AND p.id {idwise} ?){tail})", [int(pair_id)]
    nulls = f" OR {col} IS NULL" if desc else ""  # descending, the NULLs come last
    return (
        f"({col} {beyond} ? OR ({col} = ? AND p.id {idwise} ?){nulls})",
        [value, value, int(pair_id)],
    )
