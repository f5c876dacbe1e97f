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

Every line also carries the process's resources and the record's growth (an unattended night
of *recording*, not only of live viewing)::

    fds  threads  py_threads  db_bytes  wal_bytes  pairs  captures  log_rows  jobs  cached  load1

``fds`` open file descriptors (``/proc/self/fd``), ``threads`` the process's native threads
(``/proc/self/status``: Qt's, ONNX Runtime's, OpenCV's and Python's), ``py_threads`` Python's
own, ``db_bytes``/``wal_bytes`` the SQLite file and its write-ahead log, ``pairs``/
``captures``/``log_rows`` rows in the store (counted by a short-lived read-only connection
on a probe thread, one interval late, so the GUI thread never waits for SQLite), ``jobs``
background jobs running or queued (a backlog that only grows is work the app cannot keep up
with), ``cached`` full renders the pair cache holds and ``load1`` the machine's 1-minute load
average (on a shared machine the stalls follow it).

And where the resident memory is, to tell memory held from memory the allocator keeps::

    rss_anon_kib  rss_file_kib  heap_kib  heap_free_kib

``rss_anon_kib``/``rss_file_kib`` the anonymous and file-backed parts of the RSS
(``/proc/self/status``: libraries' pages come in as code paths first run), ``heap_kib`` what
glibc's malloc has handed out and not had back, every arena (``mallinfo2``), and
``heap_free_kib`` what it holds free: an anonymous RSS that grows while the heap in use stays
flat is the allocator's fragmentation, not memory the app keeps (-1 where not glibc).

With ``NIGHTLAB_SOAK_CAPTURE_EVERY=SECONDS`` the probe also starts an unattended capture run
in the Capture dock once the smoke flow has recorded its first pair: "every N minutes" (the
panel's finest step is 0.05 min, 3 s), until stopped, burst ``NIGHTLAB_SOAK_CAPTURE_BURST``
(default: the panel's own, 4): the operator's overnight use, at a fast interval. Every
``QA_EVERY`` samples it shows the QA review tab for one interval (the grid paints its
thumbnails as the record grows), then the live view again.

Lines are appended and flushed one at a time (a log, not a document: a killed app leaves every
complete sample readable). Without the variable, nothing is installed and nothing runs.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import sqlite3
import sys
import threading
import time
from array import array

ENV_FILE = "NIGHTLAB_SOAK_PROBE"
ENV_INTERVAL = "NIGHTLAB_SOAK_INTERVAL"
ENV_CAPTURE_EVERY = "NIGHTLAB_SOAK_CAPTURE_EVERY"
ENV_CAPTURE_BURST = "NIGHTLAB_SOAK_CAPTURE_BURST"
HEADER = (
    "t_s\trss_kib\tgc_objects\trefcount_None\trefcount_True\ttimer_late_ms\tresult_view"
    "\tstall_max_ms\tstall_p99_ms\tstalls_over_50ms\tresults"
    "\tfds\tthreads\tpy_threads\tdb_bytes\twal_bytes\tpairs\tcaptures\tlog_rows\tjobs\tcached"
    "\tload1\trss_anon_kib\trss_file_kib\theap_kib\theap_free_kib"
)
HEARTBEAT_MS = 5
QA_EVERY = 12
"""With a capture run: every this many samples the QA tab is shown for one interval."""


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
    capture_every = env_number(ENV_CAPTURE_EVERY, 0.0, kind=float, minimum=0.0)
    capture_burst = env_number(ENV_CAPTURE_BURST, 0, minimum=0, maximum=32)
    # direct write: an append-only log, one flushed line per sample
    log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the window
    log.write(HEADER + "\n")
    t0 = time.monotonic()
    stats = getattr(window, "stats", None)
    state = {"due": t0, "step": 0, "beat": None, "results": _results(stats), "capturing": False}
    store = getattr(window, "store", None)
    rows = _RowCounter(getattr(store, "db_path", None))
    if store is not None:  # the capture run waits for the smoke flow's own pair
        store.events.pair_added.connect(lambda *_: state.update(pairs_seen=True))
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
        if capture_every > 0:
            _drive_capture(window, state, capture_every, capture_burst)
            view = _step_tab(window, state) or view
        line = (
            f"{now - t0:.2f}\t{rss_kib()}\t{_tracked_objects()}\t"
            f"{sys.getrefcount(None)}\t{sys.getrefcount(True)}\t{late_ms:.1f}\t{view}\t"
            f"{stall}\t{new_results}\t{_resources(window, rows)}"
        )
        rows.request()
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


# -- resources and the record (an unattended night of recording) -----------------------------
def open_fds() -> int:
    """File descriptors this process holds (Linux ``/proc/self/fd``; -1 elsewhere)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
    except OSError:
        return -1


def native_threads() -> int:
    """Threads of this process, native ones included (Linux ``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return threading.active_count()


def _size(path) -> int:
    try:
        return os.stat(path).st_size
    except (OSError, TypeError):
        return 0


class _RowCounter:
    """Rows of the record, counted on a short-lived thread with a connection of its own
    (opened read-only and closed each time: it holds no snapshot between samples, so it
    cannot keep the WAL from being checkpointed, and the GUI thread never waits for it)."""

    def __init__(self, db_path) -> None:
        self.db_path = db_path
        self.counts = (0, 0, 0)
        self._busy = threading.Event()

    def request(self) -> None:
        if self.db_path is None or self._busy.is_set() or not os.path.exists(self.db_path):
            return
        self._busy.set()
        threading.Thread(target=self._count, name="soak-probe-rows", daemon=True).start()

    def _count(self) -> None:
        try:
            uri = f"file:{self.db_path}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=2.0)
            try:
                row = conn.execute(
                    "SELECT (SELECT COUNT(*) FROM pairs), (SELECT COUNT(*) FROM captures), "
                    "(SELECT COUNT(*) FROM session_log)"
                ).fetchone()
                self.counts = tuple(int(x) for x in row)
            finally:
                conn.close()
        except sqlite3.Error:
            pass
        finally:
            self._busy.clear()


def _resources(window, rows: _RowCounter) -> str:
    db = rows.db_path
    jobs = getattr(getattr(window, "jobs", None), "active", -1)
    cache = getattr(window, "pair_cache", None)
    cached = len(cache) if cache is not None and hasattr(cache, "__len__") else -1
    pairs, captures, log_rows = rows.counts
    return (
        f"{open_fds()}\t{native_threads()}\t{threading.active_count()}\t{_size(db)}\t"
        f"{_size(f'{db}-wal') if db is not None else 0}\t{pairs}\t{captures}\t{log_rows}\t"
        f"{jobs}\t{cached}\t{_load1():.2f}\t{_memory_split()}"
    )


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def _mallinfo2():
    try:
        libc = ctypes.CDLL(None)
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _Mallinfo2
    return fn


_MALLINFO2 = _mallinfo2()


def _memory_split() -> str:
    """``rss_anon_kib  rss_file_kib  heap_kib  heap_free_kib`` (tab-separated; -1 unknown)."""
    anon = file = -1
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("RssFile:"):
                    file = int(line.split()[1])
    except (OSError, ValueError):
        pass
    heap = free = -1
    if _MALLINFO2 is not None:
        m = _MALLINFO2()
        heap, free = (m.uordblks + m.hblkhd) // 1024, m.fordblks // 1024
    return f"{anon}\t{file}\t{heap}\t{free}"


def _load1() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return -1.0


def _drive_capture(window, state: dict, every_s: float, burst: int) -> None:
    """Start the unattended run once the smoke flow recorded its first pair and the Capture
    dock can start one (a session open, a day reference, no run in progress)."""
    panel = getattr(window, "night_panel", None)
    if panel is None or state["capturing"]:
        return
    if not state.get("pairs_seen") or not panel.btn_run.isEnabled() or panel.runner is not None:
        return
    panel.mode.setCurrentIndex(panel.mode.findData("every"))
    panel.every.setValue(max(panel.every.minimum(), every_s / 60.0))
    panel.count.setValue(0)  # until stopped
    panel.window.setChecked(False)
    if burst:
        panel.burst.setValue(burst)
    panel.start_schedule()
    state["capturing"] = True


def _step_tab(window, state: dict) -> str:
    """With a capture run: the QA review tab for one interval in every ``QA_EVERY`` samples
    (its grid and thumbnails paint as the record grows), the live view otherwise."""
    tabs = getattr(window, "tabs", None)
    if tabs is None or not state["capturing"]:
        return ""
    qa = state["step"] % QA_EVERY == 0
    tabs.setCurrentIndex(2 if qa else 0)
    return "QA review" if qa else ""
