"""Load the live path's numba kernels off the caller's thread; until then, OpenCV serves.

``ssim_map`` on uint8 images with the box window (the live view's SSIM label, every capture's
SSIM mean), the leak mask's orientation similarity, night-colour cue and edge-aware
refinement (the fast guided filter) run compiled kernels. The first call of a
process would wait for numba's import and the kernels' cache load (about a second), the first
call after an install for their compile (seconds; tens of seconds on a busy machine): a
capture session's first frames would miss their slots. So those callers ask `kernels_ready`;
until it is true they use the OpenCV versions the kernels replaced (the same SSIM map to the
bit; the same colour ramp to float32 rounding). `warm_in_background` loads the kernels on a
thread of its own: a live session starts it when it opens, and a process starts it by itself
after `AUTO_WARM_AFTER` OpenCV-served calls. `warm_kernels` does it on the calling thread
(benchmarks, tests).

Compiling holds the GIL for most of its seconds, which would stall the GUI and the live
workers of the process that pays it (a smoke run's first live result came after its 30 s
limit): when numba's disk cache has no entry for a kernel yet, the background warm-up
compiles them in a child process first (its own interpreter, its own GIL, the other core)
and then only loads them from the cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from itertools import product
from pathlib import Path

import numpy as np

__all__ = ["fallback_used", "kernels_ready", "warm_in_background", "warm_kernels"]

#: OpenCV-served calls after which a process starts loading the kernels by itself: one that
#: keeps computing maps (an overnight capture) gets them; a short command (``nightlab
#: process``, a capture killed after a second) never pays numba's import for a map or two
AUTO_WARM_AFTER = 20

_LOCK = threading.Lock()
_READY = threading.Event()
_STARTED = threading.Event()
_FALLBACK_CALLS = [0]


def kernels_ready() -> bool:
    """True once `warm_kernels` has loaded (or compiled) the kernels in this process."""
    return _READY.is_set()


def warm_kernels() -> None:
    """Load (or on first use compile) the uint8/box SSIM kernel and the leak mask's
    (similarity, night colour, refinement); once per
    process, later calls return at once (concurrent ones wait for the first).

    Examples
    --------
    >>> warm_kernels()
    >>> kernels_ready()
    True
    """
    if _READY.is_set():
        return
    with _LOCK:
        if _READY.is_set():
            return
        from engine.leakmask._colour_kernels import chroma_ramp, shrink_image, shrink_pair
        from engine.leakmask._refine_kernels import fast_guided_filter
        from engine.leakmask._similarity_kernels import orientation_similarity
        from engine.leakmask._ssim_u8_kernel import ssim_u8_box_strip

        f32 = np.float32
        gray = _both(np.zeros((16, 16), np.uint8))
        out = np.empty((16, 16), f32)
        buf = np.empty((8, 23), np.int32)
        one = f32(1.0)
        # every input as the live path passes it: writeable, or read-only (a reference the
        # tracker keeps, a registration reused frame after frame): numba compiles each kind
        # apart, and a kind left out was compiled in the middle of a capture run, on the
        # first frame that brought it (95 s of no results and no captures on a loaded
        # machine, a fresh install's first night)
        for a, b in product(gray, gray):
            ssim_u8_box_strip(a, b, out, 0, 16, 7, one, one, f32(2.0), one, buf)
        flat = _both(np.zeros((16, 48), np.uint8))
        small = np.empty((2, 8, 24), np.uint8)
        for a, b in product(flat, flat):
            shrink_pair(a, b, 2, small)
        for a in flat:
            shrink_image(a, 2, small[0])
        chroma_ramp(small.reshape(16, 24), 5, 10.0, 25.0)
        planes = np.empty((13, 8, 8), f32)
        table = np.empty((1, 11, 11))
        for p, guide in product(_both(np.zeros((16, 16), f32)), flat):
            fast_guided_filter(
                p, guide, 1, 1e-3, out, planes, table, planes, np.empty((4, 9, 16), f32)
            )
        for a, b in product(gray, gray):
            orientation_similarity(a, b, 5, 0.1, out, np.empty((6, 16, 16), f32))
        _READY.set()


def _both(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` (writeable) and a read-only copy of it."""
    ro = a.copy()
    ro.setflags(write=False)
    return a, ro


def fallback_used() -> None:
    """Count a call served by OpenCV; the `AUTO_WARM_AFTER`-th starts `warm_in_background`."""
    _FALLBACK_CALLS[0] += 1  # a lost update between threads only delays the start
    if _FALLBACK_CALLS[0] >= AUTO_WARM_AFTER:
        warm_in_background()


def warm_in_background() -> None:
    """Start `warm_kernels` on a daemon thread, once per process."""
    if _READY.is_set() or _STARTED.is_set():
        return
    with _LOCK:
        if _STARTED.is_set():
            return
        _STARTED.set()
    threading.Thread(target=_warm_quietly, name="nightlab-warm-kernels", daemon=True).start()


def _warm_quietly() -> None:
    """`warm_kernels`, compiling in a child process first when the disk cache lacks them."""
    if not _cached():
        root = str(Path(__file__).resolve().parents[2])  # the folder holding ``engine``
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        code = "from engine.leakmask._warm import warm_kernels; warm_kernels()"
        try:
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, timeout=900, check=False
            )
        except (OSError, subprocess.SubprocessError):
            pass  # then this process compiles them itself, below
    warm_kernels()


def _cached() -> bool:
    """Whether numba's disk cache has an index for every live-path kernel (a cheap check:
    importing the modules compiles nothing)."""
    try:
        from engine.leakmask._colour_kernels import chroma_ramp, shrink_image, shrink_pair
        from engine.leakmask._refine_kernels import fast_guided_filter
        from engine.leakmask._similarity_kernels import orientation_similarity
        from engine.leakmask._ssim_u8_kernel import ssim_u8_box_strip

        kernels = (
            ssim_u8_box_strip,
            shrink_pair,
            shrink_image,
            chroma_ramp,
            fast_guided_filter,
            orientation_similarity,
        )
        return all(os.path.exists(k._cache._cache_file._index_path) for k in kernels)
    except Exception:  # numba's cache internals moved: assume not cached
        return False
