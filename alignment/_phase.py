"""Phase correlation on gradient images: translation, and rotation + scale (Fourier-Mellin).

Phase correlation whitens the spectrum, so it compares *where* structure is rather than
how bright it is; run on gradient-magnitude images it survives the day/night modality gap.
A translation moves only the phase of the Fourier transform, so the magnitude spectrum is
translation invariant; in log-polar coordinates a rotation and a scale change of the image
become a plain shift of that spectrum, which phase correlation measures too
(Reddy & Chatterji, IEEE TIP 1996). The magnitude spectrum cannot tell a rotation by
``theta`` from ``theta + 180``; both are tried and the better translation peak wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alignment._prep import PreparedImage

__all__ = ["PhaseResult", "phase_correlation", "phase_estimate", "phase_translation"]

_WORK_SIDE = 256  # long side of the images that are correlated
_N_ANGLES = 360  # log-polar rows over 360 degrees
_MAX_SCALE = 1.6  # scale changes beyond this (either way) are not searched


@dataclass(frozen=True)
class PhaseResult:
    """Outcome of :func:`phase_estimate`."""

    matrix: np.ndarray
    """3x3 full-resolution moving -> fixed estimate (translation or similarity)."""
    peak: float
    """Height of the translation peak over the correlation surface's spread (>= 0); a
    clear match is well above 10."""


def _hann(shape: tuple[int, int]) -> np.ndarray:
    return cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)


def _filled(grad: np.ndarray) -> np.ndarray:
    """Zero-mean gradient image with NaN (padding) set to zero, Hann windowed."""
    g = np.where(np.isfinite(grad), grad, 0).astype(np.float32)
    valid = np.isfinite(grad)
    if valid.any():
        g[valid] -= float(g[valid].mean())
    return g * _hann(g.shape)


def _on_canvas(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.zeros(size, np.float32)
    out[: img.shape[0], : img.shape[1]] = img
    return out


def _dft_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """The smallest ``(H, W)`` at least ``shape`` whose sides the DFT factors well."""
    return cv2.getOptimalDFTSize(int(shape[0])), cv2.getOptimalDFTSize(int(shape[1]))


def phase_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Shift ``(dx, dy)`` with ``b(x) ~ a(x - (dx, dy))`` and its peak strength.

    ``a`` and ``b`` are float32 images of equal shape. The peak strength is the height of
    the correlation peak in units of the surface's standard deviation (a z-score), which,
    unlike the raw peak value, is comparable between image sizes.

    Examples
    --------
    >>> a = np.zeros((32, 32), np.float32); a[8:12, 5:9] = 1
    >>> dx, dy, peak = phase_correlation(a, np.roll(a, (2, 3), axis=(0, 1)))
    >>> round(dx), round(dy)
    (3, 2)
    """
    # Zero-pad to sizes the DFT factors well: on a side with a large prime factor (a 547 px
    # tall frame works at 199 px) it costs 20-30x more, and the inputs are zero-mean and
    # windowed, so padding moves no peak.
    size = _dft_size(a.shape)
    fa = cv2.dft(_on_canvas(a, size), flags=cv2.DFT_COMPLEX_OUTPUT)
    fb = cv2.dft(_on_canvas(b, size), flags=cv2.DFT_COMPLEX_OUTPUT)
    cross = cv2.mulSpectrums(fb, fa, 0, conjB=True)
    mag = cv2.magnitude(cross[..., 0], cross[..., 1])
    cross /= (mag + (1e-6 * float(mag.max()) + 1e-30))[..., None]
    surface = cv2.idft(cross, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    iy, ix = np.unravel_index(int(np.argmax(surface)), surface.shape)
    h, w = surface.shape
    # Sub-pixel: centroid of the 3x3 neighbourhood (wrapping around the edges).
    ys = (np.arange(iy - 1, iy + 2) % h)[:, None]
    xs = (np.arange(ix - 1, ix + 2) % w)[None, :]
    patch = np.clip(surface[ys, xs], 0, None)
    total = float(patch.sum()) or 1.0
    dy = iy + float((patch.sum(axis=1) * [-1, 0, 1]).sum()) / total
    dx = ix + float((patch.sum(axis=0) * [-1, 0, 1]).sum()) / total
    dx = dx - w if dx > w / 2 else dx
    dy = dy - h if dy > h / 2 else dy
    std = float(surface.std()) or 1e-12
    return dx, dy, float(surface[iy, ix] - surface.mean()) / std


def _log_polar_magnitude(img: np.ndarray) -> tuple[np.ndarray, float]:
    """High-passed, log-polar resampled magnitude spectrum; returns it and the log base."""
    h, w = img.shape
    f = cv2.dft(np.ascontiguousarray(img, np.float32), flags=cv2.DFT_COMPLEX_OUTPUT)
    spec = np.fft.fftshift(cv2.magnitude(f[..., 0], f[..., 1]))
    # Emphasise mid and high frequencies: low ones carry the window and illumination.
    fy = np.cos(np.pi * np.linspace(-0.5, 0.5, h, dtype=np.float32))[:, None]
    fx = np.cos(np.pi * np.linspace(-0.5, 0.5, w, dtype=np.float32))[None, :]
    hp = (1.0 - fy * fx) * (2.0 - fy * fx)
    spec = np.log1p(spec) * hp
    radius = min(h, w) / 2.0
    n_radii = int(round(radius))
    lp = cv2.warpPolar(
        spec,
        (n_radii, _N_ANGLES),
        (w / 2.0, h / 2.0),
        radius,
        cv2.INTER_LINEAR | cv2.WARP_POLAR_LOG,
    )
    return lp, np.log(radius) / n_radii


def phase_estimate(
    moving: PreparedImage, fixed: PreparedImage, *, rotation_scale: bool = True
) -> PhaseResult:
    """Global translation (or similarity) from moving to fixed, full-resolution coordinates.

    Both images are taken at a long side of 256 px, so translations up to about half the
    frame are found; with ``rotation_scale`` any rotation and scale changes within 1.6x.
    """
    gm = _filled(moving.gradient(_WORK_SIDE))
    gf = _filled(fixed.gradient(_WORK_SIDE))
    size = (max(gm.shape[0], gf.shape[0]), max(gm.shape[1], gf.shape[1]))
    sm = moving.level(_WORK_SIDE).to_level
    sf = fixed.level(_WORK_SIDE).to_level
    a = _on_canvas(gm, size)
    b = _on_canvas(gf, size)
    candidates = [np.eye(3)]
    if rotation_scale:
        side = cv2.getOptimalDFTSize(max(size))
        sq_a = _on_canvas(a, (side, side))
        sq_b = _on_canvas(b, (side, side))
        lp_a, log_base = _log_polar_magnitude(sq_a)
        lp_b, _ = _log_polar_magnitude(sq_b)
        d_logr, d_angle, _ = phase_correlation(lp_a, lp_b)
        scale = float(np.exp(-d_logr * log_base))
        angle = d_angle * 360.0 / _N_ANGLES
        if 1 / _MAX_SCALE <= scale <= _MAX_SCALE:
            for theta in (angle, angle + 180.0):
                rot = cv2.getRotationMatrix2D((0.0, 0.0), -theta, scale)
                candidates.append(np.vstack([rot, [0, 0, 1]]))
    best = PhaseResult(np.eye(3), 0.0)
    cy, cx = (gm.shape[0] - 1) / 2.0, (gm.shape[1] - 1) / 2.0
    for lin in candidates:
        # Rotate/scale the moving gradient image about its centre, then find the shift.
        about = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]]) @ lin
        about = about @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        warped = cv2.warpAffine(a, about[:2], (size[1], size[0]), flags=cv2.INTER_LINEAR)
        dx, dy, peak = phase_correlation(warped, b)
        if peak > best.peak:
            level = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]]) @ about
            full = np.linalg.inv(sf) @ level @ sm
            best = PhaseResult(full / full[2, 2], peak)
    return best


def phase_translation(
    moving: PreparedImage, fixed: PreparedImage, initial: np.ndarray
) -> np.ndarray:
    """Correct ``initial`` (full-resolution moving -> fixed) by the remaining translation.

    The moving gradient image is warped into the fixed frame with ``initial`` and the shift
    left between them is measured by phase correlation; the correction is applied in the
    fixed frame, which is what a camera that drifted a few pixels needs.
    """
    sm = moving.level(_WORK_SIDE).to_level
    sf = fixed.level(_WORK_SIDE).to_level
    gf = _filled(fixed.gradient(_WORK_SIDE))
    level = sf @ initial @ np.linalg.inv(sm)
    gm = np.where(np.isfinite(moving.gradient(_WORK_SIDE)), moving.gradient(_WORK_SIDE), 0)
    warped = cv2.warpPerspective(
        gm.astype(np.float32), level / level[2, 2], (gf.shape[1], gf.shape[0])
    )
    dx, dy, _ = phase_correlation(_filled(warped), gf)
    shift = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)
    full = np.linalg.inv(sf) @ shift @ level @ sm
    return full / full[2, 2]
