"""Night captures into the open session: one pair now, or a scheduled run (every N minutes,
optionally between two times, or once at each listed time of day).

Both go through the engine's `CaptureRunner` (the schedule, bursts, missed slots, camera
loss and recovery) and `SessionRecorder` (captures, pairs and the session log in the store),
sharing the live view's `PairTracker`: the same objects ``nightlab capture`` uses. This
widget only sets up the plan, shows the countdown and keeps a log of what happened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from engine.live import (
    DEFAULT_FLOOR_BYTES,
    CapturePlan,
    CaptureRunner,
    DiskGuard,
    SessionRecorder,
    format_bytes,
    parse_clock,
    parse_size,
)
from gui.bridge import follow

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.live import DiskStatus, DiskUsage, PairTracker
    from engine.store import Store
    from gui.jobs import JobRunner

__all__ = ["NightCapturePanel", "parse_times", "record_reference"]


def parse_times(text: str) -> tuple[dt.time, ...]:
    """Local times of day from ``"22:00, 01:00, 04:00"`` (commas or spaces), in the order given.

    Raises `ValueError` naming the first bad entry, or when nothing is listed.
    """
    items = [t for t in text.replace(",", " ").split() if t]
    if not items:
        raise ValueError("list at least one time, like 22:00, 01:00, 04:00")
    times = tuple(parse_clock(t) for t in items)
    for item, t in zip(items, times, strict=True):
        if t.tzinfo is not None:  # the runner schedules in local time
            raise ValueError(f"give local times without a time zone, got {item!r}")
    return times


def record_reference(store: Store, session_id: int, tracker: PairTracker) -> None:
    """Make sure the tracker's day reference is a capture of the session (blocking)."""
    ref = tracker.reference
    if ref is None:
        raise ValueError("no day reference: capture or load one first")
    mine = {c.id for c in store.captures(session_id, kind="day")}
    if ref.capture_ids and set(ref.capture_ids) <= mine:
        return
    # every day image it was made from: the pair's record fuses them again into this very
    # reference (deterministic), stability map included
    days = ref.days or (ref.image,)
    metas = ref.metas or (None,) * len(days)  # the camera's, as a night capture keeps its own
    controls = ref.controls or (None,) * len(days)  # in force when each was taken
    ids = [
        store.add_capture(session_id, day, kind="day", meta=meta, controls=ctl).id
        for day, meta, ctl in zip(days, metas, controls, strict=True)
    ]
    renamed = tracker.recorded(ref, ids)
    if renamed is not None and len(ids) > 1:
        store.log(session_id, "reference", renamed.describe())


class _RunLog(QListWidget):
    """The schedule's log: asks for five lines, not QListWidget's 192 px, so that the
    Capture dock's wanted height leaves the Camera dock its controls; it still takes the
    room its dock has to spare (its layout stretch)."""

    #: what an empty log says (a blank white box told a new operator nothing)
    PLACEHOLDER = "What a scheduled run captures and misses is listed here, newest first."

    #: the height it asks for (five lines, or 90 px)
    COMFORTABLE = 90

    def sizeHint(self):  # noqa: N802 - Qt API
        hint = super().sizeHint()
        frame = 2 * self.frameWidth()
        hint.setHeight(max(self.COMFORTABLE, 5 * self.fontMetrics().lineSpacing() + frame))
        return hint

    def minimumSizeHint(self):  # noqa: N802 - Qt API
        """Two lines (the placeholder's): on a 1080 px screen the Camera dock's controls
        above take the height the log would have had beyond that; with 90 px the dock's
        content could not shrink and the Camera dock scrolled."""
        hint = super().minimumSizeHint()
        frame = 2 * self.frameWidth()
        hint.setHeight(2 * self.fontMetrics().lineSpacing() + frame + 8)
        return hint

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if self.count():
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(self.viewport().rect().adjusted(8, 4, -8, -4), flags, self.PLACEHOLDER)
        painter.end()


class NightCapturePanel(QWidget):
    """Capture a pair now, or run a schedule; ``message`` carries one line for the status bar.

    Before a run starts, a job measures the data folder's free space against the plan
    (`engine.live.DiskGuard`): under the floor already, the run is refused; when the plan
    does not fit, the operator is asked (Cancel is the default: someone is at the machine and
    may knowingly take a shorter night, and the runner still stops cleanly at the floor);
    a thin margin is said in the log. During the run the runner measures before each
    capture and the health line's tooltip shows free space and how many nights fit.
    ``disk_usage`` and ``min_free_bytes`` are the guard's (a test can simulate a disk); the
    floor defaults to ``$NIGHTLAB_MIN_FREE`` (``5G``), else 1 GiB.
    """

    message = Signal(str)
    pair_recorded = Signal(object)
    """An `engine.store.Pair` (GUI thread)."""
    health_changed = Signal(str, str)
    """(one short line on the run, level): level ``"idle"``, ``"ok"``, ``"warn"`` (slots
    missed, camera gone and back) or ``"error"`` (camera gone now, run failed). Shown in the
    window's status bar, on every tab, and kept after the run ends: the morning's summary
    (GUI thread). ``health_details()`` has the long form."""
    pair_possible = Signal(bool, str)
    """(Capture pair can work now, its tooltip: what it does, or why not): the window's
    Capture pair action (toolbar, Camera menu, Ctrl+P) follows the panel's button."""
    pair_processed = Signal(object, object, object)
    """(Pair, its `engine.pipeline.PairResult`, the day reference) just before
    ``pair_recorded``: the images the pair was recorded from, to render it without
    reading it back (GUI thread)."""

    def __init__(
        self,
        state: AppState,
        store: Store,
        tracker: PairTracker,
        jobs: JobRunner,
        parent: QWidget | None = None,
        *,
        disk_usage: DiskUsage | None = None,
        min_free_bytes: int | None = None,
    ) -> None:
        super().__init__(parent)
        self._state, self._store, self._tracker, self._jobs = state, store, tracker, jobs
        self.disk_usage = disk_usage
        self.min_free_bytes = min_free_bytes if min_free_bytes is not None else _env_floor()
        self.disk_box: QMessageBox | None = None
        """The "not enough disk space" question while it is open (for scripts and tests)."""
        self.runner: CaptureRunner | None = None
        self._recorder = None
        self._run_unfollow: list = []
        """Disconnects of this run's runner and recorder events (each run has its own)."""
        self._health = _RunHealth()

        now_box = QGroupBox("Night capture")
        nl = QHBoxLayout(now_box)
        self.btn_pair = QPushButton("Capture pair")
        self._pair_tip = (
            "Record the next night frame(s) with the day reference into the open session, "
            "aligned (Ctrl+P)"
        )
        self.btn_pair.setToolTip(self._pair_tip)
        self.burst = QSpinBox()
        self.burst.setRange(1, 32)
        self.burst.setValue(4)
        # the frames it counts, as the day reference's burst says them ("burst 4" read as a
        # count of bursts); 1 is a single frame, not a burst of one
        self.burst.setPrefix("burst of ")
        self.burst.setSuffix(" frames")
        self.burst.setSpecialValueText("1 frame (no burst)")
        self.burst.setToolTip(
            "Frames per capture; the store keeps each and their mean (less noise)"
        )
        nl.addWidget(self.btn_pair)
        nl.addWidget(self.burst)
        self.btn_pair.clicked.connect(self.capture_pair)

        sched = QGroupBox("Scheduled capture")
        form = QFormLayout(sched)
        self._form = form
        self.mode = QComboBox()
        self.mode.addItem("every N minutes", "every")
        self.mode.addItem("at listed times", "times")
        self.mode.setToolTip(
            "Capture on an interval (optionally only between two times), "
            "or once at each listed time of day"
        )
        self.times = QLineEdit()
        self.times.setPlaceholderText("22:00, 01:00, 04:00")
        self.times.setToolTip(
            "Local times of day, comma-separated (HH:MM or HH:MM:SS); each is taken at its next "
            "occurrence, so 22:00, 01:00, 04:00 started in the evening spans the night"
        )
        self.times_note = QLabel()
        self.times_note.setWordWrap(True)
        self.every = QDoubleSpinBox()
        self.every.setRange(0.05, 24 * 60)
        self.every.setDecimals(2)
        self.every.setValue(10.0)
        self.every.setSuffix(" min")
        self.count = QSpinBox()
        self.count.setRange(0, 100000)
        self.count.setSpecialValueText("until stopped")
        self.window = QCheckBox("only between")
        self.start_t = QTimeEdit(QTime(21, 0))
        self.end_t = QTimeEdit(QTime(5, 0))
        # these five had no tooltip: an operator could not tell what "until stopped" or
        # "only between" does with the other (every other control of the dock had one)
        self.every.setToolTip("Time from one capture to the next (3 s to 24 h)")
        self.count.setToolTip(
            "Stop after this many captures; 0 (until stopped) runs until Stop, or until the "
            "end of the time window when one is set"
        )
        self.window.setToolTip(
            "Capture only between two local times: before the first the run counts down, at "
            "the second it ends (an end before the start is the next morning: 21:00 and 05:00)"
        )
        self.start_t.setToolTip("When the window opens (local time); tick 'only between' first")
        self.end_t.setToolTip(
            "When the window closes and the run ends (local time; before the start: the next "
            "morning)"
        )
        for t in (self.start_t, self.end_t):
            t.setDisplayFormat("HH:mm")
            t.setEnabled(False)
        self.window.toggled.connect(self.start_t.setEnabled)
        self.window.toggled.connect(self.end_t.setEnabled)
        win_row = self._win_row = QHBoxLayout()
        win_row.addWidget(self.window)
        win_row.addWidget(self.start_t)
        win_row.addWidget(QLabel("and"))
        win_row.addWidget(self.end_t)
        form.addRow("Schedule", self.mode)
        form.addRow("Every", self.every)
        form.addRow("Captures", self.count)
        form.addRow(win_row)
        form.addRow("At", self.times)
        form.addRow(self.times_note)
        self.btn_run = QPushButton("Start")
        self.btn_pause = QPushButton("Pause")
        self.btn_pause.setToolTip(
            "Hold the schedule (captures due meanwhile count as missed); again to resume"
        )
        self.btn_cancel = QPushButton("Stop")
        self.btn_cancel.setToolTip("End the schedule after the capture in progress")
        self.btn_pause.setEnabled(False)
        self.btn_cancel.setEnabled(False)
        btns = QHBoxLayout()
        for b in (self.btn_run, self.btn_pause, self.btn_cancel):
            btns.addWidget(b)
        form.addRow(btns)
        self.countdown = QLabel("Idle")
        self.countdown.setStyleSheet("font-weight: 600;")
        self.countdown.setWordWrap(True)  # a run's summary stays here after it ends
        form.addRow(self.countdown)
        self.log = _RunLog()
        self.log.setToolTip("What was captured and what was missed (newest at the top)")
        self.btn_run.clicked.connect(self.start_schedule)
        self.btn_pause.clicked.connect(self._toggle_pause)
        self.btn_cancel.clicked.connect(self.cancel)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(now_box)
        lay.addWidget(sched)
        lay.addWidget(self.log, 1)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.times.textChanged.connect(self._enable)
        follow(state.events.session, lambda _: self._enable(), self)
        follow(state.events.reference, lambda _: self._enable(), self)
        follow(tracker.events.reference_changed, lambda _: self._enable(), self)
        self._mode_changed()

    @property
    def at_times(self) -> bool:
        """Whether the schedule is "at listed times" rather than "every N minutes"."""
        return self.mode.currentData() == "times"

    def _mode_changed(self) -> None:
        times = self.at_times
        for row in (self.every, self.count, self._win_row):
            self._form.setRowVisible(row, not times)
        for row in (self.times, self.times_note):
            self._form.setRowVisible(row, times)
        self._enable()

    def _times_plan(self) -> tuple[CapturePlan | None, str]:
        """The "at listed times" plan from the text field, or None and the reason it is bad."""
        try:
            times = parse_times(self.times.text())
            return CapturePlan(times=times, burst=self.burst.value()), ""
        except ValueError as e:
            return None, str(e)

    def _enable(self) -> None:
        s = self._state.session
        ok = s is not None and s.is_open
        busy = self.runner is not None  # set when a run is submitted, cleared when it ends
        # a night capture pairs with the day reference: without one, say so before Start
        has_ref = self._state.reference is not None or self._tracker.reference is not None
        plan_ok = True
        if self.at_times:
            plan, why = self._times_plan()
            plan_ok = plan is not None
            if plan is None:
                self.times_note.setText(why)
                typed = bool(self.times.text().strip())  # an empty field is a hint, not an error
                self.times_note.setStyleSheet("color: #c62828;" if typed else "color: #555;")
            else:
                order = " → ".join(
                    f"{t:%H:%M}" + (f":{t.second:02d}" if t.second else "")
                    for t in plan.listed_after(dt.datetime.now())
                )
                n = len(plan.times)
                self.times_note.setText(f"{n} capture{'s' if n > 1 else ''}: {order}")
                self.times_note.setStyleSheet("color: #555;")
        self.btn_run.setEnabled(ok and not busy and plan_ok and has_ref)
        no_ref = "Capture or load a day reference first (Capture frame, Ctrl+D)"
        self.btn_run.setToolTip(
            self.times_note.text() if not plan_ok else no_ref if not has_ref else
            "Start the scheduled capture"
        )  # fmt: skip
        self._pair_enabled(
            ok and not busy and has_ref,
            "Open or create a session first (Sessions → New…, Ctrl+N)" if not ok else
            no_ref if not has_ref else
            "A capture is being recorded: wait for it (or stop the schedule)" if busy else
            self._pair_tip,
        )  # fmt: skip
        if not ok:
            self.countdown.setText("Open a session to record captures")
        elif not has_ref and not busy:
            self.countdown.setText(no_ref)
        elif not busy:
            last, _ = self._health.describe(running=False)
            # after a run, its summary stays until the next one starts: the morning's view
            self.countdown.setText(f"Idle · {last}" if last else "Idle")
            self.countdown.setToolTip(self._health.details())

    def _add_log(self, text: str) -> None:
        self.log.insertItem(0, f"{dt.datetime.now():%H:%M:%S}  {text}")
        while self.log.count() > 500:
            self.log.takeItem(self.log.count() - 1)

    # -- runs ------------------------------------------------------------------------------
    def _plan(self, *, scheduled: bool):
        burst = self.burst.value()
        if not scheduled:
            return CapturePlan(count=1, burst=burst)
        if self.at_times:
            plan, why = self._times_plan()
            if plan is None:
                raise ValueError(why)
            return plan
        start = end = None
        if self.window.isChecked():
            start = self.start_t.time().toPython()
            end = self.end_t.time().toPython()
        return CapturePlan(
            every_s=self.every.value() * 60.0,
            count=self.count.value() or None,
            start=start,
            end=end,
            burst=burst,
        )

    def _pair_enabled(self, on: bool, tip: str) -> None:
        self.btn_pair.setEnabled(on)
        self.btn_pair.setToolTip(tip)
        self.pair_possible.emit(on, tip)

    def capture_pair(self) -> None:
        """Record one night capture (a burst) and its pair into the open session."""
        self._run(self._plan(scheduled=False), scheduled=False)

    def start_schedule(self) -> None:
        try:
            plan = self._plan(scheduled=True)
        except ValueError as e:
            self.message.emit(f"schedule: {e}")
            return
        self._run(plan, scheduled=True)

    def _run(self, plan, *, scheduled: bool) -> None:
        session, cam = self._state.session, self._state.camera
        if session is None or not session.is_open:
            self.message.emit("open or create a session first")
            return
        if cam is None:
            self.message.emit("no camera")
            return
        if self._tracker.reference is None:
            self.message.emit("capture or load a day reference first")
            return
        runner = CaptureRunner(cam, plan, tick_s=0.25)
        self.runner = runner
        self._state.recording = session  # its captures go there until it ends
        ev = runner.events
        # every run follows its own runner and recorder: disconnected when it ends
        # (`_end_run`), else each single "Capture pair" left its connections behind
        unfollow = self._run_unfollow
        for signal, slot in (
            (ev.awaiting, self._on_awaiting),
            (ev.missed, self._on_missed),
            (ev.camera_lost, self._on_camera_lost),
            (ev.disk_unchecked, self._on_disk_unchecked),
            (ev.camera_back, self._on_camera_back),
            (ev.paused_changed, self._on_paused),
            (ev.error, lambda m: self.message.emit(f"capture: {m}")),
            (ev.finished, self._on_finished),
            (ev.disk_checked, self._on_disk),
        ):
            unfollow.append(follow(signal, slot, self))
        store, tracker, sid = self._store, self._tracker, session.id

        def work():
            record_reference(store, sid, tracker)
            recorder = SessionRecorder(store, sid, runner, tracker=tracker)
            self._recorder = recorder
            # processed before paired (the recorder's order, kept by the queued bridge): a
            # render seeded from the recorded images is under way when the pair is shown
            rev = recorder.events
            unfollow.extend([
                follow(rev.processed, lambda p, r, d: self.pair_processed.emit(p, r, d), self),
                follow(rev.paired, self._on_paired, self),
                follow(rev.unpaired, lambda c, why: self._add_log(f"not paired: {why}"), self),
            ])  # fmt: skip
            try:
                return runner.run()
            finally:
                recorder.disconnect()

        self.btn_pause.setEnabled(scheduled)
        self.btn_cancel.setEnabled(True)
        self._pair_enabled(False, "A capture is being recorded: wait for it (or stop the schedule)")
        self.btn_run.setEnabled(False)
        self.countdown.setText("Checking disk space…")

        def start() -> None:
            self.countdown.setText("Capturing…")
            if scheduled:
                self._add_log(f"started: {plan.describe()}")
                self._health = _RunHealth(started=dt.datetime.now(), plan=plan.describe())
                self._health.disk = runner.disk_status
                self._show_health()
            self._jobs.submit(
                work, failed=lambda _: self._on_finished("failed"), label="capture", long=True
            )

        ref = self._tracker.reference
        shape = ref.image.shape if ref is not None else None
        kwargs = {} if self.disk_usage is None else {"disk_usage": self.disk_usage}

        def preflight() -> DiskStatus:  # job thread: reads the store and the file system
            guard = DiskGuard.estimate(store, sid, burst=plan.burst, frame_shape=shape,
                                       floor_bytes=self.min_free_bytes, **kwargs)  # fmt: skip
            runner.disk = guard
            runner.disk_status = guard.check_plan(plan)
            return runner.disk_status

        self._jobs.submit(
            preflight,
            done=lambda status: self._preflight_done(runner, status, start),
            failed=lambda _: self._not_started(runner, "the disk space check failed"),
            label="checking disk space",
        )

    def _preflight_done(self, runner: CaptureRunner, status: DiskStatus, start) -> None:
        if runner is not self.runner:
            return
        if status.verdict == "full":
            self._not_started(runner, f"not enough disk space: {status.describe()}")
            return
        if status.verdict == "thin":
            self._add_log(f"little disk space: {status.describe()}")
            self.message.emit(f"capture: little disk space left: {status.describe()}")
        if status.verdict != "short":
            start()
            return
        fits = status.captures_left
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Not enough disk space",
            "This run does not fit on the disk.\n\n"
            f"Free: {format_bytes(status.free_bytes)} on {status.folder}\n"
            f"Needed: {format_bytes(status.needed_bytes or 0)} "
            f"({(status.needed_bytes or 0) // status.bytes_per_capture} captures × "
            f"{format_bytes(status.bytes_per_capture)}), keeping "
            f"{format_bytes(status.floor_bytes)} free\n\n"
            f"About {fits} capture{'s' if fits != 1 else ''} fit: the run would stop there.",
            parent=self,
        )
        go = box.addButton("Start anyway", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def chosen(button) -> None:
            self.disk_box = None
            if button is go and runner is self.runner:
                self._add_log(f"started knowing the disk holds about {fits} captures")
                start()
            else:
                self._not_started(runner, "not enough disk space (cancelled)")

        box.buttonClicked.connect(chosen)
        self.disk_box = box
        box.open()

    def _not_started(self, runner: CaptureRunner, why: str) -> None:
        """The run never started: say why, and make Start possible again."""
        if runner is not self.runner:
            return
        self._add_log(f"not started: {why}")
        self.message.emit(f"capture not started: {why}")
        self._end_run()
        self._state.recording = None
        self.btn_pause.setEnabled(False)
        self.btn_cancel.setEnabled(False)
        self._enable()
        self.countdown.setText(f"Not started: {why}")
        self.countdown.setToolTip(why)

    def _on_disk(self, status: DiskStatus) -> None:
        self._health.disk = status
        self._show_health()

    def _on_missed(self, m) -> None:
        self._add_log(f"missed {m.kind}: {m.reason}")
        self._show_health()

    def _on_disk_unchecked(self, message: str) -> None:
        self._add_log(f"warning: {message}")

    def _on_camera_lost(self, message: str) -> None:
        self._add_log(f"camera lost: {message}")
        self._health.lost_since = dt.datetime.now()
        self._show_health()

    def _on_camera_back(self, message: str, gap: float) -> None:
        self._add_log(f"camera back after {gap:.0f} s")
        self._health.lost_since = None
        self._health.gaps.append(gap)
        self._show_health()

    def health_details(self) -> str:
        """The run's long description (plan, end, camera gaps), for a tooltip."""
        return self._health.details()

    def _show_health(self) -> None:
        """The run's line for the status bar; the countdown turns red while the camera is
        gone (the runner keeps waiting for it, and its slots count as missed)."""
        r, h = self.runner, self._health
        if r is not None:
            h.captured, h.missed = r.captured, r.missed_count
        text, level = h.describe(running=r is not None and r.plan.count != 1)
        if h.lost_since is not None and r is not None:
            self.countdown.setText(
                f"Camera lost at {h.lost_since:%H:%M:%S}: waiting for it · due captures "
                "count as missed"
            )
        colour = {"error": "#c62828", "warn": "#b26a00"}.get(level, "")
        self.countdown.setStyleSheet(f"font-weight: 600; color: {colour};" if colour else
                                     "font-weight: 600;")  # fmt: skip
        if h.started is not None:
            self.health_changed.emit(text, level)
            self.countdown.setToolTip(h.details())

    def _on_paired(self, pair) -> None:
        self._health.last_pair = dt.datetime.now()
        self._show_health()
        a = "aligned" if pair.aligned_ok else f"not aligned ({pair.reason})"
        leak = f", leak {pair.leak_area_pct:.1f} %" if pair.leak_area_pct is not None else ""
        self._add_log(f"pair #{pair.id}: {a}{leak}")
        self.message.emit(f"Pair #{pair.id} recorded ({a})")
        self.pair_recorded.emit(pair)

    def _on_awaiting(self, remaining: float) -> None:
        if self.runner is not None and self.runner.is_paused:
            return
        if self._health.lost_since is not None:
            return  # the countdown says the camera is gone until it is back
        m, s = divmod(int(round(remaining)), 60)
        h, m = divmod(m, 60)
        left = f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
        r = self.runner
        done = r.captured if r else 0
        if r is not None and r.plan.times:
            # the runner waits for the next listed time: name it, and how many are left
            at = dt.datetime.now() + dt.timedelta(seconds=remaining + 0.5)
            at = at.replace(microsecond=0)
            when = f"{at:%H:%M:%S}" if at.second else f"{at:%H:%M}"
            self.countdown.setText(
                f"Next capture at {when} in {left} · {done} of {len(r.plan.times)} captured"
            )
            return
        missed = f" · {r.missed_count} missed" if r is not None and r.missed_count else ""
        self.countdown.setText(f"Next capture in {left} · {done} captured{missed}")

    def _on_paused(self, paused: bool) -> None:
        self.btn_pause.setText("Resume" if paused else "Pause")
        if paused:
            self.countdown.setText("Paused: due captures count as missed")

    def _toggle_pause(self) -> None:
        r = self.runner
        if r is not None:
            r.resume() if r.is_paused else r.pause()

    def cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()

    def _end_run(self) -> None:
        """The run is over: forget it and stop following its events (GUI thread; the
        finished event is the runner's last, so nothing of it is still on its way)."""
        self.runner = None
        self._recorder = None
        for unfollow in self._run_unfollow:
            unfollow()
        self._run_unfollow = []

    def _on_finished(self, reason: str) -> None:
        r = self.runner
        if r is not None and (r.plan.count != 1 or r.missed_count):
            self._add_log(f"finished ({reason}): {r.captured} captured, {r.missed_count} missed")
        if r is not None and self._health.started is not None:
            self._health.captured, self._health.missed = r.captured, r.missed_count
            self._health.finished = (dt.datetime.now(), reason)
            self._health.lost_since = None
        self._end_run()
        self._state.recording = None
        self._show_health()
        self.btn_pause.setEnabled(False)
        self.btn_pause.setText("Pause")
        self.btn_cancel.setEnabled(False)
        self._enable()


def _env_floor() -> int:
    """``$NIGHTLAB_MIN_FREE`` (``5G``, ``500M``), as ``nightlab capture --min-free`` takes it;
    else 1 GiB. A value that is no size falls back to the default (said on stderr)."""
    import os
    import sys

    text = os.environ.get("NIGHTLAB_MIN_FREE", "").strip()
    if not text:
        return DEFAULT_FLOOR_BYTES
    try:
        return parse_size(text)
    except ValueError as exc:
        print(f"nightlab: NIGHTLAB_MIN_FREE: {exc}; keeping 1 GiB free", file=sys.stderr)
        return DEFAULT_FLOOR_BYTES


@dataclass
class _RunHealth:
    """What the operator needs to know about a scheduled run at a glance, and the next
    morning: counts, the camera's gaps, how it ended."""

    started: dt.datetime | None = None
    plan: str = ""
    captured: int = 0
    missed: int = 0
    lost_since: dt.datetime | None = None
    gaps: list[float] = field(default_factory=list)
    finished: tuple[dt.datetime, str] | None = None
    last_pair: dt.datetime | None = None
    """When the newest pair was recorded: a run that stopped recording shows an old time."""
    disk: DiskStatus | None = None
    """The newest free-space measurement (the runner's, before each capture)."""

    def describe(self, *, running: bool) -> tuple[str, str]:
        """(one short line, level); `details` has the long form."""
        if self.started is None:
            return "", "idle"
        counts = f"{self.captured} captured · {self.missed} missed"
        if self.gaps:
            counts += f" · camera gone {len(self.gaps)}×"
        if self.lost_since is not None:
            return f"Capture: CAMERA LOST {self.lost_since:%H:%M:%S} · {counts}", "error"
        if self.finished is not None:
            at, reason = self.finished
            failed = reason.startswith("error") or reason == "failed"  # disk low included
            level = "error" if failed else ("warn" if self.missed or self.gaps else "ok")
            span = f"{self.started:%H:%M}–{at:%H:%M}"
            return f"Last run {span} ({_short(reason)}): {counts}", level
        thin = self.disk is not None and self.disk.verdict != "ok"
        level = "warn" if self.missed or self.gaps or thin else "ok"
        last = f" · last {self.last_pair:%H:%M}" if self.last_pair is not None else ""
        disk = f" · {format_bytes(self.disk.free_bytes)} free" if self.disk is not None else ""
        return (f"Capture running since {self.started:%H:%M} · {counts}{last}{disk}",
                level if running else "ok")  # fmt: skip

    def details(self) -> str:
        """The long form, for a tooltip: the plan, how it ended, the camera's gaps."""
        if self.started is None:
            return ""
        lines = [f"Scheduled capture started {self.started:%Y-%m-%d %H:%M:%S}: {self.plan}"]
        if self.finished is not None:
            at, reason = self.finished
            lines.append(f"Ended {at:%Y-%m-%d %H:%M:%S}: {reason}")
        lines.append(f"{self.captured} captured, {self.missed} missed")
        if self.last_pair is not None:
            lines.append(f"Newest pair recorded {self.last_pair:%Y-%m-%d %H:%M:%S}")
        if self.gaps:
            lines.append(
                f"Camera gone {len(self.gaps)}×, longest {max(self.gaps):.0f} s, "
                f"{sum(self.gaps):.0f} s in all"
            )
        if self.lost_since is not None:
            lines.append(f"Camera lost at {self.lost_since:%H:%M:%S}, waiting for it")
        if self.disk is not None:
            lines.append(f"Disk: {self.disk.describe()}")
        return "\n".join(lines)


def _short(reason: str) -> str:
    """A finish reason for one line: ``"error: <long message>"`` -> ``"error"``, and
    ``"error: disk low: ..."`` -> ``"disk low"`` (the morning's first question answered)."""
    if reason.startswith("error: disk low"):
        return "disk low"
    return reason.split(":", 1)[0]
