"""The orientation similarity of the leak mask in one compiled call (numba).

`engine.leakmask._similarity._orientation_similarity` is some thirty OpenCV/numpy calls on
the working grid (160x120 for 640x480 frames): four Sobel filters, the doubled-angle vectors
of each image, six box filters, two medians and the formula, each with its own temporary.
On planes this small the calls' overhead and fresh memory cost more than the arithmetic
(~0.4 ms per frame). Here:

1. one pass over both images: Sobel gradients (``BORDER_REFLECT``, exact integers), each
   image's orientation vector ``|g| (cos 2t, sin 2t)`` and energy ``|g|^2``, and their
   product, in float32 operation by operation as the numpy version;
2. the box mean applied twice to the three planes (running float64 sums, each blur stored
   in float32 as ``cv2.blur`` stores it);
3. each image's typical energy (median of every other pixel of each axis) and the formula.

Equal to the numpy version up to float32 rounding of the box sums (OpenCV sums in a
different order): `tests/test_leakmask.py` compares the two.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.leakmask._njit import JIT as _JIT
from engine.leakmask._njit import reflect as _reflect

__all__ = ["orientation_similarity"]


@njit(**_JIT)
def _vectors(img, u, v, e, pad, dx, sm):
    """Sobel gradients of ``img`` (uint8) and ``(|g| cos 2t, |g| sin 2t, |g|^2)`` in float32,
    as `_orientation_vectors` computes them. Scratch: int32 ``pad`` ``(w + 2)``, ``dx`` and
    ``sm`` ``(h, w)`` (each row's horizontal derivative and smoothing, the Sobel's halves)."""
    h, w = img.shape
    f32 = np.float32
    tiny, one, two = f32(1e-6), f32(1.0), f32(2.0)
    left, centre, right = pad[0:w], pad[1 : w + 1], pad[2 : w + 2]  # views: vectorised loops
    for y in range(h):
        src = img[y]
        for x in range(w):
            pad[x + 1] = np.int32(src[x])
        pad[0] = pad[1 + _reflect(-1, w)]
        pad[w + 1] = pad[1 + _reflect(w, w)]
        d, m = dx[y], sm[y]
        for x in range(w):
            d[x] = right[x] - left[x]
            m[x] = left[x] + 2 * centre[x] + right[x]
    for y in range(h):
        du, dm, dd = dx[_reflect(y - 1, h)], dx[y], dx[_reflect(y + 1, h)]
        su, sd = sm[_reflect(y - 1, h)], sm[_reflect(y + 1, h)]
        ur, uo, ue = u[y], v[y], e[y]
        for x in range(w):
            fx = f32(du[x] + 2 * dm[x] + dd[x])
            fy = f32(sd[x] - su[x])
            xx, yy = fx * fx, fy * fy
            energy = xx + yy
            inv = one / (np.sqrt(energy) + tiny)
            ur[x] = (xx - yy) * inv
            uo[x] = (two * fx * fy) * inv
            ue[x] = energy


@njit(**_JIT)
def _blur(src, dst, k, col, row):
    """``cv2.blur(src, (k, k), borderType=BORDER_REFLECT)`` into ``dst`` (float32): window
    sums in float64 (a running sum down the columns, a direct sum along the row), the mean
    stored in float32."""
    h, w = src.shape
    r = k // 2
    inv = 1.0 / (k * k)
    col[:] = 0.0
    for j in range(-r, r + 1):
        s = src[_reflect(j, h)]
        for x in range(w):
            col[x] += s[x]
    acc = np.empty(w)
    for y in range(h):
        if y > 0:
            new, old = src[_reflect(y + r, h)], src[_reflect(y - r - 1, h)]
            for x in range(w):
                col[x] += np.float64(new[x]) - np.float64(old[x])
        # the column sums, reflected at both ends, then their window sums along the row
        inner = row[r : r + w]
        for x in range(w):
            inner[x] = col[x]
        for x in range(r):
            row[x] = col[_reflect(x - r, w)]
            row[r + w + x] = col[_reflect(w + x, w)]
        acc[:] = 0.0
        for t in range(k):
            shifted = row[t : t + w]
            for x in range(w):
                acc[x] += shifted[x]
        d = dst[y]
        for x in range(w):
            d[x] = np.float32(acc[x] * inv)


@njit(**_JIT)
def _smooth(plane, k, tmp, col, row):
    """The box mean applied twice, in place (`_similarity._smooth`)."""
    _blur(plane, tmp, k, col, row)
    _blur(tmp, plane, k, col, row)


@njit(**_JIT)
def _typical(energy):
    """Median of every other pixel of each axis + 1e-3 of their mean + 1e-6 (never 0)."""
    h, w = energy.shape
    sample = np.empty(((h + 1) // 2) * ((w + 1) // 2), np.float32)
    i = 0
    total = 0.0
    for y in range(0, h, 2):
        for x in range(0, w, 2):
            sample[i] = energy[y, x]
            total += energy[y, x]
            i += 1
    return float(np.median(sample)) + 1e-3 * (total / i) + 1e-6


@njit(**_JIT)
def orientation_similarity(night, reference, window, floor, out, scratch):
    """Orientation similarity of two gray uint8 images into ``out`` (float32, in [0, 1]).

    ``window``: the comparison window (odd); ``floor``: the contrast floor (the constant C,
    in units of each image's typical energy); ``scratch``: float32 ``(6, h, w)``.
    """
    h, w = night.shape
    ua, va, ea = scratch[0], scratch[1], scratch[2]
    ub, vb, eb = scratch[3], scratch[4], scratch[5]
    pad = np.empty(w + 2, np.int32)
    dx = np.empty((h, w), np.int32)
    sm = np.empty((h, w), np.int32)
    _vectors(night, ua, va, ea, pad, dx, sm)
    _vectors(reference, ub, vb, eb, pad, dx, sm)
    for y in range(h):
        a, b, c, d = ua[y], ub[y], va[y], vb[y]
        for x in range(w):
            a[x] = a[x] * b[x] + c[x] * d[x]  # |ga| |gb| cos(2 (ta - tb))
    col = np.empty(w)
    row = np.empty(w + window)
    tmp = scratch[1]  # va: no longer needed
    _smooth(ua, window, tmp, col, row)
    _smooth(ea, window, tmp, col, row)
    _smooth(eb, window, tmp, col, row)
    k_a, k_b = _typical(ea), _typical(eb)
    f32 = np.float32
    sa, sb = f32(1.0 / k_a), f32(1.0 / k_b)
    sc = 1.0 / np.sqrt(k_a * k_b)  # float64, as numpy multiplies by it
    fl, two, zero, one = f32(floor), f32(2.0), f32(0.0), f32(1.0)
    for y in range(h):
        cr, a, b, o = ua[y], ea[y], eb[y], out[y]
        for x in range(w):
            # signed on purpose: perpendicular structure (cos < 0) is as 'different' as it gets
            num = f32(cr[x] * sc) * two + fl
            den = (a[x] * sa + b[x] * sb) + fl
            o[x] = min(max(num / den, zero), one)
