"""``nightlab --smoke SECONDS [--screenshot PNG] [--stats JSON]``: the real window, scripted.

Walks the operator's main flows on the running window (reference, live colorize through
every overlay, ...), measures the live view, and fails (non-zero exit) if a step failed.
Measured while it runs:

- display FPS and results per second, from ``WARMUP_S`` after live colorize is switched on
  (or its first result, if the model takes longer to load); the flows that load the machine
  (capture, render, QA, inspector, export) start only then, so they always fall inside the
  measured window, whatever the load time;
- GUI-thread stalls: a 5 ms heartbeat timer; a gap between two ticks is time the GUI thread
  could not run (p50 / p99 / max);
- frame-to-painted latency: camera capture time -> the live frame painted, and -> its
  colorized result painted (p50 / p99);
- RSS at start and end.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from itertools import product
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, Qt, QTimer

from engine.app_state import BASE_VIEWS, MASK_STYLES
from gui._stall_record import StallRecord
from gui._thread_cpu import ThreadCpu

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


def _cv_threads() -> int | None:
    try:
        import cv2

        return int(cv2.getNumThreads())
    except Exception:  # noqa: BLE001 - a diagnostic only
        return None


def _runqueue_wait_s() -> float | None:
    """Seconds the calling thread has so far spent runnable but not running (Linux
    schedstat), None where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class SmokeRun:
    """Schedules the flow's steps on the window's event loop and collects the figures."""

    def __init__(self, win, seconds: float, *, screenshot: str | None, stats: str | None):
        self.win = win
        self.seconds = float(seconds)
        self.screenshot = screenshot
        self.stats_path = stats
        self.failures: list[str] = []
        self.done_steps: list[str] = []
        self.skipped: list[str] = []
        # a night-long soak run beats 200 times a second: the gaps go into a record of fixed
        # size (three float32 a beat grew 16 MiB in 130 minutes, the harness measuring itself)
        self.stalls = StallRecord()
        self._last_wait: float | None = None
        self._last_cpu = 0.0
        self._frame_size = None
        self._last_beat: float | None = None
        self._live_from: float | None = None
        self._counts_at_live: tuple[int, int] = (0, 0)
        self._rss_start = _rss_mib()
        self._t0 = time.monotonic()
        self._end_counts: tuple[int, int, float] | None = None
        self._full_gcs = 0
        self._full_gc_ms_max = 0.0
        self._gc_started = 0.0
        self._thread_cpu = ThreadCpu()
        self._beats = 0
        # the flow's checks follow the store's events (emitted on the thread that committed),
        # never query it here: a query on the GUI thread while the recorder commits a pair
        # waited up to 34 ms for SQLite (the harness's own stall, not the app's)
        self._pairs: dict[int, object] = {}
        self._verdicts: deque = deque(maxlen=64)  # the QA step's own is among the newest
        self._judged = False  # the QA step's one verdict has been given
        self._store_events = win.store.events
        self._store_events.pair_added.connect(self._on_pair)
        self._store_events.pair_changed.connect(self._on_pair)
        self._store_events.verdict_set.connect(self._on_verdict)
        # which modules loaded only after the window opened (a long import beside the live
        # view holds the GIL: see gui.app._load_before_window)
        self._modules_at_start = set(sys.modules)
        gc.callbacks.append(self._on_gc)
        self._last_status = ""
        win.statusBar().messageChanged.connect(self._on_status)
        self._heartbeat = QTimer(win)
        self._heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self._beat)

    # -- schedule --------------------------------------------------------------------------
    def start(self) -> None:
        self._heartbeat.start()
        self._flow = self.flow()
        self._flow_timer = QTimer(self.win)
        self._flow_timer.setInterval(50)
        self._flow_timer.timeout.connect(self._advance)
        self._waiting: tuple[str, Callable, float] | None = None
        self._timeout: dict[str, float] = {}
        QTimer.singleShot(200, self._flow_timer.start)
        # every overlay in turn over the run, the colourful default last
        views = [*product(BASE_VIEWS, MASK_STYLES), ("colorized", "heatmap")]
        span = max(0.5, self.seconds - 3.0)
        for i, (base, mask) in enumerate(views):
            at = 1.5 + span * i / len(views)
            QTimer.singleShot(
                int(at * 1000),
                lambda b=base, m=mask: self._run_step(f"overlay {b}/{m}", lambda: self._view(b, m)),
            )
        end_ms = int(self.seconds * 1000)
        QTimer.singleShot(max(0, end_ms - 400), lambda: self.win.tabs.setCurrentIndex(0))
        QTimer.singleShot(max(0, end_ms - 250), self._snapshot)
        QTimer.singleShot(end_ms, self._end)

    def flow(self) -> list[tuple[str, Callable[[], bool | None], Callable[[], bool], float]]:
        """The operator's main flows in order: (name, action, done-when, timeout seconds).

        An action that raises or returns False fails its step; so does a done-when that is
        not true within its timeout. The next step starts when the previous one is done.
        """
        win, s = self.win, self.win.state
        cam = s.camera
        caps = cam.capabilities() if cam is not None else {}
        has_mode = "mode" in caps and caps["mode"].supported
        mode = lambda m: lambda: cam.set_control("mode", m) and None  # noqa: E731

        def frame_is(gray: bool) -> Callable[[], bool]:
            return lambda: (f := cam.latest_frame()) is not None and f.is_gray == gray

        always = lambda: True  # noqa: E731

        def reference_from_next_colour_frame() -> bool:
            # no day mode to switch to (a replay): the next colour frame the camera gives is
            # taken, as an operator would wait for it (a looping recorded session plays its
            # day capture again); asked for at once, a night frame failed the whole run
            if s.reference is None and frame_is(False)():
                win.capture_reference()
            return s.reference is not None

        def ask_for_reference() -> None:
            # returns None whatever the first try gave: a False (a gray frame now) would end
            # the step at once, before the next colour frame had a chance to come
            win.capture_reference()

        steps: list = []
        if has_mode:
            steps.append(("camera to day", mode("day"), frame_is(False), 5.0))
            steps.append(
                ("capture day reference", win.capture_reference, lambda: s.reference is not None, 5)
            )
        else:
            steps.append(
                # (asked at once as well: a gray frame says why in the status bar, the reason
                # given if no colour frame comes)
                (
                    "capture day reference",
                    ask_for_reference,
                    reference_from_next_colour_frame,
                    15.0,
                ),
            )
        if has_mode:
            steps.append(("camera to night", mode("night"), frame_is(True), 5.0))
        steps += [
            # done once results flow and the measured window has begun: the flows below
            # (the burst of background work) then always fall inside the measured window,
            # however long the model took to load
            ("live colorize on", self._live_on, self._window_started, 30.0),
            ("new session", self._new_session, lambda: s.session is not None, 20.0),
            ("capture a pair", self._capture_pair, self._pair_aligned, 30.0),
            ("QA: give a verdict", self._verdict, self._verdict_recorded, 20.0),
            ("inspector: views and nudge", self._inspect, win.inspector.canvas.has_image, 20.0),
            ("inspector: nudge by hand", lambda: win.inspector.nudge(1, 0), always, 1.0),
            ("export the session", self._export, self._exported, 30.0),
            ("back to the live view", lambda: win.tabs.setCurrentIndex(0), always, 1.0),
        ]
        return steps

    def _advance(self) -> None:
        if self._waiting is not None:
            name, until, deadline = self._waiting
            try:
                ok = bool(until())
            except Exception:  # a check that cannot run yet is simply not done yet
                ok = False
            if ok:
                self.done_steps.append(name)
                self._waiting = None
            elif time.monotonic() > deadline:
                self._fail(f"{name}: not done within {self._timeout[name]:g} s", self._told())
                self._flow = []  # later steps depend on this one
                self._waiting = None
            return
        if not self._flow:
            self._flow_timer.stop()
            return
        name, action, until, timeout = self._flow.pop(0)
        self._last_status = ""  # only what this step's own action brought
        try:
            result = action()
        except Exception as exc:
            self._fail(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            self._flow = []
            return
        if result is False:
            self._fail(name, self._told())
            self._flow = []
            return
        self._timeout[name] = timeout
        self._waiting = (name, until, time.monotonic() + timeout)

    def _on_status(self, text: str) -> None:
        if text:
            self._last_status = text

    def _told(self) -> str:
        """What the window last told the operator in its status bar (gone after a few seconds,
        so the last one shown is kept): why a step that returned False or was never done did
        not work. The step's name alone said nothing."""
        return " ".join(self._last_status.split())

    def _fail(self, what: str, why: str = "") -> None:
        what = f"{what}: {why}" if why else what
        self.failures.append(what)
        print(f"nightlab --smoke: step failed: {what}", file=sys.stderr)

    def _end(self) -> None:
        # a run too short for the whole flow is not a failure: say what it did not reach
        if self._waiting is not None:
            self.skipped.append(f"{self._waiting[0]} (still running at the end)")
        self.skipped += [f"{name} (not reached)" for name, *_ in self._flow]
        self._flow, self._waiting = [], None
        for sig, slot in (
            (self._store_events.pair_added, self._on_pair),
            (self._store_events.pair_changed, self._on_pair),
            (self._store_events.verdict_set, self._on_verdict),
        ):
            sig.disconnect(slot)
        self._modules_late = sorted(
            {m.split(".")[0] for m in set(sys.modules) - self._modules_at_start}
        )
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self.win.close()

    def _run_step(self, name: str, fn) -> None:
        try:
            ok = fn()
        except Exception as exc:  # a failed step is reported, the run goes on
            ok = False
            name = f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        if ok is False:
            self._fail(name)
        else:
            self.done_steps.append(name)

    def _new_session(self) -> None:
        self.win.sessions.create("smoke run", operator="nightlab --smoke", scene_notes="scripted")

    def _capture_pair(self) -> bool:
        if self.win.state.session is None:
            raise RuntimeError("no session open")
        self.win.night_panel.capture_pair()
        return True

    def _on_pair(self, pair) -> None:  # any thread: one dict assignment
        self._pairs[pair.id] = pair
        if len(self._pairs) > 64:  # a soak records all night: the flow needs the newest only
            for old in sorted(self._pairs)[:-32]:
                self._pairs.pop(old, None)

    def _on_verdict(self, verdict) -> None:  # any thread
        self._verdicts.append(verdict)

    def _pair(self):
        """The open session's newest pair, as the store's events reported it (no query)."""
        s = self.win.state.session
        if s is None:
            return None
        mine = [p for p in list(self._pairs.values()) if p.session_id == s.id]
        return max(mine, key=lambda p: p.id) if mine else None

    def _pair_aligned(self) -> bool:
        p = self._pair()
        if p is not None and not p.aligned_ok:
            raise RuntimeError(f"pair #{p.id} not aligned: {p.reason}")
        return p is not None

    def _verdict(self) -> bool:
        win = self.win
        win.tabs.setCurrentIndex(2)
        win.qa.refresh()
        self._judged = False
        return True

    def _verdict_recorded(self) -> bool:
        # the grid loads off the GUI thread, later on a loaded machine: judge once the
        # captured pair is the current one (a fixed delay missed it, 1 run in 10 at load 19)
        p = self._pair()
        if p is None:
            return False
        if any(v.pair_id == p.id and v.verdict == "pass" for v in list(self._verdicts)):
            return True
        if not self._judged:
            current = self.win.qa.current()
            if current is not None and current.id == p.id:
                self.win.qa.judge("pass")
                self._judged = True
        return False

    def _inspect(self) -> bool:
        win = self.win
        win.tabs.setCurrentIndex(1)
        win.inspector.show_pair(self._pair())
        win.inspector.view.setCurrentIndex(win.inspector.view.findData("checkerboard"))
        return True

    def _export(self) -> bool:
        import tempfile

        self._export_dir = tempfile.TemporaryDirectory(prefix="nightlab-smoke-export-")
        dlg = self.win.export_dialog(show=False)
        dlg.path.setText(str(Path(self._export_dir.name) / "smoke.zip"))
        self._export_result = []
        dlg.finished_ok.connect(self._export_result.append)
        dlg.start()
        self._export_dlg = dlg
        return True

    def _exported(self) -> bool:
        if not self._export_result:
            return False
        out = Path(self._export_dir.name) / "smoke.zip"
        if not out.is_file() or out.stat().st_size == 0:
            raise RuntimeError(f"{out} was not written")
        return True

    def _live_on(self) -> bool:
        self._live_on_at = time.monotonic() - self._t0
        self.win.set_live(True)
        self._live_from = time.monotonic() + WARMUP_S
        QTimer.singleShot(int(WARMUP_S * 1000), self._mark_live)
        return self.win.state.live

    def _window_started(self) -> bool:
        return getattr(self, "_window_open", False)

    def _mark_live(self) -> None:
        st = self.win.stats
        if st.results == 0:  # the model is still loading: the window opens at the first result
            QTimer.singleShot(50, self._mark_live)
            return
        self._live_from = time.monotonic()
        self._window_at = self._live_from - self._t0
        self._first_results_at_mark = st.results
        self._counts_at_live = (st.frames_shown, st.results)
        st.reset_latency()  # whole-run figures count from the window on
        self.stalls.reset()
        self._window_open = True
        self._thread_cpu.start()

    def _view(self, base: str, mask: str) -> None:
        from dataclasses import replace

        s = self.win.state
        s.view = replace(s.view, base=base, mask_style=mask)

    def _on_gc(self, phase: str, info: dict) -> None:
        # full (generation 2) collections hold the GIL throughout: each one is a stall
        if self._last_beat is None:  # start-up (the app's own collect before it freezes)
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif info.get("generation") == 2:
            self._full_gcs += 1
            ms = (time.perf_counter() - self._gc_started) * 1e3
            self._full_gc_ms_max = max(self._full_gc_ms_max, ms)

    def _beat(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        wait = _runqueue_wait_s()
        if self._last_beat is not None:
            # the gap, the GUI thread's own CPU time in it (a long gap with little of it was
            # the machine (other processes) or the GIL, not work done on the GUI thread), and
            # how long it was ready to run but had no core (the machine's other threads and
            # processes); the rest of the gap it slept: blocked on the GIL or a lock
            waited = None
            if wait is not None and self._last_wait is not None:
                waited = (wait - self._last_wait) * 1e3
            self.stalls.add((now - self._last_beat) * 1e3, (cpu - self._last_cpu) * 1e3, waited)
        self._last_wait = wait
        self._beats += 1
        if self._beats % 100 == 0:  # every ~0.5 s: also threads that end before the run
            self._thread_cpu.sample()
            now, cpu = time.perf_counter(), time.thread_time()  # the probe is not a stall
            self._last_wait = _runqueue_wait_s()
        self._last_beat, self._last_cpu = now, cpu

    def _snapshot(self) -> None:
        cam = self.win.state.camera
        frame = None if cam is None else cam.latest_frame()
        if frame is not None:
            self._frame_size = [frame.image.shape[1], frame.image.shape[0]]
        st = self.win.stats
        self._end_counts = (st.frames_shown, st.results, time.monotonic())
        self._thread_cpu.stop()
        if self.screenshot:
            self._run_step("screenshot", self._save_screenshot)

    def _save_screenshot(self) -> bool:
        from engine.atomic import write_bytes_atomic

        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        fmt = Path(self.screenshot).suffix.lstrip(".").upper() or "PNG"
        if not self.win.grab().save(buf, "JPG" if fmt == "JPEG" else fmt):
            raise RuntimeError(f"{self.screenshot}: cannot encode the screenshot as {fmt}")
        write_bytes_atomic(self.screenshot, bytes(buf.data()))  # never a half image
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
        return {
            "seconds": self.seconds,
            "measured_seconds": round(dt, 2),
            "camera": self.win.state.camera_spec,
            "frame_size": self._frame_size,
            "display_fps": None if display_fps is None else round(display_fps, 2),
            "results_per_s": None if results is None else round(results, 2),
            "gui_stall_ms": self.stalls.figures(HEARTBEAT_MS),
            "frame_to_painted_ms": {
                "result": st.result_latency_ms.percentiles(),
                "live": st.paint_latency_ms.percentiles(),
            },
            "rss_mib": {"start": round(self._rss_start, 1), "end": round(_rss_mib(), 1)},
            # top-level packages first imported after the window opened (before its end)
            "modules_loaded_late": getattr(self, "_modules_late", None),
            "gc": {
                "frozen_objects": gc.get_freeze_count(),
                "full_collections": self._full_gcs,
                "full_collection_ms_max": round(self._full_gc_ms_max, 2),
            },
            # the window starts WARMUP_S after live colorize was switched on; results counted
            # before it are the model's warm-up (none: the model was still loading)
            "live_on_at_s": round(getattr(self, "_live_on_at", 0.0), 2),
            "window_from_s": round(getattr(self, "_window_at", 0.0), 2),
            "results_before_window": getattr(self, "_first_results_at_mark", None),
            "live_workers": getattr(self.win.preview, "_workers", None),
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "live_colorize_threads": getattr(self.win.preview, "colorize_threads", None),
            "live_realign_s": getattr(self.win.preview, "realign_s", None),
            # night frames given a result / skipped (newest wins) over the whole run, as the
            # status strip has them (copied from the live workers with each result shown)
            "live_frames": {"processed": st.frames_processed, "skipped": st.frames_skipped},
            "opencv_threads": _cv_threads(),
            "gil_switch_interval_ms": round(sys.getswitchinterval() * 1e3, 3),
            "job_runner": self.win.jobs.describe(),
            # CPU per thread role over the measured window (Linux): who had the two cores
            "thread_cpu": self._thread_cpu.figures(dt),
            "steps_ok": self.done_steps,
            "steps_failed": self.failures,
            "steps_skipped": self.skipped,
        }

    def finish(self) -> int:
        """After the event loop: write ``--stats``, print one summary line; the exit status."""
        fig = self.figures()
        if self.stats_path:
            from engine.atomic import write_json_atomic

            write_json_atomic(self.stats_path, fig)
        print(
            summary_line(fig, len(self.done_steps), len(self.failures), self.skipped),
            file=sys.stderr,
        )
        return 1 if self.failures else 0


# how long a run takes to walk the whole flow on the 2-core lab machine (README: "--smoke 25
# --stats", every step reached in every run measured)
WHOLE_FLOW_SECONDS = 25


def summary_line(fig: dict, done: int, failed: int, not_reached: list[str]) -> str:
    """The one line a smoke run ends with. A run that never had a live result (a replay
    without a day reference, a model that did not load) has no rates: it says so, where
    it printed 'None display fps' before. The rates say how long they were measured: the
    window opens about 2.5 s in, so a 3 s run's figures cover a fraction of a second.
    ``not_reached`` is ``SmokeRun.skipped``: the steps a short run ended before; the line names
    them and says the run was short (a bare "6 not reached" was read as a failure)."""
    lat = fig["frame_to_painted_ms"]["result"]["p50"]
    if fig["display_fps"] is None:
        rates = "no live result, so no display fps or results/s"
    else:
        rates = (
            f"{fig['display_fps']} display fps, {fig['results_per_s']} results/s "
            f"(over {fig['measured_seconds']:g} s)"
        )
    latency = "no result latency" if lat is None else f"result latency p50 {lat} ms"
    stall = fig["gui_stall_ms"]
    return (
        f"nightlab --smoke: {rates}, GUI stall p99 {stall['p99']} ms (max {stall['max']}), "
        f"{latency}, {done} steps done, {failed} failed, {len(not_reached)} not reached"
        f"{_not_reached_note(not_reached, fig.get('seconds'))}"
    )


def _not_reached_note(not_reached: list[str], seconds: float | None) -> str:
    if not not_reached:
        return ""
    short = (n.replace(" (not reached)", "").replace(" at the end", "") for n in not_reached)
    names = ", ".join(short)
    if seconds is not None and seconds < WHOLE_FLOW_SECONDS:
        why = f"run too short, not a failure: --smoke {WHOLE_FLOW_SECONDS} reaches every step"
    else:
        why = "the run ended first, not a failure: a longer run reaches them"
    return f" ({names}; {why})"
