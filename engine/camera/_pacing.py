"""Frame pacing for sources that are not paced by hardware (simulation, replay, video files)."""

from __future__ import annotations

import time


class FramePacer:
    """Hands out frame slots at ``fps`` without bursting to catch up after a stall.

    ``wait(timeout)`` sleeps until the next slot and returns True, or returns False after
    ``timeout`` seconds when the slot is further away (so the acquisition thread stays
    responsive to ``stop()``). A consumer that falls behind by more than one period restarts
    the cadence from now instead of delivering a burst of stale frames.

    Examples
    --------
    >>> pacer = FramePacer(1000.0)
    >>> pacer.wait(0.1)
    True
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._due: float | None = None

    @property
    def fps(self) -> float:
        return self._fps

    @fps.setter
    def fps(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"fps must be > 0, got {value!r}")
        self._fps = float(value)
        self._period = 1.0 / self._fps

    def reset(self) -> None:
        """Next ``wait`` returns at once (stream (re)started)."""
        self._due = None

    def wait(self, timeout: float) -> bool:
        now = time.monotonic()
        if self._due is None:
            self._due = now
        delay = self._due - now
        if delay > timeout:
            time.sleep(max(0.0, timeout))
            return False
        if delay > 0:
            time.sleep(delay)
        nxt = self._due + self._period
        # more than a period late: restart the cadence rather than burst
        self._due = nxt if nxt > now else now + self._period
        return True
