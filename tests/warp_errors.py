"""How far a found warp is from the true one, in pixels at the image's four corners: what the
alignment tests measure a registration by (as `benchmarks/alignment_accuracy.py` does)."""

from __future__ import annotations

import numpy as np

from alignment import apply_homography


def corner_error(matrix: np.ndarray, truth: np.ndarray, shape: tuple[int, int]) -> float:
    """Mean distance of the four corners of an ``(h, w)`` image mapped by ``matrix`` and by
    ``truth``."""
    h, w = shape
    c = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    return float(
        np.mean(np.linalg.norm(apply_homography(matrix, c) - apply_homography(truth, c), axis=1))
    )


def worst_corner_error(matrix: np.ndarray, truth: np.ndarray, shape: tuple[int, ...]) -> float:
    """Largest distance of the four corners of an image of ``shape`` (``(h, w, ...)``) mapped
    by ``matrix`` and by ``truth``."""
    h, w = shape[:2]
    c = np.array([[0, 0, 1], [w - 1, 0, 1], [w - 1, h - 1, 1], [0, h - 1, 1]], float).T
    a, b = matrix @ c, truth @ c
    return float(np.linalg.norm(a[:2] / a[2] - b[:2] / b[2], axis=0).max())
