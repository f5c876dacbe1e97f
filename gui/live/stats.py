"""Live-view accounting: display FPS, results per second, latencies (no Qt, no maths on images).

Fed on the GUI thread by the live panel; read by the status strip and by ``--smoke --stats``.
"""

from __future__ import annotations

import time
from collections import deque

from gui.live.histogram import LatencyHistogram

__all__ = ["LiveStats"]


class LiveStats:
    """Rolling counters over the last ``window`` seconds, plus whole-run samples."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._shown: deque[float] = deque()
        self._results: deque[float] = deque()
        self.frames_shown = 0
        self.results = 0
        # histograms, not lists: the live view paints ~50 times a second all night (a list
        # kept ~32 bytes a paint, 6 MiB an hour); the whole run's percentiles stay exact to 1 %
        self.paint_latency_ms = LatencyHistogram()
        """frame capture -> its live (camera) image painted (since `reset_latency`)."""
        self.result_latency_ms = LatencyHistogram()
        """frame capture -> its result painted (since `reset_latency`)."""
        self.recent_result_latency_ms: deque[float] = deque(maxlen=50)
        """The last 50 results' latencies (the status strip's median)."""
        self.stages_ms: dict[str, float] = {}
        self.ssim_mean: float | None = None
        self.leak_area_pct: float | None = None
        self.frames_processed = 0
        self.frames_skipped = 0
        """Night frames the live workers made a result of / skipped since the app started
        (`LivePreview.processed` / ``dropped``): when processing is slower than the camera the
        newest frame wins, and what share was skipped says how far behind it is."""

    def _tick(self, q: deque[float]) -> None:
        now = time.monotonic()
        q.append(now)
        while q and now - q[0] > self.window:
            q.popleft()

    def frame_shown(self) -> None:
        self.frames_shown += 1
        self._tick(self._shown)

    def result_shown(self, stages_ms: dict[str, float], ssim: float | None, leak: float | None):
        self.results += 1
        self._tick(self._results)
        self.stages_ms = stages_ms
        if ssim is not None:
            self.ssim_mean = ssim
        self.leak_area_pct = leak

    def live_counts(self, processed: int, skipped: int) -> None:
        """The live workers' counters, copied on the GUI thread with each result shown."""
        self.frames_processed, self.frames_skipped = int(processed), int(skipped)

    @property
    def skipped_pct(self) -> float | None:
        """Share of night frames skipped, %; None before any."""
        total = self.frames_processed + self.frames_skipped
        return 100.0 * self.frames_skipped / total if total else None

    def painted(self, frame_time: float, *, result: bool) -> None:
        ms = (time.time() - frame_time) * 1e3
        if result:
            self.result_latency_ms.add(ms)
            self.recent_result_latency_ms.append(ms)
        else:
            self.paint_latency_ms.add(ms)

    def reset_latency(self) -> None:
        """Whole-run latencies count from now on (a measured window starts)."""
        self.paint_latency_ms.reset()
        self.result_latency_ms.reset()

    @staticmethod
    def _rate(q: deque[float]) -> float:
        if len(q) < 2:
            return 0.0
        span = q[-1] - q[0]
        return (len(q) - 1) / span if span > 0 else 0.0

    @property
    def display_fps(self) -> float:
        return self._rate(self._shown)

    @property
    def results_per_s(self) -> float:
        return self._rate(self._results)
