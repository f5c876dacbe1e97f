"""Turning frames into capture rows: validation, burst combining, PNG encoding (in parallel,
off the writer thread) and the INSERTs, shared by `Store.add_burst` and `Store.capture_pair`."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.store._files import FILES_ROOT, decode_png, encode_png, new_file_name, sha256_hex
from engine.store._rows import dumps

__all__ = [
    "PlannedCapture",
    "WriteFailed",
    "controls_text",
    "encode_and_write",
    "insert_capture",
    "plan_capture",
]

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


@dataclass
class PlannedCapture:
    """One capture about to be written: the combined frame first, then burst members."""

    kind: str
    images: list[np.ndarray]
    rels: list[str]
    meta_json: list[str]
    taken_at: list[float]
    controls_json: str
    data: list[bytes] | None = None
    """PNG bytes, filled by `encode_and_write`."""
    given: list[bytes | None] | None = None
    """PNG bytes handed in (an import): stored as they are, byte for byte."""


def plan_capture(
    uid: str,
    images: Sequence[np.ndarray],
    *,
    kind: str,
    metas: Sequence[dict[str, Any]],
    controls_json: str,
    taken_at: float,
) -> PlannedCapture:
    """Validate a capture (one frame or a burst) and name its files; nothing written yet."""
    if kind not in ("day", "night"):
        raise ValueError(f"kind must be 'day' or 'night', got {kind!r}")
    given = [bytes(i) if isinstance(i, (bytes, bytearray, memoryview)) else None for i in images]
    imgs = [
        decode_png(g, f"{kind} capture") if g is not None else np.asarray(i)
        for g, i in zip(given, images, strict=True)
    ]
    if not imgs:
        raise ValueError("a capture needs at least one image")
    if len({i.shape for i in imgs}) != 1:
        raise ValueError(f"burst frames differ in shape: {sorted({i.shape for i in imgs})}")
    if len(metas) != len(imgs):
        raise ValueError(f"{len(imgs)} images but {len(metas)} metadata entries")
    if len(imgs) == 1:
        frames, frame_metas = imgs, [dict(metas[0])]
        given = given[:1]
    else:  # burst: the per-pixel mean (night noise averaging), then every member
        mean = np.rint(np.mean(np.stack(imgs), axis=0)).astype(np.uint8)
        head = {**metas[0], "burst": {"size": len(imgs), "combine": "mean"}}
        frames, frame_metas = [mean, *imgs], [head, *map(dict, metas)]
        given = [None, *given]
    rels, times = [], []
    for idx, md in enumerate(frame_metas):
        stem = kind if idx == 0 else f"{kind}-m{idx - 1:02d}"
        rels.append(f"{FILES_ROOT}/{uid}/captures/{new_file_name(stem, at=taken_at)}")
        ts = md.get("timestamp")
        times.append(taken_at if idx == 0 or not isinstance(ts, (int, float)) else float(ts))
    metas_json = [dumps(m) for m in frame_metas]
    plan = PlannedCapture(kind, frames, rels, metas_json, times, controls_json)
    plan.given = given
    return plan


class WriteFailed(Exception):
    """`encode_and_write` failed: ``written`` files must go; ``__cause__`` is the first error."""

    def __init__(self, written: list[str]) -> None:
        super().__init__(f"{len(written)} file(s) written before the failure")
        self.written = written


def encode_and_write(
    plans: Sequence[PlannedCapture],
    write: Callable[[str, bytes], None],
    *,
    compression: str = "huffman",
) -> None:
    """PNG-encode every frame of ``plans`` and ``write(rel, data)`` it, two frames at a time.

    OpenCV's encoder and the file writes release the GIL, so on two cores a day and a night
    frame cost about as long as the larger one.

    Raises
    ------
    WriteFailed
        Listing the files that were written anyway (the caller removes them), from the first
        error (an ``OSError`` of a full disk, a ``ValueError`` of a bad image).
    """
    global _POOL

    def job(item: tuple[PlannedCapture, int]) -> bytes:
        plan, i = item
        data = plan.given[i] if plan.given and plan.given[i] is not None else None
        if data is None:
            data = encode_png(plan.images[i], f"{plan.kind} capture", compression=compression)
        write(plan.rels[i], data)
        return data

    items = [(p, i) for p in plans for i in range(len(p.images))]
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-png")
    futures = [_POOL.submit(job, item) for item in items]
    wait(futures)
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        written = [p.rels[i] for (p, i), f in zip(items, futures, strict=True) if not f.exception()]
        raise WriteFailed(written) from errors[0]
    k = 0
    for p in plans:
        p.data = [f.result() for f in futures[k : k + len(p.images)]]
        k += len(p.images)


def insert_capture(
    conn: sqlite3.Connection, session_id: int, plan: PlannedCapture, now: float
) -> int:
    """INSERT a planned capture's files and rows (members point at the first); its id."""
    assert plan.data is not None, "encode_all first"
    parent = None
    size = len(plan.images) - 1 if len(plan.images) > 1 else 1
    for idx, (rel, data, img) in enumerate(zip(plan.rels, plan.data, plan.images, strict=True)):
        fid = conn.execute(
            "INSERT INTO files (path, sha256, size, created_at) VALUES (?,?,?,?)",
            (rel, sha256_hex(data), len(data), now),
        ).lastrowid
        h, w = img.shape[:2]
        cid = conn.execute(
            "INSERT INTO captures (session_id, file_id, kind, width, height, channels, taken_at, "
            "meta_json, controls_json, burst_of, burst_index, burst_size, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (session_id, fid, plan.kind, w, h, 1 if img.ndim == 2 else img.shape[2],
             plan.taken_at[idx], plan.meta_json[idx], plan.controls_json, parent,
             None if idx == 0 else idx - 1, size if idx == 0 else 1, now),
        ).lastrowid  # fmt: skip
        parent = parent or cid
    return parent


def controls_text(controls: Mapping[str, Any] | None) -> str:
    return dumps(dict(controls or {}))
