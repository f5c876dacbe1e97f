"""Compile or load the live path's numba kernels ahead of the first frame.

``ssim_map`` on uint8 images with the box window (the live view's SSIM label) and the leak
mask's night-colour cue run compiled kernels. The first call of a process imports numba and
loads them from its on-disk cache (about a second); the first call after an install compiles
them (several seconds, longer on a busy machine). `warm_kernels` does that once per process,
so a caller can start it on a background thread when a live session opens instead of the
first frame paying it.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["warm_kernels"]

_LOCK = threading.Lock()
_DONE = threading.Event()


def warm_kernels() -> None:
    """Load (or on first use compile) the uint8/box SSIM and night-colour kernels; once per
    process, later calls return at once (concurrent ones wait for the first).

    Examples
    --------
    >>> warm_kernels()
    >>> warm_kernels()  # already done: returns at once
    """
    if _DONE.is_set():
        return
    with _LOCK:
        if _DONE.is_set():
            return
        from engine.leakmask._cues import colour_ramp
        from engine.leakmask._ssim import ssim_map

        gray = np.zeros((16, 16), np.uint8)
        ssim_map(gray, gray, data_range=255)
        rgb = np.zeros((16, 16, 3), np.uint8)
        colour_ramp(rgb, rgb, factor=2, window=5, lo=10.0, hi=25.0)
        _DONE.set()
