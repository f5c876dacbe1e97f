"""Soak probe: with ``NIGHTLAB_SOAK_PROBE=FILE`` the running app logs its own health to FILE.

``benchmarks/soak.py`` starts ``nightlab --smoke SECONDS`` with this variable set and reads the
log back. Every ``NIGHTLAB_SOAK_INTERVAL`` seconds (default 5) the GUI thread appends one
tab-separated line::

    t_s  rss_kib  gc_objects  refcount_None  refcount_True  timer_late_ms  result_view
    stall_max_ms  stall_p99_ms  stalls_over_50ms  results

``timer_late_ms`` is how late the probe's own timer fired. The ``stall_*`` columns cover the
whole interval since the previous line: gaps between ticks of a 5 ms heartbeat timer (as
``--smoke --stats`` measures them), their maximum, 99th percentile and how many exceeded
50 ms; the probe's own sampling (``gc.get_objects()`` walks every tracked object on the GUI
thread) is left out of them. ``results`` is how many live results the window showed in the
interval, so a run whose live view stopped is seen as such.
The probe also steps the result view through every choice (colorized, leak-mask overlay,
aligned reference, ...) so a long run exercises every overlay, not only the default one.

Lines are appended and flushed one at a time (a log, not a document: a killed app leaves every
complete sample readable). Without the variable, nothing is installed and nothing runs.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from array import array

ENV_FILE = "NIGHTLAB_SOAK_PROBE"
ENV_INTERVAL = "NIGHTLAB_SOAK_INTERVAL"
HEADER = (
    "t_s\trss_kib\tgc_objects\trefcount_None\trefcount_True\ttimer_late_ms\tresult_view"
    "\tstall_max_ms\tstall_p99_ms\tstalls_over_50ms\tresults"
)
HEARTBEAT_MS = 5


def rss_kib() -> int:
    """Resident set size now (Linux ``/proc``), else the peak from ``getrusage``."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def install_if_requested(window) -> None:
    """Start sampling when ``NIGHTLAB_SOAK_PROBE`` is set; a no-op otherwise."""
    path = os.environ.get(ENV_FILE)
    if not path:
        return
    from PySide6.QtCore import Qt, QTimer

    from engine.knobs import env_number

    interval_s = env_number(ENV_INTERVAL, 5.0, kind=float, minimum=0.1)
    log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the window
    log.write(HEADER + "\n")
    t0 = time.monotonic()
    stats = getattr(window, "stats", None)
    state = {"due": t0, "step": 0, "beat": None, "results": _results(stats)}
    gaps = array("f")  # this interval's heartbeat gaps, ms (emptied at every sample)

    def beat() -> None:
        now = time.perf_counter()
        if state["beat"] is not None:
            gaps.append((now - state["beat"]) * 1e3)
        state["beat"] = now

    def sample() -> None:
        now = time.monotonic()
        late_ms = max(0.0, (now - state["due"]) * 1000.0)
        state["due"] = now + interval_s
        beat()  # the gap up to now counts; the sampling below does not
        stall = _stall_figures(gaps)
        del gaps[:]
        results = _results(stats)
        new_results, state["results"] = results - state["results"], results
        view = _step_result_view(window, state)
        line = (
            f"{now - t0:.2f}\t{rss_kib()}\t{_tracked_objects()}\t"
            f"{sys.getrefcount(None)}\t{sys.getrefcount(True)}\t{late_ms:.1f}\t{view}\t"
            f"{stall}\t{new_results}"
        )
        log.write(line + "\n")
        log.flush()
        state["beat"] = time.perf_counter()

    heartbeat = QTimer(window)
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    timer = QTimer(window)
    timer.setInterval(int(interval_s * 1000))
    timer.timeout.connect(sample)
    timer.start()
    window.destroyed.connect(lambda *_: log.close())
    sample()


def _tracked_objects() -> int:
    """Every object the collector tracks, the ones the app froze at start-up included
    (``gc.get_objects()`` alone leaves those out, so its count starts near zero)."""
    return len(gc.get_objects()) + gc.get_freeze_count()


def _results(stats) -> int:
    return int(getattr(stats, "results", 0) or 0)


def _stall_figures(gaps: array) -> str:
    """``max  p99  count over 50 ms`` of one interval's heartbeat gaps (tab-separated)."""
    if not gaps:
        return "0.0\t0.0\t0"
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    over = sum(1 for g in ordered if g > 50.0)
    return f"{ordered[-1]:.1f}\t{p99:.1f}\t{over}"


def _step_result_view(window, state: dict) -> str:
    """Show the next result view (all of them in turn over the run); returns its name."""
    combo = getattr(window, "result_choice", None)
    if combo is None or combo.count() == 0:
        return "-"
    state["step"] += 1
    combo.setCurrentIndex(state["step"] % combo.count())
    return combo.currentText().replace("\t", " ") or "-"
