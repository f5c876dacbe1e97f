"""``nightlab --smoke SECONDS [--screenshot PNG] [--stats JSON]``: the real window, scripted.

Walks the operator's main flows on the running window (reference, live colorize through
every overlay, ...), measures the live view, and fails (non-zero exit) if a step failed.
Measured while it runs:

- display FPS and results per second (after warm-up: the model loads on the first result);
- GUI-thread stalls: a 5 ms heartbeat timer; a gap between two ticks is time the GUI thread
  could not run (p50 / p99 / max);
- frame-to-painted latency: camera capture time -> the live frame painted, and -> its
  colorized result painted (p50 / p99);
- RSS at start and end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from itertools import product

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, Qt, QTimer

from engine.app_state import BASE_VIEWS, MASK_STYLES
from gui.live.stats import LiveStats

__all__ = ["SmokeRun"]

HEARTBEAT_MS = 5
WARMUP_S = 2.0


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SmokeRun:
    """Schedules the flow's steps on the window's event loop and collects the figures."""

    def __init__(self, win, seconds: float, *, screenshot: str | None, stats: str | None):
        self.win = win
        self.seconds = float(seconds)
        self.screenshot = screenshot
        self.stats_path = stats
        self.failures: list[str] = []
        self.done_steps: list[str] = []
        self._gaps: list[float] = []
        self._last_beat: float | None = None
        self._live_from: float | None = None
        self._counts_at_live: tuple[int, int] = (0, 0)
        self._rss_start = _rss_mib()
        self._t0 = time.monotonic()
        self._end_counts: tuple[int, int, float] | None = None
        self._heartbeat = QTimer(win)
        self._heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self._beat)

    # -- schedule --------------------------------------------------------------------------
    def start(self) -> None:
        self._heartbeat.start()
        steps = self.steps()
        for at, name, fn in steps:
            QTimer.singleShot(int(at * 1000), lambda n=name, f=fn: self._run_step(n, f))
        end_ms = int(self.seconds * 1000)
        QTimer.singleShot(max(0, end_ms - 250), self._snapshot)
        QTimer.singleShot(end_ms, self.win.close)

    def steps(self) -> list[tuple[float, str, Callable[[], bool | None]]]:
        """(seconds from start, name, action): an action returning False or raising fails."""
        win, s = self.win, self.win.state
        cam = s.camera
        has_mode = (
            cam is not None
            and "mode" in cam.capabilities()
            and cam.capabilities()["mode"].supported
        )
        out: list = []
        if has_mode:
            out.append((0.2, "camera to day", lambda: cam.set_control("mode", "day") and None))
        out.append((0.7, "capture day reference", win.capture_reference))
        if has_mode:
            out.append((0.9, "camera to night", lambda: cam.set_control("mode", "night") and None))
        out.append((1.1, "live colorize on", self._live_on))
        # every overlay in turn over the rest of the run (but keep the last one colourful)
        views = [(b, m) for b, m in product(BASE_VIEWS, MASK_STYLES)]
        span = max(0.5, self.seconds - 1.6 - 1.5)
        for i, (base, mask) in enumerate(views):
            at = 1.6 + span * i / len(views)
            out.append((at, f"overlay {base}/{mask}", lambda b=base, m=mask: self._view(b, m)))
        out.append(
            (
                self.seconds - 1.2,
                "overlay colorized/heatmap",
                lambda: self._view("colorized", "heatmap"),
            )
        )
        out.append((self.seconds - 0.35, "live results arrived", self._check_results))
        return out

    def _run_step(self, name: str, fn) -> None:
        try:
            ok = fn()
        except Exception as exc:  # a failed step is reported, the run goes on
            ok = False
            name = f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        if ok is False:
            self.failures.append(name)
            print(f"nightlab --smoke: step failed: {name}", file=sys.stderr)
        else:
            self.done_steps.append(name)

    def _live_on(self) -> bool:
        self.win.set_live(True)
        self._live_from = time.monotonic() + WARMUP_S
        QTimer.singleShot(int(WARMUP_S * 1000), self._mark_live)
        return self.win.state.live

    def _mark_live(self) -> None:
        st = self.win.stats
        self._counts_at_live = (st.frames_shown, st.results)
        self._lat_from = (len(st.paint_latency_ms), len(st.result_latency_ms))
        self._gap_from = len(self._gaps)

    def _view(self, base: str, mask: str) -> None:
        from dataclasses import replace

        s = self.win.state
        s.view = replace(s.view, base=base, mask_style=mask)

    def _check_results(self) -> bool:
        return self.win.stats.results > 0

    def _beat(self) -> None:
        now = time.perf_counter()
        if self._last_beat is not None:
            self._gaps.append((now - self._last_beat) * 1e3)
        self._last_beat = now

    def _snapshot(self) -> None:
        st = self.win.stats
        self._end_counts = (st.frames_shown, st.results, time.monotonic())
        if self.screenshot:
            self._run_step("screenshot", self._save_screenshot)

    def _save_screenshot(self) -> bool:
        from engine.atomic import write_bytes_atomic

        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        if not self.win.grab().save(buf, "PNG"):
            raise RuntimeError("Qt could not encode the window as PNG")
        write_bytes_atomic(self.screenshot, bytes(buf.data()))
        return True

    # -- figures ---------------------------------------------------------------------------
    def figures(self) -> dict:
        st = self.win.stats
        end = self._end_counts or (st.frames_shown, st.results, time.monotonic())
        if self._live_from is not None and end[2] > self._live_from:
            dt = end[2] - self._live_from
            f0, r0 = self._counts_at_live
            display_fps, results = (end[0] - f0) / dt, (end[1] - r0) / dt
        else:
            dt, display_fps, results = 0.0, None, None
        lat0 = getattr(self, "_lat_from", (0, 0))
        gaps = np.asarray(self._gaps[getattr(self, "_gap_from", 0) :] or [0.0])
        cam = self.win.state.camera
        frame = None if cam is None else cam.latest_frame()
        pct = LiveStats.percentiles
        return {
            "seconds": self.seconds,
            "measured_seconds": round(dt, 2),
            "camera": self.win.state.camera_spec,
            "frame_size": None if frame is None else [frame.image.shape[1], frame.image.shape[0]],
            "display_fps": None if display_fps is None else round(display_fps, 2),
            "results_per_s": None if results is None else round(results, 2),
            "gui_stall_ms": {
                "heartbeat_ms": HEARTBEAT_MS,
                "p50": round(float(np.percentile(gaps, 50)), 2),
                "p99": round(float(np.percentile(gaps, 99)), 2),
                "max": round(float(gaps.max()), 2),
                "over_50ms": int((gaps > 50).sum()),
            },
            "frame_to_painted_ms": {
                "result": pct(st.result_latency_ms[lat0[1] :]),
                "live": pct(st.paint_latency_ms[lat0[0] :]),
            },
            "rss_mib": {"start": round(self._rss_start, 1), "end": round(_rss_mib(), 1)},
            "live_workers": getattr(self.win.preview, "_workers", None),
            "steps_ok": self.done_steps,
            "steps_failed": self.failures,
        }

    def finish(self) -> int:
        """After the event loop: write ``--stats``, print one summary line; the exit status."""
        fig = self.figures()
        if self.stats_path:
            from engine.atomic import write_json_atomic

            write_json_atomic(self.stats_path, fig)
        lat = fig["frame_to_painted_ms"]["result"]["p50"]
        print(
            f"nightlab --smoke: {fig['display_fps']} display fps, {fig['results_per_s']} "
            f"results/s, GUI stall p99 {fig['gui_stall_ms']['p99']} ms "
            f"(max {fig['gui_stall_ms']['max']}), result latency p50 {lat} ms, "
            f"{len(self.failures)} failed step(s)",
            file=sys.stderr,
        )
        return 1 if self.failures else 0
