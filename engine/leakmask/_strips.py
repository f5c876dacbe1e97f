"""Horizontal strips of an output image, computed by the caller and one helper thread.

The SSIM map is computed a strip of rows at a time (the working set stays in cache). From
about 640x480 up, a long-lived helper thread takes strips from the same queue as the caller
(OpenCV, numpy and the compiled kernel release the GIL). On a shared machine either thread
can be descheduled for many milliseconds, so the caller never simply waits for the helper:
when the queue is empty and the helper is still on a strip, the caller waits about one
strip's time and then computes that strip itself. The helper writes into its own buffer and
copies into the output only if the strip is still open, under a lock, so once the caller
returns nothing writes into the output any more.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

__all__ = ["PARALLEL_PIXELS", "Strip", "run_strips", "scratch", "strips", "threads_for"]

# Two threads from 640x480 up, whatever the load: interleaved against scikit-image on the
# shared 2-core machine at a load average of 20 (four strips, the caller taking over late
# strips), two threads vs one gave uint8/box 17.0x vs 8.4x, float32/box 6.8x vs 5.1x,
# uint8/Gaussian 12.3x vs 11.1x, float32/Gaussian 5.4x vs 5.2x.
PARALLEL_PIXELS = 250_000
_FIRST_WAIT_S = 0.002  # how long to wait for the helper when no strip time is known yet

#: (s0, s1, i0, i1): output rows [s0, s1) need input rows [i0, i1)
Strip = tuple[int, int, int, int]
#: ``work(items)`` computes each ``(strip, dst)`` into ``dst`` (``out[s0:s1]`` or a buffer)
Work = Callable[[Iterable[tuple[Strip, np.ndarray]]], None]


def strips(h: int, step: int, margin: int) -> list[Strip]:
    """Strips of ``step`` output rows; input rows include ``margin`` real rows each side.

    Where they do not exist the strip touches the image border, and the filters' reflected
    border (OpenCV's ``BORDER_REFLECT``, scipy's ``mode='reflect'``) supplies them.
    """
    step = max(1, step)
    return [
        (s0, min(s0 + step, h), max(0, s0 - margin), min(h, s0 + step + margin))
        for s0 in range(0, h, step)
    ]


_LOCAL = threading.local()
# buffer sets kept per thread: the uint8/box strips, the kernel's window rows and float32
# copies of uint8 images, at two sizes (16.6 MB at most for the 1080p copies)
_SIZES_KEPT = 6


def scratch(shapes: tuple[tuple[tuple[int, ...], str], ...]) -> list[np.ndarray]:
    """This thread's buffers of the given ``((shape, dtype), ...)``, kept between calls.

    Fresh buffers of a few hundred kB come from new pages that the kernel zero-fills on first
    touch; right after a call that freed a lot of memory (scikit-image's, interleaved in the
    bench) those page faults cost more than the whole 640x480 map (uint8/box: 7.8 ms right
    after scikit-image vs 2.1 ms when called again). Each thread keeps its last few sets, so
    concurrent callers never share one.
    """
    kept: dict = getattr(_LOCAL, "kept", None) or {}
    _LOCAL.kept = kept
    if shapes not in kept:
        if len(kept) >= _SIZES_KEPT:
            kept.pop(next(iter(kept)))
        kept[shapes] = [np.empty(shape, dtype) for shape, dtype in shapes]
    return kept[shapes]


def threads_for(pixels: int, n_strips: int = 8) -> int:
    """How many threads ``run_strips`` would use now for an image of ``pixels`` pixels."""
    return 2 if pixels >= PARALLEL_PIXELS and n_strips >= 4 and _cores() >= 2 else 1


def run_strips(work: Work, out: np.ndarray, parts: list[Strip]) -> None:
    """Fill ``out`` by running ``work`` over ``parts``, on two threads for large images."""
    if threads_for(out.size, len(parts)) < 2:
        work((s, out[s[0] : s[1]]) for s in parts)
        return
    job = _Job(out, parts)
    helper = _helper().submit(work, job.helper_items())
    work(job.caller_items())
    job.finish(work)
    helper.cancel()  # not started yet (busy with another call): it has nothing left to do


def _cores() -> int:
    """Cores the process may use (OpenCV's thread setting can lower it, e.g. to 1)."""
    return min(os.cpu_count() or 1, max(1, cv2.getNumThreads()))


class _Job:
    """One ``run_strips`` call: a shared queue of strips and who finished which."""

    def __init__(self, out: np.ndarray, parts: list[Strip]) -> None:
        self.out, self.parts = out, parts
        self.lock = threading.Lock()
        self.next = 0
        self.done = [False] * len(parts)
        self.helper_has: dict[int, threading.Event] = {}  # strips the helper took
        self.caller_s: list[float] = []  # seconds per strip, on the caller's thread

    def _take(self) -> int | None:
        with self.lock:
            if self.next >= len(self.parts):
                return None
            self.next += 1
            return self.next - 1

    def caller_items(self) -> Iterator[tuple[Strip, np.ndarray]]:
        while (k := self._take()) is not None:
            s0, s1 = self.parts[k][:2]
            t0 = time.perf_counter()
            yield self.parts[k], self.out[s0:s1]  # only the caller ever computes it
            self.caller_s.append(time.perf_counter() - t0)
            self.done[k] = True

    def helper_items(self) -> Iterator[tuple[Strip, np.ndarray]]:
        buf = None
        while True:
            with self.lock:
                if self.next >= len(self.parts):
                    return
                k = self.next
                self.next += 1
                finished = self.helper_has[k] = threading.Event()
            s0, s1 = self.parts[k][:2]
            if buf is None:
                rows = max(p[1] - p[0] for p in self.parts)
                (buf,) = scratch((((rows, self.out.shape[1]), self.out.dtype.str),))
            dst = buf[: s1 - s0]
            yield self.parts[k], dst  # resumed once ``work`` has computed it
            with self.lock:
                if not self.done[k]:  # the caller did not take it over
                    self.out[s0:s1] = dst
                    self.done[k] = True
            finished.set()

    def finish(self, work: Work) -> None:
        """Wait about one strip's time for each strip still with the helper, else compute it."""
        wait = statistics.median(self.caller_s) if self.caller_s else _FIRST_WAIT_S
        with self.lock:
            pending = dict(self.helper_has)
        for k, finished in sorted(pending.items()):
            if finished.wait(wait):
                continue
            with self.lock:
                if self.done[k]:
                    continue
                self.done[k] = True  # ours now: the helper will drop its copy
            s0, s1 = self.parts[k][:2]
            work([(self.parts[k], self.out[s0:s1])])


_HELPER: ThreadPoolExecutor | None = None
_HELPER_LOCK = threading.Lock()


def _helper() -> ThreadPoolExecutor:
    """One helper thread for the process: starting threads per call costs more than a
    640x480 map when the machine is busy."""
    global _HELPER
    with _HELPER_LOCK:
        if _HELPER is None:
            _HELPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssim")
        return _HELPER
