"""What an unattended night of recording costs in memory, per pair, without the GUI.

Usage::

    python benchmarks/night_memory.py [--pairs 600] [--every 0.3] [--burst 4]
                                      [--resolution 640x480] [--trim]

Runs the engine's scheduled capture path the Capture dock runs (`CaptureRunner` ->
`SessionRecorder` -> `Store`, aligned pairs through the `PairTracker`) on the simulated
camera into a scratch store, far faster than 3 s a pair, and prints RSS, the heap in use
(glibc ``mallinfo2``), gc-tracked objects and the store's rows every 100 pairs, then the
growth per pair after the first ``--warmup`` pairs (least squares). ``--trim`` calls
``malloc_trim(0)`` before each sample: RSS that then stays flat was glibc's fragmentation,
not memory held. Like the program, it lets malloc keep two arenas (``MALLOC_ARENA_MAX``
rules). Under a native heap profiler (``pip install -e ".[profile]"``, then ``memray run
--native -o night.bin benchmarks/night_memory.py``) it says which call sites hold what grew.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def mallinfo_mib() -> tuple[float, float, float, float]:
    """glibc's malloc, every arena, MiB: (heap in use, of it mmapped, held free, arenas' size).

    In use is what was handed out and not had back (``uordblks + hblkhd``); mmapped
    (``hblkhd``) chunks go back to the kernel when freed; held free (``fordblks``) stays in
    the arenas (``arena``): its pages are resident once written, until trimmed.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return (float("nan"),) * 4
    libc.mallinfo2.restype = _Mallinfo2
    m = libc.mallinfo2()
    return tuple(v / 2**20 for v in (m.uordblks + m.hblkhd, m.hblkhd, m.fordblks, m.arena))


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=600)
    p.add_argument("--every", type=float, default=0.3, help="seconds between captures")
    p.add_argument("--burst", type=int, default=4)
    p.add_argument("--resolution", default="640x480")
    p.add_argument("--warmup", type=int, default=100, help="pairs not judged")
    p.add_argument("--trim", action="store_true", help="malloc_trim(0) before each sample")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.resolution.lower().split("x"))

    import main as program

    program.limit_malloc_arenas()  # as the nightlab program does, before any thread

    from engine.camera import SimulatedCamera
    from engine.live import CapturePlan, CaptureRunner, PairTracker, SessionRecorder
    from engine.store import Store
    from gui.capture.night import record_reference

    cam = SimulatedCamera(resolution=(w, h), fps=30, seed=1)
    tracker = PairTracker()
    tracker.set_reference(cam.render_frame(0).image)
    cam.set_control("mode", "night")
    plan = CapturePlan(every_s=args.every, count=None, burst=args.burst)
    rows: list[tuple] = []
    done = threading.Event()
    with tempfile.TemporaryDirectory(prefix="nightlab-night-memory-") as tmp, Store(tmp) as store:
        sid = store.create_session("night memory").id
        record_reference(store, sid, tracker)
        runner = CaptureRunner(cam, plan, tick_s=0.05)
        recorder = SessionRecorder(store, sid, runner, tracker=tracker)
        pairs = [0]

        def paired(*_):
            pairs[0] += 1
            if pairs[0] % 100 == 0 or pairs[0] == 1:
                sample.append(pairs[0])
            if pairs[0] >= args.pairs:
                done.set()

        sample: list[int] = []
        recorder.events.paired.connect(paired)
        runner.start()
        t0 = time.monotonic()
        print("pairs  rss_mib  heap_mib  mmap_mib  free_mib  arena_mib  gc_objects  seconds",
              flush=True)  # fmt: skip
        while not done.wait(0.2):
            while sample:
                n = sample.pop(0)
                if args.trim and (libc := _libc()) is not None:
                    libc.malloc_trim(0)
                heap, mmapped, free, arena = mallinfo_mib()
                row = (n, rss_mib(), heap, free, len(gc.get_objects()), time.monotonic() - t0)
                rows.append(row)
                print(f"{n:5d}  {row[1]:7.1f}  {heap:8.1f}  {mmapped:8.1f}  {free:8.1f}  "
                      f"{arena:9.1f}  {row[4]:10d}  {row[5]:7.0f}", flush=True)  # fmt: skip
        runner.cancel()
        runner.wait(30)
        recorder.disconnect()
    cam.close()
    steady = [r for r in rows if r[0] >= args.warmup]
    if len(steady) >= 2:
        n = np.array([r[0] for r in steady], float)
        for i, name in ((1, "RSS"), (2, "heap in use"), (3, "held free")):
            slope = np.polyfit(n, [r[i] for r in steady], 1)[0] * 1024
            print(f"{name}: {slope:+.2f} KiB a pair after {args.warmup} pairs")
        obj = np.polyfit(n, [r[4] for r in steady], 1)[0]
        print(f"gc-tracked objects: {obj:+.2f} a pair")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
