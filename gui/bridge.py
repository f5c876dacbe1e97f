"""The one Qt bridge: engine events (psygnal, any thread) -> calls on the GUI thread.

Engine objects emit on their own threads (camera acquisition, live workers, job pool).
Widgets must only be touched on the GUI thread, so every engine subscription in ``gui/``
goes through `follow`, which delivers the call as a queued Qt signal and drops it when the
widget that asked for it is gone (and disconnects on ``destroyed``, as pymmcore-widgets do).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

__all__ = ["bridge", "follow", "follow_latest", "on_gui_thread"]


class _Bridge(QObject):
    """Lives on the GUI thread; ``call`` emitted from any thread runs the callable there."""

    call = Signal(object, object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)

    @Slot(object, object)
    def _run(self, fn: Callable, args: tuple) -> None:
        try:
            fn(*args)
        except RuntimeError as exc:  # the target widget was deleted meanwhile
            if "already deleted" not in str(exc):
                raise


_BRIDGE: _Bridge | None = None


def bridge() -> _Bridge:
    """The process-wide bridge (created on first use, moved to the GUI thread)."""
    global _BRIDGE
    if _BRIDGE is None:
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("the Qt bridge needs a running QApplication")
        _BRIDGE = _Bridge()
        _BRIDGE.moveToThread(app.thread())
    return _BRIDGE


def on_gui_thread(fn: Callable, *args: Any) -> None:
    """Run ``fn(*args)`` on the GUI thread: now if already there, else queued."""
    b = bridge()
    if QThread.currentThread() is b.thread():
        fn(*args)
    else:
        b.call.emit(fn, args)


def _arity(slot: Callable) -> int | None:
    """How many positional arguments ``slot`` takes (None: any number).

    Evented fields emit ``(new, old)``; a slot that wants only the new value gets only that,
    as psygnal itself does for direct connections.
    """
    try:
        params = inspect.signature(slot).parameters.values()
    except (TypeError, ValueError):
        # a Qt builtin (QLabel.setText, QComboBox.setCurrentText): one value, the new one
        return 1
    n = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def follow(signal, slot: Callable, owner: QObject) -> Callable[[], None]:
    """Connect a psygnal ``signal`` so ``slot`` runs on the GUI thread while ``owner`` lives.

    Returns the disconnect function (also called when ``owner`` is destroyed).
    """
    alive = [True]
    n = _arity(slot)

    def relay(*args: Any) -> None:
        if alive[0]:
            on_gui_thread(_guarded, args[:n] if n is not None else args)

    def _guarded(args: tuple) -> None:
        if alive[0]:
            slot(*args)

    def on_destroyed(*_: Any) -> None:
        if alive[0]:
            alive[0] = False
            signal.disconnect(relay, missing_ok=True)

    def disconnect() -> None:
        if alive[0]:
            on_destroyed()
            _forget(owner, on_destroyed)

    signal.connect(relay)
    owner.destroyed.connect(on_destroyed)
    return disconnect


def _forget(owner: QObject, on_destroyed: Callable) -> None:
    """Drop ``owner.destroyed -> on_destroyed`` when the caller lets go: a widget that follows
    a new object per run (a capture run's events, each camera's) kept every old connection,
    and the closures with it, for as long as the widget lived."""
    try:
        owner.destroyed.disconnect(on_destroyed)
    except (RuntimeError, TypeError, SystemError):  # the owner's C++ side is already gone
        pass


def follow_latest(signal, slot: Callable, owner: QObject) -> Callable[[], None]:
    """Like `follow`, but newest wins: while a call is waiting for the GUI thread, newer
    emissions replace its arguments instead of queueing more calls (live results at camera
    rate never pile up behind a busy GUI thread)."""
    lock = threading.Lock()
    box: dict[str, Any] = {"args": None, "pending": False, "alive": True}
    n = _arity(slot)

    def relay(*args: Any) -> None:
        with lock:
            if not box["alive"]:
                return
            box["args"] = args[:n] if n is not None else args
            if box["pending"]:
                return
            box["pending"] = True
        on_gui_thread(deliver)

    def deliver() -> None:
        with lock:
            args, box["args"], box["pending"] = box["args"], None, False
        if box["alive"] and args is not None:
            slot(*args)

    def on_destroyed(*_: Any) -> None:
        if box["alive"]:
            box["alive"] = False
            signal.disconnect(relay, missing_ok=True)

    def disconnect() -> None:
        if box["alive"]:
            on_destroyed()
            _forget(owner, on_destroyed)

    signal.connect(relay)
    owner.destroyed.connect(on_destroyed)
    return disconnect
