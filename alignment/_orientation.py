"""Refinement by gradient-orientation agreement, for pairs that share little structure.

Gradient-magnitude ECC (:mod:`alignment._ecc`) correlates *how strong* edges are. Where the
two modalities disagree about texture (green grass by day, frosted grass in near-infrared;
foliage), the magnitude of the texture is strong in both images but unrelated, and the
correlation has no basin at the right matrix: on the EPFL pair field/0002, ECC started from
the published truth itself walks 1-2 px away, and from 4-8 px off it stays there. What the
two images do share there (a hedge line, a house, a fence) is *where edges run and in which
direction*. The verifier's orientation agreement (:func:`alignment._verify.verify`: weighted
mean ``|cos|`` between gradient orientations, a normalised-gradient-field measure that ignores
the sign and strength of an edge) peaks at the truth on that pair within a pixel or two at
320, 640 and 1024 px, and falls off by several times its spread within a few pixels.

:func:`orientation_ascent` climbs that measure directly: an exhaustive shift search, then a
compass (pattern) search over shift, rotation and scale, first at 320 px and then at 640 px.
It is derivative-free and costs a few hundred evaluations (about 0.5-2 s), so ``align`` uses
it only to rescue pairs that nothing else registered. Only a similarity is refined: with so
little shared structure, shear and perspective are not constrained by anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment._prep import PreparedImage
from alignment._verify import FINE_CHECK_SIDE, agreement_field

__all__ = ["AscentResult", "orientation_ascent", "to_similarity"]

_COARSE_SIDE = 320
_SHIFT_RADIUS = 8  # samples of the every-other-pixel grid at 320 px: about +-16 px there
# Compass steps, in full-resolution pixels moved at the frame's half-diagonal (shift, or the
# rotation / scale change that moves the corners that far): (start, stop) per level.
_STEPS = {_COARSE_SIDE: (4.0, 0.5), FINE_CHECK_SIDE: (1.0, 0.25)}
_MAX_EVALUATIONS = {_COARSE_SIDE: 300, FINE_CHECK_SIDE: 150}


@dataclass(frozen=True)
class AscentResult:
    """Outcome of :func:`orientation_ascent`."""

    matrix: np.ndarray
    """3x3 full-resolution moving -> fixed similarity at the local maximum."""
    agreement: float
    """Raw weighted mean ``|cos|`` at ``matrix`` at 640 px (not null-corrected)."""
    evaluations: int
    """How many times the agreement was evaluated (a measure of the cost)."""


def to_similarity(matrix: np.ndarray, moving_shape: tuple[int, int]) -> np.ndarray:
    """The similarity nearest to ``matrix`` at the moving frame's centre.

    Rotation from the polar decomposition of the linear part, scale its geometric mean;
    the moving frame's centre lands where ``matrix`` puts it.

    Examples
    --------
    >>> shear = np.array([[1.0, 0.1, 5.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]])
    >>> sim = to_similarity(shear, (100, 100))
    >>> bool(np.isclose(sim[0, 0], sim[1, 1]) and np.isclose(sim[0, 1], -sim[1, 0]))
    True
    """
    m = np.asarray(matrix, np.float64)
    m = m / m[2, 2]
    h, w = moving_shape
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    w_c = float(m[2, :2] @ centre + 1.0)
    lands = (m[:2, :2] @ centre + m[:2, 2]) / w_c
    u, sv, vt = np.linalg.svd(m[:2, :2] / w_c)
    lin = float(np.sqrt(sv[0] * sv[1])) * (u @ vt)
    if np.linalg.det(lin) < 0:  # a mirror is never a camera-to-camera mapping
        lin = float(np.sqrt(sv[0] * sv[1])) * np.eye(2)
    out = np.eye(3)
    out[:2, :2] = lin
    out[:2, 2] = lands - lin @ centre
    return out


def _nudge(p: np.ndarray, centre: np.ndarray, half: float) -> np.ndarray:
    """Similarity about ``centre`` that moves points at distance ``half`` by ``p`` pixels.

    ``p = (shift x, shift y, rotation, scale)``, each expressed as a displacement in pixels.
    """
    a, b = p[3] / half, p[2] / half
    lin = np.array([[1 + a, -b], [b, 1 + a]])
    t = p[:2] + centre - lin @ centre
    return np.array([[lin[0, 0], lin[0, 1], t[0]], [lin[1, 0], lin[1, 1], t[1]], [0, 0, 1.0]])


def _shift_search(moving, fixed, matrix, side: int, radius: int) -> np.ndarray:
    """Best of all shifts within ``radius`` samples (2 px each at ``side``) of ``matrix``."""
    agreement = agreement_field(moving, fixed, matrix, side=side)
    best, best_dx, best_dy = agreement(0, 0), 0, 0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            value = agreement(dx, dy)
            if value > best:
                best, best_dx, best_dy = value, dx, dy
    # A sample is 2 level pixels; level -> full-resolution scale from the fixed level's map.
    to_full = 2.0 / fixed.level(side).to_level[0, 0]
    shift = np.eye(3)
    shift[:2, 2] = best_dx * to_full, best_dy * to_full
    return shift @ matrix


def _compass(moving, fixed, matrix, side: int) -> tuple[np.ndarray, float, int]:
    """Compass search over shift, rotation and scale at ``side``; first improvement wins."""
    h, w = fixed.shape
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    half = 0.5 * float(np.hypot(w, h))
    step, stop = _STEPS[side]
    budget = _MAX_EVALUATIONS[side]
    best = agreement_field(moving, fixed, matrix, side=side)(0, 0)
    used = 1
    while step >= stop and used < budget:
        moved = False
        for k in range(4):
            for sign in (1.0, -1.0):
                p = np.zeros(4)
                p[k] = sign * step
                cand = _nudge(p, centre, half) @ matrix
                value = agreement_field(moving, fixed, cand, side=side)(0, 0)
                used += 1
                if value > best:
                    best, matrix, moved = value, cand, True
                    break
            if moved:
                break
        if not moved:
            step /= 2.0
    return matrix, best, used


def orientation_ascent(
    moving: PreparedImage,
    fixed: PreparedImage,
    matrix: np.ndarray,
    *,
    shift_radius: int = _SHIFT_RADIUS,
) -> AscentResult:
    """Climb the gradient-orientation agreement from ``matrix`` to its local maximum.

    A similarity only (see the module docstring): ``matrix`` is first replaced by its
    nearest similarity (:func:`to_similarity`); then every shift within ``shift_radius``
    samples (2 px each at 320 px) is tried, and a compass search over shift, rotation and
    scale runs at 320 px (steps from about 4 to 0.5 px at the corners) and at 640 px (1 to
    0.25 px).

    Parameters
    ----------
    moving, fixed : PreparedImage
        The two images (:func:`alignment._prep.prepare`).
    matrix : ndarray
        3x3 full-resolution moving -> fixed start.
    shift_radius : int
        Half-width of the exhaustive shift search, in samples at 320 px; 0 skips it.

    Returns
    -------
    AscentResult

    Raises
    ------
    ValueError
        ``matrix`` is not a finite 3x3 array, or ``shift_radius`` is negative.

    Examples
    --------
    >>> import skimage.data
    >>> day = skimage.data.camera()
    >>> night = 255 - np.roll(day, (3, -4), axis=(0, 1))  # inverted, shifted
    >>> start = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    >>> result = orientation_ascent(PreparedImage(day), PreparedImage(night), start)
    >>> np.round(result.matrix[:2, 2]).tolist()
    [-4.0, 3.0]
    """
    m = np.asarray(matrix, np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError(f"matrix must be a finite 3x3 array; got shape {m.shape}")
    if shift_radius < 0:
        raise ValueError(f"shift_radius must be >= 0; got {shift_radius}")
    m = to_similarity(m, moving.shape)
    used = 0
    if shift_radius:
        m = _shift_search(moving, fixed, m, _COARSE_SIDE, shift_radius)
        used += (2 * shift_radius + 1) ** 2
    value = 0.0
    for side in (_COARSE_SIDE, FINE_CHECK_SIDE):
        m, value, n = _compass(moving, fixed, m, side)
        used += n
    return AscentResult(m, float(value), used)
