"""One job runner for background work: a thread pool, results back on the GUI thread.

Saving, exporting, capturing a burst, loading a model: anything that may take more than a
frame runs here, never on the GUI thread. A job's exception becomes one line on ``message``
(napari's worker pattern: errors are notifications, not crashes).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

from gui.bridge import on_gui_thread

__all__ = ["JobRunner"]


class JobRunner(QObject):
    """``submit(fn, *args, done=..., label=...)``; ``done(result)`` runs on the GUI thread."""

    message = Signal(str)
    """A job failed: one line for the status bar."""
    busy_changed = Signal(int)
    """Number of jobs running or queued."""

    def __init__(self, *, workers: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nightlab-job")
        self._active = 0
        self._closed = False

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        label: str = "",
    ) -> Future | None:
        """Run ``fn(*args)`` on the pool; ``None`` if the runner is shut down."""
        if self._closed:
            return None
        self._active += 1
        self.busy_changed.emit(self._active)
        fut = self._pool.submit(fn, *args)
        what = label or getattr(fn, "__name__", "job")

        def finished(f: Future) -> None:  # on the pool thread
            if f.cancelled():  # shut down before it started: nothing ran, nothing to say
                on_gui_thread(self._error, None, "")
                return
            exc = f.exception()
            if exc is None:
                on_gui_thread(self._done, done, f.result())
            else:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if not isinstance(exc, (ValueError, OSError, RuntimeError)):
                    traceback.print_exception(exc)  # a bug, not a user error: keep the trace
                on_gui_thread(self._error, failed, f"{what} failed: {first}")

        fut.add_done_callback(finished)
        return fut

    @property
    def active(self) -> int:
        return self._active

    def _done(self, cb, result) -> None:
        self._active -= 1
        self.busy_changed.emit(self._active)
        if cb is not None and not self._closed:
            cb(result)

    def _error(self, cb, msg: str) -> None:
        self._active -= 1
        self.busy_changed.emit(self._active)
        if self._closed or not msg:
            return
        self.message.emit(msg)
        if cb is not None:
            cb(msg)

    def shutdown(self) -> None:
        """Stop accepting jobs; running ones finish in the background (never waits)."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait(self) -> None:
        """Block until running jobs are done: for app exit after the window closed, and tests."""
        self._pool.shutdown(wait=True)
