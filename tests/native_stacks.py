"""Every thread's native stack when the suite's process dies of a fatal signal.

``faulthandler`` prints Python stacks only: the suite's two aborts in CI (a corrupted heap
found in ONNX Runtime right after a depthai host pipeline) left nothing of the native threads.
With ``NIGHTLAB_NATIVE_STACKS=1`` in the environment (for CI), gdb attaches to the test process
for the whole run; at a SIGABRT, SIGSEGV, SIGBUS, SIGILL or SIGFPE it prints ``thread apply
all bt`` to stderr and detaches, so the process still dies of that signal. Every other signal
passes through unseen. Without gdb, or where the process may not be traced, the run goes on
without it (one line says so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

ENV = "NIGHTLAB_NATIVE_STACKS"
FATAL = "SIGABRT SIGSEGV SIGBUS SIGILL SIGFPE"
GDB_COMMANDS = (
    "set pagination off",
    "set print thread-events off",
    "set print inferior-events off",
    "handle all nostop noprint pass",
    "handle SIGINT nostop noprint pass",
    f"handle {FATAL} stop print pass",
    "continue",
    "info threads",
    "thread apply all bt 50",
    "detach",
)


def _traced(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as status:
        return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in status)


def watch(pid: int, *, timeout: float = 60.0) -> subprocess.Popen | None:
    """Attach gdb to ``pid`` as described above; returns it once it is attached, or None."""
    gdb = shutil.which("gdb")
    if gdb is None:
        print(f"{ENV}: gdb is not installed; no native stacks", file=sys.stderr)
        return None
    args = [gdb, "-q", "-batch", "-nx", "-iex", "set auto-load python-scripts off", "-p", str(pid)]
    for command in GDB_COMMANDS:
        args += ["-ex", command]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=2, stderr=2)
    deadline = time.monotonic() + timeout
    while not _traced(pid):
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"{ENV}: gdb could not attach to {pid}; no native stacks", file=sys.stderr)
            return None
        time.sleep(0.05)
    return proc


def pytest_configure(config) -> None:
    if os.environ.get(ENV) == "1":
        config._nightlab_gdb = watch(os.getpid())
