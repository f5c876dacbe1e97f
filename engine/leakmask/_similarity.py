"""Cross-modal structural similarity maps (night IR / low-light vs day reference).

Plain SSIM between an IR night frame and a day photo is low almost everywhere: vegetation is
bright in near-IR and dark in daylight, haze and sky differ, contrast and even the sign of
an edge change. Each function here maps two gray images at the working resolution to a
similarity in [0, 1] (1 = same structure) and differs in how it normalises the modalities:

``"none"``      plain SSIM (the baseline), mapped from [-1, 1] to [0, 1].
``"lcn"``       local contrast normalisation of each image, then SSIM's contrast-structure
                term with ``|cov|`` (an edge may flip sign between modalities).
``"gradient"``  the same contrast-structure term on gradient vectors, each image's gradient
                energy normalised by its own median: ``(2 |<ga, gb>| + C) / (|ga|^2 + |gb|^2
                + C)`` over a window. Flat-vs-flat scores 1, structure-vs-flat and unrelated
                structure score low, a shared edge scores high whatever its contrast or sign.
``"orientation"`` as ``"gradient"``, but on the doubled-angle orientation vectors
                ``|g| (cos 2t, sin 2t)``: an edge whose contrast flips sign between the
                modalities matches pixel by pixel, so no ``|.|`` over the window is needed.
                Unrelated structure then averages to ~0 instead of to the positive bias of
                ``|sum|`` (which made "gradient" call small unrelated windows similar).
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.leakmask._ssim import ssim_map
from engine.leakmask._strips import scratch
from engine.leakmask._warm import fallback_used, kernels_ready

__all__ = ["NORMALIZATIONS", "similarity_map"]

NORMALIZATIONS = ("orientation", "gradient", "lcn", "none")
_F32 = np.float32
_BORDER = cv2.BORDER_REFLECT


def similarity_map(
    night: np.ndarray,
    reference: np.ndarray,
    *,
    normalization: str,
    window: int,
    contrast_floor: float,
    lcn_sigma: float,
) -> np.ndarray:
    """Similarity in [0, 1] (float32, same shape) of two gray uint8 images of equal size.

    ``window`` is the comparison window's side in pixels; ``contrast_floor`` the constant C
    (in units of each image's median local energy, or of the unit variance after
    normalisation); ``lcn_sigma`` the Gaussian scale of the local contrast normalisation.
    """
    if normalization == "none":
        s = ssim_map(night, reference, data_range=255, win_size=window)
        s += 1.0
        s *= 0.5  # SSIM's [-1, 1] onto [0, 1]
        return np.clip(s, 0.0, 1.0, out=s)
    if normalization == "lcn":
        return _lcn_similarity(night, reference, window, contrast_floor, lcn_sigma)
    if normalization == "orientation":
        if not kernels_ready():
            fallback_used()  # a process that keeps computing masks loads the kernels itself
            return _orientation_similarity(night, reference, window, contrast_floor)
        return _orientation_compiled(night, reference, window, contrast_floor)
    if normalization == "gradient":
        return _gradient_similarity(night, reference, window, contrast_floor)
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Box mean applied twice (a smooth, Gaussian-like window at O(1) cost per pixel)."""
    k = (window, window)
    return cv2.blur(cv2.blur(x, k, borderType=_BORDER), k, borderType=_BORDER)


def _contrast_structure(e_a, e_b, cross, floor) -> np.ndarray:
    """``(2 |cross| + C) / (e_a + e_b + C)`` in place in ``cross``; in [0, 1]."""
    np.abs(cross, out=cross)
    return _ratio(cross, e_a, e_b, floor)


def _in_typical_units(e_a, e_b, cross) -> None:
    """Each modality's local energy in units of its own typical value, and their cross term
    in the geometric mean of the two (in place): contrast may differ a lot between them."""
    k_a = _typical(e_a)
    k_b = _typical(e_b)
    e_a *= 1.0 / k_a
    e_b *= 1.0 / k_b
    cross *= 1.0 / np.sqrt(k_a * k_b)


def _ratio(cross, e_a, e_b, floor) -> np.ndarray:
    """``(2 cross + C) / (e_a + e_b + C)`` clipped to [0, 1], in place in ``cross`` (``e_a``
    is overwritten)."""
    cross *= 2.0
    cross += floor
    e_a += e_b
    e_a += floor
    np.divide(cross, e_a, out=cross)
    return np.clip(cross, 0.0, 1.0, out=cross)


def _orientation_similarity(night, reference, window, floor) -> np.ndarray:
    ua, va, e_a = _orientation_vectors(night)
    ub, vb, e_b = _orientation_vectors(reference)
    ua *= ub
    va *= vb
    ua += va  # |ga| |gb| cos(2 (ta - tb)): +|ga||gb| for parallel edges of either sign
    cross = _smooth(ua, window)
    e_a = _smooth(e_a, window)
    e_b = _smooth(e_b, window)
    _in_typical_units(e_a, e_b, cross)
    # signed on purpose: perpendicular structure (cos < 0) is as 'different' as it gets
    return _ratio(cross, e_a, e_b, floor)


def _orientation_compiled(night, reference, window, floor) -> np.ndarray:
    """`_orientation_similarity` in one compiled call (`engine.leakmask._similarity_kernels`):
    the same map up to float32 rounding of the box sums, about a third of the time."""
    from engine.leakmask._similarity_kernels import orientation_similarity

    h, w = night.shape
    (planes,) = scratch((((6, h, w), np.dtype(np.float32).str),))
    out = np.empty((h, w), _F32)
    orientation_similarity(
        np.ascontiguousarray(night),
        np.ascontiguousarray(reference),
        window,
        float(floor),
        out,
        planes,
    )
    return out


def _orientation_vectors(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(|g| cos 2t, |g| sin 2t, |g|^2)`` = ``((gx^2 - gy^2) / |g|, 2 gx gy / |g|, |g|^2)``."""
    gx, gy = _gradients(gray)
    energy = cv2.add(cv2.multiply(gx, gx), cv2.multiply(gy, gy))
    inv = cv2.sqrt(energy)
    inv += 1e-6
    np.divide(1.0, inv, out=inv)
    u = cv2.subtract(cv2.multiply(gx, gx), cv2.multiply(gy, gy))
    u *= inv
    v = cv2.multiply(gx, gy, scale=2.0)
    v *= inv
    return u, v, energy


def _gradient_similarity(night, reference, window, floor) -> np.ndarray:
    gax, gay = _gradients(night)
    gbx, gby = _gradients(reference)
    cross = _smooth(cv2.add(cv2.multiply(gax, gbx), cv2.multiply(gay, gby)), window)
    e_a = _smooth(cv2.magnitude(gax, gay) ** 2, window)
    e_b = _smooth(cv2.magnitude(gbx, gby) ** 2, window)
    _in_typical_units(e_a, e_b, cross)
    return _contrast_structure(e_a, e_b, cross, floor)


def _lcn_similarity(night, reference, window, floor, sigma) -> np.ndarray:
    za = _local_contrast_normalise(night, sigma)
    zb = _local_contrast_normalise(reference, sigma)
    mean_a, mean_b = _smooth(za, window), _smooth(zb, window)
    var_a = _smooth(za * za, window) - mean_a * mean_a
    var_b = _smooth(zb * zb, window) - mean_b * mean_b
    cov = _smooth(za * zb, window) - mean_a * mean_b
    np.maximum(var_a, 0.0, out=var_a)
    np.maximum(var_b, 0.0, out=var_b)
    return _contrast_structure(var_a, var_b, cov, floor)


def _gradients(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=_BORDER)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=_BORDER)
    return gx, gy


def _typical(energy: np.ndarray) -> float:
    """Median local energy (on a 1/4 subsample: the map is smooth), never zero."""
    sample = energy[::2, ::2]
    return float(np.median(sample)) + 1e-3 * float(sample.mean()) + 1e-6


def _local_contrast_normalise(gray: np.ndarray, sigma: float) -> np.ndarray:
    """``(x - local mean) / sqrt(local variance + eps^2)``; eps = 2 gray levels (noise)."""
    x = gray.astype(_F32)
    mean = cv2.GaussianBlur(x, (0, 0), sigma, borderType=_BORDER)
    x -= mean
    var = cv2.GaussianBlur(x * x, (0, 0), sigma, borderType=_BORDER)
    var += 4.0
    return x / np.sqrt(var)
