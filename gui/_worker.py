"""Live processing off the GUI thread: align (or re-register) -> leak mask -> colorize.

The GUI offers frames; the worker keeps only the newest one (drop, don't queue) and processes
whenever it is free. Results and errors cross back to the GUI thread as Qt signals carrying
small dataclasses of numpy arrays. All the maths is `engine.pipeline.process_pair`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot


@dataclass(frozen=True)
class LiveResult:
    pair: object
    """`engine.pipeline.PairResult`."""
    overlay: np.ndarray | None
    sequence: int


class LiveProcessor(QObject):
    """Runs `process_pair` on its own QThread for the newest offered night frame."""

    result = Signal(object)
    failed = Signal(str)
    busy_changed = Signal(bool)
    _wake = Signal()

    def __init__(self, *, model_path=None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: tuple[np.ndarray, int] | None = None
        self._reference: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        self._model_path = model_path
        self._colorizer = None
        self._colorizer_failed = False
        self._busy = False
        self._thread = QThread()
        self._thread.setObjectName("nightlab-processing")
        self.moveToThread(self._thread)
        self._wake.connect(self._drain)
        self._thread.start()

    # -- called from the GUI thread ------------------------------------------------------
    def set_reference(self, day: np.ndarray | None) -> None:
        """A new day reference: the next frame is registered from scratch."""
        with self._lock:
            self._reference = None if day is None else day.copy()
            self._matrix = None

    def has_reference(self) -> bool:
        with self._lock:
            return self._reference is not None

    def offer(self, night: np.ndarray, sequence: int) -> None:
        """Hand over a night frame; an older one still waiting is dropped."""
        with self._lock:
            self._pending = (night, sequence)
        self._wake.emit()

    def shutdown(self) -> None:
        self._thread.quit()
        self._thread.wait(5000)

    # -- worker thread ---------------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                reference, matrix = self._reference, self._matrix
            if job is None or reference is None:
                return
            self._set_busy(True)
            try:
                self._process(job[0], job[1], reference, matrix)
            except Exception as exc:  # report, never kill the thread
                self.failed.emit(f"processing failed: {exc}")
            finally:
                self._set_busy(False)

    def _process(self, night, sequence, reference, matrix) -> None:
        from engine.overlay import mask_overlay
        from engine.pipeline import process_pair

        colorizer = self._get_colorizer()
        pair = process_pair(reference, night, colorizer=colorizer, initial=matrix)
        if pair.ok:
            with self._lock:
                if self._reference is reference:  # not replaced meanwhile
                    self._matrix = pair.alignment.matrix
        else:
            with self._lock:
                self._matrix = None  # lost track: next frame registers from scratch
        overlay = mask_overlay(pair.night, pair.leak_mask) if pair.leak_mask is not None else None
        self.result.emit(LiveResult(pair=pair, overlay=overlay, sequence=sequence))

    def _get_colorizer(self):
        if self._colorizer is None and not self._colorizer_failed:
            try:
                from engine.colorize import load_colorizer

                self._colorizer = load_colorizer(self._model_path)
            except Exception as exc:
                self._colorizer_failed = True
                self.failed.emit(f"colorization unavailable: {exc}")
        return self._colorizer

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
