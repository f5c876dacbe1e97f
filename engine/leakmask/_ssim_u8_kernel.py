"""Compiled uint8 / box-window SSIM strips (numba): exact integer window sums, one pass.

The same numbers as the OpenCV version this replaces (``ssim_map``'s former uint8 path), to
the bit: the window sums of ``x``, ``y``, ``(x - y)^2`` and ``x * y`` are exact integers,
the variance and covariance numerators ``N * sum(x * y) - sum(x) * sum(y)`` and
``N * sum((x - y)^2) - (sum(x) - sum(y))^2`` are formed exactly in int32 (so nothing
cancels), and the last few operations are float32 in the same order. What changes is the
memory traffic: OpenCV's four box filters and numpy's dozen whole-strip operations each
read and wrote a strip of int32 or float32 (~20 passes over memory per pixel); here the
column sums slide down the strip (one row in, one out), the row sums are a few vectorised
adds over a padded row in L1, and the formula runs on those rows: about 3x less CPU time at
640x480 (see README, Performance). Compiled on first use and cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.leakmask._njit import JIT as _JIT
from engine.leakmask._njit import reflect as _reflect
from engine.leakmask._ssim_kernels import _pad_sources

__all__ = ["ssim_u8_box_strip"]


@njit(**_JIT)
def ssim_u8_box_strip(x, y, out, r0, r1, win, c1, c2, two_cn, cn, buf):
    """uint8 SSIM of output rows ``[r0, r1)`` into ``out[0 : r1 - r0]`` (float32).

    ``win``: the box side (<= 13, so every sum and numerator fits int32 exactly); ``c1``,
    ``c2``: the constants scaled by ``N^2`` (the sums are used unnormalised); ``two_cn``,
    ``cn``: float32 ``2 * cov_norm`` and ``cov_norm``. ``buf``: int32 ``(8, w + win)``
    scratch. Rows and columns beyond the image are reflected (``BORDER_REFLECT``).
    """
    h, w = x.shape
    r = win // 2
    n = np.int32(win * win)
    # column (vertical window) sums of x, y, (x - y)^2, x * y at [r : r + w], reflected
    # values each side; then their window sums along the row: the box sums
    col, hs = buf[0:4], buf[4:8]
    src = _pad_sources(r, w)
    for q in range(4):
        col[q, :] = 0
    for k in range(-r, r + 1):
        _add_row(col, x[_reflect(r0 + k, h)], y[_reflect(r0 + k, h)], r, w, 1)
    for i in range(r0, r1):
        if i > r0:
            _add_row(col, x[_reflect(i + r, h)], y[_reflect(i + r, h)], r, w, 1)
            _add_row(col, x[_reflect(i - r - 1, h)], y[_reflect(i - r - 1, h)], r, w, -1)
        _row_sums(hs, col, r, win, w, src)
        _formula(hs, out[i - r0], n, c1, c2, two_cn, cn, w)


@njit(**_JIT)
def _add_row(col, xr, yr, r, w, sign):
    """``col[:, r : r + w] += sign * (x, y, (x - y)^2, x * y)`` of one image row (exact).

    One loop per statistic: with four outputs in one loop LLVM would need more run-time
    overlap checks than it allows and keep the loop scalar (4x slower)."""
    sx, sy, sd, sp = col[0, r : r + w], col[1, r : r + w], col[2, r : r + w], col[3, r : r + w]
    for j in range(w):
        sx[j] += sign * np.int32(xr[j])
    for j in range(w):
        sy[j] += sign * np.int32(yr[j])
    for j in range(w):
        d = np.int32(xr[j]) - np.int32(yr[j])
        sd[j] += sign * (d * d)
    for j in range(w):
        sp[j] += sign * (np.int32(xr[j]) * np.int32(yr[j]))


@njit(**_JIT)
def _row_sums(hs, col, r, win, w, src):
    """Window sums along the row of each column sum (``col[q, r : r + w]``) into ``hs``.

    ``r`` reflected values are first put each side (``src``: `_pad_sources`); then the sums
    are plain loops that LLVM vectorises: for the default 7-wide window one loop adding
    seven shifted values in registers, for other windows ``win`` passes adding one shifted
    copy each (a loop over a window of run-time size inside the loop over ``j`` would stay
    scalar).
    """
    for q in range(4):
        p, s = col[q], hs[q]
        for k in range(r):
            p[k] = p[src[k]]
            p[r + w + k] = p[src[r + k]]
        if win == 7:
            for j in range(w):
                s[j] = p[j] + p[j + 1] + p[j + 2] + p[j + 3] + p[j + 4] + p[j + 5] + p[j + 6]
            continue
        for j in range(w):
            s[j] = p[j]
        for k in range(1, win):
            for j in range(w):
                s[j] += p[j + k]


@njit(**_JIT)
def _formula(s, orow, n, c1, c2, two_cn, cn, w):
    """SSIM from the exact window sums, in the former OpenCV path's float32 order."""
    f32 = np.float32
    two = f32(2.0)
    sx, sy, sd, sp = s[0], s[1], s[2], s[3]
    for j in range(w):
        p = sx[j] * sy[j]  # Sx*Sy
        d = sx[j] - sy[j]
        d = d * d  # (Sx - Sy)^2
        cov = sp[j] * n - p  # N^2 cov(x, y), exact
        var_d = sd[j] * n - d  # N^2 var(x - y), exact
        a1 = f32(p) * two + c1  # 2 ux uy + C1
        b1 = f32(d) + a1  # ux^2 + uy^2 + C1
        a2 = f32(cov) * two_cn  # 2 vxy
        b2 = f32(var_d) * cn + a2 + c2  # var(x - y) + 2 vxy + C2 = vx + vy + C2
        orow[j] = ((a2 + c2) * a1) / (b1 * b2)
