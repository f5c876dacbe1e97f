"""A benchmark process that times one scikit-image SSIM call and one of ours per request.

``engine.bench._ssim`` starts two of these: one with glibc's default heap (as a plain Python
process runs scikit-image: its dozen image-sized temporaries are handed back to the kernel
after each call and page-faulted in again on the next) and one whose heap is kept warm
(``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` set huge, so those temporaries stay
mapped). The parent alternates its requests between the two, so both see the same machine
load. Each process runs both SSIMs on one thread (``cv2.setNumThreads(1)``: ``ssim_map``
then uses no helper thread; scikit-image is single-threaded).
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection

__all__ = ["WARM_HEAP_ENV", "serve"]

#: glibc settings that keep freed memory in the heap (read when the process starts)
WARM_HEAP_ENV = {"MALLOC_TRIM_THRESHOLD_": "4000000000", "MALLOC_MMAP_THRESHOLD_": "1000000000"}


def serve(conn: Connection, sizes: tuple[tuple[int, int], ...]) -> None:
    """Answer ``(size_index, case_index, warm_up)`` with ``(ours_ms, skimage_ms, ours_cpu_ms,
    skimage_cpu_ms)`` (wall and this thread's CPU time) until ``None``; ``warm_up``: run both
    once, untimed, first (numba's compile or cache load).

    The first message sent describes the process (heap settings, ``ssim_map``'s threads).
    A size's frames are made when it is first asked for, so nothing of a larger size has
    moved glibc's thresholds before the smaller size is timed.
    """
    import cv2

    cv2.setNumThreads(1)
    from skimage.metrics import structural_similarity

    from engine.bench._leakmask import _frames
    from engine.bench._ssim import CASES, case_images
    from engine.leakmask import ssim_map, ssim_threads, warm_kernels

    warm_kernels()  # time the compiled kernels, not the OpenCV path that serves until then

    tables: dict[int, list] = {}
    heap = {k: os.environ[k] for k in WARM_HEAP_ENV if k in os.environ}
    threads = max(ssim_threads((h, w)) for w, h in sizes)
    conn.send({"threads": threads, "heap": heap, "pid": os.getpid()})
    while (msg := conn.recv()) is not None:
        size, case, warm_up = msg
        if size not in tables:
            frames = _frames(*sizes[size])
            tables[size] = [(*case_images(*frames, dtype), kw) for _, dtype, kw, _ in CASES]
        a, b, kw = tables[size][case]
        if warm_up:
            ssim_map(a, b, **kw)
            structural_similarity(a, b, full=True, **kw)
        c0, t0 = time.thread_time(), time.perf_counter()
        structural_similarity(a, b, full=True, **kw)
        c1, t1 = time.thread_time(), time.perf_counter()
        ssim_map(a, b, **kw)
        c2, t2 = time.thread_time(), time.perf_counter()
        conn.send(((t2 - t1) * 1e3, (t1 - t0) * 1e3, (c2 - c1) * 1e3, (c1 - c0) * 1e3))
