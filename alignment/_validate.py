"""Input checks for ``align``: precise one-line ``ValueError``s, raised before any work."""

from __future__ import annotations

import numpy as np

from alignment._types import Alignment

__all__ = ["MAX_ASPECT", "MIN_SIDE", "check_image", "check_initial", "size_problem"]

MIN_SIDE = 32  # smaller images carry too little structure to verify anything
#: Longest side over shortest side. A panorama strip of 12:1 aligns; beyond this a strip keeps
#: its full length at every working level (its short side may not shrink below a useful
#: height), and the frequency-domain search grows with the square of that length: 600:1
#: took minutes and gigabytes before this limit.
MAX_ASPECT = 24
_MAX_ENTRY = 1e9  # far beyond any pixel shift or scale; keeps det() and warps finite


def check_image(image, name: str) -> np.ndarray:
    """``image`` must be a non-empty uint8 gray ``(H, W)`` or RGB ``(H, W, 3)`` array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"{name} must be gray (H, W) or RGB (H, W, 3), got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    problem = size_problem(image.shape)
    if problem:
        raise ValueError(f"{name}: {problem}")
    return image


def size_problem(shape: tuple[int, ...]) -> str:
    """Why an image of ``shape`` ``(H, W[, C])`` cannot be aligned, or ``""`` if it can.

    The one size rule for `align`, the command line and the app's reference loading: at
    least ``MIN_SIDE`` pixels each way, and no more elongated than ``MAX_ASPECT``:1.

    Examples
    --------
    >>> size_problem((480, 640)), size_problem((20, 20, 3))
    ('', 'image is 20x20 pixels; at least 32x32 is needed to align anything')
    >>> size_problem((40, 2000))
    'image is 2000x40 pixels, more elongated than 24:1; such a strip cannot be aligned'
    """
    h, w = int(shape[0]), int(shape[1])
    if min(h, w) < MIN_SIDE:
        return (
            f"image is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed to align anything"
        )
    if max(h, w) > MAX_ASPECT * min(h, w):
        return (
            f"image is {w}x{h} pixels, more elongated than {MAX_ASPECT}:1; such a strip cannot "
            "be aligned"
        )
    return ""


def check_initial(
    initial, moving_shape: tuple[int, int] | None = None, fixed_shape=None
) -> np.ndarray | None:
    """A finite, invertible 3x3 (or 2x3 affine) matrix or Alignment -> normalised 3x3.

    With both shapes, the matrix must also be a plausible camera-to-camera mapping (the
    geometry check every result passes): an absurd start is an error, not a warning.
    """
    if initial is None:
        return None
    if isinstance(initial, Alignment):
        initial = initial.matrix
    try:
        m = np.asarray(initial, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"initial must be a 3x3 (or 2x3 affine) matrix, got {type(initial).__name__}"
        ) from None
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    if m.shape != (3, 3):
        raise ValueError(f"initial must be a 3x3 (or 2x3 affine) matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("initial must be finite (it contains NaN or inf)")
    if np.abs(m).max() > _MAX_ENTRY:
        raise ValueError(
            f"initial has entries up to {np.abs(m).max():.3g}: not a camera-to-camera mapping"
        )
    if abs(m[2, 2]) < 1e-12 or abs(np.linalg.det(m)) < 1e-12:
        raise ValueError("initial must be an invertible matrix with initial[2, 2] != 0")
    m = m / m[2, 2]
    if moving_shape is not None and fixed_shape is not None:
        reason = _implausible(m, moving_shape, fixed_shape)
        if reason:
            raise ValueError(f"initial is not a plausible mapping of moving onto fixed: {reason}")
    return m


def _implausible(m: np.ndarray, moving_shape, fixed_shape) -> str:
    from alignment._verify import check_geometry

    with np.errstate(all="ignore"):
        try:
            return check_geometry(m, moving_shape, fixed_shape)[0]
        except np.linalg.LinAlgError as exc:
            return f"degenerate ({exc})"
