"""A simulated disk that fills as real files are written (shared by the disk-space tests)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def bytes_under(folder: Path) -> int:
    """The bytes of every file under ``folder``."""
    return sum((Path(d) / n).stat().st_size for d, _, names in os.walk(folder) for n in names)


class FillingDisk:
    """A disk of ``capacity`` bytes whose only user is ``folder``: free space is what the real
    files written there leave (a stand-in for ``shutil.disk_usage``). Counts its ``calls`` and
    records the ``threads`` that measured it."""

    def __init__(self, folder: Path, capacity: int) -> None:
        self.folder, self.capacity = folder, capacity
        self.calls = 0
        self.threads: set[threading.Thread] = set()

    def __call__(self, path: str):
        self.calls += 1
        self.threads.add(threading.current_thread())
        used = bytes_under(self.folder)
        return (self.capacity, used, max(0, self.capacity - used))  # a full disk has 0 free
