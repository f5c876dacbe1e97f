"""Cross-modal registration: align a day reference onto a night frame.

Inputs are numpy ``uint8`` images, gray ``(H, W)`` or RGB ``(H, W, 3)`` in RGB order, of
any (possibly different) sizes. :func:`align` returns an :class:`Alignment` whose
``matrix`` maps ``moving`` pixel coordinates to ``fixed`` and whose ``ok`` says whether an
independent check confirmed it.

Examples
--------
>>> import numpy as np, skimage.data
>>> from alignment import align
>>> day = skimage.data.astronaut()
>>> night = 255 - np.roll(day[..., 0], (5, -8), axis=(0, 1))
>>> result = align(day, night)
>>> result.ok
True
"""

from alignment._align import align
from alignment._types import METHODS, MOTIONS, Alignment, apply_homography
from alignment._validate import MAX_ASPECT, MIN_SIDE, size_problem

__all__ = [
    "MAX_ASPECT",
    "METHODS",
    "MIN_SIDE",
    "MOTIONS",
    "Alignment",
    "align",
    "apply_homography",
    "size_problem",
]
