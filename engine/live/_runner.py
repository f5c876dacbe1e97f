"""`CaptureRunner`: runs a `CapturePlan` on its own thread, evented like pymmcore-plus's MDA.

The runner only captures; what happens to a shot is up to whoever listens (the
`SessionRecorder` writes it to the store, the GUI shows it, the CLI prints a line). A
listener that raises (a full disk) stops the run with ``finished("error: ...")``.

Events (emitted on the runner thread; a Qt consumer hops through a queued signal):
``started(plan)``, ``awaiting(remaining_s)`` about once a second while waiting,
``frame_captured(Shot)``, ``missed(Missed)``, ``camera_lost(message)``,
``camera_back(message, gap_s)``, ``paused_changed(bool)``, ``disk_checked(DiskStatus)``
before each capture when the runner has a `DiskGuard`, ``error(message)``,
``finished(reason)`` with reason ``"done"``, ``"window ended"``, ``"cancelled"`` or
``"error: <one line>"`` (``"error: disk low: ..."`` when the next capture would take the
data folder under the guard's floor: the run stops before writing it).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psygnal import EmitLoopError, Signal, SignalGroup

from engine.camera import CameraError
from engine.live._plan import CapturePlan

if TYPE_CHECKING:
    from engine.camera import Camera, Frame
    from engine.live._disk import DiskGuard

__all__ = ["CaptureRunner", "Missed", "RunnerEvents", "Shot"]

RETRY_S = 1.0
"""After a missed slot, wait at least this long before the next try (``every_s=0``)."""


class RunnerEvents(SignalGroup):
    started = Signal(object)
    """The `CapturePlan` being run."""
    awaiting = Signal(float)
    """Seconds until the next capture (about once a second while waiting)."""
    frame_captured = Signal(object)
    """A `Shot`: the frame(s) of one capture."""
    missed = Signal(object)
    """A `Missed` slot: camera gone, no frame in time, paused, or the run fell behind."""
    camera_lost = Signal(str)
    camera_back = Signal(str, float)
    """(message, seconds the camera was gone)."""
    paused_changed = Signal(bool)
    disk_checked = Signal(object)
    """A `DiskStatus`, measured before each capture (with a `DiskGuard`)."""
    disk_unchecked = Signal(str)
    """Free space could not be measured before a capture (why); the capture went ahead."""
    error = Signal(str)
    finished = Signal(str)


@dataclass(frozen=True)
class Shot:
    """One capture: ``burst`` frames taken back to back."""

    kind: str
    """``"day"`` (the reference) or ``"night"``."""
    frames: tuple[Frame, ...]
    index: int
    """Night captures count from 0; the day reference is -1."""
    due_at: float
    """When the schedule wanted it (epoch seconds)."""
    controls: dict[str, Any] = field(default_factory=dict)
    """Camera controls in force."""


@dataclass(frozen=True)
class Missed:
    due_at: float
    kind: str
    reason: str


class CaptureRunner:
    """Captures on schedule from ``camera`` following ``plan``, on a background thread.

    Parameters
    ----------
    camera : engine.camera.Camera
        Opened and started (streaming) by the runner if needed; not closed by it.
    plan : CapturePlan
    tick_s : float
        How often ``awaiting`` is emitted while waiting.
    disk : DiskGuard, optional
        Checked before each capture: the run stops (``"error: disk low: ..."``) rather than
        take the data folder under the guard's floor.

    Examples
    --------
    >>> from engine.camera import open_camera
    >>> cam = open_camera("sim:night", resolution=(64, 48))
    >>> runner = CaptureRunner(cam, CapturePlan(count=2))
    >>> shots = []
    >>> _ = runner.events.frame_captured.connect(shots.append)
    >>> runner.run()
    'done'
    >>> len(shots), shots[0].frames[0].image.shape
    (2, (48, 64))
    >>> cam.close()
    """

    def __init__(
        self,
        camera: Camera,
        plan: CapturePlan,
        *,
        tick_s: float = 1.0,
        disk: DiskGuard | None = None,
    ) -> None:
        self.camera = camera
        self.plan = plan
        self.disk = disk
        self.disk_status = None
        """The newest `DiskStatus` (None without a guard or before the first capture)."""
        self.tick_s = float(tick_s)
        self.events = RunnerEvents()
        self._cancel = threading.Event()
        self._paused = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_at: float | None = None
        self._want_mode: str | None = None
        self._reapply = threading.Event()
        self.listeners: list[object] = []
        """Objects whose methods handle this runner's events, kept alive as long as the
        runner (psygnal holds bound methods weakly), e.g. a `SessionRecorder`."""
        self.captured = 0
        """Night captures delivered so far."""
        self.missed_count = 0
        self.finish_reason: str | None = None
        self.error: str | None = None

    # -- control -----------------------------------------------------------------------------
    def start(self) -> None:
        """Run the plan on a new thread (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("a CaptureRunner runs once; make a new one")
        self._thread = threading.Thread(target=self.run, name="capture-runner", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop after the capture in progress (it completes: nothing is half-recorded)."""
        self._cancel.set()

    def pause(self) -> None:
        if not self._paused.is_set():
            self._paused.set()
            self.events.paused_changed.emit(True)

    def resume(self) -> None:
        if self._paused.is_set():
            self._paused.clear()
            self.events.paused_changed.emit(False)

    @property
    def is_paused(self) -> bool:
        return self._paused.is_set()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run finished (True) or ``timeout`` passed (False)."""
        return self._done.wait(timeout)

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> str:
        """Run the plan on the calling thread; returns the finish reason."""
        cam = self.camera
        cam.events.disconnected.connect(self._on_lost)
        cam.events.reconnected.connect(self._on_back)
        reason = "error: unknown"
        try:
            try:
                self._emit(self.events.started, self.plan)
                cam.start()
                reason = self._loop()
            except _Stop as stop:
                reason = stop.reason
            except Exception as exc:  # noqa: BLE001 - camera gone for good, a backend bug
                reason = self._fail(str(exc) or type(exc).__name__)
        finally:
            cam.events.disconnected.disconnect(self._on_lost)
            cam.events.reconnected.disconnect(self._on_back)
            self.finish_reason = reason
            self._done.set()
            self._emit(self.events.finished, reason, guard=False)
        return reason

    def _fail(self, message: str) -> str:
        self.error = message.splitlines()[0] if message else "failed"
        self._emit(self.events.error, self.error, guard=False)
        return f"error: {self.error}"

    def _emit(self, signal, *args, guard: bool = True) -> None:
        try:
            signal.emit(*args)
        except EmitLoopError as exc:
            cause = exc.__cause__ or exc
            if not guard:
                return
            msg = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            raise _Stop(self._fail(msg)) from None

    def _loop(self) -> str:
        plan = self.plan
        mode_ctrl = self._has_mode()
        if plan.day_reference:  # now, in daylight, whatever the night schedule says
            self._apply(plan.day_controls, "day" if mode_ctrl else None)
            due = time.time()
            while True:
                if not self._wait_until(due):
                    return "cancelled"
                if self._paused.is_set():
                    self._miss(due, "day", "paused")
                elif (shot := self._shoot("day", due)) is not None:
                    self._emit(self.events.frame_captured, shot)
                    break
                due = max(time.time(), due + max(plan.every_s, 1.0))  # try again
            if plan.count == 0:  # the reference alone: the camera stays in day mode
                return "done"
        self._apply(plan.night_controls, "night" if mode_ctrl else None)
        return self._nights_at_times() if plan.times else self._nights_every()

    def _night_slot(self, due: float) -> bool:
        """One night slot; False when the camera gave no frame (paused slots are not that)."""
        if self._paused.is_set():
            self._miss(due, "night", "paused")
            return True
        if self._reapply.is_set():  # a replugged device starts from its defaults
            self._reapply.clear()
            self._apply(self.plan.night_controls, "night" if self._has_mode() else None)
        shot = self._shoot("night", due)
        if shot is None:
            return False
        self._emit(self.events.frame_captured, shot)
        self.captured += 1
        return True

    def _nights_every(self) -> str:
        plan = self.plan
        next_due = time.time()
        entered = plan.start is None
        while True:
            if self._cancel.is_set():
                return "cancelled"
            if plan.count is not None and self.captured >= plan.count:
                return "done"
            if not entered:  # wait for the window to open
                opens = plan.window_start_after(dt.datetime.now()).timestamp()
                next_due = max(next_due, opens)
            if not self._wait_until(next_due):
                return "cancelled"
            if plan.start is not None:
                if not plan.in_window(dt.datetime.now()):
                    if entered:
                        return "window ended"
                    continue
                entered = True
            if not self._night_slot(next_due) and plan.every_s < RETRY_S:
                next_due = time.time() + RETRY_S - plan.every_s  # no busy loop of misses
            next_due += plan.every_s
            behind = time.time() - next_due
            if plan.every_s > 0 and behind > plan.every_s:
                skipped = int(behind // plan.every_s)
                self._miss(next_due, "night", f"{skipped} slot(s) skipped: the run fell behind")
                next_due += skipped * plan.every_s

    def _nights_at_times(self) -> str:
        plan = self.plan
        for due in plan.listed_after(dt.datetime.now()):
            if plan.count is not None and self.captured >= plan.count:
                return "done"
            if not self._wait_until(due.timestamp()):
                return "cancelled"
            self._night_slot(due.timestamp())
        return "done"

    def _wait_until(self, due: float) -> bool:
        """Sleep until ``due`` (emitting ``awaiting``); False when cancelled meanwhile."""
        while True:
            left = due - time.time()
            if left <= 0:
                return not self._cancel.is_set()
            if left > self.tick_s / 2:
                self._emit(self.events.awaiting, left)
            if self._cancel.wait(min(left, self.tick_s)):
                return False

    def _has_mode(self) -> bool:
        spec = self.camera.capabilities().get("mode")
        return bool(spec and spec.supported and {"day", "night"} <= set(spec.choices))

    def _apply(self, controls, mode: str | None) -> None:
        settings = dict(controls)
        if mode is not None:
            settings.setdefault("mode", mode)
        for name, value in settings.items():
            self.camera.set_control(name, value)
        self._want_mode = settings.get("mode")

    def _check_disk(self) -> None:
        """Stop before a capture that would take the data folder under the floor."""
        if self.disk is None:
            return
        try:
            status = self.disk.check_now(self.plan, done=self.captured)
        except OSError as exc:
            # A network share that does not answer for a moment must not end the night: the
            # capture goes ahead (if the disk really is gone, its own writes fail, atomically,
            # and the slot is reported), and the operator is told the check was skipped.
            self._emit(
                self.events.disk_unchecked,
                f"free space on {self.disk.folder} could not be measured ({exc}); "
                "captured without the check",
            )
            return
        self.disk_status = status
        self._emit(self.events.disk_checked, status)
        if status.verdict == "full":
            from engine.live._disk import format_bytes

            raise _Stop(self._fail(
                f"disk low: {format_bytes(status.usable_bytes)} left above the "
                f"{format_bytes(status.floor_bytes)} to keep free on {status.folder}, the next "
                f"capture needs {format_bytes(status.bytes_per_capture)}; stopped before "
                "writing it"
            ))  # fmt: skip

    def _shoot(self, kind: str, due: float) -> Shot | None:
        self._check_disk()
        cam = self.camera
        timeout = self.plan.frame_timeout_s
        frames: list[Frame] = []
        other = 0  # frames passed over as of the other kind
        try:
            latest = cam.latest_frame()
            after = latest.meta.sequence if latest is not None else -1
            deadline = time.monotonic() + timeout
            while len(frames) < self.plan.burst:
                frame = cam.wait_frame(max(0.05, deadline - time.monotonic()), after=after)
                after = frame.meta.sequence
                want = self._want_mode
                if want is not None and frame.meta.mode not in (None, want):
                    continue  # rendered before the mode switch took effect
                if want is None and frame.meta.mode in ("day", "night") and frame.meta.mode != kind:
                    # no mode to switch, but the camera says what each frame is (a replayed
                    # session, its day captures among the nights): a day frame in a night
                    # burst failed the whole capture ("burst frames differ in shape")
                    other += 1
                    continue
                frames.append(frame)
        except CameraError as exc:
            if not cam.is_streaming:  # a finite source ended, or the camera gave up for good
                if other and not frames:  # "no frame within 4.88155 s" hid why, and its fix
                    raise _Stop(self._fail(
                        f"the camera stopped streaming before a {kind} frame: the last "
                        f"{other} it gave were {'night' if kind == 'day' else 'day'} frames "
                        f"({cam.info.backend}); play a recording that holds a {kind} capture"
                    )) from None  # fmt: skip
                raise _Stop(self._fail(f"the camera stopped streaming ({exc})")) from None
            reason = "camera disconnected" if not cam.is_connected else str(exc)
            self._miss(due, kind, reason)
            return None
        return Shot(kind, tuple(frames), self.captured if kind == "night" else -1, due,
                    self.camera.controls_in_force())  # fmt: skip

    def _miss(self, due: float, kind: str, reason: str) -> None:
        self.missed_count += 1
        self._emit(self.events.missed, Missed(due, kind, reason))

    def _on_lost(self, message: str) -> None:
        self._lost_at = time.time()
        self._emit(self.events.camera_lost, message, guard=False)

    def _on_back(self, message: str) -> None:
        gap = time.time() - self._lost_at if self._lost_at is not None else 0.0
        self._lost_at = None
        self._reapply.set()
        self._emit(self.events.camera_back, message, gap, guard=False)


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
