"""NIGHTLAB_NATIVE_STACKS=1: a native abort in the suite prints every thread's native stack and
the process still dies of it; other signals and a passing run are left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")

NATIVE_ABORT_WITH_A_SECOND_THREAD = """
import ctypes, threading, time


def test_aborts_in_native_code():
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    ctypes.CDLL(None).abort()
"""

SIGNALS_STILL_REACH_PYTHON = """
import os, signal


def test_a_signal_reaches_its_python_handler():
    got = []
    signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
    os.kill(os.getpid(), signal.SIGUSR1)
    assert got == [1]
"""


def _pytest_under_watch(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    test = tmp_path / "test_child.py"
    # direct write: a throwaway test module in the test's own temporary folder
    test.write_text(source)
    env = {**os.environ, "NIGHTLAB_NATIVE_STACKS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "tests.native_stacks", "--rootdir", str(tmp_path), str(test)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip


def test_a_native_abort_prints_every_threads_native_stack_and_still_ends_the_process(tmp_path):
    proc = _pytest_under_watch(tmp_path, NATIVE_ABORT_WITH_A_SECOND_THREAD)
    err = proc.stderr
    assert proc.returncode == -6, (proc.returncode, err[-800:])
    assert "received signal SIGABRT" in err, err[-800:]
    assert "Thread 2 (" in err and "Thread 1 (" in err  # every thread, not only the current
    assert any("abort" in line for line in err.splitlines() if line.startswith("#"))
    assert "Fatal Python error: Aborted" in err  # faulthandler's Python stacks as well


def test_a_run_under_the_watch_passes_and_its_signals_reach_python(tmp_path):
    proc = _pytest_under_watch(tmp_path, SIGNALS_STILL_REACH_PYTHON)
    assert proc.returncode == 0, (proc.stdout[-500:], proc.stderr[-800:])
    assert "1 passed" in proc.stdout
    assert "received signal" not in proc.stderr
