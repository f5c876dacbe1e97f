"""One job runner for background work: a thread pool, results back on the GUI thread.

Saving, exporting, capturing a burst, loading a model: anything that may take more than a
frame runs here, never on the GUI thread. A job's exception becomes one line on ``message``
(napari's worker pattern: errors are notifications, not crashes).

On the 2-core lab PC the live path (camera thread, live worker) and the GUI thread need both
cores to keep up; background jobs fill what they leave. So the pool has one thread fewer than
the cores (one on two cores: a pair render, a PNG decode and an export no longer run at once
beside the live view), and each job thread runs at a lower scheduling priority (nice
``JOB_NICE``, Linux: per thread), so the kernel gives the core to the live path first.
A job that mostly waits for hours (a scheduled capture) runs on its own thread instead
(``long=True``), so it never holds the pool's only slot.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.knobs import env_number, usable_cores
from gui.bridge import on_gui_thread

__all__ = ["JOB_NICE", "JobRunner", "default_job_workers", "lower_thread_priority"]

JOB_NICE = 5
"""How much lower than the app a job thread runs (``NIGHTLAB_JOB_NICE`` overrides; 0 = same)."""


def default_job_workers() -> int:
    """Pool threads for this machine: one fewer than its cores, at least one
    (``NIGHTLAB_JOB_WORKERS`` overrides, up to the cores and 2 anywhere)."""
    # Capped like NIGHTLAB_LIVE_WORKERS: the jobs (renders, decodes, thumbnails) are CPU-bound,
    # so threads beyond the cores only contend with the GUI thread; without a cap a typo (64,
    # 1000000) started that many threads, or failed once the OS had none left.
    cap = max(2, usable_cores())
    return env_number("NIGHTLAB_JOB_WORKERS", max(1, usable_cores() - 1), minimum=1, maximum=cap)


def _job_nice() -> int:
    return env_number("NIGHTLAB_JOB_NICE", JOB_NICE, minimum=0, maximum=19)


def lower_thread_priority(nice: int) -> int:
    """Raise the calling thread's nice value by ``nice`` (Linux: threads have their own);
    returns the thread's nice value after it (unchanged elsewhere, or if not allowed)."""
    if not sys.platform.startswith("linux") or nice <= 0:
        return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + nice))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return os.getpriority(os.PRIO_PROCESS, tid)


class JobRunner(QObject):
    """``submit(fn, *args, done=..., label=...)``; ``done(result)`` runs on the GUI thread."""

    message = Signal(str)
    """A job failed: one line for the status bar."""
    busy_changed = Signal(int)
    """Number of jobs running or queued."""

    def __init__(
        self, *, workers: int | None = None, nice: int | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.workers = default_job_workers() if workers is None else int(workers)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.nice = _job_nice() if nice is None else int(nice)
        self._pool = ThreadPoolExecutor(
            max_workers=self.workers,
            thread_name_prefix="nightlab-job",
            initializer=lower_thread_priority,
            initargs=(self.nice,),
        )
        self._long: list[threading.Thread] = []
        self._active = 0
        self._closed = False

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        label: str = "",
        long: bool = False,
    ) -> Future | None:
        """Run ``fn(*args)`` on the pool; ``None`` if the runner is shut down.

        ``long``: the job mostly waits, for minutes or hours (a scheduled capture): it gets a
        thread of its own (same lower priority) instead of holding a pool thread.
        """
        if self._closed:
            return None
        self._active += 1
        self.busy_changed.emit(self._active)
        fut = self._start_long(fn, args) if long else self._pool.submit(fn, *args)
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

    def _start_long(self, fn, args) -> Future:
        fut: Future = Future()

        def run() -> None:
            lower_thread_priority(self.nice)
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - reported like a pool job's
                fut.set_exception(exc)

        t = threading.Thread(target=run, name="nightlab-job-long", daemon=True)
        self._long = [x for x in self._long if x.is_alive()] + [t]
        t.start()
        return fut

    @property
    def active(self) -> int:
        return self._active

    def describe(self) -> dict:
        """Pool size, job nice value and long-job threads alive: for ``--stats``."""
        return {
            "workers": self.workers,
            "nice": self.nice,
            "long_jobs_running": sum(t.is_alive() for t in self._long),
        }

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
        for t in list(self._long):
            t.join()
