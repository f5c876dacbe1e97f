"""One way to write a file: all of it or none of it.

Every file NightLab writes (images, metrics, exports, screenshots, model copies, cards, the store's
captures) goes through :func:`atomic_write`: the bytes go to a temporary file in the target's own
folder (same filesystem, so the final ``os.replace`` is atomic), are flushed and fsynced, then
renamed over the target, and the folder is fsynced so the rename survives a power cut. A crash,
SIGKILL, a full disk or an exception at any moment leaves either the complete previous file or
the complete new one, never a truncated one; the temporary file is removed on error.

Temporary names start with ``.`` and end with ``.partial`` so that readers and reconcilers can
recognise (and clean up) leftovers of a killed writer: :func:`is_partial`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PARTIAL_SUFFIX",
    "atomic_write",
    "fsync_dir",
    "fsync_files",
    "is_partial",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

PARTIAL_SUFFIX = ".partial"


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename or a new file) to disk; a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def is_partial(path: str | Path) -> bool:
    """True for a temporary file left behind by a writer that was killed mid-write."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


@contextlib.contextmanager
def atomic_write(
    path: str | Path, *, mode: str = "wb", encoding: str | None = None, mkdir: bool = True
) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only when the block ends without error.

    Parameters
    ----------
    path : str or Path
        The file to write. Its folder is created when ``mkdir`` is true.
    mode : {"wb", "w"}
        Binary or text.
    encoding : str, optional
        Text encoding for ``mode="w"`` (default UTF-8).

    Raises
    ------
    ValueError
        For a mode other than ``"wb"`` / ``"w"``.
    IsADirectoryError
        When ``path`` is an existing folder (checked before anything is written).

    Examples
    --------
    >>> with atomic_write("/tmp/nightlab-doc.txt", mode="w") as f:  # doctest: +SKIP
    ...     f.write("complete or absent")
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a folder, not a file")
    folder = target.parent
    if mkdir:
        folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX)
    try:
        # mkstemp makes 0600; give the file the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        if mode == "wb":
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def write_bytes_atomic(path: str | Path, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, mode="wb") as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_write(path, mode="w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def write_json_atomic(
    path: str | Path, data: Any, *, indent: int = 2, default: Callable[[Any], Any] | None = None
) -> Path:
    """Serialise ``data`` first (so a value that cannot be encoded writes nothing), then write."""
    text = json.dumps(data, indent=indent, default=default) + "\n"
    return write_text_atomic(path, text)


def fsync_files(paths: Iterable[str | Path], *, workers: int = 8) -> None:
    """Flush many written files to disk at once, from a few threads.

    For a batch (an export folder, an import's images) this is ~3-4x faster than an fsync
    after each file on this machine (590 vs 150 MB/s for 25 x 2 MB): the device sees the
    flushes together. Callers still rename into place only after this returns.
    """
    from concurrent.futures import ThreadPoolExecutor

    def flush(path: str | Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    paths = list(paths)
    if len(paths) <= 1 or workers <= 1:
        for p in paths:
            flush(p)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(paths))) as pool:
        list(pool.map(flush, paths))  # re-raises the first OSError
