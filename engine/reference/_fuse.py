"""Robust per-pixel fusion of several aligned day frames into one clean reference.

Transient things (people, vehicles, tents, clouds) appear in few of the day frames, so a
per-pixel median over the frames keeps the scene and drops them. Before the median, each
frame's global exposure and colour cast are matched to the consensus (a sunset frame is not
allowed to tint the result); after it, the spread of the frames around the fused value is the
**stability map**: where the day frames disagree (a fountain that changes colour, a market
that is there on half the days, moving clouds), the reference's colour is uncertain and the
leak mask should not trust it.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine._image import check_rgb

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["FuseParams", "FusedStack", "fuse_aligned"]


@dataclass(frozen=True)
class FuseParams:
    """Parameters of the per-pixel fusion (`fuse_aligned`, `engine.reference.fuse_references`)."""

    min_frames: int = 1
    """Least number of frames that must cover a pixel for it to be valid in the result."""
    match_photometry: bool = True
    """Match each frame's global exposure (L gain) and colour cast (ab offset) to the
    consensus before the median, over the area all frames cover."""
    spread_lo: float = 6.0
    """Typical Lab distance (ΔE, L weighted by ``l_weight``) of the frames from the fused
    value at or below which a pixel is fully stable (stability 1)."""
    spread_hi: float = 18.0
    """... at or above which it is fully unstable (stability 0)."""
    l_weight: float = 0.5
    """Weight of the L difference in the spread: shadows move with the time of day, which
    says less about the reference colour than an ab change does."""
    smooth_sigma: float = 2.0
    """Gaussian blur (pixels) of the spread before it becomes the stability map."""

    def __post_init__(self) -> None:
        if isinstance(self.min_frames, bool) or not isinstance(self.min_frames, int):
            raise ValueError(f"min_frames must be an integer >= 1, got {self.min_frames!r}")
        if self.min_frames < 1:
            raise ValueError(f"min_frames must be an integer >= 1, got {self.min_frames!r}")
        for name in ("spread_lo", "spread_hi", "l_weight", "smooth_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not self.spread_lo < self.spread_hi:
            raise ValueError(
                f"need spread_lo < spread_hi, got {self.spread_lo} and {self.spread_hi}"
            )


@dataclass(frozen=True)
class FusedStack:
    """Result of `fuse_aligned`: the fused image and how much the frames agreed."""

    image: np.ndarray
    """RGB uint8 ``(H, W, 3)``: per-pixel median of the (photometrically matched) frames;
    black where not valid."""
    stability: np.ndarray
    """float32 ``(H, W)`` in [0, 1]: 1 = the frames agree, 0 = they disagree (or no frame
    covers the pixel)."""
    valid: np.ndarray
    """bool ``(H, W)``: covered by at least ``min_frames`` frames."""
    count: np.ndarray
    """uint16 ``(H, W)``: how many frames cover each pixel."""
    spread: np.ndarray
    """float32 ``(H, W)``: median Lab distance of the covering frames from the fused value
    (before smoothing); 0 where fewer than two frames cover the pixel."""


def fuse_aligned(
    frames: Sequence[np.ndarray],
    *,
    valid: Sequence[np.ndarray] | None = None,
    params: FuseParams = FuseParams(),
) -> FusedStack:
    """Fuse day frames already aligned onto one pixel grid into a clean reference.

    Parameters
    ----------
    frames : sequence of ndarray
        RGB uint8 ``(H, W, 3)`` frames of the same scene on the same grid (at least one).
    valid : sequence of ndarray, optional
        One bool ``(H, W)`` per frame: where it has content (e.g. inside the warped
        image). All pixels when omitted.
    params : FuseParams
        Coverage, photometric matching and stability scale.

    Returns
    -------
    FusedStack
        Fused image, stability map, validity and per-pixel frame count.

    Raises
    ------
    ValueError
        No frames, frames not RGB uint8 or of different sizes, masks that do not match.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    >>> frames = [scene.copy() for _ in range(5)]
    >>> frames[2][10:20, 10:20] = (255, 0, 0)  # a red car in one frame only
    >>> fused = fuse_aligned(frames)
    >>> int(np.abs(fused.image.astype(int) - scene).max()) <= 1  # the car is gone
    True
    >>> float(fused.stability.min()) > 0.9
    True
    """
    frames = list(frames)
    if not frames:
        raise ValueError("need at least one day frame to fuse")
    for i, f in enumerate(frames):
        check_rgb(f, f"frames[{i}]")
    shape = frames[0].shape[:2]
    for i, f in enumerate(frames):
        if f.shape[:2] != shape:
            raise ValueError(
                f"frames[{i}] is {f.shape[:2]}, frames[0] is {shape}: align every frame onto "
                "the same grid first"
            )
    if valid is None:
        masks = [np.ones(shape, bool) for _ in frames]
    else:
        masks = list(valid)
        if len(masks) != len(frames):
            raise ValueError(f"got {len(masks)} valid masks for {len(frames)} frames")
        for i, m in enumerate(masks):
            if not isinstance(m, np.ndarray) or m.dtype != bool or m.shape != shape:
                raise ValueError(
                    f"valid[{i}] must be a bool {shape} array, got "
                    f"{getattr(m, 'dtype', type(m).__name__)} {getattr(m, 'shape', '')}"
                )
    if not isinstance(params, FuseParams):
        raise ValueError(f"params must be a FuseParams, got {type(params).__name__}")

    lab = np.stack([_to_lab(f) for f in frames])  # (n, H, W, 3)
    cover = np.stack(masks)  # (n, H, W)
    count = cover.sum(axis=0).astype(np.uint16)
    ok = count >= params.min_frames
    if params.match_photometry and len(frames) > 1:
        _match_photometry(lab, cover)
    fused = _masked_median(lab, cover)
    if len(frames) > 2:
        _keep_chroma(fused, lab, cover)
    fused[~ok] = 0.0

    diff = lab - fused[None]
    diff[..., 0] *= params.l_weight
    dist = np.sqrt(np.sum(diff * diff, axis=-1))
    spread = _masked_median(dist, cover) if len(frames) > 1 else np.zeros(shape, np.float32)
    spread[count < 2] = 0.0
    smooth = spread
    if params.smooth_sigma > 0:
        smooth = cv2.GaussianBlur(spread, (0, 0), params.smooth_sigma)
    stability = (params.spread_hi - smooth) / np.float32(params.spread_hi - params.spread_lo)
    np.clip(stability, 0.0, 1.0, out=stability)
    stability[~ok] = 0.0

    rgb = cv2.cvtColor(fused, cv2.COLOR_Lab2RGB)
    image = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    image[~ok] = 0
    return FusedStack(image, stability.astype(np.float32), ok, count, spread)


def _keep_chroma(fused: np.ndarray, lab: np.ndarray, cover: np.ndarray) -> None:
    """In place: give the fused ab the median *chroma* of the frames, keeping its hue.

    A per-channel median of a and b shrinks towards grey wherever the hue varies a little
    between frames (light of different times of day), and the colorizer then paints a paler
    picture than any single frame would; the median of the frames' chroma magnitudes does
    not shrink.
    """
    chroma = _masked_median(np.hypot(lab[..., 1], lab[..., 2]), cover)
    current = np.hypot(fused[..., 1], fused[..., 2])
    gain = np.where(current > 0.5, chroma / np.maximum(current, 0.5), 1.0).astype(np.float32)
    np.clip(gain, 1.0, 3.0, out=gain)  # only undo shrinkage, never invent colour
    fused[..., 1] *= gain
    fused[..., 2] *= gain


def _masked_median(values: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``values`` (n, H, W[, C]) where ``cover`` (n, H, W) is True;
    0 where nothing covers. Plain median where every frame covers (most pixels, fast),
    NaN-aware only on the rest (image borders of shifted frames)."""
    full = cover.all(axis=0)
    out = np.zeros(values.shape[1:], np.float32)
    out[full] = _median_axis0(values[:, full])
    part = ~full & cover.any(axis=0)
    if part.any():
        sub = values[:, part].astype(np.float32)
        keep = cover[:, part]
        sub[~keep] = np.nan
        with _all_nan_ok():
            out[part] = np.nanmedian(sub, axis=0)
    return out


def _median_axis0(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)``, the same numbers, by a sort along axis 0: for the few
    frames fused (up to ten or so) that is 2-3x faster than numpy's partition-based median,
    which walks each pixel's values across the whole stack."""
    n = values.shape[0]
    ordered = np.sort(values, axis=0)
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) * np.asarray(0.5, ordered.dtype)


@contextmanager
def _all_nan_ok():
    """Pixels no frame covers are all-NaN slices on purpose (they become 0 / invalid)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        yield


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def _match_photometry(lab: np.ndarray, cover: np.ndarray) -> None:
    """In place: scale each frame's L and shift its ab so its statistics over the commonly
    covered area match the median frame's (global exposure and colour cast only)."""
    common = cover.all(axis=0)
    if common.sum() < 16:
        common = cover.any(axis=0)
    idx = np.flatnonzero(common.ravel())
    if idx.size > 20000:  # statistics need no more; keeps fusion of many frames fast
        idx = idx[:: idx.size // 20000]
    samples = lab.reshape(lab.shape[0], -1, 3)[:, idx]  # (n, k, 3)
    l_med = np.median(samples[..., 0], axis=1)
    ab_med = np.median(samples[..., 1:], axis=1)
    l_target = float(np.median(l_med))
    ab_target = np.median(ab_med, axis=0)
    for i in range(lab.shape[0]):
        gain = l_target / max(float(l_med[i]), 1.0)
        gain = min(max(gain, 0.5), 2.0)  # an exposure change, not a different scene
        lab[i, ..., 0] *= gain
        np.clip(lab[i, ..., 0], 0.0, 100.0, out=lab[i, ..., 0])
        lab[i, ..., 1:] += (ab_target - ab_med[i]).astype(np.float32)
