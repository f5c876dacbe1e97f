"""The program lets glibc's malloc keep two arenas, not one a thread: the capture soak's RSS
grew with memory malloc held free in per-thread arenas (heap in use flat), and stayed flat
with two (`main.limit_malloc_arenas`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None

# 8 threads allocate at once, then malloc_stats() lists every arena on stderr
_THREADS_ALLOCATE = """
import ctypes, sys, threading
import main
if sys.argv[1] == "program":  # the nightlab program itself, as `nightlab --help` runs it
    sys.argv = ["nightlab", "--help"]
    try:
        main.main()
    except SystemExit:
        pass
print(main.limit_malloc_arenas() if sys.argv[1] == "limit" else None, flush=True)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
together = threading.Barrier(8)
def work():
    together.wait()
    blocks = [libc.malloc(4096) for _ in range(200)]
    for b in blocks:
        libc.free(b)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc.malloc_stats()
"""


def _arenas(mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    proc = subprocess.run(
        [sys.executable, "-c", _THREADS_ALLOCATE, mode],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**clean, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), sum(line.startswith("Arena ") for line in proc.stderr.splitlines())


@pytest.mark.skipif(not GLIBC, reason="malloc arenas are glibc's")
def test_eight_threads_allocating_share_two_malloc_arenas_once_the_program_limits_them():
    said, default = _arenas("default")
    assert default > 2, f"glibc gave the threads only {default} arenas without a limit"
    said, limited = _arenas("limit")
    assert said == "True" and limited <= 2, (said, limited)


@pytest.mark.skipif(not GLIBC, reason="malloc arenas are glibc's")
def test_the_nightlab_program_sets_the_limit_before_its_threads_start():
    _said, arenas = _arenas("program")
    assert arenas <= 2, f"{arenas} malloc arenas after the program started"


@pytest.mark.skipif(not GLIBC, reason="malloc arenas are glibc's")
def test_a_users_own_malloc_arena_max_is_left_to_rule():
    said, arenas = _arenas("limit", MALLOC_ARENA_MAX="4")
    assert said == "False" and 2 < arenas <= 4


def test_a_limit_below_one_arena_is_refused():
    import main

    with pytest.raises(ValueError, match="arenas must be >= 1, got 0"):
        main.limit_malloc_arenas(0)
