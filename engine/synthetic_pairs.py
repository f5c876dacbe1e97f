"""Simulated day/night pairs with a known warp, for tests and benchmarks (no data needed).

Test data for :func:`alignment.align` (it lives in the engine because it loads engine's
bundled photos; alignment itself imports no NightLab package).

A real night frame differs from the day reference by more than the warp: an IR sensor mixes
the channels differently (vegetation bright, sky dark), low light compresses and lifts the
tones, and there is noise and blur. :func:`night_from_day` applies all of that to a day
photo, so a registration that succeeds here has crossed a real modality gap, not just an
intensity scaling.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.data import skimage_photos

__all__ = ["day_photos", "night_from_day", "random_warp"]

_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")


def day_photos(size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Colour photos bundled with scikit-image (RGB uint8), resized to ``size`` = (H, W).

    Stereo pairs give their left view only.
    """
    out = []
    for img in skimage_photos(_PHOTOS).values():
        if size is not None:
            img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        out.append(img)
    return out


def random_warp(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    max_angle: float = 15.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 0.1,
    perspective: float = 0.0,
) -> np.ndarray:
    """A random 3x3 warp about the image centre: rotation, scale, shift (fraction of size).

    ``perspective`` > 0 adds projective terms that move a corner by about that fraction.
    """
    h, w = shape
    angle = rng.uniform(-max_angle, max_angle)
    scale = rng.uniform(*scale_range)
    m = np.vstack([cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale), [0, 0, 1]])
    m[0, 2] += rng.uniform(-max_shift, max_shift) * w
    m[1, 2] += rng.uniform(-max_shift, max_shift) * h
    if perspective:
        m[2, 0] = rng.uniform(-perspective, perspective) / w
        m[2, 1] = rng.uniform(-perspective, perspective) / h
    return m


def night_from_day(
    day: np.ndarray,
    matrix: np.ndarray,
    *,
    rng: np.random.Generator,
    output_shape: tuple[int, int] | None = None,
    invert: bool = False,
    noise: float = 6.0,
    blur: float = 1.2,
) -> np.ndarray:
    """Simulated night frame (gray uint8) of an RGB ``day`` photo seen through ``matrix``.

    ``matrix`` maps day pixel coordinates to night ones (what ``align(day, night)`` should
    recover). The night frame gets an IR-like channel mix, a tone curve (or an inversion
    with ``invert``), Gaussian noise of ``noise`` gray levels and a blur of ``blur`` px.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> day = np.zeros((40, 60, 3), np.uint8)
    >>> night_from_day(day, np.eye(3), rng=rng).shape
    (40, 60)
    """
    h, w = output_shape if output_shape is not None else day.shape[:2]
    mix = np.array([0.7, 0.25, 0.05], np.float32)  # near-IR leans on red
    gray = day.astype(np.float32) @ mix
    warped = cv2.warpPerspective(gray, matrix, (w, h), flags=cv2.INTER_LINEAR)
    covered = cv2.warpPerspective(np.ones_like(gray), matrix, (w, h), flags=cv2.INTER_LINEAR)
    x = np.clip(warped / 255.0, 0, 1)
    x = 1.0 - x if invert else 0.15 + 0.85 * x**0.6  # inverted contrast, or lifted shadows
    x = x * 200.0 * covered  # uncovered area stays black, like the sensor's padding
    if blur > 0:
        x = cv2.GaussianBlur(x, (0, 0), blur)
    x = x + rng.normal(0, noise, x.shape).astype(np.float32) * (covered > 0.5)
    return np.clip(x, 0, 255).astype(np.uint8)
