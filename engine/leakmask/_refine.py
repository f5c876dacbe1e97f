"""Edge-aware refinement of the structural similarity: a guided filter steered by the reference.

The similarity is a window average (about 25 working px wide): a strong edge that only the
reference has (the outline of a parked car, a tent, a pasted photo) lowers the similarity of
every window that reaches it, so the raw map flags a halo around each change, about half a
window wide. What leaks colour is the reference's object, and its outline is an edge *in the
reference*: a guided filter (He, Sun & Tang, "Guided Image Filtering", 2010/2013) with the
reference as the guide re-fits the similarity, window by window, as a linear function of the
guide, so its transitions move onto the reference's own edges and the halo on the far side of
an outline falls away. With the reference's colour as the guide (three channels), outlines
between areas of equal brightness but different colour count too.

Cost at 640x480 (a 160x120 working grid): box filters only, O(1) per pixel whatever the
radius. With OpenCV and numpy about 0.1 ms with a gray guide and 0.35-0.55 ms with a colour
guide (the fast filter, ``subsample=2``); compiled in one call
(`engine.leakmask._refine_kernels`, used once the kernels are loaded, see
`engine.leakmask._warm`) 0.05 and 0.19 ms.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.leakmask._strips import scratch
from engine.leakmask._warm import fallback_used, kernels_ready

__all__ = ["guided_refine"]

_BORDER = cv2.BORDER_REFLECT
_F32 = np.float32


def guided_refine(
    values: np.ndarray, guide: np.ndarray, *, radius: int, eps: float, subsample: int = 1
) -> np.ndarray:
    """Guided filter of ``values`` steered by ``guide``; float32, clipped to [0, 1].

    Parameters
    ----------
    values : ndarray
        float32 ``(h, w)`` map to refine (the structural similarity, in [0, 1]).
    guide : ndarray
        uint8 ``(h, w)`` gray or ``(h, w, 3)`` colour image of the same grid (the reference).
    radius : int
        Half side of the box window (working px); 0 returns a copy of ``values``.
    eps : float
        Regularisation, in squared units of the guide scaled to [0, 1]: edges whose contrast
        is well below ``sqrt(eps)`` are smoothed over (1e-3 ~ 8 gray levels).
    subsample : {1, 2}
        2 = the fast guided filter (He & Sun, 2015): the linear coefficients are fitted on a
        half-size grid with half the radius and enlarged 2x, then applied to the full guide;
        about a quarter of the cost, edges still at full resolution. An odd last row or
        column is left out of the fit and repeats the one before it.

    Returns
    -------
    ndarray
        float32 ``(h, w)`` in [0, 1].

    Raises
    ------
    ValueError
        Shapes that do not match, a guide that is not uint8 gray or 3-channel, a negative
        radius or a non-positive eps.

    Examples
    --------
    A step blurred over 13 px (0.46 and 0.54 either side of it) snaps back onto the
    guide's edge:

    >>> guide = np.zeros((40, 40), np.uint8); guide[:, 20:] = 200
    >>> step = (np.arange(40) >= 20).astype(np.float32)
    >>> blurry = cv2.blur(np.tile(step, (40, 1)), (13, 1))
    >>> out = guided_refine(blurry, guide, radius=6, eps=1e-3)
    >>> bool(out[20, 19] < 0.3 and out[20, 20] > 0.7)
    True
    """
    if not isinstance(values, np.ndarray) or values.ndim != 2:
        raise ValueError(f"values must be a 2-D array, got {getattr(values, 'shape', values)!r}")
    if (
        not isinstance(guide, np.ndarray)
        or guide.dtype != np.uint8
        or guide.shape[:2] != values.shape
        or not (guide.ndim == 2 or (guide.ndim == 3 and guide.shape[2] == 3))
    ):
        raise ValueError(
            f"guide must be uint8 (h, w) or (h, w, 3) with (h, w) = {values.shape}, got "
            f"{getattr(guide, 'dtype', type(guide).__name__)} {getattr(guide, 'shape', '')}"
        )
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise ValueError(f"radius must be an integer >= 0, got {radius!r}")
    if not (isinstance(eps, int | float) and eps > 0):
        raise ValueError(f"eps must be a number > 0, got {eps!r}")
    if subsample not in (1, 2):
        raise ValueError(f"subsample must be 1 or 2, got {subsample!r}")
    p = np.ascontiguousarray(values, _F32)
    if radius == 0:
        return np.clip(p, 0.0, 1.0)
    h, w = p.shape
    if subsample == 2 and min(h, w) >= 8:
        if kernels_ready():
            return _fast_compiled(p, guide, max(1, int(radius) // 2), float(eps))
        fallback_used()  # a process that keeps refining loads the kernels by itself
    return _guided_refine_opencv(p, guide, radius, eps, subsample)


def _fast_compiled(p: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """The fast guided filter in one compiled call, its scratch kept by this thread."""
    from engine.leakmask._refine_kernels import fast_guided_filter

    h, w = p.shape
    c = 1 if guide.ndim == 2 else 3
    n = 2 * c + 1 + c * (c + 1) // 2
    half = (h // 2, w // 2)
    f8, f4 = np.dtype(np.float64).str, np.dtype(np.float32).str
    planes, table, mean, wide = scratch(
        (
            ((n, *half), f4),
            ((1, half[0] + 2 * radius + 1, half[1] + 2 * radius + 1), f8),
            ((n, *half), f4),
            ((c + 1, half[0] + 1, w), f4),
        )
    )
    out = np.empty((h, w), _F32)
    flat = np.ascontiguousarray(guide).reshape(h, w * c)
    fast_guided_filter(p, flat, radius, eps, out, planes, table, mean, wide)
    return out


def _guided_refine_opencv(p, guide, radius, eps, subsample) -> np.ndarray:
    """`guided_refine` with OpenCV box filters and numpy (before the compiled kernels are
    loaded; and for ``subsample=1``)."""
    h, w = p.shape
    if subsample == 2 and min(h, w) >= 8:
        radius = max(1, int(radius) // 2)
        # an exact 2x block mean of the even part: an odd last row or column is left out
        # here and repeats the one before it in the output (as in the compiled version)
        size = (w // 2, h // 2)
        even = (slice(0, 2 * size[1]), slice(0, 2 * size[0]))
        fit_g = cv2.resize(guide[even], size, interpolation=cv2.INTER_AREA)
        fit_p = cv2.resize(p[even], size, interpolation=cv2.INTER_AREA)
    else:
        fit_g, fit_p = guide, p
    k = (2 * int(radius) + 1,) * 2

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, k, borderType=_BORDER)

    fit_gf = fit_g.astype(_F32)
    fit_gf *= _F32(1.0 / 255.0)
    fit = _gray_coefficients if guide.ndim == 2 else _colour_coefficients
    coefficients = fit(fit_gf, fit_p, box(fit_p), box, eps)  # (mean a per channel..., mean b)
    if fit_g is not guide:
        coefficients = [_enlarge2(c, h, w) for c in coefficients]
        guide_f = guide.astype(_F32)
        guide_f *= _F32(1.0 / 255.0)
    else:
        guide_f = fit_gf
    planes = [guide_f] if guide.ndim == 2 else cv2.split(guide_f)
    out = coefficients[-1]
    for a, g in zip(coefficients[:-1], planes, strict=True):
        out += a * g
    return np.clip(out, 0.0, 1.0, out=out)


def _enlarge2(c: np.ndarray, h: int, w: int) -> np.ndarray:
    """Exactly 2x (``INTER_LINEAR``), then an odd last row / column repeated."""
    hh, hw = c.shape
    big = cv2.resize(c, (2 * hw, 2 * hh), interpolation=cv2.INTER_LINEAR)
    if (2 * hh, 2 * hw) == (h, w):
        return big
    return cv2.copyMakeBorder(big, 0, h - 2 * hh, 0, w - 2 * hw, cv2.BORDER_REPLICATE)


def _gray_coefficients(g, p, mean_p, box, eps) -> list[np.ndarray]:
    """Window means of the linear model ``p ~ a g + b``: ``[mean a, mean b]``."""
    mean_g = box(g)
    var_g = box(g * g)
    var_g -= mean_g * mean_g
    cov = box(g * p)
    cov -= mean_g * mean_p
    var_g += _F32(eps)
    a = cov / var_g
    b = mean_p - a * mean_g
    return [box(a), box(b)]


def _colour_coefficients(g, p, mean_p, box, eps) -> list[np.ndarray]:
    """``[mean a0, mean a1, mean a2, mean b]`` of ``p ~ a . g + b`` for a 3-channel guide.

    The 3x3 covariance is inverted per pixel in closed form. Channel planes throughout:
    numpy's reductions over a short last axis cost ten times the arithmetic here.
    """
    g0, g1, g2 = cv2.split(g)
    m0, m1, m2 = box(g0), box(g1), box(g2)
    s00 = box(g0 * g0) - m0 * m0 + _F32(eps)
    s01 = box(g0 * g1) - m0 * m1
    s02 = box(g0 * g2) - m0 * m2
    s11 = box(g1 * g1) - m1 * m1 + _F32(eps)
    s12 = box(g1 * g2) - m1 * m2
    s22 = box(g2 * g2) - m2 * m2 + _F32(eps)
    c0 = box(g0 * p) - m0 * mean_p
    c1 = box(g1 * p) - m1 * mean_p
    c2 = box(g2 * p) - m2 * mean_p
    # inverse of the symmetric covariance by cofactors (positive definite thanks to eps)
    i00 = s11 * s22 - s12 * s12
    i01 = s02 * s12 - s01 * s22
    i02 = s01 * s12 - s02 * s11
    i11 = s00 * s22 - s02 * s02
    i12 = s01 * s02 - s00 * s12
    i22 = s00 * s11 - s01 * s01
    inv_det = _F32(1.0) / (s00 * i00 + s01 * i01 + s02 * i02)
    a0 = (i00 * c0 + i01 * c1 + i02 * c2) * inv_det
    a1 = (i01 * c0 + i11 * c1 + i12 * c2) * inv_det
    a2 = (i02 * c0 + i12 * c1 + i22 * c2) * inv_det
    b = mean_p - a0 * m0 - a1 * m1 - a2 * m2
    return [box(a0), box(a1), box(a2), box(b)]
