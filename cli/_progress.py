"""Progress for long commands: a bar on a terminal, a plain line every 10 % otherwise (logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressPrinter"]


class ProgressPrinter:
    """Call with ``(phase, done, total, item)``; `close` ends the bar's line.

    On a terminal it redraws one line at most 10 times a second; elsewhere (CI, a log file)
    it prints a line when a phase starts and at each further 10 %.
    """

    def __init__(
        self, file: TextIO | None = None, *, width: int = 30, interval: float = 0.1
    ) -> None:
        self.file = file or sys.stderr
        self.tty = bool(getattr(self.file, "isatty", lambda: False)())
        self.width = width
        self.interval = interval
        self._phase = None
        self._step = -1
        self._last = 0.0
        self._drawn = False

    def __call__(
        self, phase: str, done: int, total: int, item: str = "", unit: str = "bytes"
    ) -> None:
        if total <= 0:  # a phase with no size yet (scanning a folder): no "100% of 0.0 MB"
            if phase != self._phase:
                if self._drawn:
                    self.file.write("\n")
                    self._drawn = False
                self._phase = phase
                self.file.write(f"{phase} ...\n")
                self.file.flush()
            return
        frac = min(1.0, done / total)
        new_phase = phase != self._phase
        if new_phase and self._drawn:
            self.file.write("\n")
            self._drawn = False
        self._phase = phase
        if self.tty:
            now = time.monotonic()
            if not new_phase and frac < 1.0 and now - self._last < self.interval:
                return
            self._last = now
            fill = int(round(frac * self.width))
            bar = "#" * fill + "-" * (self.width - fill)
            tail = (item[-40:]) if item else ""
            self.file.write(
                f"\r{phase:<10} [{bar}] {frac * 100:5.1f}% {_amount(done, unit)}/"
                f"{_amount(total, unit)} {tail:<40}"
            )
            self._drawn = True
        else:
            step = int(frac * 10)
            if new_phase:
                self._step = -1
            if step > self._step:
                self._step = step
                of = (
                    f"{_amount(done, unit)} of {_amount(total, unit)}"
                    if unit == "bytes"
                    else f"{done:,} of {total:,} {unit}"
                )
                self.file.write(f"{phase}: {frac * 100:.0f}% ({of})\n")
        self.file.flush()

    def report(self, progress) -> None:
        """Adapter for engine callbacks that pass an `engine.exchange.Progress`."""
        self(progress.phase, progress.done, progress.total, progress.item, progress.unit)

    def close(self) -> None:
        if self._drawn:
            self.file.write("\n")
            self.file.flush()
            self._drawn = False


def _amount(n: int, unit: str) -> str:
    """Bytes in MB; anything else counted (``records``: an export reading the store)."""
    return f"{n / 1e6:.1f} MB" if unit == "bytes" else f"{n:,} {unit}"
