"""Helpers that turn arguments into row values, and errors into one line for the user."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.atomic import jsonable, os_reason

if TYPE_CHECKING:
    from engine.camera import FrameMeta

__all__ = [
    "PAIR_FIELDS",
    "app_version",
    "clean_tags",
    "dumps",
    "insert_pair",
    "jsonable",
    "meta_dict",
    "os_reason",
    "pair_columns",
    "sqlite_reason",
    "capture_time",
]


def dumps(data: Any) -> str:
    """JSON text of a record field (numpy values, paths and dataclasses allowed)."""
    return json.dumps(data, default=jsonable, allow_nan=True, sort_keys=True)


def app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nightlab")
    except PackageNotFoundError:
        return "unknown"


def sqlite_reason(db: Path, exc: Exception) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return f"cannot write {db}: disk full"
    if name.startswith("SQLITE_IOERR"):
        return f"cannot write {db}: disk I/O error (disk full or file size limit reached?)"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
        return f"cannot write {db}: {exc} (read-only folder?)"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return (
            f"{db}: {exc} (the record's database is damaged: put back a copy, or move it "
            "aside to start a new record)"
        )
    return f"{db}: {exc}"


def meta_dict(meta: FrameMeta | Mapping[str, Any] | None) -> dict[str, Any]:
    if meta is None:
        return {}
    if hasattr(meta, "to_dict"):
        return dict(meta.to_dict())
    if isinstance(meta, Mapping):
        return dict(meta)
    raise ValueError(f"meta must be a FrameMeta or a dict, got {type(meta).__name__}")


def capture_time(explicit: float | None, meta: Mapping[str, Any]) -> float:
    if explicit is not None:
        return float(explicit)
    ts = meta.get("timestamp")
    return float(ts) if isinstance(ts, (int, float)) else time.time()


def pair_columns(alignment, leak_params, ssim_mean, leak_area_pct) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    if alignment is not None:
        a = alignment if isinstance(alignment, Mapping) else {
            k: getattr(alignment, k, None) for k in ("ok", "method", "motion", "score", "reason",
                                                     "matrix")
        }  # fmt: skip
        matrix = a.get("matrix")
        if matrix is not None:
            m = np.asarray(matrix, float)
            if m.shape != (3, 3) or not np.isfinite(m).all():
                raise ValueError(f"alignment matrix must be a finite 3x3, got shape {m.shape}")
            matrix = dumps(m.tolist())
        cols.update(
            aligned_ok=None if a.get("ok") is None else int(bool(a.get("ok"))),
            method=a.get("method"),
            motion=a.get("motion"),
            score=None if a.get("score") is None else float(a["score"]),
            reason=a.get("reason") or "",
            matrix_json=matrix,
        )
    if leak_params is not None:
        cols["leak_params_json"] = dumps(
            leak_params if isinstance(leak_params, Mapping) else jsonable(leak_params)
        )
    if ssim_mean is not None:
        cols["ssim_mean"] = float(ssim_mean)
    if leak_area_pct is not None:
        cols["leak_area_pct"] = float(leak_area_pct)
    return cols


PAIR_FIELDS = ("alignment", "leak_params", "ssim_mean", "leak_area_pct")


def insert_pair(conn, session_id: int, night_id: int, day_ids, cols: dict, now: float) -> int:
    names = ", ".join(["session_id", "night_id", "created_at", *cols])
    marks = ",".join("?" * (len(cols) + 3))
    pid = conn.execute(
        f"INSERT INTO pairs ({names}) VALUES ({marks})", (session_id, night_id, now, *cols.values())
    ).lastrowid
    conn.executemany(
        "INSERT INTO pair_days (pair_id, capture_id, position) VALUES (?,?,?)",
        [(pid, cid, i) for i, cid in enumerate(day_ids)],
    )
    return pid


def clean_tags(tags: Iterable[str]) -> list[str]:
    """The tags stripped, or a ValueError naming the first that is not 1-64 characters without
    commas, tabs or newlines (check before recording anything that goes with them)."""
    clean = []
    for t in tags:
        t = str(t).strip()
        if not t or len(t) > 64 or any(ch in t for ch in ",\n\t"):
            raise ValueError(f"a tag is 1-64 characters without commas or tabs, got {t!r}")
        clean.append(t)
    return clean


# the export format's limits (resources/export_manifest.schema.json): a session recorded
# beyond them could not be exported, which was found only in the morning, at the export
SESSION_TEXT_LIMITS = {"name": 500, "operator": 500, "scene_notes": 100_000}
_SESSION_TEXT_WORDS = {"name": "a session name", "operator": "an operator name",
                       "scene_notes": "scene notes"}  # fmt: skip


def check_session_text(**fields: str | None) -> None:
    """A ValueError naming the first of a session's texts (``name``, ``operator``,
    ``scene_notes``; None: not given) longer than the export format takes."""
    for key, value in fields.items():
        limit = SESSION_TEXT_LIMITS[key]
        if value is not None and len(value) > limit:
            raise ValueError(
                f"{_SESSION_TEXT_WORDS[key]} is at most {limit:,} characters "
                f"(what an export can carry), got {len(value):,}"
            )
