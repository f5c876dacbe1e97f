"""Restore a whole session from a record dump (an import): every file, then every row in ONE
transaction, keeping the dump's times, uid, app version and verdict history.

The `Store` write methods stamp "now" and re-encode images; an import must keep the original
times and the exact PNG bytes, so this inserts rows directly, through the store's one writer.
Files are copied atomically before the transaction; if it fails they are removed, and if the
process dies in between, the next open's reconcile moves them aside (nothing half-present).

The dump is plain data in the shape of ``data/manifest.json`` (see docs/export-format.md):
``session`` (uid, name, operator, ...), ``captures`` (id, kind, file, sha256, ...) and ``pairs``
(id, night, days, alignment, leak_params, metrics, verdicts, tags, runs). Ids in the dump are
only references inside it (a verdict's ``run``, format 1.1, names one of its pair's runs); the
store assigns new ones.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import PARTIAL_SUFFIX, fsync_dir, fsync_files
from engine.store._files import FILES_ROOT, new_file_name
from engine.store._rows import dumps as _json

if TYPE_CHECKING:
    from engine.store._records import Session
    from engine.store._store import Store

__all__ = ["restore_session"]


def restore_session(
    store: Store,
    dump: Mapping[str, Any],
    source: Callable[[str], tuple[Path, str]],
    *,
    uid: str | None = None,
    name: str | None = None,
    on_bytes: Callable[[int, str], None] | None = None,
    move: bool = False,
) -> Session:
    """Add the session in ``dump`` to ``store``; returns the new `Session`.

    Parameters
    ----------
    dump : mapping
        ``{"session": {...}, "captures": [...], "pairs": [...]}``.
    source : callable
        ``source(file)`` -> (path of the bytes, their sha256) for a ``file`` the dump names
        (the caller has verified them: an import checks the whole bag first).
    uid, name : str, optional
        Override the session's uid and name (an import "as a copy").
    on_bytes : callable, optional
        ``on_bytes(n, file)`` after each file is copied (progress).
    move : bool
        The source files are expendable (an import's staging folder): rename them into the
        store instead of copying when they are on the same file system.

    Raises
    ------
    ValueError
        The uid is already in the store, or the dump's references do not hold.
    """
    s = dict(dump["session"])
    uid = uid or s["uid"]
    # by uid only: `Store.session` reads an all-digit string (a uid can be one) as an id
    existing = next((x for x in store.sessions() if x.uid == uid), None)
    if existing is not None:
        raise ValueError(f"session {uid} is already in the store (id {existing.id})")
    written: list[str] = []
    temps: list[str] = []
    now = time.time()
    try:
        files: dict[str, tuple[str, str, int]] = {}  # dump file -> (rel, sha256, size)

        def copy(file: str, folder: str, stem: str, at: float | None) -> str:
            # into a temporary name beside the target; renamed after one batched flush
            if file in files:
                return files[file][0]
            src, sha = source(file)
            rel = f"{FILES_ROOT}/{uid}/{folder}/{new_file_name(stem, at=at)}"
            target = store.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX
            )
            temps.append(tmp)
            size = src.stat().st_size
            if not (move and _moved(src, tmp, fd)):
                # direct write: a mkstemp temporary beside its target, fsynced, renamed
                with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                    got = _copy_hashing(fin, fout)
                if got != sha:  # the caller checked it; the file changed since (a live folder)
                    raise ValueError(f"{src}: changed while being imported; nothing was imported")
            os.chmod(tmp, 0o644)
            files[file] = (rel, sha, size)
            if on_bytes is not None:
                on_bytes(size, file)
            return rel

        captures = sorted(dump["captures"], key=lambda c: (c.get("burst_of") is not None, c["id"]))
        for c in captures:
            member = c.get("burst_of") is not None
            stem = f"{c['kind']}-m{c['burst_index']:02d}" if member else c["kind"]
            copy(c["file"], "captures", stem, c["taken_at"])
        for p in dump["pairs"]:
            for r in p["runs"]:
                for role, file in sorted(r["outputs"].items()):
                    copy(file, "runs", role, r["created_at"])
        # every byte on disk, then the names, then the folders: before the rows commit
        fsync_files(temps)
        for tmp, (rel, _sha, _size) in zip(temps, files.values(), strict=True):
            os.replace(tmp, store.root / rel)  # temps were made in the order of ``files``
            written.append(rel)
        temps.clear()
        for folder in {(store.root / rel).parent for rel in written}:
            fsync_dir(folder)

        def insert(conn) -> int:
            sid = conn.execute(
                "INSERT INTO sessions (uid, name, operator, scene_notes, camera_backend, "
                "device_id, app_version, settings_json, created_at, closed_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (uid, name or s["name"], s.get("operator", ""), s.get("scene_notes", ""),
                 s.get("camera_backend", ""), s.get("device_id", ""), s.get("app_version", ""),
                 _json(s.get("settings", {})), s["created_at"], s.get("closed_at")),
            ).lastrowid  # fmt: skip
            file_ids = {}
            for file, (rel, sha, size) in files.items():
                file_ids[file] = conn.execute(
                    "INSERT INTO files (path, sha256, size, created_at) VALUES (?,?,?,?)",
                    (rel, sha, size, now),
                ).lastrowid
            cap_ids: dict[int, int] = {}
            for c in captures:
                burst_of = None if c.get("burst_of") is None else cap_ids[c["burst_of"]]
                cap_ids[c["id"]] = conn.execute(
                    "INSERT INTO captures (session_id, file_id, kind, width, height, channels, "
                    "taken_at, meta_json, controls_json, burst_of, burst_index, burst_size, "
                    "created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (sid, file_ids[c["file"]], c["kind"], c["width"], c["height"], c["channels"],
                     c["taken_at"], _json(c.get("meta", {})), _json(c.get("controls", {})),
                     burst_of, c.get("burst_index"), c.get("burst_size", 1), now),
                ).lastrowid  # fmt: skip
            for p in dump["pairs"]:
                a, m = p["alignment"], p.get("metrics", {})
                pid = conn.execute(
                    "INSERT INTO pairs (session_id, night_id, aligned_ok, method, motion, score, "
                    "reason, matrix_json, leak_params_json, ssim_mean, leak_area_pct, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (sid, cap_ids[p["night"]], None if a.get("ok") is None else int(a["ok"]),
                     a.get("method"), a.get("motion"), a.get("score"), a.get("reason", ""),
                     None if a.get("matrix") is None else _json(a["matrix"]),
                     _json(p.get("leak_params", {})), m.get("ssim_mean"),
                     m.get("leak_area_pct"), p.get("created_at", now)),
                ).lastrowid  # fmt: skip
                conn.executemany(
                    "INSERT INTO pair_days (pair_id, capture_id, position) VALUES (?,?,?)",
                    [(pid, cap_ids[d], i) for i, d in enumerate(p["days"])],
                )
                run_ids: dict[int, int] = {}  # the dump's run id -> the store's
                for r in p["runs"]:
                    rid = run_ids[r["id"]] = conn.execute(
                        "INSERT INTO runs (pair_id, model_name, model_sha256, params_json, "
                        "metrics_json, timings_json, created_at) VALUES (?,?,?,?,?,?,?)",
                        (pid, r["model_name"], r["model_sha256"], _json(r.get("params", {})),
                         _json(r.get("metrics", {})), _json(r.get("timings_ms", {})),
                         r["created_at"]),
                    ).lastrowid  # fmt: skip
                    conn.executemany(
                        "INSERT INTO run_outputs (run_id, role, file_id) VALUES (?,?,?)",
                        [(rid, role, file_ids[f]) for role, f in r["outputs"].items()],
                    )
                conn.executemany(  # in order: the trigger keeps the latest on pairs.verdict
                    "INSERT INTO verdicts (pair_id, verdict, note, operator, created_at, run_id) "
                    "VALUES (?,?,?,?,?,?)",
                    [(pid, v["verdict"], v.get("note", ""), v.get("operator", ""),
                      v["created_at"], _judged_run(v, run_ids)) for v in p["verdicts"]],
                )  # fmt: skip
                conn.executemany(
                    "INSERT INTO tags (pair_id, tag) VALUES (?,?)", [(pid, t) for t in p["tags"]]
                )
            return sid

        sid = store._write(insert)
    except BaseException:
        for tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        store._discard(written)
        raise
    session = store.session(sid)
    store.events.session_added.emit(session)
    return session


def _judged_run(verdict: Mapping[str, Any], run_ids: Mapping[int, int]) -> int | None:
    """The store's id of the run a verdict was given on: its ``run`` (export format 1.1) is one
    of its pair's runs; None for the live model, and for a format 1.0 verdict (no ``run``)."""
    run = verdict.get("run")
    return None if run is None else run_ids[run["id"]]


def _moved(src: Path, tmp: str, fd: int) -> bool:
    """Rename ``src`` over the (empty) temporary file; False when across file systems."""
    try:
        os.replace(src, tmp)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return False
        os.close(fd)
        raise
    os.close(fd)
    return True


def _copy_hashing(fin, fout) -> str:
    h = hashlib.sha256()
    while chunk := fin.read(1 << 20):
        h.update(chunk)
        fout.write(chunk)
    return h.hexdigest()
