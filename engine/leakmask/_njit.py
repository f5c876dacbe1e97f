"""What the leak mask's compiled kernels share: their numba options and the reflected index.

``nogil`` lets strips run on several threads; ``cache`` keeps compiled code on disk between
processes (see `_warm`); ``error_model="numpy"`` drops Python's zero-division checks, which
would otherwise keep the loops scalar. numba's disk cache is keyed on the *calling* module's
source: after changing `reflect`, clear ``__pycache__`` (CI and fresh installs start empty).
"""

from __future__ import annotations

from numba import njit

__all__ = ["JIT", "reflect"]

JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@njit(**JIT)
def reflect(i, n):
    """Index ``i`` reflected into ``[0, n)`` with the edge repeated (``cba|abcd|dcb``): OpenCV's
    ``BORDER_REFLECT`` and scipy's ``mode='reflect'``, for any ``i`` (windows may be wider
    than the image)."""
    period = 2 * n
    i = i % period  # Python's modulo: non-negative for a negative i
    return i if i < n else period - 1 - i
