"""A fatal signal ends the process: depthai's crash handler (which allocates while the heap
may be corrupt, and deadlocked once) is not installed unless the user asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("depthai")

ABORT_WITH_DEPTHAI_LOADED = "import engine.camera, depthai, os; os.abort()"


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DEPTHAI_INSTALL_SIGNAL_HANDLER"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", ABORT_WITH_DEPTHAI_LOADED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_abort_after_depthai_is_loaded_ends_the_process_with_sigabrt_at_once():
    proc = _run({})
    assert proc.returncode == -6, (proc.returncode, proc.stderr[-500:])
    # depthai's handler would have printed a symbolized stack (and caught the signal)
    assert "Stack trace (most recent call last)" not in proc.stderr


def test_a_user_who_asks_for_depthais_crash_handler_gets_it():
    proc = _run({"DEPTHAI_INSTALL_SIGNAL_HANDLER": "1"})
    assert "Stack trace (most recent call last)" in proc.stderr, proc.stderr[-500:]


def test_the_program_leaves_its_python_stack_when_native_code_aborts():
    # the real entry point with the program's argv; the command aborts as native code would
    code = (
        "import sys, os, main, cli\n"
        "cli.main = lambda argv=None: os.abort()\n"
        "sys.argv = ['nightlab', 'doctor']\n"
        "main.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DEPTHAI_INSTALL_SIGNAL_HANDLER"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -6, (proc.returncode, proc.stderr[-500:])
    assert "Fatal Python error: Aborted" in proc.stderr
    assert 'File "' in proc.stderr and "main.py" in proc.stderr


NATIVE_MESSAGE_THEN_ABORT = """
import ctypes


def test_native_library_says_why_then_aborts():
    libc = ctypes.CDLL(None)
    message = b"free(): invalid pointer\\n"  # what glibc writes to fd 2 before it aborts
    libc.write(2, message, len(message))
    libc.abort()
"""


def test_a_native_message_before_an_abort_reaches_the_suite_log(tmp_path):
    # pytest's default capture (fd) swallows what native code writes to fd 2 when the process
    # dies: the suite's abort in CI showed only "Fatal Python error: Aborted"
    test = tmp_path / "test_native_abort.py"
    # direct write: a throwaway test module in the test's own temporary folder
    test.write_text(NATIVE_MESSAGE_THEN_ABORT)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(test)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == -6, (proc.returncode, proc.stderr[-500:])
    assert "Fatal Python error: Aborted" in proc.stderr
    assert "free(): invalid pointer" in proc.stderr, proc.stderr[-800:]
