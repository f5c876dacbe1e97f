"""A recorded pair, rendered for review: night, aligned reference, leak mask, colorized, masked,
and for a fused reference its stability map and which day captures went in.

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
    from collections.abc import Mapping, Sequence

    from alignment import Alignment
    from engine.leakmask import LeakMaskParams
    from engine.pipeline import PairResult, SupportsColorize
    from engine.reference import FusedReference
    from engine.store import Pair, Store

__all__ = [
    "DayCaptures",
    "PairViews",
    "alignment_from_record",
    "load_pair_images",
    "load_pair_reference",
    "record_registration",
    "render_pair",
    "stability_view",
    "thumbnail",
    "views_from_result",
    "wipe",
]


@dataclass(frozen=True)
class DayCaptures:
    """Which of a stored pair's day captures went into its reference.

    Examples
    --------
    >>> DayCaptures((12, 13, 14), used=(0, 2), refused=((1, "did not register"),)).describe()
    'day captures #12, #14 fused; left out #13 (did not register)'
    """

    capture_ids: tuple[int, ...]
    """Store ids of the pair's day captures, in the pair's order (the anchor first)."""
    used: tuple[int, ...] = (0,)
    """Indices into ``capture_ids`` of the captures fused into the reference."""
    refused: tuple[tuple[int, str], ...] = ()
    """``(index, reason)`` of each capture left out: it did not register onto the anchor."""

    @property
    def used_ids(self) -> tuple[int, ...]:
        return tuple(self.capture_ids[i] for i in self.used)

    @property
    def left_out_ids(self) -> tuple[int, ...]:
        return tuple(self.capture_ids[i] for i, _ in self.refused)

    def describe(self, *, brief: bool = False) -> str:
        """The line the capture log and the CLI print (`engine.reference.describe_fusion`);
        ``brief`` keeps only the first step of each left-out capture's reason (a failed
        registration lists every attempt, one per ``"; "``).

        Examples
        --------
        >>> DayCaptures((3, 4), refused=((1, "prior: no overlap; phase: no peak"),)).describe(
        ...     brief=True)
        'day capture #3 used; left out #4 (prior: no overlap)'
        """
        from engine.reference import describe_fusion

        refused = self.refused
        if brief:
            refused = tuple((i, why.split("; ")[0]) for i, why in refused)
        return describe_fusion(self.used, refused, capture_ids=self.capture_ids)

    @classmethod
    def of(cls, day_ids: Sequence[int], fused: FusedReference) -> DayCaptures:
        """The pair's ``day_ids`` with ``fused.used`` and ``fused.refused``."""
        ids = tuple(int(i) for i in day_ids)
        if len(ids) != len(fused.alignments):
            raise ValueError(f"{len(ids)} capture ids for {len(fused.alignments)} day captures")
        return cls(ids, tuple(fused.used), tuple((i, str(r)) for i, r in fused.refused))


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
    day_stability: np.ndarray | None = None
    """float32 in ``day``'s grid: the fused reference's stability map (1 = the day captures
    agree); None for a reference of one capture (nothing to disagree with)."""
    day_captures: DayCaptures | None = None
    """Which day captures the reference was fused from (None when not known)."""

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
        """By name: night, reference, aligned, colorized, masked, mask, stability (RGB or
        gray uint8; stability is None for a reference of one capture)."""
        if role == "stability":
            if self.day_stability is None:
                return None
            return stability_view(self.night, self.day_stability, self.matrix)
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


def alignment_from_record(
    registration: Mapping[str, Any], *, fixed_shape: tuple[int, int], moving_shape: tuple[int, int]
) -> Alignment:
    """A stored registration (a pair's ``registration`` mapping: ``matrix``, ``ok``, ``score``,
    ``method``, ``motion``, ``reason``) as an `alignment.Alignment` between the given shapes.

    Examples
    --------
    >>> a = alignment_from_record({"matrix": np.eye(3).tolist(), "ok": True},
    ...                           fixed_shape=(4, 6), moving_shape=(4, 6))
    >>> a.ok, a.motion
    (True, 'homography')
    """
    from alignment import Alignment

    r = dict(registration)
    return Alignment(
        np.asarray(r["matrix"], float),
        ok=bool(r.get("ok")),
        score=float(r.get("score") or 0.0),
        method=str(r.get("method") or ""),
        motion=str(r.get("motion") or "homography"),
        reason=str(r.get("reason") or ""),
        fixed_shape=fixed_shape,
        moving_shape=moving_shape,
    )


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
        registration = alignment_from_record(
            registration, fixed_shape=night.shape[:2], moving_shape=day.shape[:2]
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


def _footprint(size: tuple[int, int], matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool ``shape``: where a ``size`` image warped by ``matrix`` has content."""
    ones = np.full(size, 255, np.uint8)
    m = np.asarray(matrix, float)
    return cv2.warpPerspective(ones, m, shape[::-1], flags=cv2.INTER_NEAREST) > 0


def render_pair(
    night: np.ndarray,
    day: np.ndarray,
    matrix: np.ndarray,
    *,
    colorizer: SupportsColorize | None = None,
    leak_params: LeakMaskParams | None = None,
    stability: np.ndarray | None = None,
    day_captures: DayCaptures | None = None,
) -> PairViews:
    """Every review image of a pair registered by ``matrix`` (no new alignment search).

    ``stability`` (float32, ``day``'s size): a fused reference's stability map
    (`load_pair_reference`), warped by ``matrix`` and given to the leak mask, as the
    pipeline did when the pair was recorded; kept for the ``"stability"`` view.
    ``day_captures``: which captures went into the reference (`DayCaptures.of`), kept.
    """
    from engine.leakmask import LeakMaskParams, leak_mask
    from engine.overlay import masked_colorized

    check_gray(night, "night")
    check_rgb(day, "day")
    shape = night.shape[:2]
    aligned = warp_onto(day, matrix, shape)
    valid = _footprint(day.shape[:2], matrix, shape)
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
    return PairViews(
        night,
        day,
        np.asarray(matrix, float),
        aligned,
        mask,
        colorized,
        masked,
        day_stability=None if stability is None else np.asarray(stability, np.float32),
        day_captures=day_captures,
    )


def stability_view(night: np.ndarray, stability: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """A fused reference's stability map on the night frame, colour-mapped for review.

    Viridis: yellow = the day captures agree (1), dark purple = they disagreed (0), where
    the leak mask withholds reference colour. Outside the reference's footprint the night
    frame shows, dimmed, so the map is never mistaken for disagreement there.

    Parameters
    ----------
    night : ndarray
        uint8 gray ``(H, W)``: the grid to show it in.
    stability : ndarray
        float ``(h, w)`` in [0, 1], in the day reference's grid (`FusedReference.stability`).
    matrix : ndarray
        3x3: day pixels -> night pixels (the pair's registration).

    Returns
    -------
    ndarray
        RGB uint8 ``(H, W, 3)``.

    Examples
    --------
    >>> out = stability_view(np.zeros((4, 6), np.uint8), np.ones((4, 6), np.float32), np.eye(3))
    >>> out.shape, out[1, 1].tolist()  # yellow: the captures agree
    ((4, 6, 3), [253, 231, 37])
    """
    check_gray(night, "night")
    s = np.asarray(stability, np.float32)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"stability must be a 2-D float map, got shape {s.shape}")
    shape = night.shape[:2]
    warped = warp_onto(np.clip(s, 0.0, 1.0), matrix, shape)
    inside = _footprint(s.shape, matrix, shape)
    levels = (warped * 255 + 0.5).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    dim = cv2.cvtColor((night // 3).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    return np.where(inside[..., None], rgb, dim)


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
