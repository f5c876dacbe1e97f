"""Views for judging an alignment by eye: checkerboard, blend, difference, flicker; nudges.

Each takes the night frame and the day reference already warped onto it (same grid) and
returns an RGB uint8 image; the alignment inspector shows them and the QA review reuses
them. `nudge` moves a registration by whole pixels in the night frame (arrow keys).
"""

from __future__ import annotations

import cv2
import numpy as np

from engine._image import check_gray, check_rgb, to_gray
from engine.overlay import blend

__all__ = [
    "INSPECT_VIEWS",
    "checkerboard",
    "difference",
    "flicker_frames",
    "inspect_view",
    "nudge",
]

INSPECT_VIEWS = ("checkerboard", "blend", "difference", "flicker")


def _pair(night: np.ndarray, aligned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    check_gray(night, "night")
    check_rgb(aligned, "aligned")
    if night.shape != aligned.shape[:2]:
        raise ValueError(f"night {night.shape} and aligned {aligned.shape[:2]} differ in size")
    return cv2.cvtColor(night, cv2.COLOR_GRAY2RGB), aligned


def checkerboard(night: np.ndarray, aligned: np.ndarray, *, tiles: int = 8) -> np.ndarray:
    """Alternate square tiles of the night frame and the aligned reference.

    Edges that continue straight across tile borders mean a good registration.

    Parameters
    ----------
    night : ndarray
        uint8 gray ``(H, W)``.
    aligned : ndarray
        uint8 RGB ``(H, W, 3)``: the day reference warped onto the night frame.
    tiles : int
        Tiles across the shorter side (>= 2).

    Examples
    --------
    >>> out = checkerboard(np.zeros((4, 4), np.uint8), np.full((4, 4, 3), 9, np.uint8), tiles=2)
    >>> out[0, 0].tolist(), out[0, 3].tolist()
    ([0, 0, 0], [9, 9, 9])
    """
    if tiles < 2:
        raise ValueError(f"tiles must be >= 2, got {tiles}")
    n3, a = _pair(night, aligned)
    h, w = night.shape
    side = max(1, min(h, w) // tiles)
    yy = (np.arange(h) // side)[:, None]
    xx = (np.arange(w) // side)[None, :]
    take_ref = ((yy + xx) % 2 == 1)[..., None]
    return np.where(take_ref, a, n3)


def difference(night: np.ndarray, aligned: np.ndarray, *, gain: float = 3.0) -> np.ndarray:
    """Absolute difference of the two luminances, amplified, as a heat colour map.

    Misregistration shows as doubled edges; day/night contrast differences show as smooth
    areas, which is expected across modalities.

    Examples
    --------
    >>> out = difference(np.zeros((2, 2), np.uint8), np.full((2, 2, 3), 10, np.uint8))
    >>> out.shape, out.dtype
    ((2, 2, 3), dtype('uint8'))
    """
    if gain <= 0:
        raise ValueError(f"gain must be > 0, got {gain}")
    _pair(night, aligned)
    d = cv2.absdiff(night, to_gray(aligned))
    d = cv2.convertScaleAbs(d, alpha=gain)
    return cv2.cvtColor(cv2.applyColorMap(d, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def flicker_frames(night: np.ndarray, aligned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two frames to alternate (night, aligned reference), both RGB: motion = misfit."""
    return _pair(night, aligned)


def inspect_view(
    view: str, night: np.ndarray, aligned: np.ndarray, *, alpha: float = 0.5, phase: int = 0
) -> np.ndarray:
    """One of `INSPECT_VIEWS` by name (``phase`` picks the flicker frame)."""
    if view == "checkerboard":
        return checkerboard(night, aligned)
    if view == "blend":
        return blend(night, aligned, alpha=alpha)
    if view == "difference":
        return difference(night, aligned)
    if view == "flicker":
        return flicker_frames(night, aligned)[phase % 2]
    raise ValueError(f"view must be one of {INSPECT_VIEWS}, got {view!r}")


def nudge(matrix: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift a 3x3 registration by ``(dx, dy)`` pixels in the night (fixed) frame.

    Examples
    --------
    >>> nudge(np.eye(3), 1, -2)[:2, 2].tolist()
    [1.0, -2.0]
    """
    m = np.asarray(matrix, float)
    if m.shape != (3, 3) or not np.isfinite(m).all():
        raise ValueError(f"matrix must be a finite 3x3 array, got shape {m.shape}")
    if not (np.isfinite(dx) and np.isfinite(dy)):
        raise ValueError(f"the shift must be finite, got ({dx}, {dy})")
    t = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
    return t @ m
