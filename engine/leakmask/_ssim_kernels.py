"""Compiled SSIM strips (numba) for every input but uint8 with a box window.

One pass per output row does what scikit-image does with five whole-image filters and a
dozen whole-image temporaries: the window statistics of ``x``, ``y``, ``x*x``, ``y*y`` and
``x*y`` one axis at a time (rows of the image first, as ``scipy.ndimage``), then the SSIM
formula. Nothing image-sized is allocated; the row buffers stay in L1/L2.

Rounding follows scipy exactly. scipy accumulates each one-axis filter in float64 and stores
the result in the image's float type, so for float32 images each axis is rounded to float32
(``round32=True``) and the SSIM formula runs in float32 in scikit-image's operation order;
for float64 images, and uint8 ones (which scikit-image computes in float64; they arrive as
exact float32 copies), nothing is rounded until the final map. Sums are formed in a different
order than scipy's (running sums for the box, symmetric pairs for the Gaussian as scipy's
``correlate1d``), which moves a float64 sum by ~1e-16 and so flips a float32 rounding only
when the exact value sits within that of a rounding boundary.

Plain loops over contiguous rows, so LLVM vectorises them; ``error_model="numpy"`` drops
Python's zero-division checks, which would otherwise keep the loops scalar. ``nogil`` lets two
threads work on different strips. Compiled on first use (two versions: float32 and float64
images; several seconds each) and cached on disk next to this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.leakmask._njit import JIT as _JIT
from engine.leakmask._njit import reflect as _reflect

__all__ = ["ssim_strip"]


# float64 window sums may fuse multiply-adds (moves a sum by ~1e-16, like any summation
# order); the float32 formula never does, its every operation is rounded as numpy's
_JIT_FMA = {**_JIT, "fastmath": {"contract"}}


@njit(**_JIT)
def ssim_strip(x, y, out, r0, r1, taps, box, cov_norm, c1, c2, round32, ring):
    """SSIM of output rows ``[r0, r1)`` of ``x`` and ``y`` into ``out[0 : r1 - r0]`` (float32).

    ``taps``: the window, symmetric (``box``: ``n`` ones, the sums scaled by ``1/n`` as
    scipy's ``uniform_filter``; otherwise scipy's Gaussian weights). Rows outside the image
    are reflected, so any strip can be computed on its own, by any thread.
    """
    h, w = x.shape
    n = taps.shape[0]
    r = n // 2
    scale = 1.0 / n if box else 1.0
    if not box and r == 5:  # the default Gaussian (sigma 1.5): two output rows at a time
        _gauss11_strip(x, y, out, r0, r1, taps, cov_norm, c1, c2, round32, ring)
        return
    col = np.zeros((6, w + 6))  # vertical window sums of the five statistics; scratch
    pad = np.empty((5, 1, w + 2 * r))  # their means, padded for the horizontal pass
    hor = np.empty((5, w))  # horizontal window sums of those
    src = _pad_sources(r, w)
    hrows = np.zeros(n, np.int64)
    hstarts = np.arange(n)
    # ring (Gaussian): the window's rows of statistics, each image row computed once (row
    # i + k - r is kept at (i + k - r) mod n; the ring has n + 1 slots, see `_gauss11_strip`);
    # float32 when they are exact in it (float32 and uint8 images), which halves what the
    # vertical pass reads
    vrows = np.empty(n, np.int64)
    vstarts = np.zeros(n, np.int64)
    for i in range(r0, r1):
        if box and round32 and n == 7:  # the default box on float32 images: fused passes
            if i == r0:
                for q in range(5):
                    col[q, :] = 0.0
                    for k in range(n):
                        ii = _reflect(i + k - r, h)
                        _quantity(col[q], x[ii], y[ii], q, 1.0, w, True)
                    _store_padded(pad[q, 0], col[q], scale, r, w, True, src)
            else:
                new, old = _reflect(i + r, h), _reflect(i - r - 1, h)
                _slide32(col, pad, x[new], y[new], x[old], y[old], scale, r, w)
                for q in range(5):
                    _pad_ends(pad[q, 0], r, w, src)
            _sum7_formula32(pad, out[i - r0], scale, cov_norm, c1, c2, w)
            continue
        if box:
            # a running sum down the strip: two rows per step whatever the window
            for q in range(5):
                if q == 3 and not round32:
                    continue  # x^2 + y^2 is statistic 2 (see `_formula64`)
                acc = col[q]
                if i == r0:
                    acc[:] = 0.0
                    for k in range(n):
                        ii = _reflect(i + k - r, h)
                        _quantity(acc, x[ii], y[ii], q, 1.0, w, round32)
                    _store_padded(pad[q, 0], acc, scale, r, w, round32, src)
                else:
                    new, old = _reflect(i + r, h), _reflect(i - r - 1, h)
                    _slide(acc, pad[q, 0], x[new], y[new], x[old], y[old], q, scale, r, w, round32)
                    _pad_ends(pad[q, 0], r, w, src)
                # the window sum along the row: the taps are ones, a plain sum
                if n == 7:
                    _sum7(hor[q], pad[q, 0], col[5], w)
                else:
                    _symmetric(hor[q], pad[q], hrows, hstarts, taps, r, w)
        else:
            for k in range(0 if i == r0 else n - 1, n):  # the whole window, then one new row
                logical = i + k - r
                ii = _reflect(logical, h)
                _products(ring, (logical + n) % n, x[ii], y[ii], w, round32)
            for k in range(n):
                vrows[k] = (i + k - r + n) % n
            for q in range(5):
                if q == 3 and not round32:
                    continue  # x^2 + y^2 is statistic 2 (see `_formula64`)
                if r <= 5:  # one pass each way, rounded straight into the padded row
                    _vertical5(pad[q, 0], ring[q], vrows, taps, r, w, round32, src)
                    _horizontal5(hor[q], pad[q, 0], taps, r, w)
                else:
                    _symmetric(col[q], ring[q], vrows, vstarts, taps, r, w)
                    _store_padded(pad[q, 0], col[q], scale, r, w, round32, src)
                    _symmetric(hor[q], pad[q], hrows, hstarts, taps, r, w)
        if round32:
            _formula32(hor, out[i - r0], scale, cov_norm, c1, c2, w)
        else:
            _formula64(hor, out[i - r0], scale, cov_norm, c1, c2, w)


@njit(**_JIT)
def _gauss11_strip(x, y, out, r0, r1, taps, cov_norm, c1, c2, round32, ring):
    """`ssim_strip` for an 11-tap Gaussian, two output rows per step.

    The vertical pass is bound by loading (and widening to float64) the window's rows: two
    adjacent output rows share ten of their eleven, so `_vertical11x2` loads twelve rows for
    both. Each row's sum is the same expression as `_vertical5`'s, so the same float64
    value. The ring holds the twelve rows (slot ``row mod 12``).
    """
    h, w = x.shape
    r, m = 5, 12
    src = _pad_sources(r, w)
    pad = np.empty((2, 5, w + 2 * r))
    hor = np.empty((2, 5, w))
    rows = np.empty(m, np.int64)
    filled = r0 - r - 1  # the last image row (unreflected index) in the ring
    i = r0
    while i < r1:
        pair = i + 1 < r1
        last = i + r + 1 if pair else i + r
        for logical in range(max(filled + 1, i - r), last + 1):
            ii = _reflect(logical, h)
            _products(ring, (logical + m) % m, x[ii], y[ii], w, round32)
        filled = last
        for k in range(m):
            rows[k] = (i + k - r + m) % m
        for q in range(5):
            if q == 3 and not round32:
                continue  # x^2 + y^2 is statistic 2 (see `_formula64`)
            if pair:
                _vertical11x2(pad[0, q], pad[1, q], ring[q], rows, taps, w, round32, src)
            else:
                _vertical5(pad[0, q], ring[q], rows, taps, r, w, round32, src)
            if not round32:
                _horizontal5(hor[0, q], pad[0, q], taps, r, w)
                if pair:
                    _horizontal5(hor[1, q], pad[1, q], taps, r, w)
        for p in range(2 if pair else 1):
            if round32:  # the horizontal pass and the formula in one loop
                _horizontal_formula32(pad[p], out[i + p - r0], taps, cov_norm, c1, c2, w)
            else:
                _formula64(hor[p], out[i + p - r0], 1.0, cov_norm, c1, c2, w)
        i += 2 if pair else 1


@njit(**_JIT_FMA)
def _vertical11x2(v0, v1, ring, rows, taps, w, round32, src):
    """`_vertical5` (11 taps) for two adjacent output rows at once into the padded rows
    ``v0`` and ``v1``: ``rows[k]`` is the ring slot of image row ``i + k - 5``, k = 0..11.
    Both sums are written as in `_vertical5`, term for term, over the same loaded rows, so
    each row's twelve values are loaded and widened once for both outputs."""
    r0, r1, r2, r3, r4, r5 = (
        ring[rows[0]],
        ring[rows[1]],
        ring[rows[2]],
        ring[rows[3]],
        ring[rows[4]],
        ring[rows[5]],
    )
    r6, r7, r8, r9, r10, r11 = (
        ring[rows[6]],
        ring[rows[7]],
        ring[rows[8]],
        ring[rows[9]],
        ring[rows[10]],
        ring[rows[11]],
    )
    t0, t1, t2, t3, t4, t5 = _half_taps(taps, 5)
    o0, o1 = v0[5 : 5 + w], v1[5 : 5 + w]  # views: an index ``5 + j`` would stay scalar
    for j in range(w):
        f0, f1, f2, f3, f4, f5 = (
            _f64(r0[j]),
            _f64(r1[j]),
            _f64(r2[j]),
            _f64(r3[j]),
            _f64(r4[j]),
            _f64(r5[j]),
        )
        f6, f7, f8, f9, f10, f11 = (
            _f64(r6[j]),
            _f64(r7[j]),
            _f64(r8[j]),
            _f64(r9[j]),
            _f64(r10[j]),
            _f64(r11[j]),
        )
        first = _taps11(f5, f4, f6, f3, f7, f2, f8, f1, f9, f0, f10, t0, t1, t2, t3, t4, t5)
        second = _taps11(f6, f5, f7, f4, f8, f3, f9, f2, f10, f1, f11, t0, t1, t2, t3, t4, t5)
        o0[j] = _stored(first, round32)
        o1[j] = _stored(second, round32)
    _pad_ends(v0, 5, w, src)
    _pad_ends(v1, 5, w, src)


@njit(**_JIT_FMA)
def _vertical5(v, ring, rows, taps, r, w, round32, src):
    """A Gaussian of up to 11 taps down the window's rows, straight into the padded row
    ``v`` (rounded to float32 if asked, as scipy stores it), then its reflected ends."""
    c = ring[rows[r]]
    a1, b1 = ring[rows[r - min(1, r)]], ring[rows[r + min(1, r)]]
    a2, b2 = ring[rows[r - min(2, r)]], ring[rows[r + min(2, r)]]
    a3, b3 = ring[rows[r - min(3, r)]], ring[rows[r + min(3, r)]]
    a4, b4 = ring[rows[r - min(4, r)]], ring[rows[r + min(4, r)]]
    a5, b5 = ring[rows[r - min(5, r)]], ring[rows[r + min(5, r)]]
    t0, t1, t2, t3, t4, t5 = _half_taps(taps, r)
    inner = v[r : r + w]  # a view: an index ``r + j`` would keep the loop scalar
    for j in range(w):
        total = _taps11_at(c, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, j, t0, t1, t2, t3, t4, t5)
        inner[j] = _stored(total, round32)
    _pad_ends(v, r, w, src)


@njit(**_JIT_FMA)
def _horizontal5(s, v, taps, r, w):
    """A window of up to 11 taps along the padded row ``v`` into ``s``: `_pairs5`'s sum, term
    for term (so the same float64 value), without `_symmetric`'s per-call set-up (two small
    arrays allocated per statistic and row: a sixth of the Gaussian map's time)."""
    c = v[r:]  # views: an index ``r + j`` would keep the loop scalar
    a1, b1 = v[r - min(1, r) :], v[r + min(1, r) :]
    a2, b2 = v[r - min(2, r) :], v[r + min(2, r) :]
    a3, b3 = v[r - min(3, r) :], v[r + min(3, r) :]
    a4, b4 = v[r - min(4, r) :], v[r + min(4, r) :]
    a5, b5 = v[r - min(5, r) :], v[r + min(5, r) :]
    t0, t1, t2, t3, t4, t5 = _half_taps(taps, r)
    for j in range(w):
        s[j] = _taps11_at(c, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, j, t0, t1, t2, t3, t4, t5)


@njit(**_JIT_FMA)
def _h11(v, j, t0, t1, t2, t3, t4, t5):
    """`_horizontal5`'s sum (11 taps) at ``j`` of the padded row ``v``."""
    return _taps11(
        v[j + 5],
        v[j + 4], v[j + 6], v[j + 3], v[j + 7], v[j + 2], v[j + 8],
        v[j + 1], v[j + 9], v[j], v[j + 10],
        t0, t1, t2, t3, t4, t5,
    )  # fmt: skip


@njit(**_JIT)  # the formula never fuses (`_formula32`); `_h11`'s sums do, as `_horizontal5`
def _horizontal_formula32(pad, orow, taps, cov_norm, c1, c2, w):
    """`_horizontal5` of the five padded rows ``pad`` (11 taps) and `_formula32` on the
    sums, in one loop: the same float64 sums and float32 operations, without storing the
    sums and reading them back."""
    f32 = np.float32
    t0, t1, t2, t3, t4, t5 = _half_taps(taps, 5)
    px, py, pxx, pyy, pxy = pad[0], pad[1], pad[2], pad[3], pad[4]
    cn, k1, k2, two = f32(cov_norm), f32(c1), f32(c2), f32(2.0)
    for j in range(w):
        ux = f32(_h11(px, j, t0, t1, t2, t3, t4, t5))
        uy = f32(_h11(py, j, t0, t1, t2, t3, t4, t5))
        vx = cn * (f32(_h11(pxx, j, t0, t1, t2, t3, t4, t5)) - ux * ux)
        vy = cn * (f32(_h11(pyy, j, t0, t1, t2, t3, t4, t5)) - uy * uy)
        vxy = cn * (f32(_h11(pxy, j, t0, t1, t2, t3, t4, t5)) - ux * uy)
        a1 = two * ux * uy + k1
        a2 = two * vxy + k2
        b1 = ux * ux + uy * uy + k1
        b2 = vx + vy + k2
        orow[j] = (a1 * a2) / (b1 * b2)


@njit(**_JIT)
def _products(ring, slot, xr, yr, w, round32):
    """The five statistics of one image row into ``ring[:, slot]`` (exact in its type)."""
    for j in range(w):
        ring[0, slot, j] = np.float64(xr[j])
        ring[1, slot, j] = np.float64(yr[j])
    if round32:
        for j in range(w):
            ring[2, slot, j] = np.float64(np.float32(xr[j]) * np.float32(xr[j]))
            ring[3, slot, j] = np.float64(np.float32(yr[j]) * np.float32(yr[j]))
            ring[4, slot, j] = np.float64(np.float32(xr[j]) * np.float32(yr[j]))
    else:  # x^2 + y^2 in one statistic (see `_formula64`); slot 3 is not used
        for j in range(w):
            ring[2, slot, j] = _f64(xr[j]) * _f64(xr[j]) + _f64(yr[j]) * _f64(yr[j])
            ring[4, slot, j] = np.float64(xr[j]) * np.float64(yr[j])


@njit(**_JIT)
def _quantity(acc, xr, yr, q, t, w, round32):
    """``acc += t * q`` for the ``q``-th statistic's row: x, y, x*x, y*y, x*y.

    The products are rounded to the image's float type first, as ``im1 * im1`` is in
    scikit-image (exact for uint8 and for float64 up to the float64 rounding itself).
    """
    if q == 0:
        for j in range(w):
            acc[j] += t * np.float64(xr[j])
    elif q == 1:
        for j in range(w):
            acc[j] += t * np.float64(yr[j])
    elif round32:
        if q == 2:
            for j in range(w):
                acc[j] += t * np.float64(np.float32(xr[j]) * np.float32(xr[j]))
        elif q == 3:
            for j in range(w):
                acc[j] += t * np.float64(np.float32(yr[j]) * np.float32(yr[j]))
        else:
            for j in range(w):
                acc[j] += t * np.float64(np.float32(xr[j]) * np.float32(yr[j]))
    elif q == 2:  # x^2 + y^2 (see `_formula64`)
        for j in range(w):
            acc[j] += t * (_f64(xr[j]) * _f64(xr[j]) + _f64(yr[j]) * _f64(yr[j]))
    else:
        for j in range(w):
            acc[j] += t * (np.float64(xr[j]) * np.float64(yr[j]))


@njit(**_JIT)
def _sum7(s, m, pairs, w):
    """``s[j] = m[j] + ... + m[j + 6]`` (the default 7-wide box along a padded row) as
    ``(p[j] + p[j + 2]) + (p[j + 4] + m[j + 6])`` with ``p[j] = m[j] + m[j + 1]``: four adds
    per output instead of six, in two vectorised passes (the order of a float64 sum of a
    few float32 values, exact or within ~1e-16 like any order)."""
    for j in range(w + 5):
        pairs[j] = m[j] + m[j + 1]
    for j in range(w):
        s[j] = (pairs[j] + pairs[j + 2]) + (pairs[j + 4] + m[j + 6])


@njit(**_JIT)
def _box7(m, j):
    """`_sum7`'s sum at ``j`` of the padded row ``m``, term for term (so the same value)."""
    return ((m[j] + m[j + 1]) + (m[j + 2] + m[j + 3])) + ((m[j + 4] + m[j + 5]) + m[j + 6])


@njit(**_JIT)
def _sum7_formula32(pad, orow, scale, cov_norm, c1, c2, w):
    """`_sum7` of the five padded rows ``pad`` and `_formula32` on the sums, in one loop:
    the same float64 sums and float32 operations, without storing the sums (and the pair
    sums) and reading them back."""
    f32 = np.float32
    px, py, pxx, pyy, pxy = pad[0, 0], pad[1, 0], pad[2, 0], pad[3, 0], pad[4, 0]
    cn, k1, k2, two = f32(cov_norm), f32(c1), f32(c2), f32(2.0)
    for j in range(w):
        ux = f32(_box7(px, j) * scale)
        uy = f32(_box7(py, j) * scale)
        vx = cn * (f32(_box7(pxx, j) * scale) - ux * ux)
        vy = cn * (f32(_box7(pyy, j) * scale) - uy * uy)
        vxy = cn * (f32(_box7(pxy, j) * scale) - ux * uy)
        a1 = two * ux * uy + k1
        a2 = two * vxy + k2
        b1 = ux * ux + uy * uy + k1
        b2 = vx + vy + k2
        orow[j] = (a1 * a2) / (b1 * b2)


@njit(**_JIT)
def _slide32(col, pad, xn, yn, xo, yo, scale, r, w):
    """`_slide` (``round32``) of the five statistics in one pass: each row's values are
    read once, not five times; every sum and rounding is `_slide`'s."""
    f32, f64 = np.float32, np.float64
    a0, a1, a2, a3, a4 = col[0], col[1], col[2], col[3], col[4]
    v0, v1, v2 = pad[0, 0, r : r + w], pad[1, 0, r : r + w], pad[2, 0, r : r + w]
    v3, v4 = pad[3, 0, r : r + w], pad[4, 0, r : r + w]  # views, as in `_slide`
    for j in range(w):
        xnj, ynj, xoj, yoj = f32(xn[j]), f32(yn[j]), f32(xo[j]), f32(yo[j])
        a0[j] += f64(xn[j]) - f64(xo[j])
        a1[j] += f64(yn[j]) - f64(yo[j])
        a2[j] += f64(xnj * xnj) - f64(xoj * xoj)
        a3[j] += f64(ynj * ynj) - f64(yoj * yoj)
        a4[j] += f64(xnj * ynj) - f64(xoj * yoj)
        v0[j] = f64(f32(a0[j] * scale))
        v1[j] = f64(f32(a1[j] * scale))
        v2[j] = f64(f32(a2[j] * scale))
        v3[j] = f64(f32(a3[j] * scale))
        v4[j] = f64(f32(a4[j] * scale))


@njit(**_JIT)
def _slide(acc, v, xn, yn, xo, yo, q, scale, r, w, round32):
    """Slide the column sums of the ``q``-th statistic one row down (``acc += new - old``,
    the difference of two values of the image's float type is exact in float64) and store
    their means in the padded row ``v`` as `_store_padded` does, in one pass."""
    inner = v[r : r + w]  # a view: an index ``r + j`` would keep the loop scalar
    if q == 0:
        for j in range(w):
            acc[j] += np.float64(xn[j]) - np.float64(xo[j])
            inner[j] = _stored(acc[j] * scale, round32)
    elif q == 1:
        for j in range(w):
            acc[j] += np.float64(yn[j]) - np.float64(yo[j])
            inner[j] = _stored(acc[j] * scale, round32)
    elif round32:
        f32 = np.float32
        for j in range(w):
            if q == 2:
                new, old = f32(xn[j]) * f32(xn[j]), f32(xo[j]) * f32(xo[j])
            elif q == 3:
                new, old = f32(yn[j]) * f32(yn[j]), f32(yo[j]) * f32(yo[j])
            else:
                new, old = f32(xn[j]) * f32(yn[j]), f32(xo[j]) * f32(yo[j])
            acc[j] += np.float64(new) - np.float64(old)
            inner[j] = np.float64(np.float32(acc[j] * scale))
    else:
        for j in range(w):
            if q == 2:  # x^2 + y^2 (see `_formula64`)
                new = _f64(xn[j]) * _f64(xn[j]) + _f64(yn[j]) * _f64(yn[j])
                old = _f64(xo[j]) * _f64(xo[j]) + _f64(yo[j]) * _f64(yo[j])
            else:
                new, old = _f64(xn[j]) * _f64(yn[j]), _f64(xo[j]) * _f64(yo[j])
            acc[j] += new - old
            inner[j] = acc[j] * scale


@njit(**_JIT)
def _stored(value, round32):
    """A float64 mean as scipy stores it: rounded to float32 for float32 images."""
    return np.float64(np.float32(value)) if round32 else value


@njit(**_JIT)
def _pad_ends(v, r, w, src):
    """The ``r`` reflected values each side of a padded row (see `_pad_sources`)."""
    for k in range(r):
        v[k] = v[src[k]]
        v[r + w + k] = v[src[r + k]]


@njit(**_JIT)
def _store_padded(v, acc, scale, r, w, round32, src):
    """``v[r:r+w] = acc * scale`` (rounded to float32 if asked), then ``r`` reflected values
    each side (``src``: the padded index each one copies, from ``_pad_sources``)."""
    inner = v[r : r + w]  # a view: an index ``r + j`` would keep the loop scalar (see above)
    if round32:
        for j in range(w):
            inner[j] = np.float64(np.float32(acc[j] * scale))
    else:
        for j in range(w):
            inner[j] = acc[j] * scale
    _pad_ends(v, r, w, src)


@njit(**_JIT)
def _pad_sources(r, w):
    """Where each of the ``2 r`` padding values of a row comes from (interior indices only,
    so any width is right): left ``v[k]``, then right ``v[r + w + k]``."""
    src = np.empty(2 * r, np.int64)
    for k in range(r):
        src[k] = r + _reflect(k - r, w)
        src[r + k] = r + _reflect(w + k, w)
    return src


@njit(**_JIT)
def _f64(v):
    return np.float64(v)


@njit(**_JIT_FMA)
def _taps11(c, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, t0, t1, t2, t3, t4, t5):
    """``t0*c + t1*(a1+b1) + ... + t5*(a5+b5)``: a symmetric window of up to 11 taps at one
    place (float64). The one expression every 11-tap sum uses (`_pairs5`, `_vertical5`,
    `_vertical11x2`, `_horizontal5`, `_h11`), so they give the same value to the bit; numba
    inlines it, and the callers' loops still vectorise."""
    return (
        t0 * c + t1 * (a1 + b1) + t2 * (a2 + b2) + t3 * (a3 + b3) + t4 * (a4 + b4) + t5 * (a5 + b5)
    )


@njit(**_JIT_FMA)
def _taps11_at(c, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, j, t0, t1, t2, t3, t4, t5):
    """`_taps11` of the rows' values at ``j``, widened to float64."""
    return _taps11(
        _f64(c[j]),
        _f64(a1[j]), _f64(b1[j]), _f64(a2[j]), _f64(b2[j]), _f64(a3[j]), _f64(b3[j]),
        _f64(a4[j]), _f64(b4[j]), _f64(a5[j]), _f64(b5[j]),
        t0, t1, t2, t3, t4, t5,
    )  # fmt: skip


@njit(**_JIT)
def _half_taps(taps, r):
    """The centre tap and the five each side of it, outward (``taps[r]``, ``taps[r - 1]``,
    ...), 0 beyond the window's radius ``r``: the weights of `_taps11`."""
    t1 = taps[r - 1] if r >= 1 else 0.0
    t2 = taps[r - 2] if r >= 2 else 0.0
    t3 = taps[r - 3] if r >= 3 else 0.0
    t4 = taps[r - 4] if r >= 4 else 0.0
    t5 = taps[r - 5] if r >= 5 else 0.0
    return taps[r], t1, t2, t3, t4, t5


@njit(**_JIT_FMA)
def _pairs5(s, init, c, t0, a1, b1, t1, a2, b2, t2, a3, b3, t3, a4, b4, t4, a5, b5, t5, w):
    """``s (=|+=) t0*c + t1*(a1+b1) + ... + t5*(a5+b5)``: five symmetric tap pairs at once.

    One vectorised loop without a read-modify-write per tap, so a window of up to 11 taps
    (the default Gaussian, any box up to 11) is one pass. Unused pairs weigh 0 (an exact 0).
    """
    if init:
        for j in range(w):
            s[j] = _taps11_at(c, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, j, t0, t1, t2, t3, t4, t5)
    else:
        for j in range(w):
            s[j] += (
                t1 * (_f64(a1[j]) + _f64(b1[j]))
                + t2 * (_f64(a2[j]) + _f64(b2[j]))
                + t3 * (_f64(a3[j]) + _f64(b3[j]))
                + t4 * (_f64(a4[j]) + _f64(b4[j]))
                + t5 * (_f64(a5[j]) + _f64(b5[j]))
            )


@njit(**_JIT_FMA)
def _pairs3(s, c, t0, a1, b1, t1, a2, b2, t2, a3, b3, t3, w):
    """``s = t0*c + t1*(a1+b1) + t2*(a2+b2) + t3*(a3+b3)``: a window of up to 7 taps."""
    for j in range(w):
        s[j] = (
            t0 * _f64(c[j])
            + t1 * (_f64(a1[j]) + _f64(b1[j]))
            + t2 * (_f64(a2[j]) + _f64(b2[j]))
            + t3 * (_f64(a3[j]) + _f64(b3[j]))
        )


@njit(**_JIT)
def _symmetric(s, m, rows, starts, taps, r, w):
    """``s[j] = sum_k taps[k] * m[rows[k], starts[k] + j]`` for a symmetric window.

    Horizontal pass: ``m`` is the one padded row and ``starts[k] = k``; vertical pass: ``m``
    holds the window's image rows (``rows[k]`` is where row ``i + k - r`` is kept). Windows
    of up to 7 taps (the default box) take one pass of three pairs, up to 11 (the default
    Gaussian) one of five, wider ones several.
    """
    group = 3 if r <= 3 else 5
    t = np.zeros(5)
    lo = np.empty(5, np.int64)
    for k0 in range(1, max(r, 1) + 1, group):
        for p in range(5):  # pairs k0 .. k0 + group - 1; those beyond weigh 0
            k = k0 + p
            t[p] = taps[r - k] if k <= r and p < group else 0.0
            lo[p] = min(k, r)
        c = m[rows[r], starts[r] :]
        if group == 3:
            _pairs3(
                s,
                c,
                taps[r],
                m[rows[r - lo[0]], starts[r - lo[0]] :],
                m[rows[r + lo[0]], starts[r + lo[0]] :],
                t[0],
                m[rows[r - lo[1]], starts[r - lo[1]] :],
                m[rows[r + lo[1]], starts[r + lo[1]] :],
                t[1],
                m[rows[r - lo[2]], starts[r - lo[2]] :],
                m[rows[r + lo[2]], starts[r + lo[2]] :],
                t[2],
                w,
            )
            continue
        _pairs5(
            s,
            k0 == 1,
            c,
            taps[r],
            m[rows[r - lo[0]], starts[r - lo[0]] :],
            m[rows[r + lo[0]], starts[r + lo[0]] :],
            t[0],
            m[rows[r - lo[1]], starts[r - lo[1]] :],
            m[rows[r + lo[1]], starts[r + lo[1]] :],
            t[1],
            m[rows[r - lo[2]], starts[r - lo[2]] :],
            m[rows[r + lo[2]], starts[r + lo[2]] :],
            t[2],
            m[rows[r - lo[3]], starts[r - lo[3]] :],
            m[rows[r + lo[3]], starts[r + lo[3]] :],
            t[3],
            m[rows[r - lo[4]], starts[r - lo[4]] :],
            m[rows[r + lo[4]], starts[r + lo[4]] :],
            t[4],
            w,
        )


@njit(**_JIT)
def _formula32(hor, orow, scale, cov_norm, c1, c2, w):
    """scikit-image's SSIM formula in float32, operation by operation."""
    f32 = np.float32
    sx, sy, sxx, syy, sxy = hor[0], hor[1], hor[2], hor[3], hor[4]
    cn, k1, k2, two = f32(cov_norm), f32(c1), f32(c2), f32(2.0)
    for j in range(w):
        ux = f32(sx[j] * scale)
        uy = f32(sy[j] * scale)
        vx = cn * (f32(sxx[j] * scale) - ux * ux)
        vy = cn * (f32(syy[j] * scale) - uy * uy)
        vxy = cn * (f32(sxy[j] * scale) - ux * uy)
        a1 = two * ux * uy + k1
        a2 = two * vxy + k2
        b1 = ux * ux + uy * uy + k1
        b2 = vx + vy + k2
        orow[j] = (a1 * a2) / (b1 * b2)


@njit(**_JIT)
def _formula64(hor, orow, scale, cov_norm, c1, c2, w):
    """The same formula in float64 (scikit-image's type for all but float16/32 input).

    Only ``vx + vy`` enters it, so the window statistic ``hor[2]`` is that of ``x^2 + y^2``
    (one filter fewer): ``cov_norm * (E[x^2 + y^2] - ux^2 - uy^2)`` differs from scikit-image's
    separately filtered sum by float64 rounding (~1e-16 of ``E[x^2]``), invisible in the
    float32 map. float32 images keep five statistics: scipy rounds each to float32.
    """
    sx, sy, sxxyy, sxy = hor[0], hor[1], hor[2], hor[4]
    for j in range(w):
        ux = sx[j] * scale
        uy = sy[j] * scale
        vxvy = cov_norm * (sxxyy[j] * scale - ux * ux - uy * uy)
        vxy = cov_norm * (sxy[j] * scale - ux * uy)
        a1 = 2.0 * ux * uy + c1
        a2 = 2.0 * vxy + c2
        b1 = ux * ux + uy * uy + c1
        b2 = vxvy + c2
        orow[j] = np.float32((a1 * a2) / (b1 * b2))
