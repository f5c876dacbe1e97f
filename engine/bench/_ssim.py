"""``nightlab bench`` rows for the SSIM map per dtype and window: uint8 / float32, box / Gaussian.

Issue 10, part 6: ``ssim_map`` >= 5x faster than scikit-image's
``structural_similarity(..., full=True)`` at 640x480 for float32 images and for the Gaussian
window (scikit-image's ``gaussian_weights=True`` default, ``win_size=11``), >= 10x for uint8
with the box window, measured interleaved: one scikit-image call, then ours, alternating,
both on one thread. Each row is timed against two scikit-image heaps side by side, in two
worker processes whose rounds alternate (`engine.bench._ssim_worker`): glibc's **default
heap** (each scikit-image call page-faults its temporaries in again, as in a plain Python
process) and a **warm heap** (freed memory stays mapped, so scikit-image runs at its best).
Medians and ranges (min-max over the rounds) are reported, at 640x480 (the target) and
1920x1080, with the machine's load average when the row started (the machine is shared).
Same frames as the ``leakmask`` area: a real photo and a changed, re-exposed copy.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from engine.bench import BenchRow

__all__ = ["CASES", "case_images", "interleaved", "rows"]

SIZES = ((640, 480), (1920, 1080))
TARGET_SIZE = (640, 480)
SPEEDUP_TARGET = 5.0
UINT8_BOX_TARGET = 10.0
_GAUSS = {"gaussian_weights": True, "win_size": 11}
#: (stage, image dtype, options, target speed-up at 640x480)
CASES = (
    ("ssim_map (uint8, 7x7 box)", "uint8", {"data_range": 255}, UINT8_BOX_TARGET),
    ("ssim_map (float32, 7x7 box)", "float32", {"data_range": 1.0}, SPEEDUP_TARGET),
    ("ssim_map (uint8, Gaussian 11 taps)", "uint8", {"data_range": 255, **_GAUSS}, SPEEDUP_TARGET),
    (
        "ssim_map (float32, Gaussian 11 taps)",
        "float32",
        {"data_range": 1.0, **_GAUSS},
        SPEEDUP_TARGET,
    ),
)
HEAPS = ("default", "warm")


def interleaved(
    ours: Callable[[], object], ref: Callable[[], object], rounds: int
) -> tuple[list[float], list[float]]:
    """ms of each call, one reference call then one of ours per round (after a warm-up)."""
    ours()
    ref()
    t_ours, t_ref = [], []
    for _ in range(max(1, rounds)):
        t0 = time.perf_counter()
        ref()
        t1 = time.perf_counter()
        ours()
        t2 = time.perf_counter()
        t_ref.append((t1 - t0) * 1e3)
        t_ours.append((t2 - t1) * 1e3)
    return t_ours, t_ref


def case_images(night: np.ndarray, reference: np.ndarray, dtype: str):
    """The bench frames as ``dtype``: uint8 as they are, float32 scaled to [0, 1]."""
    if dtype == "uint8":
        return night, reference
    return night.astype(np.float32) / 255, reference.astype(np.float32) / 255


def rows(*, repeats: int) -> list[BenchRow]:
    """Every dtype / window, ours vs scikit-image on a default and on a warm heap."""
    workers = _Workers(SIZES)
    out = []
    try:
        for si, (width, height) in enumerate(SIZES):
            is_target = (width, height) == TARGET_SIZE
            # scikit-image needs ~0.1-0.3 s per 1080p map: fewer rounds there, still a median
            rounds = max(1, repeats) if is_target else max(3, min(repeats, 7))
            for ci, (stage, _, _, target) in enumerate(CASES):
                load = os.getloadavg()[0]
                times = {heap: ([], [], [], []) for heap in HEAPS}
                for k in range(rounds):
                    # alternate which heap goes first, so neither always follows the other
                    for heap in HEAPS if k % 2 == 0 else HEAPS[::-1]:
                        timed = workers.time(heap, si, ci, warm_up=k == 0)
                        for series, value in zip(times[heap], timed, strict=True):
                            series.append(value)
                for heap in HEAPS:
                    out.append(
                        _row(
                            stage,
                            f"{width}x{height}",
                            *times[heap],
                            heap=heap,
                            described=workers.described[heap],
                            target=target if is_target else None,
                            load=load,
                        )
                    )
    finally:
        workers.close()
    return out


def _ratios(t_ours, t_ref) -> list[float]:
    return sorted(r / o for r, o in zip(t_ref, t_ours, strict=True) if o > 0) or [float("nan")]


def _row(stage, size, t_ours, t_ref, c_ours, c_ref, *, heap, described, target, load):
    """A row of wall-time medians; the note adds ranges and the CPU-time ratio (each call's
    own thread time: what a busy machine's descheduling does not inflate)."""
    ours, ref = statistics.median(t_ours), statistics.median(t_ref)
    ratios, cpu = _ratios(t_ours, t_ref), _ratios(c_ours, c_ref)
    settings = ", ".join(f"{k}={v}" for k, v in sorted(described["heap"].items()))
    return BenchRow(
        stage=stage,
        size=size,
        ours_ms=ours,
        reference=f"skimage structural_similarity(full=True), {heap} heap",
        reference_ms=ref,
        target=f">= {target:.0f}x" if target else "",
        met=(ref / ours >= target) if target else None,
        note=(
            f"{heap} heap ({settings or 'glibc defaults'}); interleaved with the other "
            f"heap's process, {len(t_ours)} rounds; ours {min(t_ours):.1f}-{max(t_ours):.1f} "
            f"ms, skimage {min(t_ref):.1f}-{max(t_ref):.1f} ms, per-round ratio "
            f"{ratios[0]:.1f}-{ratios[-1]:.1f}x (median {statistics.median(ratios):.1f}x); CPU "
            f"time ours {statistics.median(c_ours):.2f} ms, ratio {cpu[0]:.1f}-{cpu[-1]:.1f}x "
            f"(median {statistics.median(cpu):.1f}x); ours {described['threads']} thread(s), "
            f"skimage 1; load {load:.1f}"
        ),
    )


class _Workers:
    """The two timing processes (`engine.bench._ssim_worker`), default and warm heap."""

    def __init__(self, sizes) -> None:
        from engine.bench._ssim_worker import WARM_HEAP_ENV, serve

        ctx = multiprocessing.get_context("spawn")  # a fresh heap, as a new process has
        self.conns, self.procs, self.described = {}, {}, {}
        self.used: set[tuple[str, int, int]] = set()
        for heap in HEAPS:
            env = WARM_HEAP_ENV if heap == "warm" else {}
            parent, child = ctx.Pipe()
            saved = {k: os.environ.get(k) for k in WARM_HEAP_ENV}
            try:  # glibc reads these when the child starts
                for k in WARM_HEAP_ENV:
                    os.environ.pop(k, None)
                os.environ.update(env)
                proc = ctx.Process(target=serve, args=(child, tuple(sizes)), daemon=True)
                proc.start()
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            child.close()
            self.conns[heap], self.procs[heap] = parent, proc
        for heap in HEAPS:
            self.described[heap] = self.conns[heap].recv()

    def time(self, heap: str, size: int, case: int, *, warm_up: bool) -> tuple[float, ...]:
        self.conns[heap].send((size, case, warm_up))
        return self.conns[heap].recv()

    def close(self) -> None:
        for heap, conn in self.conns.items():
            try:
                conn.send(None)
            except OSError:
                pass
            self.procs[heap].join(timeout=10)
            if self.procs[heap].is_alive():
                self.procs[heap].kill()
