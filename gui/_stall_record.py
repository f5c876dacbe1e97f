"""The smoke run's record of GUI-thread stalls, in constant memory however long the run.

Each heartbeat gives a gap (time between two ticks of a 5 ms timer), the GUI thread's own
CPU time in it and how long it waited for a core. ``--smoke --stats`` reports their
percentiles, the longest gap split into those parts, and the parts summed over every gap
over 50 ms. Kept as three float32 a beat, a 130-minute soak's record grew ~16 MiB (200
beats a second); here they are histograms and running sums, a few tens of KiB for good.
"""

from __future__ import annotations

from gui.live.histogram import LatencyHistogram

__all__ = ["StallRecord"]

LONG_GAP_MS = 50.0


class StallRecord:
    """Heartbeat gaps since the start (or `reset`): percentiles within 1 %, the rest exact."""

    def __init__(self) -> None:
        self.gaps = LatencyHistogram()
        self.cpu = LatencyHistogram()
        self.reset()

    def reset(self) -> None:
        self.gaps.reset()
        self.cpu.reset()
        self.over_long = 0
        self.over_long_with_cpu_over_long = 0
        # (gap, cpu, wait) of the longest gap, and summed over the gaps over 50 ms
        self._max_split: tuple[float, float, float | None] = (0.0, 0.0, None)
        self._long_sums = [0.0, 0.0, 0.0]
        # the wait splits hold only if every gap had one (schedstat can be unreadable)
        self._every_gap_waited = True

    def __len__(self) -> int:
        return self.gaps.count

    @property
    def nbytes(self) -> int:
        """Bytes the record's samples take: the same after a beat or a night of them."""
        return self.gaps.nbytes + self.cpu.nbytes

    def add(self, gap_ms: float, cpu_ms: float, wait_ms: float | None) -> None:
        first = self.gaps.count == 0
        self.gaps.add(gap_ms)
        self.cpu.add(cpu_ms)
        if wait_ms is None:
            self._every_gap_waited = False
        if first or gap_ms > self._max_split[0]:
            self._max_split = (gap_ms, cpu_ms, wait_ms)
        if gap_ms > LONG_GAP_MS:
            self.over_long += 1
            self.over_long_with_cpu_over_long += cpu_ms > LONG_GAP_MS
            self._long_sums[0] += gap_ms
            self._long_sums[1] += cpu_ms
            self._long_sums[2] += wait_ms or 0.0

    def figures(self, heartbeat_ms: int) -> dict:
        """The ``gui_stall_ms`` part of ``--smoke --stats`` (keys and meanings as before)."""
        g, c = self.gaps, self.cpu
        return {
            "heartbeat_ms": heartbeat_ms,
            "p50": round(g.percentile(50), 2),
            "p99": round(g.percentile(99), 2),
            "max": round(g.max, 2),
            "over_50ms": self.over_long,
            "gui_cpu_in_gap_max": round(c.max, 2),
            "gui_cpu_in_gap_p99": round(c.percentile(99), 2),
            "over_50ms_with_gui_cpu_over_50ms": self.over_long_with_cpu_over_long,
            # the longest gap split: GUI-thread CPU, waiting for a core (the machine),
            # and the rest: asleep, waiting for the GIL (or a lock) another thread held
            "max_gap_split_ms": self._split(*self._max_split),
            # the same, summed over every gap over 50 ms
            "over_50ms_split_ms": self._split(*self._long_sums),
        }

    def _split(self, gap: float, cpu: float, wait: float | None) -> dict:
        w = wait if self._every_gap_waited and wait is not None else None
        return {
            "gap": round(gap, 2),
            "gui_cpu": round(cpu, 2),
            "waiting_for_a_core": None if w is None else round(w, 2),
            "blocked": None if w is None else round(max(0.0, gap - cpu - w), 2),
        }
