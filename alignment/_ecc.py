"""Gradient-based ECC: maximise the correlation of gradient-magnitude images, coarse to fine.

Intensity ECC fails between day and night because the two modalities do not share
intensities; they share edges. So both images become gradient-magnitude images
(:func:`alignment._prep.gradient_magnitude`) and ECC aligns those.

The solver is an *inverse compositional* Gauss-Newton with a per-iteration gain and bias
(which is what makes it maximise a correlation coefficient, as in Evangelidis & Psarakis,
PAMI 2008). Inverse compositional means the steepest-descent images and most of the
Hessian come from the template and are computed once per level; an iteration then costs one
warp and a few dot products. ``cv2.findTransformECC`` is forward additive and warps the
image and both its gradients every iteration, which is several times slower.

The template is the ``moving`` image (the day reference: sharp, low noise), the warped
image is ``fixed`` (the night frame). Pixels of ``fixed`` that are padding are NaN, and
NaN survives bilinear warping, so every sample that touches padding or falls outside the
frame drops out by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alignment._prep import PreparedImage

__all__ = ["EccResult", "capped", "ecc_pyramid", "ecc_refine"]

#: Motion models ordered by freedom; coarse pyramid levels never use more than the target.
_RANK = ("translation", "euclidean", "similarity", "affine", "homography")


def capped(motion: str, target: str) -> str:
    """``motion``, unless ``target`` allows less freedom (then ``target``)."""
    return _RANK[min(_RANK.index(motion), _RANK.index(target))]


@dataclass(frozen=True)
class EccResult:
    """Outcome of :func:`ecc_refine` at one scale."""

    matrix: np.ndarray
    """3x3 map from template (moving) to image (fixed) pixel coordinates at this scale."""
    rho: float
    """Correlation coefficient of the two gradient images in the overlap at the end."""
    iterations: int
    converged: bool
    overlap: float
    """Fraction of template samples that landed inside the valid part of the image."""


class _Template:
    """Everything about the template that does not change between iterations."""

    def __init__(self, template: np.ndarray, motion: str, step: int) -> None:
        h, w = template.shape
        tx = cv2.Sobel(template, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        ty = cv2.Sobel(template, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        # Samples on a regular grid (step > 1 keeps fine scales cheap), skipping the one-pixel
        # rim where Sobel is biased by the border. ``grid`` maps sample indices to pixels.
        rows, cols = slice(1, h - 1, step), slice(1, w - 1, step)
        t = template[rows, cols]
        self.grid_shape = t.shape  # (rows, cols) of samples
        self.grid = np.array([[step, 0, 1], [0, step, 1], [0, 0, 1]], np.float64)
        gx, gy = tx[rows, cols].ravel(), ty[rows, cols].ravel()
        t = t.ravel()
        self.valid = np.isfinite(t) & np.isfinite(gx) & np.isfinite(gy)
        self.validf = self.valid.astype(np.float32)
        # Normalised coordinates (centre 0, half-size 1) keep the normal equations conditioned.
        self.scale = max(h, w) / 2.0
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        self.norm = np.array(
            [
                [1 / self.scale, 0, -cx / self.scale],
                [0, 1 / self.scale, -cy / self.scale],
                [0, 0, 1],
            ]
        )
        self.denorm = np.linalg.inv(self.norm)
        gh, gw = self.grid_shape
        xn = ((1 + step * np.arange(gw, dtype=np.float32) - cx) / self.scale)[None, :]
        yn = ((1 + step * np.arange(gh, dtype=np.float32) - cy) / self.scale)[:, None]
        xn = np.broadcast_to(xn, (gh, gw)).ravel()
        yn = np.broadcast_to(yn, (gh, gw)).ravel()
        zero = ~self.valid
        gx = np.where(zero, 0, gx * np.float32(self.scale)).astype(np.float32)
        gy = np.where(zero, 0, gy * np.float32(self.scale)).astype(np.float32)
        self.t = np.where(zero, 0, t).astype(np.float32)
        self.sd = _steepest_descent(motion, xn, yn, gx, gy)
        self.hessian = _gram(self.sd)
        self.sd_sum = self.sd.sum(axis=1, dtype=np.float64)
        self.sd_t = _dots(self.sd, self.t)
        self.t_sum = float(self.t.sum(dtype=np.float64))
        self.t_sq = float(self.t @ self.t)
        self.count = int(np.count_nonzero(self.valid))
        # Corners in normalised coordinates, to measure how far an update moves the frame.
        self.corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * [
            (w - 1) / 2 / self.scale,
            (h - 1) / 2 / self.scale,
        ]

    def drop(self, lost: np.ndarray) -> None:
        """Remove samples for good (they fell outside the image or onto padding).

        Samples that leave the overlap rarely come back during a refinement, and keeping
        the template equal to what is in view lets every later iteration reuse the sums.
        """
        sd_lost, t_lost = self.sd[:, lost], self.t[lost]
        if lost.size < self.count // 3:  # subtract the few lost samples' share
            # (a small product: BLAS runs it on one thread, unlike the full-size ones)
            self.hessian = self.hessian - (sd_lost @ sd_lost.T).astype(np.float64)
            self.sd_sum = self.sd_sum - sd_lost.sum(axis=1, dtype=np.float64)
            self.sd_t = self.sd_t - _dots(sd_lost, t_lost)
        self.t_sum -= float(t_lost.sum(dtype=np.float64))
        self.t_sq -= float(t_lost @ t_lost)
        self.sd[:, lost] = 0
        self.t[lost] = 0
        self.valid[lost] = False
        self.validf[lost] = 0
        self.count -= lost.size
        if lost.size >= (self.count + lost.size) // 3:  # many lost: recompute exactly
            self.hessian = _gram(self.sd)
            self.sd_sum = self.sd.sum(axis=1, dtype=np.float64)
            self.sd_t = _dots(self.sd, self.t)
            self.t_sum = float(self.t.sum(dtype=np.float64))
            self.t_sq = float(self.t @ self.t)


def _dots(rows: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``rows @ v`` as separate 1-D dot products.

    A matrix-vector product goes to multi-threaded BLAS gemv, which on a loaded 2-core
    machine is 10-50x slower than single-threaded 1-D dots (threads spin for a core).
    """
    return np.array([float(r @ v) for r in rows])


def _gram(rows: np.ndarray) -> np.ndarray:
    """``rows @ rows.T`` from 1-D dot products (see :func:`_dots`)."""
    n = rows.shape[0]
    g = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            g[i, j] = g[j, i] = float(rows[i] @ rows[j])
    return g


def _steepest_descent(motion: str, xn, yn, gx, gy) -> np.ndarray:
    """Rows dT/dp (one per warp parameter) at identity, in normalised coordinates."""
    if motion == "translation":
        rows = [gx, gy]
    elif motion == "euclidean":
        rows = [xn * gy - yn * gx, gx, gy]
    elif motion == "similarity":
        rows = [xn * gx + yn * gy, xn * gy - yn * gx, gx, gy]
    else:
        rows = [xn * gx, yn * gx, gx, xn * gy, yn * gy, gy]
        if motion == "homography":
            radial = xn * gx + yn * gy
            rows += [-xn * radial, -yn * radial]
    return np.ascontiguousarray(np.stack(rows, axis=0), dtype=np.float32)


def _delta_matrix(motion: str, p: np.ndarray) -> np.ndarray:
    """The small warp W(dp) in normalised coordinates, as a 3x3 matrix."""
    if motion == "translation":
        return np.array([[1, 0, p[0]], [0, 1, p[1]], [0, 0, 1]], np.float64)
    if motion == "euclidean":
        c, s = np.cos(p[0]), np.sin(p[0])
        return np.array([[c, -s, p[1]], [s, c, p[2]], [0, 0, 1]], np.float64)
    if motion == "similarity":
        return np.array([[1 + p[0], -p[1], p[2]], [p[1], 1 + p[0], p[3]], [0, 0, 1]], np.float64)
    m = np.array([[1 + p[0], p[1], p[2]], [p[3], 1 + p[4], p[5]], [0, 0, 1]], np.float64)
    if motion == "homography":
        m[2, :2] = p[6:8]
    return m


def _sample(image: np.ndarray, matrix: np.ndarray, tpl: _Template) -> np.ndarray:
    """``image`` at ``matrix`` applied to the template's sample grid (NaN outside)."""
    m = matrix @ tpl.grid
    gh, gw = tpl.grid_shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    nan = float("nan")
    if abs(m[2, 0]) < 1e-15 and abs(m[2, 1]) < 1e-15:
        out = cv2.warpAffine(image, m[:2], (gw, gh), flags=flags, borderValue=nan)
    else:
        out = cv2.warpPerspective(image, m, (gw, gh), flags=flags, borderValue=nan)
    return out.ravel()


def ecc_refine(
    template: np.ndarray,
    image: np.ndarray,
    matrix: np.ndarray,
    motion: str,
    *,
    max_iter: int = 30,
    tol_px: float = 0.02,
    step: int = 1,
    min_overlap: float = 0.15,
) -> EccResult:
    """Refine ``matrix`` (template -> image coordinates) by gradient ECC at one scale.

    Parameters
    ----------
    template : ndarray
        float32 gradient image of ``moving`` at this scale (NaN where invalid).
    image : ndarray
        float32 gradient image of ``fixed`` at this scale (NaN where invalid).
    matrix : ndarray
        3x3 initial estimate, template (moving) pixels -> image (fixed) pixels.
    motion : str
        One of ``"translation"``, ``"euclidean"``, ``"affine"``, ``"homography"``; the
        matrix must already have that form (its other entries are kept).
    max_iter : int
        Gauss-Newton iterations at most.
    tol_px : float
        Stop when an update moves no template corner by more than this many pixels.
    step : int
        Use every ``step``-th pixel in each direction as a sample (speed at fine scales).
    min_overlap : float
        Give up (``converged=False``) when fewer template samples than this fraction land on
        valid image pixels.

    Returns
    -------
    EccResult
    """
    tpl = _Template(template, motion, step)
    n = tpl.sd.shape[0]
    m = np.asarray(matrix, np.float64).copy()
    total = tpl.count
    rho, overlap, converged, it = 0.0, 0.0, False, 0
    # Correlation-maximising steps while they raise the correlation; once one lowers it (a
    # low correlation can make the maximising gain, and so the step, overshoot), back to the
    # best matrix and cautious joint least-squares steps for the rest of this level.
    best_m, best_rho, cautious = m, -np.inf, False
    if total < 8 * n:
        return EccResult(m, 0.0, 0, False, 0.0)
    for it in range(1, max_iter + 1):  # noqa: B007  (the count is reported)
        samples = _sample(image, m, tpl)
        finite = np.isfinite(samples)
        lost = np.flatnonzero(np.logical_and(tpl.valid, ~finite))
        if lost.size:
            tpl.drop(lost)
        count = tpl.count
        overlap = count / total
        if overlap < min_overlap or count < 8 * n:
            return EccResult(m, rho, it, False, overlap)
        hess, sd_sum, sd_t = tpl.hessian, tpl.sd_sum, tpl.sd_t
        t_sum, t_sq = tpl.t_sum, tpl.t_sq
        validf = tpl.validf
        i0 = np.where(tpl.valid, samples, np.float32(0))
        # Centre both signals over the valid samples (removes the bias), then find the dp
        # that maximises their correlation (:func:`_ecc_step`). Off the valid set
        # i_c is zero, and on it it sums to zero, so plain dot products with the
        # uncentred template (and its steepest-descent rows) give the centred ones.
        t_mean = t_sum / count
        i_mean = float(i0.sum(dtype=np.float64)) / count
        i_c = i0 - np.float32(i_mean) * validf
        h_ss = hess - np.outer(sd_sum, sd_sum) / count
        sd_i = _dots(tpl.sd, i_c)
        sd_tc = sd_t - sd_sum * t_mean
        ii = float(i_c @ i_c)
        it_ = float(i_c @ tpl.t)
        tt = t_sq - count * t_mean * t_mean
        if ii <= 1e-12 or tt <= 1e-12:
            return EccResult(m, 0.0, it, False, overlap)
        rho = it_ / np.sqrt(ii * tt)
        if not cautious and rho < best_rho:
            m, rho, cautious = best_m, best_rho, True
            continue
        best_m, best_rho = m, rho
        sol = _ecc_step(h_ss, sd_tc, sd_i, tt, it_, ii, cautious=cautious)
        if sol is None:
            return EccResult(m, rho, it, False, overlap)
        delta = _delta_matrix(motion, sol)
        m = m @ tpl.denorm @ np.linalg.inv(delta) @ tpl.norm
        m /= m[2, 2]
        if not np.all(np.isfinite(m)):
            return EccResult(np.asarray(matrix, np.float64), 0.0, it, False, 0.0)
        if _corner_motion(delta, tpl) * tpl.scale < tol_px:
            converged = True
            break
    return EccResult(m, float(rho), it, converged, overlap)


def _ecc_step(
    h_ss, sd_tc, sd_i, tt: float, it_: float, ii: float, *, cautious: bool = False
) -> np.ndarray | None:
    """The warp update ``dp`` that maximises the linearised correlation coefficient.

    Evangelidis & Psarakis (2008), with the roles of an inverse compositional solver: the
    template ``t`` moves by ``dp`` (``t + SD dp``), the image ``i`` is scaled by the gain
    ``lam`` that makes ``dp`` maximise the correlation: ``dp = H^-1 SD (lam i - t)``. (Solving
    for ``dp`` and the gain jointly by least squares, as this solver did before, minimises a
    different criterion that also rewards shrinking the template's contrast: it crept towards
    the optimum in 30-200 iterations at fine scales, and stopped 0.5-2 px short of it on real
    VIS-NIR pairs, where this update converges in 10-30.) Falls back to that joint least
    squares when the correlation is too low for the maximising gain to exist (``lam_d <=
    0``), or when ``cautious`` (the last maximising step lowered the correlation). Returns
    ``None`` when the system is singular.
    """
    n = h_ss.shape[0]
    h = h_ss + np.eye(n) * 1e-9 * max(1.0, float(np.trace(h_ss)) / n)
    try:
        h_t = np.linalg.solve(h, sd_tc)
        h_i = np.linalg.solve(h, sd_i)
    except np.linalg.LinAlgError:
        return None
    lam_d = it_ - float(sd_tc @ h_i)
    if not cautious and lam_d > 1e-12 * np.sqrt(ii * tt):
        lam = (tt - float(sd_tc @ h_t)) / lam_d
        return lam * h_i - h_t
    a = np.zeros((n + 1, n + 1))
    a[:n, :n] = h
    a[:n, n] = a[n, :n] = -sd_i
    a[n, n] = ii
    b = np.concatenate([-sd_tc, [it_]])
    try:
        return np.linalg.solve(a, b)[:n]
    except np.linalg.LinAlgError:
        return None


def _corner_motion(delta: np.ndarray, tpl: _Template) -> float:
    c = tpl.corners
    q = c @ delta[:2, :2].T + delta[:2, 2]
    w = c @ delta[2, :2] + delta[2, 2]
    return float(np.max(np.linalg.norm(q / w[:, None] - c, axis=1)))


def ecc_pyramid(
    moving: PreparedImage,
    fixed: PreparedImage,
    matrix: np.ndarray,
    motion: str,
    levels: tuple[tuple[int, str, int, int], ...],
) -> tuple[np.ndarray, EccResult]:
    """Gradient ECC coarse to fine; ``matrix`` maps full-resolution moving -> fixed pixels.

    ``levels`` lists ``(long_side, motion, step, max_iter)`` from coarse to fine; each
    level's motion is capped at ``motion`` (a coarse "similarity" level never adds scale to a
    "euclidean" registration). Returns the refined full-resolution matrix and the result of
    the finest level; a level that fails stops the pyramid with ``converged=False``.
    """
    h = np.asarray(matrix, np.float64)
    result = EccResult(h, 0.0, 0, False, 0.0)
    for long_side, level_motion, step, max_iter in levels:
        sm = moving.level(long_side).to_level
        sf = fixed.level(long_side).to_level
        m_level = sf @ h @ np.linalg.inv(sm)
        result = ecc_refine(
            moving.gradient(long_side),
            fixed.gradient(long_side),
            m_level / m_level[2, 2],
            capped(level_motion, motion),
            max_iter=max_iter,
            step=step,
            # Coarse levels only need to hand over a start; the finest sets the accuracy.
            tol_px=0.02 if long_side == levels[-1][0] else 0.05,
        )
        if result.overlap == 0.0 or result.rho <= 0.0:
            return h, EccResult(h, result.rho, result.iterations, False, result.overlap)
        h = np.linalg.inv(sf) @ result.matrix @ sm
        h /= h[2, 2]
    return h, result
