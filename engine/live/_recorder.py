"""`SessionRecorder`: the handler that turns a capture run into the experiment record.

Subscribed to a `CaptureRunner`'s events, it writes each shot to the `Store` (a burst keeps its
members), sets the day reference on the `PairTracker`, aligns each night capture and records
the pair with its alignment, leak parameters, SSIM mean and leak area; missed slots, camera
gaps and the run's start and end go to the session log. The CLI's ``capture`` and the GUI use
this same object, so a pair is recorded the same way from both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from psygnal import Signal, SignalGroup

from engine.live._tracker import PairTracker

if TYPE_CHECKING:
    from engine.live._plan import CapturePlan
    from engine.live._runner import CaptureRunner, Missed, Shot
    from engine.store import Capture, Pair, Store

__all__ = ["RecorderEvents", "SessionRecorder"]


class RecorderEvents(SignalGroup):
    """Emitted on the runner thread after the store committed."""

    captured = Signal(object)
    """The `engine.store.Capture` of a shot."""
    paired = Signal(object)
    """The `engine.store.Pair` recorded for a night capture."""
    processed = Signal(object, object, object)
    """(`engine.store.Pair`, its `engine.pipeline.PairResult`, the day reference RGB) for an
    aligned pair, just before ``paired``: a viewer can render the pair from these images
    instead of reading them back and aligning, warping and masking them again."""
    unpaired = Signal(object, str)
    """(night `Capture`, why no pair: no reference yet, or alignment failed)."""


class SessionRecorder:
    """Record ``runner``'s shots into session ``session_id`` of ``store``.

    Parameters
    ----------
    store : engine.store.Store
    session_id : int
    runner : CaptureRunner
    tracker : PairTracker, optional
        Shared with the live view; a new one by default. When the plan captures no day
        reference, the tracker's reference is kept if it is recorded in this session
        (every capture it was made from: a fused one stays fused), else the session's
        latest day capture is the reference (`use_reference` chooses others).
    align : bool
        Align each night capture and record the pair (default). False records captures and
        pairs without alignment results (they can be processed later).
    """

    def __init__(
        self,
        store: Store,
        session_id: int,
        runner: CaptureRunner,
        *,
        tracker: PairTracker | None = None,
        align: bool = True,
    ) -> None:
        self.store = store
        self.session_id = int(session_id)
        self.runner = runner
        self.tracker = tracker or PairTracker()
        self.align = align
        self.events = RecorderEvents()
        # counts and the newest only: a run records all night, its records are in the store
        self.n_captures = 0
        self.n_pairs = 0
        self.last_capture: Capture | None = None
        self.last_pair: Pair | None = None
        self._day_ids: tuple[int, ...] = ()
        store.session(self.session_id)  # fail now, not at the first shot
        if not runner.plan.day_reference:
            self._reference_from_session()
        ev = runner.events
        self._connections = [
            (ev.started, self._on_started),
            (ev.frame_captured, self._on_shot),
            (ev.missed, self._on_missed),
            (ev.camera_lost, self._on_lost),
            (ev.camera_back, self._on_back),
            (ev.disk_unchecked, self._on_disk_unchecked),
            (ev.finished, self._on_finished),
        ]
        for signal, slot in self._connections:
            signal.connect(slot)
        runner.listeners.append(self)  # recording lasts as long as the run, held or not

    def disconnect(self) -> None:
        """Stop recording this runner's events."""
        for signal, slot in self._connections:
            signal.disconnect(slot)
        if self in self.runner.listeners:
            self.runner.listeners.remove(self)

    @property
    def day_ids(self) -> tuple[int, ...]:
        """The day captures the next pairs will reference."""
        return self._day_ids

    def use_reference(self, capture_ids: Sequence[int]) -> None:
        """Pair the next night captures with these day captures (e.g. several taken over an
        afternoon: fused into one clean reference by `engine.reference.fuse_day_captures`,
        with a stability map for the leak mask; the session log says which were used).
        Blocking (the fusion): call it off the GUI thread.

        Raises
        ------
        ValueError
            A capture is not a day capture of this session, or sizes differ.
        KeyError
            No such capture.
        """
        caps = [self.store.capture(int(i)) for i in capture_ids]
        if not caps:
            raise ValueError("a reference needs at least one day capture")
        for c in caps:
            if c.session_id != self.session_id or c.kind != "day":
                raise ValueError(
                    f"capture {c.id} is not a day capture of session {self.session_id}"
                )
        images = [self.store.read_image(c) for c in caps]
        # taken by the camera this run captures with: the fixed-camera prior applies
        device = self._device_id()
        same_camera = bool(device) and all(c.meta.get("device_id") == device for c in caps)
        ref = self.tracker.set_reference(
            images, capture_ids=[c.id for c in caps], fixed_camera=same_camera
        )
        # the pairs keep every capture offered (their record fuses them again, leaving out
        # the same ones); the log says which went in and why any was left out
        self._day_ids = tuple(c.id for c in caps)
        if len(caps) > 1:
            self.store.log(self.session_id, "reference", ref.describe())

    def _device_id(self) -> str:
        info = getattr(self.runner.camera, "info", None)
        return str(getattr(info, "device_id", "") or "")

    def _reference_from_session(self) -> None:
        days = self.store.captures(self.session_id, kind="day")
        ref = self.tracker.reference
        mine = {c.id for c in days}
        if ref is not None and ref.capture_ids and (not days or set(ref.capture_ids) <= mine):
            # the reference in use is already recorded (e.g. the GUI's fused one, recorded
            # as its day captures just before the run): keep it, fused and all; taking the
            # session's newest capture instead had replaced a fused reference by its last
            # capture at every Capture pair
            self._day_ids = ref.capture_ids
        elif days:
            self.use_reference([days[-1].id])

    # -- handlers (runner thread) ------------------------------------------------------------
    def _on_started(self, plan: CapturePlan) -> None:
        self.store.log(self.session_id, "started", plan.describe())

    def _on_shot(self, shot: Shot) -> None:
        capture = self.store.add_burst(
            self.session_id,
            [f.image for f in shot.frames],
            kind=shot.kind,
            metas=[f.meta for f in shot.frames],
            controls=shot.controls,
        )
        self.n_captures += 1
        self.last_capture = capture
        if self.runner.disk is not None and shot.kind == "night":
            self.runner.disk.observe(self._bytes_of(capture))
        self.events.captured.emit(capture)
        image = self.store.read_image(capture) if len(shot.frames) > 1 else shot.frames[0].image
        if shot.kind == "day":
            if image.ndim == 2:
                self.store.log(self.session_id, "warning", "day reference is gray: no colour")
                return
            # the run's own camera took it: registration starts from the identity
            self.tracker.set_reference(image, capture_ids=[capture.id], fixed_camera=True)
            self._day_ids = (capture.id,)
            return
        if not self._day_ids:
            self.events.unpaired.emit(capture, "no day reference yet")
            return
        kwargs = {}
        result = None
        reference = self.tracker.reference
        if self.align:
            result = self.tracker.process(image)
            kwargs = {
                "alignment": result.alignment,
                "leak_params": dataclasses.asdict(self.tracker.leak_params),
                "ssim_mean": result.ssim_mean,
                "leak_area_pct": result.leak_area_pct,
            }
        pair = self.store.add_pair(
            self.session_id, night_id=capture.id, day_ids=self._day_ids, **kwargs
        )
        self.n_pairs += 1
        self.last_pair = pair
        if result is not None and result.ok and reference is not None:
            self.events.processed.emit(pair, result, reference.image)
        self.events.paired.emit(pair)

    def _bytes_of(self, capture: Capture) -> int:
        """What a capture wrote: its file and its burst members'."""
        total = 0
        for c in (capture, *self.store.burst_members(capture.id)):
            try:
                total += self.store.path(c.path).stat().st_size
            except OSError:
                continue
        return total

    def _on_missed(self, missed: Missed) -> None:
        self.store.log(self.session_id, "missed", f"{missed.kind} capture: {missed.reason}",
                       at=missed.due_at)  # fmt: skip

    def _on_lost(self, message: str) -> None:
        self.store.log(self.session_id, "camera_lost", message)

    def _on_disk_unchecked(self, message: str) -> None:
        self.store.log(self.session_id, "disk_unchecked", message)

    def _on_back(self, message: str, gap_s: float) -> None:
        self.store.log(self.session_id, "camera_back", f"{message} after a {gap_s:.1f} s gap")

    def _on_finished(self, reason: str) -> None:
        try:
            self.store.log(
                self.session_id,
                "finished",
                f"{reason}: {self.runner.captured} night capture(s), "
                f"{self.runner.missed_count} missed",
            )
        except Exception:  # noqa: BLE001 - the disk may be what stopped the run
            pass
