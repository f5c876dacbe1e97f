"""Live colorization: the newest night frame -> align, leak mask, colorize, display image.

Qt-free (psygnal events, plain threads), so the GUI, a benchmark and a test drive it alike.
Frames arrive from the camera's acquisition thread (`attach`) or by `offer`; each worker
takes the newest frame nobody has taken yet (drop, don't queue). Two workers overlap on the
machine's two cores: one colorizes frame N while the other aligns N+1 (onnxruntime and
OpenCV release the GIL). A result that finishes after a newer one is dropped, so results
only go forward. The display image (`engine.overlay.compose_live_view`) is composed here,
on the worker, so the GUI thread only paints.

Events are emitted on a worker thread: a Qt consumer hops to its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal, SignalGroup

from engine.app_state import LiveViewSpec
from engine.knobs import usable_cores
from engine.leakmask import warm_in_background
from engine.live import PairTracker

if TYPE_CHECKING:
    from engine.camera import Camera, Frame, FrameMeta, OakColorizer
    from engine.colorize import Colorizer
    from engine.leakmask import LeakMaskParams
    from engine.pipeline import PairResult

__all__ = ["LivePreview", "LivePreviewEvents", "LiveResult"]


@dataclass(frozen=True)
class LiveResult:
    """One processed live frame."""

    pair: PairResult
    display: np.ndarray | None
    """Composed per ``spec``, ready to paint: BGRA uint8 ``(H, W, 4)`` (Qt's RGB32 layout,
    `engine.overlay.as_display`); None when the pair was not aligned."""
    spec: LiveViewSpec
    sequence: int
    frame_time: float
    """When the camera took the frame (``time.time()`` epoch): for frame-to-paint latency."""
    ssim_mean: float | None
    """Refreshed every ``ssim_interval`` seconds (an SSIM map per frame cost 3–4 ms only for
    a label); the last value in between."""
    process_ms: float
    """Wall time of this frame on its worker, compose included."""


class LivePreviewEvents(SignalGroup):
    result = Signal(object)
    """A `LiveResult`, newer than every result before it (worker thread)."""
    failed = Signal(str)
    """One line for the user: processing or model loading failed (worker thread)."""


class LivePreview:
    """Background live colorization of the newest night frame.

    Parameters
    ----------
    tracker : engine.live.PairTracker, optional
        Holds the day reference and the live registration (shared with session recording,
        so a pair is aligned the same way in the live view and in the record).
    workers : int
        Processing threads (2 fills the machine's two cores; each runs onnxruntime on one).
    model_path : str, optional
        Colorization model ("" or None = the shipped default). ``colorize=False`` skips it.
    ssim_interval : float
        Seconds between SSIM-mean refreshes.
    colorize_threads : int, optional
        ONNX Runtime intra-op threads of the live model (default: the cores this process
        may run on, shared among the workers, ``max(1, cores // workers)``: 2 with one
        worker on the 2-core development machine).
    realign_s : float
        With a reference from this camera (``fixed_camera``), reuse the last registration
        for this many seconds before registering a frame again (`PairTracker.process`'s
        ``reuse_s``): re-registering every frame of an unmoved camera was a third of each
        live result (13 of 37 ms at 640x480). 0 registers every frame. Recorded pairs are
        always registered on their own.

    Examples
    --------
    >>> live = LivePreview(workers=1, colorize=False)  # doctest: +SKIP
    >>> _ = live.events.result.connect(print)  # doctest: +SKIP
    >>> live.set_reference(day); live.offer(night, sequence=1)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        tracker: PairTracker | None = None,
        workers: int = 2,
        model_path: str | None = None,
        colorize: bool = True,
        ssim_interval: float = 0.5,
        colorize_threads: int | None = None,
        realign_s: float = 0.25,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if ssim_interval < 0:
            raise ValueError(f"ssim_interval must be >= 0, got {ssim_interval}")
        if colorize_threads is not None and colorize_threads < 1:
            raise ValueError(f"colorize_threads must be >= 1, got {colorize_threads}")
        if not 0 <= realign_s < float("inf"):
            raise ValueError(f"realign_s must be a finite number >= 0, got {realign_s!r}")
        self.realign_s = float(realign_s)
        self.colorize_threads = colorize_threads or max(1, usable_cores() // workers)
        self.events = LivePreviewEvents()
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, int, float] | None = None
        self._ticket = 0
        self._emitted_ticket = 0
        self.tracker = tracker or PairTracker()
        self._spec = LiveViewSpec()
        self._leak_params: LeakMaskParams | None = None
        self._model_path = model_path or ""
        self._colorize = colorize
        self._oak: OakColorizer | None = None
        self._colorizer: Colorizer | None = None
        self._colorizer_key: str | None = None
        self._colorizer_lock = threading.Lock()
        self._load_wanted = False
        self._loaded = threading.Condition()
        self._ssim_interval = ssim_interval
        self._ssim_due = 0.0
        self._ssim_mean: float | None = None
        self._stopping = False
        self._enabled = True
        self._camera: Camera | None = None
        self.processed = 0
        """Night frames made into a result that was emitted."""
        self.dropped = 0
        """Night frames that got no result: replaced while waiting by a newer one, or
        finished after a newer result was out (``--stats`` ``live_frames``, the status
        strip's Results tooltip)."""
        self._threads = [
            threading.Thread(target=self._loop, name=f"nightlab-live-{i}", daemon=True)
            for i in range(workers)
        ]
        self._workers = workers
        for t in self._threads:
            t.start()
        # the SSIM label and the night-colour cue run numba kernels: load them (the first
        # time after an install: compile them in a child process) in the background now;
        # frames before that get the same maps from OpenCV
        warm_in_background()

    # -- configuration (any thread) --------------------------------------------------------
    def set_reference(
        self,
        day: np.ndarray | None,
        *,
        fixed_camera: bool = False,
        meta: FrameMeta | None = None,
        controls: Mapping[str, Any] | None = None,
    ) -> None:
        """A new day reference (on the tracker): the next frame is registered from scratch.

        ``fixed_camera``: the reference came from this camera (identity prior, local search);
        ``meta`` / ``controls``: what the camera said about the frame and the controls in force
        when it was taken (kept with it when it is recorded)."""
        current = self.tracker.reference
        if current is not None and day is current.image:
            return  # the tracker told us about its own reference
        if day is None:
            self.tracker.clear_reference()
        else:
            metas = (meta,) if meta is not None else ()
            given = (controls,) if controls is not None else ()
            self.tracker.set_reference(day, fixed_camera=fixed_camera, metas=metas, controls=given)
        with self._cond:
            self._ssim_mean, self._ssim_due = None, 0.0

    def has_reference(self) -> bool:
        return self.tracker.reference is not None

    def set_view(self, spec: LiveViewSpec) -> None:
        with self._cond:
            self._spec = spec

    def set_leak_params(self, params: LeakMaskParams | None) -> None:
        with self._cond:
            self._leak_params = params

    def set_model(self, path: str | None, *, colorize: bool = True, reload: bool = False) -> None:
        """Use another model from the next frame on (loaded on a worker, not the caller).

        ``reload``: the same path is loaded again too (its file was written over: a model
        retrained in place); without it the colorizer loaded from that path is kept."""
        with self._cond:
            if reload and (path or "") == self._model_path:
                self._colorizer_key = None  # the next frame, or `colorizer()`, loads it again
            self._model_path = path or ""
            self._colorize = colorize
        with self._loaded:  # a job waiting in `colorizer` asks for this one instead
            self._loaded.notify_all()

    def set_camera_colorizer(self, colorizer: OakColorizer | None) -> None:
        """Colorize on the camera: an `engine.camera.OakColorizer` (None: back to the host).

        The host still aligns and masks each frame (the camera needs the aligned reference
        and the mask); the colour comes from the camera's newest result.
        """
        with self._cond:
            self._oak = colorizer

    def set_enabled(self, on: bool) -> None:
        """Pause (False) or resume processing; offered frames are ignored while paused."""
        with self._cond:
            self._enabled = bool(on)
            if not on:
                self._pending = None

    # -- frames ----------------------------------------------------------------------------
    def attach(self, camera: Camera | None) -> None:
        """Take frames straight from ``camera``'s acquisition thread (None detaches)."""
        if self._camera is not None:
            self._camera.events.frame_ready.disconnect(self._on_frame)
        self._camera = camera
        if camera is not None:
            camera.events.frame_ready.connect(self._on_frame)

    def _on_frame(self, frame: Frame) -> None:
        if frame.is_gray:  # a night frame; day frames are references, not inputs
            self.offer(frame.image, frame.meta.sequence, frame_time=frame.meta.timestamp)

    def offer(self, night: np.ndarray, sequence: int, *, frame_time: float | None = None) -> None:
        """Hand over a night frame; an older one still waiting is dropped."""
        with self._cond:
            if not self._enabled or self._stopping or self.tracker.reference is None:
                return
            if self._pending is not None:
                self.dropped += 1
            self._pending = (
                night,
                int(sequence),
                time.time() if frame_time is None else frame_time,
            )
            self._cond.notify()

    # -- shutdown --------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the workers to finish; returns at once (a frame in flight is discarded)."""
        self.attach(None)
        with self._cond:
            self._stopping = True
            self._pending = None
            self._cond.notify_all()
        with self._loaded:  # a job waiting for a worker to load the model: load it itself
            self._loaded.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers after `stop` (never from a GUI thread); True if all ended."""
        end = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if end is None else max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    # -- workers ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._pending is None and not self._load_wanted:
                    self._cond.wait()
                if self._stopping:
                    return
                if self._pending is None:  # asked to load the model (see `colorizer`)
                    self._load_wanted = False
                    model = self._model_path
                else:
                    model = None
            if model is not None:
                self._get_colorizer(model)
                continue
            with self._cond:
                if self._pending is None:  # another worker took it meanwhile
                    continue
                (night, seq, frame_time), self._pending = self._pending, None
                # a ticket, not the camera's sequence: a restarted camera counts from 0 again
                self._ticket += 1
                ticket = self._ticket
                spec, params = self._spec, self._leak_params
                model, colorize = self._model_path, self._colorize
                oak = self._oak
                want_ssim = time.monotonic() >= self._ssim_due
                if want_ssim:
                    self._ssim_due = time.monotonic() + self._ssim_interval
            try:
                self._process(
                    (night, seq, frame_time, ticket),
                    spec,
                    params,
                    model if colorize and oak is None else None,
                    want_ssim,
                    oak,
                )
            except Exception as exc:  # report, never kill the worker
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self._fail(f"live processing failed: {msg}")

    def _fail(self, msg: str) -> None:
        if not self._stopping:
            self.events.failed.emit(msg)

    def _process(self, frame, spec, params, model, want_ssim, oak=None) -> None:
        from engine._image import to_gray
        from engine.leakmask import ssim_map
        from engine.overlay import as_display, compose_live_view

        night, seq, frame_time, ticket = frame
        t0 = time.perf_counter()
        colorizer = self._get_colorizer(model) if model is not None else None
        if params is not None and params is not self.tracker.leak_params:
            self.tracker.leak_params = params
        pair = self.tracker.process(night, colorizer=colorizer, ssim=False, reuse_s=self.realign_s)
        if oak is not None and pair.ok:
            # the camera colorizes its own frames with the reference we align here
            oak.set_reference(pair.night, pair.aligned_reference, leak_mask=pair.leak_mask)
            latest = oak.latest_result()
            if latest is not None and latest.result.rgb.shape[:2] == pair.night.shape:
                pair = replace(pair, colorized=latest.result)
        ssim = None
        if pair.ok and want_ssim:
            warped = pair.warped
            ref_gray = warped.gray if warped is not None else to_gray(pair.aligned_reference)
            smap = ssim_map(pair.night, ref_gray, data_range=255)
            ssim = float(smap[pair.valid].mean()) if pair.valid.any() else 0.0
        display = as_display(compose_live_view(pair, spec)) if pair.ok else None
        with self._cond:
            if self._stopping:
                return
            if ssim is not None:
                self._ssim_mean = ssim
            if ticket <= self._emitted_ticket:
                self.dropped += 1  # a newer result is already out
                return
            self._emitted_ticket = ticket
            self.processed += 1
            result = LiveResult(
                pair=pair,
                display=display,
                spec=spec,
                sequence=seq,
                frame_time=frame_time,
                ssim_mean=self._ssim_mean if pair.ok else None,
                process_ms=(time.perf_counter() - t0) * 1e3,
            )
        self.events.result.emit(result)

    def _get_colorizer(self, model: str):
        with self._colorizer_lock:  # one worker loads; the others wait for it, then share
            if self._colorizer_key != model:
                self._colorizer, self._colorizer_key = None, model
                with self._loaded:
                    self._loaded.notify_all()  # a worker has it in hand
                try:
                    from engine.colorize import load_colorizer

                    self._colorizer = load_colorizer(model or None, threads=self.colorize_threads)
                except Exception as exc:
                    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    self._fail(f"colorization unavailable: {msg}")
            return self._colorizer

    def preload(self) -> None:
        """Load the current model on a worker now, not at the first frame (returns at once)."""
        with self._cond:
            self._load_wanted = True
            self._cond.notify()

    def colorizer(self):
        """The current model's host colorizer, loading it if needed (blocking: call it from a
        job, early, to keep the first live frame fast). None if unavailable.

        The model is loaded on a live worker, not on the calling thread: ONNX Runtime's
        threads inherit the scheduling priority of the thread that creates the session, and
        background jobs run at a lower one (`gui.jobs`) than the live path they would serve.
        """
        with self._cond:
            model = self._model_path
            on_worker = threading.current_thread() in self._threads
        if on_worker or self._stopping:
            return self._get_colorizer(model)
        self.preload()
        with self._loaded:  # until a worker has taken the current model in hand (or we stop)
            asked = model
            while not self._stopping and self._colorizer_key != self._model_path:
                # switched since we asked: the worker may have taken our request with the new
                # model or the old one; ask for the one now current (set_model wakes us)
                if self._model_path != asked:
                    asked = self._model_path
                    self.preload()
                self._loaded.wait()
            if self._colorizer_key == self._model_path:
                model = self._model_path
        # waits for that worker's load to finish and returns it (or, stopped before a worker
        # got to it, loads it here)
        return self._get_colorizer(model)

    @property
    def spec(self) -> LiveViewSpec:
        return self._spec
