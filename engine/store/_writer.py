"""The single writer: one thread owns the write connection; every write runs there, in order."""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["Writer"]

T = TypeVar("T")
_STOP = object()


class Writer:
    """Runs ``fn(conn)`` jobs on one thread, each in its own ``BEGIN IMMEDIATE`` transaction.

    ``connect`` is called on the writer thread (a sqlite3 connection belongs to its thread).
    A job's exception rolls its transaction back and is re-raised to the caller.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str = "store-writer"):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._ready: Future = Future()
        self._thread = threading.Thread(target=self._run, args=(connect,), name=name, daemon=True)
        self._thread.start()
        self._ready.result()  # surface a failed open (read-only folder, bad file) right here

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue a transaction; the future resolves after COMMIT (or with the error)."""
        fut: Future[T] = Future()
        if not self._thread.is_alive():
            fut.set_exception(RuntimeError("the store is closed"))
            return fut
        self._jobs.put((fn, fut))
        return fut

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a transaction and wait for it (from any thread but the writer's own)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("Writer.call from the writer thread would deadlock")
        return self.submit(fn).result()

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout)

    def _run(self, connect: Callable[[], sqlite3.Connection]) -> None:
        try:
            conn = connect()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while True:
                job = self._jobs.get()
                if job is _STOP:
                    return
                fn, fut = job
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result: Any = fn(conn)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                except BaseException as exc:
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)
        finally:
            conn.close()
