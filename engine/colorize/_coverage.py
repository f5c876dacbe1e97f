"""Where a warped day reference has content, and what the model sees beyond it.

An aligned reference is the day image warped onto the night frame: outside the day image's
footprint it is black (0, 0, 0). Resizing that to the model's resolution mixes black into the
pixels along the footprint's edge, and the model then sees a dark, colourless reference next to
a lit night frame: it distrusts the reference there and its output greys out in a band a few
pixels wide along the edge. So the reference is reduced to the model's resolution by
*normalised* averaging (only covered pixels count) and the uncovered part is filled by a
push-pull pyramid from the nearest covered content: the model sees a smooth continuation of the
scene, and covered pixels keep exactly their own colour.

A pixel that is exactly black in all three channels is taken as "no reference there", but only
when at least 5 % of the frame's outermost pixels are black too (a footprint's outside always
reaches the frame's edge along a stretch; a reference without that is whole, its black pixels
are dark content, and the cheaper plain resize serves it). Black has no chroma (a = b = 0), so
treating a truly black day pixel as uncovered loses no colour.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["fill_uncovered", "reference_coverage"]


def reference_coverage(reference: np.ndarray) -> np.ndarray | None:
    """float32 ``(H, W)`` 1 where the RGB uint8 ``reference`` has content, 0 where it is black.

    Returns ``None`` when the reference covers the whole frame (under 5 % of its outermost
    pixels black: the common, fast case).

    Examples
    --------
    >>> ref = np.full((4, 6, 3), 90, np.uint8); ref[:, :2] = 0
    >>> reference_coverage(ref)[0].tolist()
    [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    >>> reference_coverage(np.full((4, 6, 3), 90, np.uint8)) is None
    True
    """
    black = cv2.inRange(reference, (0, 0, 0), (0, 0, 0))
    edges = (black[0], black[-1], black[:, 0], black[:, -1])
    on_edge = sum(cv2.countNonZero(np.ascontiguousarray(e)) for e in edges)
    if on_edge < 0.05 * sum(e.size for e in edges):
        return None
    covered = cv2.bitwise_not(black)
    return cv2.multiply(covered, 1.0 / 255.0, dtype=cv2.CV_32F)


def fill_uncovered(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill pixels of low ``weight`` from their surroundings (push-pull pyramid).

    Parameters
    ----------
    values : ndarray
        float32 ``(h, w, C)``; meaningful where ``weight > 0`` (already normalised there).
    weight : ndarray
        float32 ``(h, w)`` in [0, 1]: the fraction of each pixel that is covered.

    Returns
    -------
    ndarray
        float32 ``(h, w, C)``: ``values`` where ``weight >= 0.25``, blended towards a smooth
        extension of the covered content below that, the extension alone where ``weight``
        is 0. All zeros if nothing is covered.

    Examples
    --------
    >>> v = np.zeros((8, 8, 1), np.float32); v[:, :4] = 5.0
    >>> w = np.zeros((8, 8), np.float32); w[:, :4] = 1.0
    >>> out = fill_uncovered(v, w)
    >>> float(out[:, :4].min()), round(float(out[:, 4:].mean()), 3)
    (5.0, 5.0)
    """
    if values.ndim != 3 or values.shape[:2] != weight.shape:
        raise ValueError(
            f"values must be (h, w, C) over weight's (h, w) {weight.shape}, got {values.shape}"
        )
    c = values.shape[2]
    w = np.clip(weight, 0.0, 1.0).astype(np.float32)
    values = np.ascontiguousarray(values, np.float32)
    # pull: a pyramid of weight-premultiplied sums, halving until one pixel
    v = cv2.multiply(values, cv2.merge([w] * c)) if c > 1 else values * w[..., None]
    levels = [(v.reshape(w.shape + (c,)), w)]
    while max(w.shape) > 1:
        h, wd = w.shape
        size = (max(1, (wd + 1) // 2), max(1, (h + 1) // 2))
        v = cv2.resize(v, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], c)
        w = cv2.resize(w, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0])
        levels.append((v, w))
    # push: each level keeps its own normalised value where well covered, else the coarser
    v, w = levels[-1]
    est = v / np.maximum(w, 1e-6)[..., None]
    for i in range(len(levels) - 2, -1, -1):
        v, w = levels[i]
        h, wd = w.shape
        up = cv2.resize(est, (wd, h), interpolation=cv2.INTER_LINEAR).reshape(h, wd, c)
        if i == 0:
            # the finest level is ``values`` itself where covered (v / w == values): only the
            # thin rim with weight < 0.25 and the uncovered part need blending
            est = values.copy()
            sel = w < 0.25
            a = (w[sel] * 4.0)[:, None]
            est[sel] = values[sel] * a + up[sel] * (1.0 - a)
        else:
            own = v / np.maximum(w, 1e-6)[..., None]
            a = np.minimum(w * 4.0, 1.0)[..., None]
            est = own * a + up * (1.0 - a)
    return est
