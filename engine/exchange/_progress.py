"""Progress reporting shared by export and import: bytes done of bytes to do, per phase."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "Reporter"]


@dataclass(frozen=True)
class Progress:
    """One progress report.

    ``phase`` is ``"checking"``, ``"verifying"``, ``"copying"``, ``"importing"`` or
    ``"writing"``; ``done`` / ``total`` are bytes of that phase (``total`` may be 0 when a phase
    has nothing to do); ``item`` names the file being handled.
    """

    phase: str
    done: int
    total: int
    item: str = ""

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


#: Called on the worker's thread; raise `engine.exchange.Cancelled` in it to stop.
ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Calls ``callback`` at most every ``interval`` seconds, plus the start and end of a phase."""

    def __init__(self, callback: ProgressCallback | None, *, interval: float = 0.1) -> None:
        self._cb = callback
        self._interval = interval
        self._last = 0.0
        self.phase = ""
        self.total = 0
        self.done = 0

    def start(self, phase: str, total: int) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self._emit("", force=True)

    def advance(self, n: int, item: str = "") -> None:
        self.done += n
        self._emit(item, force=False)

    def finish(self) -> None:
        self.done = max(self.done, self.total)
        self._emit("", force=True)

    def _emit(self, item: str, *, force: bool) -> None:
        if self._cb is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._interval:
            self._last = now
            self._cb(Progress(self.phase, self.done, self.total, item))
