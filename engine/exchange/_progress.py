"""Progress reporting shared by export and import: bytes done of bytes to do, per phase."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "Reporter"]


@dataclass(frozen=True)
class Progress:
    """One progress report.

    ``phase`` is ``"reading"`` (the store, before an export writes anything) or ``"writing"``
    (export), or ``"checking"`` (a folder's entries), ``"unpacking"`` (a zip, hashed as it is
    extracted), ``"verifying"`` (a folder's sha256s) and ``"importing"`` (into the store) for
    an import; ``done`` / ``total`` count that phase's ``unit`` (``"bytes"``; ``"records"``
    for reading) and ``total`` may be 0 when a phase has nothing to count; ``item`` names the
    file or record being handled.
    """

    phase: str
    done: int
    total: int
    item: str = ""
    unit: str = "bytes"

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
        self.unit = "bytes"

    def start(self, phase: str, total: int, unit: str = "bytes") -> None:
        self.phase, self.total, self.done, self.unit = phase, total, 0, unit
        self._emit("", force=True)

    def advance(self, n: int, item: str = "") -> None:
        self.done += n
        self._emit(item, force=self.done >= self.total)  # the end of a phase always reports

    def finish(self) -> None:
        self.done = max(self.done, self.total)
        self._emit("", force=True)

    def _emit(self, item: str, *, force: bool) -> None:
        if self._cb is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._interval:
            self._last = now
            self._cb(Progress(self.phase, self.done, self.total, item, self.unit))
