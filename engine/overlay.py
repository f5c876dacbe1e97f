"""Display helpers shared by the CLI and the GUI (so widgets hold no image maths)."""

from __future__ import annotations

import numpy as np

from engine._image import check_gray

__all__ = ["mask_overlay"]


def mask_overlay(
    gray: np.ndarray,
    mask: np.ndarray,
    *,
    color: tuple[int, int, int] = (255, 40, 90),
    alpha: float = 0.6,
) -> np.ndarray:
    """Tint ``gray`` with ``color`` where the soft ``mask`` is high (leak-mask overlay).

    Parameters
    ----------
    gray : ndarray
        uint8 gray ``(H, W)``: the night frame.
    mask : ndarray
        float ``(H, W)`` in [0, 1]; 1 = no reference colour here.
    color : tuple of int
        RGB tint.
    alpha : float
        Opacity of the tint where the mask is 1.

    Returns
    -------
    ndarray
        RGB uint8 ``(H, W, 3)``.

    Examples
    --------
    >>> out = mask_overlay(np.zeros((2, 2), np.uint8), np.ones((2, 2), np.float32))
    >>> out.shape, out.dtype
    ((2, 2, 3), dtype('uint8'))
    """
    check_gray(gray, "gray")
    if mask.shape != gray.shape:
        raise ValueError(f"mask shape {mask.shape} differs from gray shape {gray.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if len(color) != 3 or not all(0 <= c <= 255 for c in color):
        raise ValueError(f"color must be three values in 0..255, got {color!r}")
    m = np.nan_to_num(np.asarray(mask, np.float32), nan=1.0)  # unknown -> flagged
    w = (np.clip(m, 0.0, 1.0) * alpha)[..., None]
    base = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    tint = np.asarray(color, np.float32)[None, None, :]
    return (base * (1.0 - w) + tint * w + 0.5).astype(np.uint8)
