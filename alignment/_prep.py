"""Shared preprocessing: gray conversion, scaled copies, contrast and gradient images.

Cross-modal registration (day colour vs night IR / low light) cannot compare intensities:
vegetation is dark in visible light and bright in near-infrared, lamps light a night scene
from other directions. What both modalities share is *where edges are*. So every method
works on contrast-normalised (CLAHE) gray images, and the dense ones on gradient magnitude,
which does not care about the sign of an edge.

Scaling convention: OpenCV puts pixel centres at integer coordinates, so shrinking by ``s``
maps ``x`` to ``s * x + (s - 1) / 2``, not ``s * x``. Getting this wrong costs a constant
offset of up to two full-resolution pixels at the coarse levels.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "ScaledImage",
    "clahe",
    "gradient_magnitude",
    "level_scale",
    "padding_mask",
    "prepare",
    "scale_matrix",
    "scaled",
    "to_gray",
]


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance of an RGB uint8 image (BT.601); gray images pass through."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def scale_matrix(sx: float, sy: float) -> np.ndarray:
    """3x3 matrix from full-resolution pixel coordinates to a resized copy's coordinates."""
    return np.array(
        [[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]], dtype=np.float64
    )


@dataclass(frozen=True)
class ScaledImage:
    """A gray image resized for one working scale, with its coordinate map."""

    image: np.ndarray
    """uint8 gray, CLAHE-normalised."""
    to_level: np.ndarray
    """3x3 map from full-resolution pixel coordinates to this image's coordinates."""
    valid: np.ndarray | None
    """uint8 mask, 0 on black padding (see :func:`padding_mask`); ``None`` if there is none."""


#: Working sizes are named by the long side of a frame of this aspect (H / W) or squarer.
_WIDEST = 9 / 16
#: Short side of an elongated image never drops below this share of the working size.
_MIN_SHORT = 0.3


def level_scale(shape: tuple[int, int], size: int) -> float:
    """Scale factor (<= 1) of the working copy of an image of ``shape`` at working ``size``.

    ``size`` is the long side for every frame up to 16:9; a more elongated image (a
    panorama strip, a line-scan crop) keeps the *area* of a 16:9 frame of that long side,
    and its short side at least ``0.3 * size``. Scaling by the long side alone would leave a
    2469x205 strip 26 px tall at 320 px: too little for features, gradients or a check.

    Examples
    --------
    >>> round(level_scale((480, 640), 320) * 640), round(level_scale((205, 2469), 320) * 205)
    (320, 96)
    """
    h, w = shape
    long, short = max(h, w), min(h, w)
    s = max(size / long, size * np.sqrt(_WIDEST / (h * w)), _MIN_SHORT * size / short)
    return float(min(1.0, s))


def scaled(gray: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize ``gray`` to the working size ``long_side`` (see :func:`level_scale`).

    Never enlarged. Returns the resized image and the 3x3 full-resolution -> resized map.
    """
    h, w = gray.shape[:2]
    s = level_scale((h, w), long_side)
    if s >= 1.0:
        return gray, np.eye(3)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA)
    return small, scale_matrix(nw / w, nh / h)


def clahe(gray: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation, tiles of about 64 px.

    Evens out the very different global contrast of day and night frames, and lifts
    the shadows of a low-light frame, before features or gradients are computed.
    """
    h, w = gray.shape
    tiles = (max(2, min(8, round(w / 64))), max(2, min(8, round(h / 64))))
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=tiles).apply(gray)


def gradient_magnitude(gray: np.ndarray, *, sigma: float = 1.0) -> np.ndarray:
    """Smoothed gradient magnitude of a gray image as float32, compressed by a square root.

    The square root keeps a few very strong edges (lamps, the border of a lit window at
    night) from dominating the correlation, so the many moderate edges that both
    modalities share decide the alignment.
    """
    g = gray.astype(np.float32)
    if sigma > 0:
        g = cv2.GaussianBlur(g, (0, 0), sigma)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return np.sqrt(cv2.magnitude(gx, gy))


def padding_mask(gray: np.ndarray, *, margin: int = 3) -> np.ndarray | None:
    """``uint8`` mask (255 = image content) that excludes black padding, or ``None``.

    A frame that was itself warped or cropped (rotated sensor crops, the EPFL VIS-NIR test
    pairs) has near-black wedges at its border whose straight edges would otherwise look
    like strong, perfectly aligned structure. Padding is a near-black region that touches
    the border and covers at least 0.2% of the frame; ``margin`` pixels around it are also
    excluded so its edge never enters a gradient. Dark night sky can qualify too; excluding
    it costs nothing since it has no texture.
    """
    dark = (gray <= 3).astype(np.uint8)
    rim = (dark[0], dark[-1], dark[:, 0], dark[:, -1])
    if not any(r.any() for r in rim):  # padding always reaches the border
        return None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=4)
    h, w = gray.shape
    x, y, bw, bh, area = (stats[1:, i] for i in range(5))
    touches = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)
    pad = np.flatnonzero(touches & (area >= 0.002 * h * w)) + 1
    if pad.size == 0:
        return None
    lut = np.zeros(n, np.uint8)
    lut[pad] = 255
    excluded = lut[labels]
    if margin > 0:
        excluded = cv2.dilate(excluded, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    return cv2.bitwise_not(excluded)


_REUSED = threading.local()


def prepare(image: np.ndarray) -> PreparedImage:
    """``PreparedImage(image)``, reused while the same read-only array comes back.

    A live view aligns one day reference onto every night frame: its scaled, CLAHE and
    gradient copies are the same each time (about a third of the alignment's work at
    640x480). They are kept for the last read-only array seen on this thread (per thread:
    the copies are filled lazily, without locks). A writeable array may change between
    calls, so it is prepared anew every time.
    """
    base = image.base if isinstance(image.base, np.ndarray) else None
    if image.flags.writeable or (base is not None and base.flags.writeable):
        return PreparedImage(image)
    last = getattr(_REUSED, "last", None)
    if last is not None and last[0]() is image:
        return last[1]
    prep = PreparedImage(image)
    _REUSED.last = (weakref.ref(image), prep)
    return prep


class PreparedImage:
    """One input image and its working copies, computed on demand and kept for this call.

    The methods of one ``align`` call share the same scaled, CLAHE-normalised and gradient
    images; this object computes each (per long side) once, each from the nearest larger
    copy rather than from full resolution. It holds no global state.
    """

    def __init__(self, image: np.ndarray) -> None:
        self.gray = to_gray(image)
        self.shape: tuple[int, int] = self.gray.shape[:2]
        self._raw: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._levels: dict[int, ScaledImage] = {}
        self._gradients: dict[int, np.ndarray] = {}
        self._vectors: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _scaled(self, long_side: int) -> tuple[np.ndarray, np.ndarray]:
        if level_scale(self.shape, long_side) >= 1.0:
            long_side = 1 << 30  # full resolution: one entry whatever size asked for it
        if long_side not in self._raw:
            larger = [k for k in self._raw if k > long_side]
            if larger:
                src, src_map = self._raw[min(larger)]
            else:
                src, src_map = self.gray, np.eye(3)
            small, to_small = scaled(src, long_side)
            self._raw[long_side] = (small, to_small @ src_map)
        return self._raw[long_side]

    def level(self, long_side: int) -> ScaledImage:
        """CLAHE-normalised gray copy with the longer side ``long_side`` (or full size)."""
        if long_side not in self._levels:
            small, to_level = self._scaled(long_side)
            self._levels[long_side] = ScaledImage(clahe(small), to_level, padding_mask(small))
        return self._levels[long_side]

    def gradient(self, long_side: int) -> np.ndarray:
        """float32 gradient magnitude of :meth:`level`; NaN where the frame is padding."""
        if long_side not in self._gradients:
            lvl = self.level(long_side)
            grad = gradient_magnitude(lvl.image)
            if lvl.valid is not None:
                grad[lvl.valid == 0] = np.nan
            self._gradients[long_side] = grad
        return self._gradients[long_side]

    def gradient_vectors(self, long_side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(gx, gy, magnitude)`` float32 of :meth:`level` after a 1 px Gaussian blur."""
        if long_side not in self._vectors:
            g = cv2.GaussianBlur(self.level(long_side).image.astype(np.float32), (0, 0), 1.0)
            gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
            gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
            self._vectors[long_side] = (gx, gy, cv2.magnitude(gx, gy))
        return self._vectors[long_side]
