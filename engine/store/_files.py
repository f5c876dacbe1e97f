"""Image files of the store: lossless PNG encoding, checksums, names, and reconciliation.

Files are written with `engine.atomic` *before* the row that points to them commits, so a
row never points to a half-written file. The converse (a complete file whose row never
committed) is what `find_untracked` finds at the next open.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from engine.atomic import PARTIAL_SUFFIX, is_partial, write_bytes_atomic

__all__ = [
    "FILES_ROOT",
    "PNG_COMPRESSION",
    "LOST_AND_FOUND",
    "decode_png",
    "encode_png",
    "move_aside",
    "new_file_name",
    "sha256_hex",
    "walk_files",
    "write_file",
]

#: Every file the store owns lives under this folder of the data folder.
FILES_ROOT = "sessions"
#: Where reconciliation moves files it cannot account for (never deleted).
LOST_AND_FOUND = "lost+found"

# How PNGs are compressed (all lossless). "huffman": Huffman-only coding after the SUB filter,
# about 2x faster than zlib level 1 on camera frames for ~10 % more bytes (3.5 MB for a noisy
# 1920x1080 RGB frame, ~55 ms of CPU). "none": stored blocks, no filter: ~7 ms of CPU but the
# raw size (6.2 MB) - for capture loops that must commit fast and have disk to spare.
PNG_COMPRESSION: dict[str, list[int]] = {
    "huffman": [
        cv2.IMWRITE_PNG_COMPRESSION,
        1,
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
        cv2.IMWRITE_PNG_FILTER,
        cv2.IMWRITE_PNG_FILTER_SUB,
    ],
    "none": [cv2.IMWRITE_PNG_COMPRESSION, 0, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE],
}


def encode_png(image: np.ndarray, name: str = "image", *, compression: str = "huffman") -> bytes:
    """Lossless PNG bytes of a gray ``(H, W)``, RGB ``(H, W, 3)`` uint8 (or float [0, 1]) image."""
    params = PNG_COMPRESSION.get(compression)
    if params is None:
        raise ValueError(f"compression must be one of {', '.join(PNG_COMPRESSION)}")
    img = np.asarray(image)
    if np.issubdtype(img.dtype, np.floating):
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    if img.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 or float image, got {img.dtype}")
    if img.size == 0 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"{name}: expected gray (H, W) or RGB (H, W, 3), got {img.shape}")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:
        raise ValueError(f"{name}: PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes, name: str = "image") -> np.ndarray:
    """Gray ``(H, W)`` or RGB ``(H, W, 3)`` uint8 from PNG bytes; ValueError when undecodable."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{name}: not a readable PNG")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_file_name(stem: str, *, at: float | None = None) -> str:
    """A unique, sortable file name: ``YYYYmmdd-HHMMSS-mmm-<stem>-<random>.png`` (UTC)."""
    at = time.time() if at is None else at
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(at)) + f"-{int(at * 1000) % 1000:03d}"
    return f"{stamp}-{stem}-{secrets.token_hex(4)}.png"


def write_file(root: Path, rel: str, data: bytes) -> None:
    """Atomically write ``data`` to ``root/rel`` (temporary file, fsync, rename, dir fsync)."""
    write_bytes_atomic(root / rel, data)


def walk_files(root: Path) -> tuple[set[str], set[str]]:
    """(complete files, partial leftovers) under ``root/sessions``, as data-folder paths."""
    base = root / FILES_ROOT
    files: set[str] = set()
    partials: set[str] = set()
    if not base.is_dir():
        return files, partials
    for folder, _dirs, names in os.walk(base):
        rel_folder = Path(folder).relative_to(root).as_posix()
        for name in names:
            rel = f"{rel_folder}/{name}"
            (partials if is_partial(name) or name.endswith(PARTIAL_SUFFIX) else files).add(rel)
    return files, partials


def move_aside(root: Path, rels: list[str], stamp: str) -> Path:
    """Move files to ``root/lost+found/<stamp>/<rel>``, keeping their relative layout."""
    target = root / LOST_AND_FOUND / stamp
    for rel in rels:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        # direct write: move_aside: a rename inside the data folder (lost+found)
        shutil.move(str(root / rel), str(dest))
    return target
