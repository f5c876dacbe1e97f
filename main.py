"""NightLab entry point: ``python main.py`` (or ``nightlab``) starts the desktop app.

``nightlab COMMAND ...`` runs a command-line tool instead; see ``nightlab --help``.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import sys
import threading
import time

#: this repository's own top-level packages (a missing one of these is a broken checkout)
_OWN_PACKAGES = frozenset({"alignment", "cli", "engine", "gui", "resources", "main"})


class _StoppedWhileLoading(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_STOPPED: list[int] = []
"""The signal that stopped the loading, noted before its exception is raised: raised inside
an extension's import (numpy's C init), the exception can come out as that import's own
ImportError or ModuleNotFoundError."""


MALLOC_ARENAS = 2
"""glibc malloc arenas the program allows (its default is 8 a core, 16 here)."""
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let glibc's malloc keep at most ``arenas`` arenas for the whole process.

    By default each new thread that allocates gets an arena of its own, up to 8 a core, and
    an arena keeps the pages of what was freed in it. NightLab's threads (live workers, the
    recorder, job threads, a thread per capture, ONNX Runtime's and OpenCV's) allocate and
    free frames and renders in turn; with two arenas capture soaks run side by side held
    30-50 MiB less RSS at the same live results per second (what malloc keeps free still
    grows after warm-up, in both: see README "A night of recording"). A user's own
    ``MALLOC_ARENA_MAX`` is left to rule. Returns True if the limit was set (glibc only).
    Call it before the process starts threads.
    """
    if arenas < 1:
        raise ValueError(f"arenas must be >= 1, got {arenas}")
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no arenas to limit)
        return False
    return bool(mallopt(_M_ARENA_MAX, int(arenas)))


MALLOC_TRIM_EVERY_S = 30.0
"""How often the program hands the memory glibc's malloc holds free back to the kernel."""


class MallocTrimmer(threading.Thread):
    """A thread that calls glibc's ``malloc_trim(0)`` every ``every_s`` seconds.

    Freed frames and renders stay in malloc's arenas as free chunks, resident, unless they
    border the top of their arena; over a night of captures the capture soak's RSS grew
    9-26 KiB a pair while the heap in use stayed flat. ``malloc_trim(0)`` gives the whole free
    pages inside every arena back to the kernel (``madvise``), not only the top. It runs off
    the GUI thread with the GIL released; it holds one arena's lock at a time while it walks
    that arena's free chunks, so a thread allocating meanwhile waits at most that long
    (:attr:`last_s`, :attr:`longest_s`; the soak probe logs them, finding the thread by name).
    :meth:`start` starts nothing where the C library is not glibc, nor when the user set
    glibc's own trim policy (``MALLOC_TRIM_THRESHOLD_``, or ``malloc.trim_threshold`` in
    ``GLIBC_TUNABLES``).

    Examples
    --------
    >>> trimmer = MallocTrimmer(every_s=60.0)
    >>> trimmer.start()  # doctest: +SKIP
    True
    >>> trimmer.close()
    """

    NAME = "nightlab-malloc-trim"

    def __init__(self, every_s: float = MALLOC_TRIM_EVERY_S) -> None:
        if not every_s > 0:
            raise ValueError(f"every_s must be > 0, got {every_s}")
        super().__init__(name=self.NAME, daemon=True)
        self.every_s = float(every_s)
        self.trims = 0
        """``malloc_trim`` calls made so far."""
        self.last_s = 0.0
        """How long the latest one took, seconds (an upper bound of an arena lock's hold)."""
        self.longest_s = 0.0
        """The longest of them, seconds."""
        self.last_cpu_s = 0.0
        """The CPU time the latest one used, seconds (the rest of :attr:`last_s` it waited for
        a core: on a loaded machine a trim can be preempted with an arena's lock held)."""
        self._stop_event = threading.Event()
        self._trim = None

    @staticmethod
    def user_rules() -> bool:
        """True if the user set glibc's trim policy in the environment (it is left to rule)."""
        tunables = os.environ.get("GLIBC_TUNABLES", "")
        return bool(os.environ.get("MALLOC_TRIM_THRESHOLD_")) or "malloc.trim_threshold" in tunables

    def start(self) -> bool:
        """Start trimming; False (nothing started) where not glibc or the user's policy rules."""
        if not sys.platform.startswith("linux") or self.user_rules():
            return False
        try:
            trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):  # not glibc
            return False
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        self._trim = trim
        super().start()
        return True

    def run(self) -> None:
        while not self._stop_event.wait(self.every_s):
            t0, cpu0 = time.perf_counter(), time.thread_time()
            self._trim(0)  # a ctypes call: the GIL is released for its length
            self.last_s, self.last_cpu_s = time.perf_counter() - t0, time.thread_time() - cpu0
            self.longest_s = max(self.longest_s, self.last_s)
            self.trims += 1

    def close(self, timeout: float = 5.0) -> None:
        """Stop: the thread ends at once between trims, after the one in progress if any."""
        self._stop_event.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout)


def _stop_while_loading(signum, _frame) -> None:
    _STOPPED.append(signum)
    raise _StoppedWhileLoading(signum)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        # a fatal signal in native code (OpenCV, ONNX Runtime, depthai) leaves the Python
        # stack of every thread on stderr: what the morning after an unattended night needs
        faulthandler.enable(all_threads=True)
        # before any thread starts: a night of threads then shares two malloc arenas
        limit_malloc_arenas()
    # what those arenas hold free goes back to the kernel every half minute, off the GUI thread
    trimmer = MallocTrimmer() if argv is None else None
    if trimmer is not None:
        trimmer.start()
    try:
        if argv is None:
            # Loading the CLI imports numpy and OpenCV (half a second or more on a busy
            # machine); a SIGINT/SIGTERM meanwhile ends the program with the same one line as
            # later on, not Python's silent default. cli.main installs the command's own
            # handling next. Installed inside the try: a signal just after the first handler
            # is in place (as the loop goes on to the next) must be caught here too.
            for s in (signal.SIGINT, signal.SIGTERM):
                signal.signal(s, _stop_while_loading)
        try:
            from cli import main as cli_main
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if not missing or missing in _OWN_PACKAGES or _STOPPED:
                raise
            # `python main.py` with a Python that NightLab was not installed into: one line
            print(
                f"nightlab: error: {sys.executable} lacks the package that provides "
                f"{missing!r} (a NightLab dependency): install NightLab into it with "
                "'pip install -e .', or run the one it was installed into "
                "(e.g. .venv/bin/python main.py)",
                file=sys.stderr,
            )
            return 2
        return cli_main(argv)
    except BaseException:
        if not _STOPPED:
            raise
        signum = _STOPPED[0]
        args = sys.argv[1:]
        command = args[0] if args and not args[0].startswith("-") else ""
        name = signal.Signals(signum).name
        if command and command != "gui":
            print(
                f"nightlab {command}: interrupted by {name}; unfinished outputs were discarded",
                file=sys.stderr,
            )
        else:
            print(f"nightlab: interrupted by {name}; closing", file=sys.stderr)
        return 128 + signum
    finally:
        if trimmer is not None:  # the app's own end (os._exit after its close) ends it too
            trimmer.close()


if __name__ == "__main__":
    sys.exit(main())
