"""Soak probe: with ``NIGHTLAB_SOAK_PROBE=FILE`` the running app logs its own health to FILE.

``benchmarks/soak.py`` starts ``nightlab --smoke SECONDS`` with this variable set and reads the
log back. Every ``NIGHTLAB_SOAK_INTERVAL`` seconds (default 5) the GUI thread appends one
tab-separated line::

    t_s  rss_kib  gc_objects  refcount_None  refcount_True  timer_late_ms  result_view

``timer_late_ms`` is how late the probe's own timer fired: a blocked GUI thread shows up there.
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

ENV_FILE = "NIGHTLAB_SOAK_PROBE"
ENV_INTERVAL = "NIGHTLAB_SOAK_INTERVAL"
HEADER = "t_s\trss_kib\tgc_objects\trefcount_None\trefcount_True\ttimer_late_ms\tresult_view"


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
    from PySide6.QtCore import QTimer

    interval_s = float(os.environ.get(ENV_INTERVAL, "5"))
    log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the window
    log.write(HEADER + "\n")
    t0 = time.monotonic()
    state = {"due": t0, "step": 0}

    def sample() -> None:
        now = time.monotonic()
        late_ms = max(0.0, (now - state["due"]) * 1000.0)
        state["due"] = now + interval_s
        view = _step_result_view(window, state)
        line = (
            f"{now - t0:.2f}\t{rss_kib()}\t{len(gc.get_objects())}\t"
            f"{sys.getrefcount(None)}\t{sys.getrefcount(True)}\t{late_ms:.1f}\t{view}"
        )
        log.write(line + "\n")
        log.flush()

    timer = QTimer(window)
    timer.setInterval(int(interval_s * 1000))
    timer.timeout.connect(sample)
    timer.start()
    window.destroyed.connect(lambda *_: log.close())
    sample()


def _step_result_view(window, state: dict) -> str:
    """Show the next result view (all of them in turn over the run); returns its name."""
    combo = getattr(window, "result_choice", None)
    if combo is None or combo.count() == 0:
        return "-"
    state["step"] += 1
    combo.setCurrentIndex(state["step"] % combo.count())
    return combo.currentText().replace("\t", " ") or "-"
