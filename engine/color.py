"""CIE Lab conversions used by colorization: keep the night L, predict ab.

Conventions (shared by the model contract, the host runtime and the camera path):
``L`` in [0, 100], ``a``/``b`` in about [-128, 127], float32, D65 sRGB as OpenCV computes it.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine._image import check_gray, check_rgb

__all__ = ["gray_to_l", "lab_to_rgb", "rgb_to_lab", "GRAY_TO_L"]


def _gray_to_l_table() -> np.ndarray:
    ramp = np.repeat(np.arange(256, dtype=np.float32)[:, None] / 255.0, 3, axis=1)
    lab = cv2.cvtColor(ramp[None, :, :], cv2.COLOR_RGB2Lab)
    return np.ascontiguousarray(lab[0, :, 0], dtype=np.float32)


#: L of the neutral colour (v, v, v) for every gray level v: the night frame's luminance
#: read as CIE L, so a neutral result converts back to exactly the night gray.
GRAY_TO_L: np.ndarray = _gray_to_l_table()


def gray_to_l(gray: np.ndarray) -> np.ndarray:
    """CIE L (float32, 0..100) of a gray uint8 image, read as neutral sRGB.

    Examples
    --------
    >>> float(gray_to_l(np.array([[0, 255]], np.uint8))[0, 1])
    100.0
    """
    check_gray(gray, "gray")
    return GRAY_TO_L[gray]


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` -> Lab float32 ``(H, W, 3)`` (L 0..100, ab about +-128).

    Examples
    --------
    >>> lab = rgb_to_lab(np.full((1, 1, 3), 255, np.uint8))
    >>> round(float(lab[0, 0, 0]))
    100
    """
    check_rgb(rgb, "rgb")
    return cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab float32 ``(H, W, 3)`` -> RGB uint8, out-of-gamut values clipped.

    Examples
    --------
    >>> lab_to_rgb(np.zeros((1, 1, 3), np.float32))[0, 0].tolist()
    [0, 0, 0]
    """
    if lab.ndim != 3 or lab.shape[2] != 3:
        raise ValueError(f"lab must be (H, W, 3), got shape {lab.shape}")
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
