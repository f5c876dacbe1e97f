"""Live processing off the GUI thread: align (or re-register) -> leak mask -> colorize.

The GUI offers frames; the worker keeps only the newest one (drop, don't queue) and processes
whenever it is free. Results and errors cross back to the GUI thread as Qt signals carrying
small dataclasses of numpy arrays. All the maths is `engine.pipeline.process_pair`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class LiveResult:
    pair: object
    """`engine.pipeline.PairResult`."""
    overlay: np.ndarray | None
    sequence: int


class LiveProcessor(QObject):
    """Runs `process_pair` on a background thread for the newest offered night frame.

    The QObject itself lives on the GUI thread; the work runs on a plain Python thread, and
    the signals it emits from there are delivered to GUI-thread receivers as queued calls.
    """

    result = Signal(object)
    failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, *, model_path=None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, int] | None = None
        self._reference: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        self._fixed_camera = False
        self._model_path = model_path
        self._colorizer = None
        self._colorizer_failed = False
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="nightlab-processing", daemon=True)
        self._thread.start()

    # -- called from the GUI thread ------------------------------------------------------
    def set_reference(self, day: np.ndarray | None, *, fixed_camera: bool = False) -> None:
        """A new day reference: the next frame is registered from scratch.

        ``fixed_camera``: the reference came from the camera being processed (same device,
        not moved), so registration starts from the identity and stays local.
        """
        with self._cond:
            self._reference = None if day is None else day.copy()
            self._matrix = None
            self._fixed_camera = fixed_camera

    def has_reference(self) -> bool:
        with self._cond:
            return self._reference is not None

    def offer(self, night: np.ndarray, sequence: int) -> None:
        """Hand over a night frame; an older one still waiting is dropped."""
        with self._cond:
            self._pending = (night, sequence)
            self._cond.notify()

    def shutdown(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    # -- worker thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (self._pending is None or self._reference is None):
                    self._cond.wait()
                if self._stopping:
                    return
                (night, sequence), self._pending = self._pending, None
                reference, matrix = self._reference, self._matrix
                fixed = self._fixed_camera
            self._emit(self.busy_changed, True)
            try:
                self._process(night, sequence, reference, matrix, fixed)
            except Exception as exc:  # report, never kill the thread
                self._emit(self.failed, f"processing failed: {exc}")
            finally:
                self._emit(self.busy_changed, False)

    def _emit(self, signal, value) -> None:
        """Emit unless shutting down: a slow frame may finish after the window has gone."""
        if self._stopping:
            return
        try:
            signal.emit(value)
        except RuntimeError:  # the QObject was deleted under us during shutdown
            pass

    def _process(self, night, sequence, reference, matrix, fixed_camera=False) -> None:
        from engine.overlay import mask_overlay
        from engine.pipeline import process_pair

        colorizer = self._get_colorizer()
        pair = process_pair(
            reference, night, colorizer=colorizer, initial=matrix, fixed_camera=fixed_camera
        )
        with self._cond:
            if self._reference is reference:  # not replaced meanwhile
                # lost track -> next frame registers from scratch
                self._matrix = pair.alignment.matrix if pair.ok else None
        overlay = mask_overlay(pair.night, pair.leak_mask) if pair.leak_mask is not None else None
        self._emit(self.result, LiveResult(pair=pair, overlay=overlay, sequence=sequence))

    def _get_colorizer(self):
        if self._colorizer is None and not self._colorizer_failed:
            try:
                from engine.colorize import load_colorizer

                self._colorizer = load_colorizer(self._model_path)
            except Exception as exc:
                self._colorizer_failed = True
                self._emit(self.failed, f"colorization unavailable: {exc}")
        return self._colorizer
