"""SIGINT / SIGTERM end any command within a second, cleanly, with one line.

Inside :func:`interruptible`, both signals raise :class:`Interrupted` in the main thread, so
the command unwinds through its ``finally`` blocks: atomic writes drop their temporary files,
staged output sets are discarded, cameras are closed. Python only runs signal handlers between
bytecodes, though, and a command may sit in native code (OpenCV, ONNX Runtime, a device
driver) for longer than a second. A watchdog thread therefore hears the signal through
``signal.set_wakeup_fd`` (written by the C-level handler at once); if the command has not ended
``GRACE_S`` later, it removes every temporary file and staging folder still in flight
(`engine.atomic.discard_in_flight`), prints the same one line and ends the process.

The watchdog needs the GIL, and a native call that *holds* it (an extension module
initialising during an import: ml_dtypes' took 2 s on a loaded machine) stops it too. The real
program therefore also forks a tiny reaper process at start, which the C-level handler's byte
reaches through a pipe: if the command is still alive ``REAPER_S`` after the signal, the reaper
prints the line and kills it. Even then no output is half-written: files are written under
temporary names and sets are staged, so a kill leaves at most hidden ``.partial`` leftovers,
which the next run removes.

Exit status: 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as shells do; 137
when the reaper had to kill.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator

__all__ = ["GRACE_S", "REAPER_S", "Interrupted", "interrupted_line", "interruptible"]

#: how long the main thread gets to unwind by itself before the watchdog ends the process
GRACE_S = 0.6
#: ... and before the forked reaper kills it (the GIL is held: the watchdog cannot run)
REAPER_S = 1.0
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
    return f"nightlab {command}: interrupted by {name}; unfinished outputs were discarded"


@contextlib.contextmanager
def interruptible(command: str, *, reaper: bool = False) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` and guarantee an exit within a second.

    With ``reaper`` (the real program, not a command run inside another process such as a
    test), a forked watcher also stands by: see :func:`_reaper`. Must be entered from the main
    thread; elsewhere (embedding, tests in threads) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum, _frame):
        raise Interrupted(signum)

    reaper_pid = None
    if reaper and hasattr(os, "fork"):
        wake_r, wake_w = os.pipe()  # C-level handler -> reaper
        note_r, note_w = os.pipe()  # reaper -> watchdog thread
        reaper_pid = os.fork()
        if reaper_pid == 0:
            os.close(wake_w)
            os.close(note_r)
            _reaper(wake_r, note_w, command, os.getppid())  # never returns
        os.close(wake_r)
        os.close(note_w)
        os.set_blocking(wake_w, False)
        wake_fd, listen_fd = wake_w, note_r
    else:
        sock_r, sock_w = socket.socketpair()
        sock_w.setblocking(False)
        wake_fd, listen_fd = os.dup(sock_w.fileno()), os.dup(sock_r.fileno())
        sock_r.close()
        sock_w.close()
    done = threading.Event()
    old_handlers = {s: signal.signal(s, raise_interrupted) for s in _SIGNALS}
    old_wakeup = signal.set_wakeup_fd(wake_fd, warn_on_full_buffer=False)

    def watchdog() -> None:
        while True:
            try:
                data = os.read(listen_fd, 1)
            except OSError:
                return
            if not data or done.is_set():
                return  # the command ended (the write end was closed)
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
        os.close(wake_fd)  # EOF: the reaper exits, which (or the socket) ends the watchdog
        if reaper_pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(reaper_pid, 0)
        thread.join(1.0)
        os.close(listen_fd)
        for s, handler in old_handlers.items():
            signal.signal(s, handler)


def _reaper(wake_r: int, note_w: int, command: str, parent: int) -> None:
    """The forked watcher: the last resort when the command holds the GIL.

    Python's C-level signal handler writes the signal number to ``wake_r``'s pipe at once,
    whatever the interpreter is doing. A native call that holds the GIL (an extension module
    initialising during an import can take seconds on a loaded machine) keeps both the
    Python handler and the watchdog thread from running; this separate process is not held.
    It tells the watchdog (``note_w``), waits up to ``REAPER_S`` for the command to end
    (end of file on the pipe), and otherwise prints the one line and kills it (exit status
    137; every output is still whole: see the module docstring).
    """
    import select
    import time

    try:
        for s in _SIGNALS:  # Ctrl+C reaches the whole process group: not us
            signal.signal(s, signal.SIG_IGN)
        while True:
            data = os.read(wake_r, 1)
            if not data:
                return  # the command ended normally
            if data[0] in _SIGNALS:
                break
        os.write(note_w, data)
        deadline = time.monotonic() + REAPER_S
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([wake_r], [], [], left)
            if ready and not os.read(wake_r, 64):
                return  # the command ended in time, by itself or through its watchdog
        os.write(2, (interrupted_line(command, data[0]) + "\n").encode())
        os.kill(parent, signal.SIGKILL)
    except BaseException:  # noqa: BLE001 - a forked child must never return into the CLI
        pass
    finally:
        os._exit(0)
