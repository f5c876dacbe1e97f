"""SIGINT / SIGTERM end any command within a second, cleanly, with one line.

Inside :func:`interruptible`, both signals raise :class:`Interrupted` in the main thread, so
the command unwinds through its ``finally`` blocks: atomic writes drop their temporary files,
staged output sets are discarded, cameras are closed. Python only runs signal handlers between
bytecodes, though, and a command may sit in native code (OpenCV, ONNX Runtime, a device
driver) for longer than a second. A watchdog thread therefore hears the signal through
``signal.set_wakeup_fd`` (written by the C-level handler at once); if the command has not ended
``GRACE_S`` later, it removes every temporary file and staging folder still in flight
(`engine.atomic.discard_in_flight`), prints the same one line and ends the process.

Exit status: 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as shells do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator

__all__ = ["GRACE_S", "Interrupted", "interrupted_line", "interruptible"]

#: how long the main thread gets to unwind by itself before the watchdog ends the process
GRACE_S = 0.7
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM inside :func:`interruptible`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def interrupted_line(command: str, signum: int) -> str:
    name = signal.Signals(signum).name
    return f"nightlab {command}: interrupted by {name}; nothing half-written was left"


@contextlib.contextmanager
def interruptible(command: str) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` and guarantee an exit within a second.

    Must be entered from the main thread; elsewhere (embedding, tests in threads) it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum, _frame):
        raise Interrupted(signum)

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    done = threading.Event()
    old_handlers = {s: signal.signal(s, raise_interrupted) for s in _SIGNALS}
    old_wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watchdog() -> None:
        while True:
            try:
                data = reader.recv(1)
            except OSError:
                return
            if not data or done.is_set():
                return  # the command ended (the writer was closed)
            if data[0] in _SIGNALS:
                break
        if done.wait(GRACE_S):
            return
        from engine.atomic import discard_in_flight

        discard_in_flight()
        print(interrupted_line(command, data[0]), file=sys.stderr, flush=True)
        os._exit(128 + data[0])

    thread = threading.Thread(target=watchdog, name="nightlab-signal-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(old_wakeup)
        writer.close()  # wakes the watchdog with EOF
        thread.join(1.0)
        reader.close()
        for s, handler in old_handlers.items():
            signal.signal(s, handler)
