"""The fast guided filter of the refinement in one compiled pass (numba).

`engine.leakmask._refine.guided_refine` with ``subsample=2`` at the working resolution
(160x120 for 640x480 frames) is some sixty OpenCV/numpy calls on 80x60 and 160x120 planes:
two 2x shrinks, thirteen box filters for the 3x3 covariance, the per-pixel inverse, four more
box filters, four enlargements and the weighted sum. On planes this small each call's
overhead and its fresh temporaries cost more than its arithmetic (0.35-0.55 ms per frame for
the colour guide). Here the same steps run in one call:

1. both inputs halved by 2x2 block means (OpenCV's ``INTER_AREA`` for an exact 2x: the
   guide rounded as its uint8 version, ``(a + b + c + d + 2) >> 2``, the values in float);
2. the window means of the guide, the values and their products (float32, as in the OpenCV
   version) from float64 summed-area tables over the reflected (``BORDER_REFLECT``) half
   grid, one plane at a time; the linear model per window in float64 (3x3 covariance
   inverted by cofactors, or the 1-D ratio for a gray guide);
3. the window means of the coefficients, the same way;
4. the coefficients enlarged 2x bilinearly (``INTER_LINEAR``: pixel centres mapped, the
   border replicated) and applied to the full-resolution guide, clipped to [0, 1].

The OpenCV version forms the window sums and ``E[g^2] - E[g]^2`` in float32; this one in
float64, so the two differ by float32 rounding (within 5e-7 on the bench frames;
`tests/test_leakmask_refine.py` bounds it at 2e-5). An odd last row or column is left out
of the half grid (which is ``h // 2`` by ``w // 2``) and repeats the one before it in the
output, in both versions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.leakmask._njit import JIT as _JIT
from engine.leakmask._njit import reflect as _reflect

__all__ = ["fast_guided_filter"]


@njit(**_JIT)
def _integral(planes, r, t):
    """Summed-area tables (float64) of ``planes`` ``(q, h, w)`` reflected by ``r`` each side
    into ``t`` ``(q, h + 2 r + 1, w + 2 r + 1)``: ``t[q, y, x]`` = sum over padded rows ``< y``
    and columns ``< x``.

    The running sum along a row is a chain of dependent adds: four rows are summed at once
    (four independent chains), then the rows are accumulated downwards (vectorised).
    """
    nq, h, w = planes.shape
    ph, pw = h + 2 * r, w + 2 * r
    t[:, 0, :] = 0.0
    t[:, :, 0] = 0.0
    cols = np.empty(pw, np.int64)
    for x in range(pw):
        cols[x] = _reflect(x - r, w)
    n = nq * ph
    for first in range(0, n, 4):
        # the last group repeats the last row where it runs out (the same values, twice)
        q0, q1 = first, min(first + 1, n - 1)
        q2, q3 = min(first + 2, n - 1), min(first + 3, n - 1)
        s0 = planes[q0 // ph, _reflect(q0 % ph - r, h)]
        s1 = planes[q1 // ph, _reflect(q1 % ph - r, h)]
        s2 = planes[q2 // ph, _reflect(q2 % ph - r, h)]
        s3 = planes[q3 // ph, _reflect(q3 % ph - r, h)]
        d0 = t[q0 // ph, q0 % ph + 1]
        d1 = t[q1 // ph, q1 % ph + 1]
        d2 = t[q2 // ph, q2 % ph + 1]
        d3 = t[q3 // ph, q3 % ph + 1]
        a0 = a1 = a2 = a3 = 0.0
        for x in range(pw):
            i = cols[x]
            a0 += s0[i]
            a1 += s1[i]
            a2 += s2[i]
            a3 += s3[i]
            d0[x + 1] = a0
            d1[x + 1] = a1
            d2[x + 1] = a2
            d3[x + 1] = a3
    for q in range(nq):
        for y in range(1, ph + 1):
            above, row = t[q, y - 1], t[q, y]
            for x in range(pw + 1):
                row[x] += above[x]


@njit(**_JIT)
def _box_means(t, k, out):
    """Window means into ``out`` ``(q, hh, hw)`` from the summed-area tables of `_integral`
    (window ``k``)."""
    nq, hh, hw = out.shape
    inv_area = 1.0 / (k * k)
    for q in range(nq):
        for y in range(hh):
            top, bottom, dst = t[q, y], t[q, y + k], out[q, y]
            a, b = top[k:], bottom[k:]  # views: an index ``x + k`` would keep the loop scalar
            for x in range(hw):
                dst[x] = ((b[x] - a[x]) - (bottom[x] - top[x])) * inv_area


@njit(**_JIT)
def _box_filter(planes, r, table, out):
    """Window (``2 r + 1``) means of each plane into ``out``, through one summed-area table
    reused plane after plane."""
    k = 2 * r + 1
    for q in range(planes.shape[0]):
        _integral(planes[q : q + 1], r, table)
        _box_means(table, k, out[q : q + 1])


@njit(**_JIT)
def fast_guided_filter(values, guide, radius, eps, out, planes, table, mean, wide):
    """Fast guided filter (subsample 2) of ``values`` steered by ``guide`` into ``out``.

    ``values``: float32 ``(h, w)``; ``guide``: uint8 ``(h, w * c)``
    (flat rows of ``c`` = 1 or 3 channels); ``radius``: the half side of the box on the
    half-size grid; ``eps``: regularisation in units of the guide scaled to [0, 1];
    ``out``: float32 ``(h, w)``, ``clip(mean_b + sum_c mean_a_c * guide_c, 0, 1)``.
    Scratch (kept by the caller between frames: fresh pages cost more than the arithmetic),
    with ``n = 2 c + 1 + c (c + 1) / 2`` statistics: float32 ``planes`` and ``mean``
    ``(n, h / 2, w / 2)``; float64 ``table`` ``(1, h / 2 + 2 radius + 1, w / 2 + 2 radius +
    1)``, one plane's summed-area table at a time (all of it stays in L2: with float64
    planes and a table per plane the filter streamed 1.7 MB per frame through the caches
    and took twice its isolated time inside the leak mask); float32 ``wide``
    ``(c + 1, h / 2 + 1, w)``.
    """
    h, w = values.shape
    c = guide.shape[1] // w
    # 1. the half grid: guide channels (scaled to [0, 1]) and values, then their products:
    #    g_i, p, g_i g_j (i <= j), g_i p
    _halve(values, guide, c, planes)
    q = c + 1
    for i in range(c):
        for j in range(i, c):
            _product(planes[i], planes[j], planes[q])
            q += 1
    for i in range(c):
        _product(planes[i], planes[c], planes[q + i])
    # 2. window statistics and the linear model ``p ~ a . g + b`` per window
    _box_filter(planes, radius, table, mean)
    coef = planes[: c + 1]  # the statistics are not needed any more
    if c == 1:
        _gray_model(mean, eps, coef)
    else:
        _colour_model(mean, eps, coef)
    # 3. the window means of the coefficients
    _box_filter(coef, radius, table, mean[: c + 1])
    # 4. enlarged 2x (INTER_LINEAR) and applied to the full-resolution guide
    _enlarge_apply(mean[: c + 1], guide, c, out, wide)


@njit(**_JIT)
def _halve(values, guide, c, planes):
    """2x2 block means: the guide's channels as OpenCV's uint8 ``INTER_AREA`` rounds them,
    scaled to [0, 1], into ``planes[:c]``; the values (float32, as OpenCV's float
    ``INTER_AREA``) into ``planes[c]``."""
    hh, hw = planes.shape[1], planes.shape[2]
    inv255 = np.float32(1.0 / 255.0)
    quarter = np.float32(0.25)
    for y in range(hh):
        g0, g1, v0, v1 = guide[2 * y], guide[2 * y + 1], values[2 * y], values[2 * y + 1]
        for ch in range(c):
            dst = planes[ch, y]
            for x in range(hw):
                i, j = 2 * x * c + ch, (2 * x + 1) * c + ch
                s = np.int32(g0[i]) + np.int32(g0[j]) + np.int32(g1[i]) + np.int32(g1[j])
                dst[x] = np.float32((s + 2) >> 2) * inv255
        dst = planes[c, y]
        for x in range(hw):
            a = np.float32(v0[2 * x]) + np.float32(v0[2 * x + 1])
            b = np.float32(v1[2 * x]) + np.float32(v1[2 * x + 1])
            dst[x] = np.float32((a + b) * quarter)


@njit(**_JIT)
def _product(a, b, out):
    for y in range(a.shape[0]):
        ra, rb, ro = a[y], b[y], out[y]
        for x in range(a.shape[1]):
            ro[x] = ra[x] * rb[x]


@njit(**_JIT)
def _gray_model(mean, eps, coef):
    """``a = cov(g, p) / (var g + eps)``, ``b = E[p] - a E[g]`` from the window means
    ``[g, p, g g, g p]``."""
    f = np.float64
    for y in range(mean.shape[1]):
        mg, mp, mgg, mgp = mean[0, y], mean[1, y], mean[2, y], mean[3, y]
        ca, cb = coef[0, y], coef[1, y]
        for x in range(mean.shape[2]):
            g, p = f(mg[x]), f(mp[x])
            a = (f(mgp[x]) - g * p) / (f(mgg[x]) - g * g + eps)
            ca[x] = a
            cb[x] = p - a * g


@njit(**_JIT)
def _colour_model(mean, eps, coef):
    """``a = (cov(g) + eps I)^-1 cov(g, p)``, ``b = E[p] - a . E[g]`` from the window means
    ``[g0, g1, g2, p, g0g0, g0g1, g0g2, g1g1, g1g2, g2g2, g0p, g1p, g2p]``; the symmetric
    3x3 inverse by cofactors (positive definite thanks to eps)."""
    f = np.float64
    for y in range(mean.shape[1]):
        for x in range(mean.shape[2]):
            g0, g1, g2, p = f(mean[0, y, x]), f(mean[1, y, x]), f(mean[2, y, x]), f(mean[3, y, x])
            s00 = f(mean[4, y, x]) - g0 * g0 + eps
            s01 = f(mean[5, y, x]) - g0 * g1
            s02 = f(mean[6, y, x]) - g0 * g2
            s11 = f(mean[7, y, x]) - g1 * g1 + eps
            s12 = f(mean[8, y, x]) - g1 * g2
            s22 = f(mean[9, y, x]) - g2 * g2 + eps
            c0 = f(mean[10, y, x]) - g0 * p
            c1 = f(mean[11, y, x]) - g1 * p
            c2 = f(mean[12, y, x]) - g2 * p
            i00 = s11 * s22 - s12 * s12
            i01 = s02 * s12 - s01 * s22
            i02 = s01 * s12 - s02 * s11
            i11 = s00 * s22 - s02 * s02
            i12 = s01 * s02 - s00 * s12
            i22 = s00 * s11 - s01 * s01
            inv_det = 1.0 / (s00 * i00 + s01 * i01 + s02 * i02)
            a0 = (i00 * c0 + i01 * c1 + i02 * c2) * inv_det
            a1 = (i01 * c0 + i11 * c1 + i12 * c2) * inv_det
            a2 = (i02 * c0 + i12 * c1 + i22 * c2) * inv_det
            coef[0, y, x] = a0
            coef[1, y, x] = a1
            coef[2, y, x] = a2
            coef[3, y, x] = p - a0 * g0 - a1 * g1 - a2 * g2


@njit(**_JIT)
def _enlarge_apply(mean, guide, c, out, wide):
    """``out = clip(B + sum_c A_c * guide_c / 255, 0, 1)``, ``A``, ``B``: ``mean`` enlarged 2x
    as OpenCV's ``INTER_LINEAR`` does (output ``x`` samples ``x / 2 - 0.25``: weights 1/4
    and 3/4, the border replicated), first along each half-size row, then between rows."""
    nq, hh, hw = mean.shape
    h, w = out.shape
    f32 = np.float32
    # wide[:, :hh]: each half-size row enlarged along x; wide[:, hh]: one output row
    for q in range(nq):
        for y in range(hh):
            s, d = mean[q, y], wide[q, y]
            d[0] = s[0]
            d[2 * hw - 1] = s[hw - 1]
            d[w - 1] = s[hw - 1]  # an odd width's last column repeats the one before
            for x in range(1, hw):
                lo, hi = f32(s[x - 1]), f32(s[x])
                d[2 * x - 1] = f32(0.75) * lo + f32(0.25) * hi
                d[2 * x] = f32(0.25) * lo + f32(0.75) * hi
    row = wide[:, hh]
    one, zero, scale = f32(1.0), f32(0.0), f32(1.0 / 255.0)
    for y in range(h):
        y0, y1, fy = _linear(y, hh)
        gy = one - fy
        for q in range(nq):
            top, bottom, dst = wide[q, y0], wide[q, y1], row[q]
            for x in range(w):
                dst[x] = gy * top[x] + fy * bottom[x]
        g, o, b = guide[y], out[y], row[c]
        for x in range(w):
            o[x] = b[x]
        for ch in range(c):
            a = row[ch]
            for x in range(w):
                o[x] += a[x] * (f32(g[x * c + ch]) * scale)
        for x in range(w):
            o[x] = min(max(o[x], zero), one)


@njit(**_JIT)
def _linear(x, n):
    """Source indices and weight of output ``x`` of an exact 2x ``INTER_LINEAR`` enlargement
    of ``n`` samples: centre ``x / 2 - 0.25``, replicated beyond the ends (so an odd last
    output row repeats the one before)."""
    s = 0.5 * x - 0.25
    i = int(np.floor(s))
    f = np.float32(s - i)
    if i < 0:
        return 0, 0, np.float32(0.0)
    if i >= n - 1:
        return n - 1, n - 1, np.float32(0.0)
    return i, i + 1, f
