"""NightLab entry point: ``python main.py`` (or ``nightlab``) starts the desktop app.

``nightlab COMMAND ...`` runs a command-line tool instead; see ``nightlab --help``.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import sys

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


if __name__ == "__main__":
    sys.exit(main())
