"""Night/day pairs of one fixed webcam: which frames are hard (night, dusk, fog), which are day.

A folder of a fixed camera holds frames named by capture time (``YYYYMMDD_HHMMSS.png``, as in
``../shared/data/webcam/<name>``). Capture times alone do not say which frames are dark: the
cameras' clocks are in unknown time zones and auto exposure lifts a dusk frame to a daylight
mean. What a night, dawn or foggy frame lacks is *light on the scene* (a low median
luminance: most of it is shadow or sky gone dark) and *detail* (low local contrast: fog, haze,
noise-suppressed darkness). So each frame gets a daylight index, the product of its median
luminance and its Laplacian spread, both relative to the camera's median frame; the lowest
``hard_fraction`` of a camera are the hard frames, the highest half the day frames. Every hard
frame is paired with day frames of *other dates* (a reference from the same day would make the
task easier than in the field). Frames that are pixel-identical to an earlier one (the webcam
re-sent an old picture) are dropped.

Examples
--------
Needs ``../shared`` (hence skipped as a doctest):

>>> from engine.data import shared_dir
>>> pairs = night_day_pairs(shared_dir() / "data/webcam/stlouis")  # doctest: +SKIP
>>> pairs[0].night.name, pairs[0].day.name  # doctest: +SKIP
('20120502_122839.png', '20120503_132842.png')
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from engine._image import read_image

__all__ = ["NightDayPair", "WebcamFrame", "night_day_pairs", "webcam_frames"]

_NAME = re.compile(r"^(\d{8}_\d{6})\.(png|jpe?g)$", re.IGNORECASE)


@dataclass(frozen=True)
class WebcamFrame:
    """One frame of a fixed camera and how much daylight it shows."""

    path: Path
    time: datetime
    """Capture time from the file name (the camera's clock)."""
    daylight: float
    """Median luminance x Laplacian spread, relative to the camera's median frame (1 = typical)."""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def date(self) -> str:
        return self.time.strftime("%Y%m%d")


@dataclass(frozen=True)
class NightDayPair:
    """A hard frame (the night frame to colorize) and a day frame of another date."""

    night: WebcamFrame
    day: WebcamFrame


def _stats(path: Path) -> tuple[float, float, bytes]:
    gray = read_image(path, mode="gray")
    lap = float(cv2.Laplacian(gray, cv2.CV_32F).std())
    return float(np.median(gray)) + 1.0, lap + 1e-3, hashlib.sha1(gray.tobytes()).digest()


def webcam_frames(folder: str | Path) -> list[WebcamFrame]:
    """Every distinct frame of a fixed-camera folder with its daylight index, oldest first.

    Raises
    ------
    ValueError
        ``folder`` is not a folder or holds no ``YYYYMMDD_HHMMSS`` images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    named = sorted(
        (datetime.strptime(m.group(1), "%Y%m%d_%H%M%S"), p)
        for p in folder.iterdir()
        if (m := _NAME.match(p.name))
    )
    if not named:
        raise ValueError(f"{folder}: no frames named YYYYMMDD_HHMMSS.png")
    seen: set[bytes] = set()
    kept: list[tuple[datetime, Path, float, float]] = []
    for time, path in named:
        med, lap, digest = _stats(path)
        if digest in seen:
            continue
        seen.add(digest)
        kept.append((time, path, med, lap))
    med0 = float(np.median([k[2] for k in kept]))
    lap0 = float(np.median([k[3] for k in kept]))
    return [WebcamFrame(p, t, (m / med0) * (lap / lap0)) for t, p, m, lap in kept]


def night_day_pairs(
    folder: str | Path, *, hard_fraction: float = 0.4, days_per_night: int = 4
) -> list[NightDayPair]:
    """Pair each hard frame of a fixed camera with ``days_per_night`` day frames of other dates.

    Hard frames are the ``hard_fraction`` of the camera's frames with the lowest daylight index;
    day frames the brightest, most detailed half. For each hard frame the day frames of other
    dates are taken evenly spread over that list (deterministic).

    Examples
    --------
    >>> from engine.data import shared_dir
    >>> len(night_day_pairs(shared_dir() / "data/webcam/stlouis"))  # doctest: +SKIP
    64
    """
    if not 0 < hard_fraction < 0.5:
        raise ValueError(f"hard_fraction must be in (0, 0.5), got {hard_fraction}")
    if days_per_night < 1:
        raise ValueError(f"days_per_night must be >= 1, got {days_per_night}")
    frames = webcam_frames(folder)
    ranked = sorted(frames, key=lambda f: f.daylight)
    n_hard = max(1, round(hard_fraction * len(ranked)))
    hard = sorted(ranked[:n_hard], key=lambda f: f.time)
    days = sorted(ranked[len(ranked) // 2 :], key=lambda f: f.time)
    pairs = []
    for night in hard:
        other = [d for d in days if d.date != night.date]
        if not other:
            continue
        picks = np.linspace(0, len(other) - 1, min(days_per_night, len(other)))
        pairs += [NightDayPair(night, other[int(round(i))]) for i in picks]
    return pairs


def sift_affine(
    moving: np.ndarray, fixed: np.ndarray, *, min_inliers: int = 50
) -> tuple[np.ndarray | None, int]:
    """Independent full-resolution estimate: CLAHE + SIFT + ratio 0.8 + MAGSAC++ affine (1 px).

    The evaluation's truth for a fixed camera, not what ``alignment.align`` does (that works
    at a few hundred pixels, by gradients, and is verified another way). Returns the 3x3
    moving -> fixed matrix and its inlier count, or ``(None, inliers)`` with fewer than
    ``min_inliers`` inliers.
    """
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    sift = cv2.SIFT_create()
    kp_m, d_m = sift.detectAndCompute(clahe.apply(_gray(moving)), None)
    kp_f, d_f = sift.detectAndCompute(clahe.apply(_gray(fixed)), None)
    if d_m is None or d_f is None or len(kp_m) < 3 or len(kp_f) < 3:
        return None, 0
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d_m, d_f, k=2)
    good = [p[0] for p in knn if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < 3:
        return None, 0
    src = np.float64([kp_m[g.queryIdx].pt for g in good])
    dst = np.float64([kp_f[g.trainIdx].pt for g in good])
    fit, mask = cv2.estimateAffine2D(src, dst, method=cv2.USAC_MAGSAC, ransacReprojThreshold=1.0)
    inliers = int(mask.sum()) if mask is not None else 0
    if fit is None or inliers < min_inliers:
        return None, inliers
    return np.vstack([fit, [0.0, 0.0, 1.0]]), inliers


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
