"""Compiled passes (numba) of the night-colour leak cue: shrink, chroma difference, ramp.

The cue compares the night frame's chroma with the reference's at the working resolution.
With OpenCV and numpy it took a dozen calls and as many temporaries per frame (two 2x
resizes and a float conversion of each colour image, two float box filters, a subtraction,
a median, a magnitude and a ramp). Here it is two single-threaded passes around one
``cvtColor``:

``shrink_pair``
    both colour images to the working resolution, two levels of 2x at a time, into one
    stacked array (so OpenCV's 8-bit Lab table runs once for both). Each 2x level rounds
    exactly as OpenCV's 2x ``INTER_AREA`` does for uint8, ``(a + b + c + d + 2) >> 2``, so
    the result equals the repeated 2x resizes of ``engine.leakmask._mask._shrink``.
``chroma_ramp``
    from the stacked 8-bit Lab images: the a, b differences (exact integers: the 128
    offsets cancel), their box sums with OpenCV's ``BORDER_REFLECT`` (exact integers: box
    filtering the difference equals filtering each image and subtracting, without the
    rounding), the median difference over every other pixel (the global colour cast), the
    distance and the ramp, in float32. Equal to the float version up to its float32
    rounding (~1e-5 ab units).

Rows are handled flat (``x * 3 + c``) with the three channels written out, so LLVM
vectorises the loops; numba compiles them on first use and caches them on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.leakmask._njit import JIT as _JIT
from engine.leakmask._njit import reflect as _reflect

__all__ = ["chroma_ramp", "shrink_image", "shrink_pair"]


@njit(**_JIT)
def shrink_pair(a, b, factor, out):
    """Block means of ``a`` and ``b`` (uint8 ``(H, W * 3)``: RGB rows, flat) by ``factor``
    (a power of two) into ``out[0]`` and ``out[1]`` (uint8 ``(H // factor, W // factor * 3)``),
    rounded at each 2x level as OpenCV's uint8 ``INTER_AREA``."""
    shrink_image(a, factor, out[0])
    shrink_image(b, factor, out[1])


@njit(**_JIT)
def shrink_image(src, factor, out):
    """`shrink_pair` for one image: ``src`` uint8 ``(H, W * 3)`` into ``out`` uint8
    ``(H // factor, W // factor * 3)``."""
    sh, sw = out.shape[0], out.shape[1] // 3
    f = factor
    while f > 1:
        step = 4 if f >= 4 else 2
        f //= step
        rows, cols = sh * f, sw * f  # what the next levels need of this one
        dst = out if f == 1 else np.empty((rows, cols * 3), np.uint8)
        if step == 4:
            _quarter(src, dst, rows, cols)
        else:
            _halve(src, dst, rows, cols)
        src = dst
    if factor == 1:
        out[:, :] = src[:sh, : sw * 3]


@njit(**_JIT)
def _halve(src, dst, rows, cols):
    """2x ``INTER_AREA`` (uint8 rounding) of flat RGB rows into ``dst[:rows, :cols * 3]``."""
    v = np.empty(cols * 6, np.uint16)
    for y in range(rows):
        r0, r1, d = src[2 * y], src[2 * y + 1], dst[y]
        for i in range(cols * 6):
            v[i] = np.uint16(r0[i]) + np.uint16(r1[i])
        for x in range(cols):
            d[3 * x] = (v[6 * x] + v[6 * x + 3] + 2) >> 2
            d[3 * x + 1] = (v[6 * x + 1] + v[6 * x + 4] + 2) >> 2
            d[3 * x + 2] = (v[6 * x + 2] + v[6 * x + 5] + 2) >> 2


@njit(**_JIT)
def _quarter(src, dst, rows, cols):
    """Two 2x ``INTER_AREA`` levels at once (each rounded) into ``dst[:rows, :cols * 3]``."""
    v = np.empty(cols * 12, np.uint16)
    lv = np.empty((2, cols * 6), np.uint16)
    for y in range(rows):
        for half in range(2):
            r0, r1, o = src[4 * y + 2 * half], src[4 * y + 2 * half + 1], lv[half]
            for i in range(cols * 12):
                v[i] = np.uint16(r0[i]) + np.uint16(r1[i])
            for x in range(cols * 2):
                o[3 * x] = (v[6 * x] + v[6 * x + 3] + 2) >> 2
                o[3 * x + 1] = (v[6 * x + 1] + v[6 * x + 4] + 2) >> 2
                o[3 * x + 2] = (v[6 * x + 2] + v[6 * x + 5] + 2) >> 2
        p, q, d = lv[0], lv[1], dst[y]
        for x in range(cols):
            d[3 * x] = (p[6 * x] + p[6 * x + 3] + q[6 * x] + q[6 * x + 3] + 2) >> 2
            d[3 * x + 1] = (p[6 * x + 1] + p[6 * x + 4] + q[6 * x + 1] + q[6 * x + 4] + 2) >> 2
            d[3 * x + 2] = (p[6 * x + 2] + p[6 * x + 5] + q[6 * x + 2] + q[6 * x + 5] + 2) >> 2


@njit(**_JIT)
def chroma_ramp(lab, window, lo, hi):
    """Change ramp of a stacked 8-bit Lab pair -> float32 ``(h, w)``.

    ``lab``: uint8 ``(2 h, w * 3)``, flat Lab rows, the night frame above the reference.
    ``clip((|box mean of (ab_night - ab_ref) - cast| - lo) / (hi - lo), 0, 1)``; the box is
    ``window`` wide with a reflected border, the cast the median over every other pixel of
    each axis of the box means, per channel.
    """
    h, w = lab.shape[0] // 2, lab.shape[1] // 3
    r = window // 2
    diff = np.empty((2, h, w), np.int32)
    for y in range(h):
        rn, rr, da, db = lab[y], lab[h + y], diff[0, y], diff[1, y]
        for x in range(w):
            da[x] = np.int32(rn[3 * x + 1]) - np.int32(rr[3 * x + 1])
            db[x] = np.int32(rn[3 * x + 2]) - np.int32(rr[3 * x + 2])
    box = np.zeros((2, h, w), np.int32)
    pad = np.empty(w + 2 * r, np.int32)
    for q in range(2):
        for y in range(h):
            # vertical window sum into the padded row, then its horizontal window sums
            inner = pad[r : r + w]
            inner[:] = 0
            for k in range(-r, r + 1):
                src = diff[q, _reflect(y + k, h)]
                for x in range(w):
                    inner[x] += src[x]
            for k in range(r):
                pad[k] = pad[r + _reflect(k - r, w)]
                pad[r + w + k] = pad[r + _reflect(w + k, w)]
            dst = box[q, y]
            for k in range(window):
                for x in range(w):
                    dst[x] += pad[x + k]
    # the global colour cast: the median box sum over every other pixel of each axis
    sample = np.empty(((h + 1) // 2) * ((w + 1) // 2))
    cast = np.empty(2)
    for q in range(2):
        i = 0
        for y in range(0, h, 2):
            for x in range(0, w, 2):
                sample[i] = box[q, y, x]
                i += 1
        cast[q] = np.median(sample)
    f32 = np.float32
    inv_n = 1.0 / (window * window)
    ma, mb = f32(cast[0] * inv_n), f32(cast[1] * inv_n)
    f_lo, f_scale, zero, one = f32(lo), f32(1.0 / (hi - lo)), f32(0.0), f32(1.0)
    out = np.empty((h, w), np.float32)
    for y in range(h):
        ba, bb, o = box[0, y], box[1, y], out[y]
        for x in range(w):
            da = f32(ba[x] * inv_n) - ma
            db = f32(bb[x] * inv_n) - mb
            o[x] = min(max((np.sqrt(da * da + db * db) - f_lo) * f_scale, zero), one)
    return out
