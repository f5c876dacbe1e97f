"""A recorded pair, rendered for review: night, aligned reference, leak mask, colorized, masked.

The alignment inspector and the QA grid show a stored pair exactly as it was registered
(its stored matrix, not a new search), so what the reviewer judges is what was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from engine._image import check_gray, check_rgb, to_gray
from engine.overlay import as_display

if TYPE_CHECKING:
    from collections.abc import Mapping

    from alignment import Alignment
    from engine.leakmask import LeakMaskParams
    from engine.pipeline import PairResult, SupportsColorize
    from engine.reference import FusedReference
    from engine.store import Pair, Store

__all__ = [
    "PairViews",
    "load_pair_images",
    "load_pair_reference",
    "record_registration",
    "render_pair",
    "thumbnail",
    "views_from_result",
    "wipe",
]


@dataclass(frozen=True)
class PairViews:
    night: np.ndarray
    """gray uint8 ``(H, W)``."""
    day: np.ndarray
    """RGB uint8: the day reference in its own grid."""
    matrix: np.ndarray
    """3x3: day pixels -> night pixels."""
    aligned: np.ndarray
    """RGB uint8 ``(H, W, 3)``: the day reference on the night grid."""
    mask: np.ndarray
    """float32 ``(H, W)`` leak mask (1 = no reference colour)."""
    colorized: np.ndarray | None
    masked: np.ndarray | None
    """The colorized frame faded to gray where the mask withholds colour."""

    _display: dict[str, np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Roles already converted by `display` (filled off the GUI thread)."""

    def display(self, role: str) -> np.ndarray | None:
        """``image(role)`` in Qt's paint layout (BGRA uint8, see `engine.overlay.as_display`),
        converted once and kept: converting two 1280x720 views sat inside a 33 ms GUI event, so
        a viewer calls this on a worker and shows the result on its GUI thread.

        Examples
        --------
        >>> g = np.zeros((2, 3), np.uint8)
        >>> v = PairViews(g, np.zeros((2, 3, 3), np.uint8), np.eye(3),
        ...               np.zeros((2, 3, 3), np.uint8), np.ones((2, 3), np.float32), None, None)
        >>> v.display("mask").shape, v.display("colorized")
        ((2, 3, 4), None)
        """
        out = self._display.get(role)
        if out is None:
            img = self.image(role)
            if img is None:
                return None
            out = self._display.setdefault(role, as_display(img))
        return out

    def displayed(self, role: str) -> np.ndarray | None:
        """What `display` already converted for ``role``, else None (never converts)."""
        return self._display.get(role)

    def image(self, role: str) -> np.ndarray | None:
        """By name: night, reference, aligned, colorized, masked, mask (RGB or gray uint8)."""
        if role == "mask":
            return (np.clip(self.mask, 0, 1) * 255 + 0.5).astype(np.uint8)
        if role == "reference":
            return self.day
        return getattr(self, role)


def load_pair_reference(store: Store, pair: Pair) -> tuple[np.ndarray, FusedReference]:
    """(night gray, day reference) of a stored pair, the reference as it was recorded.

    Several day captures are fused by `engine.reference.fuse_day_captures` in the first one's
    grid, exactly as the live tracker fused them when the pair was captured (deterministic),
    so the pair's stored registration fits it; its ``stability`` goes to the leak mask.
    Blocking (reads PNGs; fusing a few captures takes up to about a second): a worker call.
    """
    from engine.reference import fuse_day_captures

    night = to_gray(store.read_image(pair.night_id))
    days = [store.read_image(i) for i in pair.day_ids]
    for i, d in zip(pair.day_ids, days, strict=True):
        check_rgb(d, f"day capture {i}")
    return night, fuse_day_captures(days)


def load_pair_images(store: Store, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(night gray, day RGB) of a stored pair; several day captures fused as recorded
    (`load_pair_reference`, whose stability map this leaves out)."""
    night, fused = load_pair_reference(store, pair)
    return night, fused.image


def record_registration(
    store: Store, pair: Pair, registration: Alignment | Mapping[str, Any]
) -> Pair:
    """Store a new registration of ``pair`` (an inspector re-run, an accepted nudge) with the
    metrics it gives. Blocking (reads the images, masks them): call it off the GUI thread.

    The SSIM mean and leak area are measured again on the stored images under the new
    matrix, with the pair's own leak-mask parameters, so a pair never shows one
    registration's figures beside another's matrix; a registration that is not ``ok``
    clears them.

    Parameters
    ----------
    store : engine.store.Store
    pair : engine.store.Pair
    registration : alignment.Alignment or mapping
        The new registration; a mapping has the keys ``ok``, ``method``, ``motion``,
        ``score``, ``reason`` and ``matrix`` (e.g. a nudged copy of the stored one).

    Returns
    -------
    engine.store.Pair
        The pair as stored.

    Examples
    --------
    >>> record_registration(store, pair, alignment.align(day, night))  # doctest: +SKIP
    """
    import dataclasses

    from alignment import Alignment
    from engine.leakmask import LeakMaskParams
    from engine.pipeline import process_pair

    night, fused = load_pair_reference(store, pair)
    day = fused.image
    if not isinstance(registration, Alignment):
        r = dict(registration)
        registration = Alignment(
            np.asarray(r["matrix"], float),
            ok=bool(r["ok"]),
            score=float(r.get("score") or 0.0),
            method=str(r.get("method") or ""),
            motion=str(r.get("motion") or "homography"),
            reason=str(r.get("reason") or ""),
            fixed_shape=night.shape[:2],
            moving_shape=day.shape[:2],
        )
    known = {f.name for f in dataclasses.fields(LeakMaskParams)}
    params = LeakMaskParams(**{k: v for k, v in (pair.leak_params or {}).items() if k in known})
    ssim_mean = leak_area_pct = None
    if registration.ok:
        measured = process_pair(
            day, night, registered=registration, leak_params=params, stability=fused.stability
        )
        ssim_mean, leak_area_pct = measured.ssim_mean, measured.leak_area_pct
    return store.update_pair(
        pair.id,
        alignment=registration,
        leak_params=params,
        ssim_mean=ssim_mean,
        leak_area_pct=leak_area_pct,
    )


def warp_onto(day: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``day`` warped by ``matrix`` into a ``(H, W)`` grid (linear, black outside)."""
    m = np.asarray(matrix, float)
    if m.shape != (3, 3) or not np.isfinite(m).all():
        raise ValueError(f"matrix must be a finite 3x3 array, got shape {m.shape}")
    h, w = shape
    return cv2.warpPerspective(day, m, (int(w), int(h)), flags=cv2.INTER_LINEAR)


def render_pair(
    night: np.ndarray,
    day: np.ndarray,
    matrix: np.ndarray,
    *,
    colorizer: SupportsColorize | None = None,
    leak_params: LeakMaskParams | None = None,
    stability: np.ndarray | None = None,
) -> PairViews:
    """Every review image of a pair registered by ``matrix`` (no new alignment search).

    ``stability`` (float32, ``day``'s size): a fused reference's stability map
    (`load_pair_reference`), warped by ``matrix`` and given to the leak mask, as the
    pipeline did when the pair was recorded.
    """
    from engine.leakmask import LeakMaskParams, leak_mask
    from engine.overlay import masked_colorized

    check_gray(night, "night")
    check_rgb(day, "day")
    shape = night.shape[:2]
    aligned = warp_onto(day, matrix, shape)
    ones = np.full(day.shape[:2], 255, np.uint8)
    valid = (
        cv2.warpPerspective(ones, np.asarray(matrix, float), shape[::-1], flags=cv2.INTER_NEAREST)
        > 0
    )
    extra = {}
    if stability is not None:
        if not isinstance(stability, np.ndarray) or stability.shape != day.shape[:2]:
            raise ValueError(
                f"stability must be a float map of the day image's size {day.shape[:2]}, got "
                f"{getattr(stability, 'shape', type(stability).__name__)}"
            )
        extra["stability"] = warp_onto(np.asarray(stability, np.float32), matrix, shape)
    mask = leak_mask(
        night,
        to_gray(aligned),
        params=leak_params or LeakMaskParams(),
        reference_color=aligned,
        **extra,
    )
    mask = np.where(valid, mask, np.float32(1.0)).astype(np.float32)
    colorized = masked = None
    if colorizer is not None:
        colorized = colorizer.colorize(night, aligned, leak_mask=mask).rgb
        masked = masked_colorized(colorized, night, mask)
    return PairViews(night, day, np.asarray(matrix, float), aligned, mask, colorized, masked)


def views_from_result(
    result: PairResult, day: np.ndarray, *, colorizer: SupportsColorize | None = None
) -> PairViews:
    """The review images of a pair from the `engine.pipeline.PairResult` it was recorded
    with: the same images as `render_pair` on the stored pair, without reading the PNGs back
    and warping and masking again (only the colorization is computed here).

    Raises
    ------
    ValueError
        The result was not aligned.
    """
    from engine.overlay import masked_colorized

    if not result.ok or result.aligned_reference is None or result.leak_mask is None:
        raise ValueError(f"the pair was not aligned: {result.alignment.reason}")
    check_rgb(day, "day")
    night, aligned = result.night, result.aligned_reference
    mask = np.asarray(result.leak_mask, np.float32)  # already 1 outside the footprint
    colorized = masked = None
    if colorizer is not None:
        colorized = colorizer.colorize(night, aligned, leak_mask=mask).rgb
        masked = masked_colorized(colorized, night, mask)
    matrix = np.asarray(result.alignment.matrix, float)
    return PairViews(night, day, matrix, aligned, mask, colorized, masked)


def thumbnail(image: np.ndarray, width: int = 128) -> np.ndarray:
    """A small copy (area interpolation) ``width`` pixels wide, C-contiguous.

    Examples
    --------
    >>> thumbnail(np.zeros((480, 640, 3), np.uint8), 64).shape
    (48, 64, 3)
    """
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    h, w = image.shape[:2]
    size = (int(width), max(1, round(h * width / w)))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def wipe(a: np.ndarray, b: np.ndarray, position: float) -> np.ndarray:
    """``a`` left of ``position`` (0..1 of the width), ``b`` right of it, with a thin line.

    Gray inputs are expanded to RGB.

    Examples
    --------
    >>> out = wipe(np.zeros((2, 10), np.uint8), np.full((2, 10), 200, np.uint8), 0.5)
    >>> out[0, 1].tolist(), out[0, 8].tolist()
    ([0, 0, 0], [200, 200, 200])
    """
    if not 0.0 <= position <= 1.0:
        raise ValueError(f"position must be in [0, 1], got {position}")
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"images differ in size: {a.shape[:2]} vs {b.shape[:2]}")
    a3 = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB) if a.ndim == 2 else a
    b3 = cv2.cvtColor(b, cv2.COLOR_GRAY2RGB) if b.ndim == 2 else b
    x = int(round(position * a.shape[1]))
    out = b3.copy()
    out[:, :x] = a3[:, :x]
    if 0 < x < a.shape[1]:
        out[:, max(0, x - 1) : x + 1] = (255, 210, 0)
    return out
