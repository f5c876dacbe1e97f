"""Colorization quality metrics: PSNR, SSIM, chroma (ab) error, colourfulness.

All take RGB uint8 ``(H, W, 3)`` or Lab ab float32 ``(H, W, 2)`` and an optional boolean
region mask, so the same numbers can be split into unchanged vs changed scene regions.
"""

from __future__ import annotations

import numpy as np

from engine._image import check_rgb
from engine.color import rgb_to_lab

__all__ = ["ab_error", "colourfulness", "psnr", "ssim"]


def _check_pair(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} {a.shape} and {names[1]} {b.shape} must have the same shape")


def _check_region(region: np.ndarray | None, shape: tuple[int, ...]) -> None:
    if region is not None and (region.dtype != bool or region.shape != shape[:2]):
        raise ValueError(
            f"region must be a bool (H, W) {shape[:2]} mask, got {region.dtype} {region.shape}"
        )


def psnr(
    result: np.ndarray, truth: np.ndarray, *, data_range: float, region: np.ndarray | None = None
) -> float:
    """Peak signal-to-noise ratio in dB, over all pixels or a boolean ``region``.

    Returns ``inf`` for identical images and ``nan`` for an empty region.

    Examples
    --------
    >>> a = np.zeros((4, 4, 3), np.uint8); b = a.copy(); b[0, 0, 0] = 255
    >>> round(psnr(b, a, data_range=255), 2)
    16.81
    """
    _check_pair(result, truth, ("result", "truth"))
    _check_region(region, result.shape)
    diff = result.astype(np.float64) - truth.astype(np.float64)
    sq = diff * diff
    if region is not None:
        if not region.any():
            return float("nan")
        sq = sq[region]
    mse = float(sq.mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


def ssim(
    result: np.ndarray, truth: np.ndarray, *, data_range: float, region: np.ndarray | None = None
) -> float:
    """Mean structural similarity of two RGB images, per channel, averaged.

    The same number as scikit-image's ``structural_similarity(result, truth,
    data_range=data_range, channel_axis=2)`` (7x7 window, the map's 3-pixel border cropped
    before the mean), computed with :func:`engine.leakmask.ssim_map`, which matches
    scikit-image's map and is several times faster on the evaluation's megapixel frames.
    With a boolean ``region`` the map is averaged over the region's pixels instead (e.g. a
    warped truth's footprint); ``nan`` for an empty region.

    Examples
    --------
    >>> img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    >>> ssim(img, img, data_range=255)
    1.0
    """
    from engine.leakmask import ssim_map

    _check_pair(result, truth, ("result", "truth"))
    _check_region(region, result.shape)
    if region is not None and not region.any():
        return float("nan")
    pad = 3  # (win_size - 1) // 2, cropped by scikit-image before the mean
    means = []
    for c in range(result.shape[2]):
        m = ssim_map(
            np.ascontiguousarray(result[..., c]),
            np.ascontiguousarray(truth[..., c]),
            data_range=data_range,
        )
        sel = m[pad:-pad, pad:-pad] if region is None else m[region]
        means.append(float(sel.mean(dtype=np.float64)))
    return float(np.mean(means))


def ab_error(
    ab: np.ndarray, ab_truth: np.ndarray, *, region: np.ndarray | None = None
) -> tuple[float, float]:
    """Chroma error in CIE Lab: (mean absolute a/b difference, mean Euclidean ab distance).

    The Euclidean one is the chroma part of CIE76 Delta E. ``nan`` for an empty region.

    Examples
    --------
    >>> ab_error(np.full((2, 2, 2), 3, np.float32), np.zeros((2, 2, 2), np.float32))
    (3.0, 4.242640687119285)
    """
    _check_pair(ab, ab_truth, ("ab", "ab_truth"))
    if ab.ndim != 3 or ab.shape[2] != 2:
        raise ValueError(f"ab must be (H, W, 2), got shape {ab.shape}")
    _check_region(region, ab.shape)
    d = ab.astype(np.float64) - ab_truth.astype(np.float64)
    if region is not None:
        if not region.any():
            return float("nan"), float("nan")
        d = d[region]
    return float(np.abs(d).mean()), float(np.sqrt((d * d).sum(axis=-1)).mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness M of an RGB image (0 = gray; ~100+ = vivid).

    Examples
    --------
    >>> colourfulness(np.full((8, 8, 3), 128, np.uint8))
    0.0
    """
    check_rgb(rgb, "rgb")
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = np.hypot(rg.std(), yb.std())
    mean = np.hypot(rg.mean(), yb.mean())
    return float(std + 0.3 * mean)


def lab_ab(rgb: np.ndarray) -> np.ndarray:
    """a, b planes (float32 ``(H, W, 2)``) of an RGB uint8 image."""
    return np.ascontiguousarray(rgb_to_lab(rgb)[..., 1:])
