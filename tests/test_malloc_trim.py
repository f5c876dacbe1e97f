"""The program gives back what glibc's malloc holds free (`main.MallocTrimmer`): the capture
soak's RSS grew after warm-up while malloc's heap in use stayed flat, the growth being freed
frame buffers left resident inside the arenas."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None

# The app's pattern, shrunk: a camera thread makes frame-sized numpy buffers (after a first
# big frame freed, glibc's dynamic mmap threshold has climbed over their size, so they come
# from the arena, not from mmap), the app keeps a small result of each for good (a
# thumbnail), then the frames are freed: their chunks lie between live small blocks, below
# the arena's top, and nothing but malloc_trim hands their pages back. Prints the resident
# memory malloc holds free (RSS anonymous minus heap in use), MiB, and the trims made.
_FRAMES_THEN_FREE = """
import ctypes, sys, threading, time
import numpy as np
import main

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2

def rss_anon_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024

main.limit_malloc_arenas()
trimmer = main.MallocTrimmer(every_s=0.05) if sys.argv[1] == "trim" else None
if trimmer is not None:
    trimmer.start()
kept = []
def camera():
    first = np.ones(8 << 20, np.uint8)  # the first big frame, freed: the mmap threshold climbs
    del first
    frames = []
    for i in range(60):  # 60 frames of 640x480 RGB, 0.9 MiB each, a thumbnail kept after each
        frames.append(np.full((480, 640, 3), i, np.uint8))
        kept.append(np.full((120, 160, 3), i, np.uint8))
    frames.clear()
t = threading.Thread(target=camera)
t.start()
t.join()
time.sleep(0.5)  # several trimmer periods
m = libc.mallinfo2()
held_free = rss_anon_mib() - (m.uordblks + m.hblkhd) / 2**20
if trimmer is not None:
    trimmer.close()
print(f"{held_free:.1f} {trimmer.trims if trimmer else 0} {m.fordblks / 2**20:.1f}")
"""


def _held_free_mib(mode: str) -> tuple[float, int, float]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", _FRAMES_THEN_FREE, mode],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=clean,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    held, trims, free_chunks = proc.stdout.split()
    return float(held), int(trims), float(free_chunks)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_frames_freed_in_a_thread_stay_resident_without_the_trimmer_and_go_back_with_it():
    held_without, _, free_without = _held_free_mib("plain")
    held_with, trims, free_with = _held_free_mib("trim")
    # 60 frames of 0.9 MiB freed: ~53 MiB malloc holds free in both runs (the chunks are the
    # same), resident without the trimmer, given back to the kernel with it
    assert free_without > 40 and free_with > 40, (free_without, free_with)
    assert held_without > 40, f"only {held_without:.1f} MiB resident and free without a trim"
    assert trims >= 3, f"the trimmer trimmed {trims} times in 0.5 s at a 0.05 s period"
    assert held_with < held_without - 35, (held_with, held_without)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_the_trimmer_trims_on_its_own_thread_and_stops_at_once_on_close(monkeypatch):
    import ctypes

    import main

    callers: list[int] = []
    real = ctypes.CDLL(None).malloc_trim
    real.argtypes = [ctypes.c_size_t]

    class _Libc:  # the real malloc_trim, noting which thread calls it
        @property
        def malloc_trim(self):
            def trim(pad):
                callers.append(threading.get_ident())
                return real(pad)

            return trim

    monkeypatch.setattr(main.ctypes, "CDLL", lambda _name: _Libc())
    trimmer = main.MallocTrimmer(every_s=0.02)
    assert trimmer.start()
    deadline = time.monotonic() + 10
    while len(callers) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(callers) >= 3 and trimmer.trims >= 3
    assert set(callers) == {trimmer.ident} != {threading.main_thread().ident}
    assert trimmer.name == "nightlab-malloc-trim" and trimmer.daemon
    slow = main.MallocTrimmer(every_s=3600.0)  # asleep in its hour-long wait
    assert slow.start()
    t0 = time.monotonic()
    slow.close()
    trimmer.close()
    assert time.monotonic() - t0 < 1.0
    assert not slow.is_alive() and not trimmer.is_alive()
    assert trimmer.longest_s >= trimmer.last_s > 0


# the nightlab program itself, as `nightlab --help` runs it, noting the trimmer it starts
_PROGRAM = """
import sys
import main
started = []
start = main.MallocTrimmer.start
def noting(self):
    started.append((start(self), self))
    return started[-1][0]
main.MallocTrimmer.start = noting
sys.argv = ["nightlab", "--help"]
try:
    main.main()
except SystemExit:
    pass
print(*[(ok, t.ident is not None and not t.is_alive()) for ok, t in started], sep=";")
"""


def _program(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=60,
        cwd=REPO, env={**clean, **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_the_nightlab_program_starts_one_trimmer_and_ends_it_when_the_command_ends():
    assert _program() == "(True, True)"


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_a_users_own_malloc_trim_threshold_is_left_to_rule():
    assert _program(MALLOC_TRIM_THRESHOLD_="1048576") == "(False, False)"
    assert _program(GLIBC_TUNABLES="glibc.malloc.trim_threshold=1048576") == "(False, False)"


def test_a_trim_period_that_is_not_positive_is_refused():
    import main

    with pytest.raises(ValueError, match="every_s must be > 0, got 0"):
        main.MallocTrimmer(every_s=0)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_the_soak_probe_logs_the_running_trimmers_calls_and_their_lengths():
    import main
    from gui import _soak_probe

    assert _soak_probe._trims() == "-1\t-1\t-1\t-1"  # none runs in the test process
    trimmer = main.MallocTrimmer(every_s=0.02)
    assert trimmer.start()
    try:
        deadline = time.monotonic() + 10
        while trimmer.trims < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        trims, last_ms, max_ms, cpu_ms = _soak_probe._trims().split("\t")
    finally:
        trimmer.close()
    assert int(trims) >= 2 and 0 < float(last_ms) <= float(max_ms) < 1000
    assert 0 <= float(cpu_ms) < 1000
