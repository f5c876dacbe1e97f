"""One writing process per data folder: an advisory lock on ``.writer.lock``, released by the
operating system when the process ends (even by SIGKILL), so a crash never leaves it stuck."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["FolderBusy", "FolderLock", "lock_holder"]


class FolderBusy(Exception):
    """Another process holds the lock; ``pid`` is what it wrote there (or ``"?"``)."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid


class FolderLock:
    """An exclusive, non-blocking lock on ``path`` holding the owner's pid.

    Raises
    ------
    FolderBusy
        Another process holds it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:
            os.lseek(fd, 0, os.SEEK_SET)
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise FolderBusy(pid) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def lock_holder(path: Path) -> str | None:
    """The pid another process holding the lock on ``path`` wrote there (``"?"`` if none),
    or None when nobody holds it. Creates nothing (a reader may not write the folder); the
    probe holds the lock for an instant only, shared on Linux."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: no writer has opened the folder
    try:
        try:
            _probe(fd)
        except OSError:
            return os.read(fd, 32).decode(errors="replace").strip() or "?"
        return None
    finally:
        os.close(fd)  # releases the probe's lock


if sys.platform == "win32":  # pragma: no cover - the lab PCs this is tested on run Linux
    import msvcrt

    def _lock(fd: int) -> None:
        # lock a byte far past the pid text, so reading the pid stays possible
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _probe(fd: int) -> None:
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBRLCK, 1)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.lseek(fd, 0, os.SEEK_SET)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _probe(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
