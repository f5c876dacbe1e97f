"""The colour-leak mask: similarity -> refinement -> threshold (soft ramp) -> closing -> blur
-> upsample.

The refinement (`engine.leakmask._refine`) moves the similarity's transitions onto the
reference's own edges (a guided filter), so a change is flagged up to its outline and not in a
halo half a comparison window wide around it.

The structural similarity's ramp is combined (per-pixel maximum) with the ramps of the cues
in `engine.leakmask._cues` before the closing: the night/reference luminance relation, and,
when given, the night frame's own colour and a fused reference's stability map.

The similarity is computed on copies shrunk to at most ``work_width`` pixels (the mask is smooth
anyway, and the shrink removes sensor noise and fine texture that never matches between an
IR night frame and a day photo); the blurred mask is scaled back to the full size at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from engine._image import check_gray, check_rgb
from engine.leakmask._cues import colour_ramp_small, luminance_ramp, shrink_colour, stability_ramp
from engine.leakmask._refine import guided_refine
from engine.leakmask._similarity import NORMALIZATIONS, similarity_map

__all__ = [
    "LeakMaskParams",
    "LeakMaskStages",
    "leak_mask",
    "leak_mask_stages",
    "stages_from_similarity",
]


@dataclass(frozen=True)
class LeakMaskParams:
    """Parameters of `leak_mask`. Sizes are in pixels of the working (shrunk) image.

    The defaults were chosen by measurement on 52 real near-IR/visible pairs with pasted
    scene changes (``benchmarks/leakmask_quality.py --sweep``): the best mean IoU with at
    most 5 % of unchanged pixels flagged. On those pairs without any change about 2.6 % of
    pixels are flagged (vegetation and haze edges that differ between the modalities).
    ``window``, ``hi``, ``close_px`` and ``refine_radius`` were swept together with the
    refinement (colour guide): window 13 -> 9, hi 0.125 -> 0.1875 and radius 16 gave the
    best mean IoU (0.616, was 0.435); window 7 with radius 12-16 came within 0.01.
    """

    normalization: str = "orientation"
    """How the two modalities are made comparable: ``"orientation"`` (gradient orientation,
    sign-free), ``"gradient"``, ``"lcn"`` or ``"none"`` (plain SSIM). See
    `engine.leakmask._similarity`."""
    work_width: int = 256
    """Largest width of the working copy: images are halved until they are at most this
    wide (never enlarged): 1024 -> 256, 640 -> 160, 1920 -> 240."""
    window: int = 9
    """Side of the comparison window (odd; a box applied twice). The ``"none"`` variant uses
    it as SSIM win_size. Before the refinement a wider window (13) paid for its steadiness
    with a halo around every change; refined, a narrower one localises better."""
    contrast_floor: float = 0.1
    """Constant C of the similarity, in units of the typical local energy: structure much
    weaker than this counts as flat, so flat-vs-flat is 'same'."""
    lcn_sigma: float = 4.0
    """Gaussian scale of the local contrast normalisation (``"lcn"`` only)."""
    lo: float = 0.0
    """Similarity at or below which a pixel is fully 'changed' (soft ramp value 1)."""
    hi: float = 0.1875
    """Similarity at or above which a pixel is 'unchanged' (ramp value 0). The binary
    stage flags ramp >= 0.5, i.e. similarity <= (lo + hi) / 2."""
    close_px: int = 11
    """Diameter of the elliptical closing that fills gaps in changed regions (0 = off)."""
    blur_sigma: float = 1.5
    """Gaussian blur of the mask, for soft edges (0 = off)."""
    tail_hi: float = 0.3
    """Similarity at or above which the soft tail is 0 (``tail_max`` = 0 turns it off)."""
    tail_max: float = 0.49
    """Height of the soft tail: a second, wider ramp ``tail_max * clip((tail_hi - similarity)
    / tail_hi, 0, 1)`` under the mask (``mask = max(mask, tail)``). Kept below 0.5, it flags
    nothing on its own; it only withholds part of the reference colour where the similarity
    is low but not low enough to flag, which is where changed regions are under-covered
    (chosen on ``nightlab eval``, not on the IoU benchmark, which scores only ``mask > 0.5``:
    chroma error cut in changed regions 45 % -> 51 %; PSNR cost in unchanged regions
    0.05 -> 0.09 dB; chroma error in unchanged regions with the mask 3.81 -> 4.19)."""
    luminance: bool = True
    """Use the luminance-relation cue (`engine.leakmask._cues.luminance_ramp`): a smooth
    local gain between night and reference that breaks where something flat came or went."""
    luminance_window: int = 5
    """Box (working px) over which each luminance is averaged before the log-ratio."""
    luminance_background: int = 15
    """Aperture of the log-ratio's median background, in units of 4 working px (15 -> 60
    working px, 3/8 of a 160 px wide working image): a flat change must be smaller than about
    half of it to stand out."""
    luminance_lo: float = 0.6
    """Deviation of the log-ratio from its background (natural log) where the cue's ramp
    starts (0.6 ~ 1.8x brighter or darker than the neighbourhood's gain predicts). With
    0.6/1.2 the cue leaves ``benchmarks/leakmask_quality.py`` as it was (near-IR pairs,
    pasted photos: IoU 0.409, false positives 4.47 % vs 4.46 %), and flags flat changes
    between frames of one modality."""
    luminance_hi: float = 1.2
    """... and where it saturates (a pixel is flagged at the midpoint)."""
    luminance_spread: float = 4.0
    """Both luminance thresholds are raised so ``luminance_lo`` is at least this many times
    the frame's median deviation: where no smooth gain relates the two images anywhere (a
    modality gap), only outstanding deviations count."""
    colour_lo: float = 10.0
    """Night-vs-reference ab distance, after removing the global colour cast, where the colour
    cue's ramp starts (used only when the night frame is given in colour)."""
    colour_hi: float = 25.0
    """... and where it saturates."""
    stability_lo: float = 0.0
    """Stability (of a fused reference) at or below which the stability cue's ramp is 1.
    Chosen on ``nightlab eval --webcam`` (25 night frames, 3 webcams): 0.2/0.6 masked the
    sky and the dome of mexico (their colour varies with the light) and kept 78 % of a single
    reference's chroma; 0.0/0.25 keeps 81 % at the same disagreement (0.45x)."""
    stability_hi: float = 0.25
    """Stability at or above which it is 0."""
    adapt: bool = True
    """Scale the structural thresholds ``lo`` and ``hi`` (not the soft tail) by how well
    the two images agree over the frame: ``scale = clip(q / adapt_reference, *adapt_range)``,
    q = the ``adapt_quantile``-th percentile of the similarity over the reference's footprint
    (`LeakMaskStages.threshold_scale`). Where night and reference agree almost everywhere
    (indoor scenes, frames of one modality) a moderately low similarity is already a change;
    across a wide modality gap (near-IR foliage and sky) only the lowest values are. Chosen
    on ``nightlab eval`` (76 VIS-NIR pairs: mask recall on the forest and indoor pairs) and
    ``benchmarks/leakmask_quality.py`` (IoU up, false positives down; see the README).
    Applies to the ``"orientation"`` normalisation only: ``adapt_reference`` is a value on
    its scale (the other variants keep the thresholds they were swept with)."""
    adapt_quantile: float = 20.0
    """Percentile of the similarity that measures the frame's agreement (20: low enough to
    see a modality gap, high enough that a changed area of a few % does not decide it)."""
    adapt_reference: float = 0.22
    """Agreement (that percentile) at which the thresholds are used as given."""
    adapt_range: tuple[float, float] = (0.7, 2.0)
    """Smallest and largest threshold scale."""
    refine_radius: int = 16
    """Half side of the guided filter that refits the structural similarity to the
    reference's edges (`engine.leakmask._refine.guided_refine`; 0 = off), in working px of
    a working image ``work_width`` wide, scaled with the actual working width (640 px wide
    frames: 160 px working width, radius 10). The guide is the reference's colour when
    ``reference_color`` is given, its luminance otherwise (then ``refine_radius_luminance``
    applies). Applies to the ``"orientation"`` normalisation only, like ``adapt``."""
    refine_radius_luminance: int = 8
    """``refine_radius`` when only the reference's luminance guides the refinement. One
    channel tells fewer regions apart, so a wide window's linear fit blurs across outlines
    that colour would separate: on ``benchmarks/leakmask_quality.py`` (paste) radius 8 gives
    IoU 0.52, radius 16 0.43 (with colour: 0.58 and 0.62)."""
    refine_eps: float = 1e-3
    """The guided filter's regularisation (guide scaled to [0, 1]): reference edges of much
    less contrast than ``sqrt(refine_eps)`` (~8 gray levels) do not steer the similarity."""

    def __post_init__(self) -> None:
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        _check_int("work_width", self.work_width, 16)
        _check_int("window", self.window, 3)
        if self.window % 2 == 0:
            raise ValueError(f"window must be odd, got {self.window}")
        _check_int("close_px", self.close_px, 0)
        for name in ("contrast_floor", "lcn_sigma"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not (isinstance(self.blur_sigma, int | float) and 0 <= self.blur_sigma < math.inf):
            raise ValueError(f"blur_sigma must be a finite number >= 0, got {self.blur_sigma!r}")
        if not (isinstance(self.lo, int | float) and isinstance(self.hi, int | float)):
            raise ValueError(f"lo and hi must be numbers, got {self.lo!r} and {self.hi!r}")
        if not 0.0 <= self.lo < self.hi <= 1.0:
            raise ValueError(f"need 0 <= lo < hi <= 1, got lo={self.lo}, hi={self.hi}")
        _check_int("refine_radius", self.refine_radius, 0)
        _check_int("refine_radius_luminance", self.refine_radius_luminance, 0)
        if not (
            isinstance(self.refine_eps, int | float)
            and math.isfinite(self.refine_eps)
            and self.refine_eps > 0
        ):
            raise ValueError(f"refine_eps must be a finite number > 0, got {self.refine_eps!r}")
        _check_int("luminance_window", self.luminance_window, 1)
        _check_int("luminance_background", self.luminance_background, 1)
        if not (isinstance(self.luminance_spread, int | float) and self.luminance_spread >= 0):
            raise ValueError(
                f"luminance_spread must be a number >= 0, got {self.luminance_spread!r}"
            )
        for lo, hi in (
            ("luminance_lo", "luminance_hi"),
            ("colour_lo", "colour_hi"),
            ("stability_lo", "stability_hi"),
        ):
            a, b = getattr(self, lo), getattr(self, hi)
            ok = all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in (a, b))
            if not (ok and a < b):
                raise ValueError(f"need 0 <= {lo} < {hi}, got {lo}={a!r}, {hi}={b!r}")
        if not (isinstance(self.adapt_quantile, int | float) and 0 < self.adapt_quantile < 100):
            raise ValueError(f"adapt_quantile must be in (0, 100), got {self.adapt_quantile!r}")
        if not (isinstance(self.adapt_reference, int | float) and 0 < self.adapt_reference <= 1):
            raise ValueError(f"adapt_reference must be in (0, 1], got {self.adapt_reference!r}")
        rng = self.adapt_range
        if isinstance(rng, list):  # as it comes back from JSON (the store keeps the params)
            rng = tuple(rng)
            object.__setattr__(self, "adapt_range", rng)
        if not (
            isinstance(rng, tuple)
            and len(rng) == 2
            and all(isinstance(v, int | float) and math.isfinite(v) for v in rng)
            and 0 < rng[0] <= rng[1]
        ):
            raise ValueError(f"adapt_range must be (low, high) with 0 < low <= high, got {rng!r}")
        for name, top in (("tail_hi", 1.0), ("tail_max", 0.5)):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= top):
                raise ValueError(f"{name} must be a number in [0, {top}], got {value!r}")


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class LeakMaskStages:
    """Intermediate maps of `leak_mask_stages`, for display and tests.

    All but ``mask`` are at the working resolution ``(h, w)``.
    """

    similarity: np.ndarray
    """float32 in [0, 1]; 1 = same structure in night and reference (after the edge-aware
    refinement, when it is on)."""
    ramp: np.ndarray
    """float32 in [0, 1]: ``clip((hi - similarity) / (hi - lo), 0, 1)``, or the per-pixel
    maximum of that and every cue's ramp (``cues``)."""
    binary: np.ndarray
    """bool: ``ramp >= 0.5``."""
    closed: np.ndarray
    """bool: ``binary`` after the morphological closing."""
    soft: np.ndarray
    """float32 in [0, 1]: 1 inside ``closed``, the ramp elsewhere, blurred; at least the
    soft tail (see `LeakMaskParams.tail_max`)."""
    mask: np.ndarray
    """float32 ``(H, W)`` in [0, 1]: ``soft`` at full size; what `leak_mask` returns."""
    cues: dict[str, np.ndarray] = field(default_factory=dict)
    """Working-resolution change ramp of every cue used besides structure (``"luminance"``,
    ``"colour"``, ``"stability"``), float32 in [0, 1]."""
    threshold_scale: float = 1.0
    """Factor applied to ``lo`` and ``hi`` for this frame (`LeakMaskParams.adapt`)."""
    unrefined: np.ndarray | None = None
    """The similarity before the edge-aware refinement (`LeakMaskParams.refine_radius`);
    None when there was none. ``similarity`` is the refined map."""


def leak_mask(
    night: np.ndarray,
    reference: np.ndarray,
    *,
    params: LeakMaskParams = LeakMaskParams(),
    stability: np.ndarray | None = None,
    night_color: np.ndarray | None = None,
    reference_color: np.ndarray | None = None,
) -> np.ndarray:
    """Where the aligned day reference must not lend its colour to the night frame.

    Evidence of a change, strongest per pixel: structure that differs (gradient orientation),
    a night/reference luminance relation that breaks the smooth local gain (flat changes:
    clouds, canopies), and when given, a fused reference's instability and a colour night
    frame's chroma against the reference's.

    Parameters
    ----------
    night : ndarray
        Night luminance, gray uint8 ``(H, W)`` (IR or low light).
    reference : ndarray
        Day reference luminance, gray uint8 ``(H, W)``, already aligned onto ``night``.
    params : LeakMaskParams
        Normalisation, working size, window, soft-ramp thresholds, closing, blur and cues.
    stability : ndarray, optional
        float32 ``(H, W)`` in [0, 1], 1 = the day frames behind the reference agree (the
        ``stability`` of `engine.reference.fuse_references`).
    night_color : ndarray, optional
        The night frame in colour, RGB uint8 ``(H, W, 3)``, when the camera gives colour.
        Needs ``reference_color``.
    reference_color : ndarray, optional
        The aligned reference in colour, RGB uint8 ``(H, W, 3)``: the guide of the
        edge-aware refinement (outlines between areas of equal brightness but different
        colour count too), and for the colour cue. Pass it when you have it.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` in [0, 1]: 1 = "structure differs, take no reference colour
        here", 0 = the reference shows the same scene.

    Raises
    ------
    ValueError
        Images not gray uint8 (colour ones not RGB uint8), empty, or of different sizes;
        ``night_color`` without ``reference_color``; a stability map that is not float in
        [0, 1] of the night frame's size.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> night = cv2.GaussianBlur(rng.integers(0, 256, (120, 160), dtype=np.uint8), (0, 0), 2)
    >>> reference = night.copy()
    >>> reference[40:80, 60:110] = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    >>> m = leak_mask(night, reference)
    >>> m.shape, m.dtype, bool(m[60, 85] > 0.5), bool(m[10, 10] < 0.5)
    ((120, 160), dtype('float32'), True, True)

    A flat change (a bright canopy on a flat square) has no structure inside it; the
    luminance relation still sees it:

    >>> square = np.full((120, 160), 60, np.uint8)
    >>> day = square.copy(); day[40:70, 60:100] = 240
    >>> m = leak_mask(square, day)
    >>> bool(m[55, 80] > 0.5), bool(m[5, 5] < 0.5)
    (True, True)
    """
    return leak_mask_stages(
        night,
        reference,
        params=params,
        stability=stability,
        night_color=night_color,
        reference_color=reference_color,
    ).mask


def leak_mask_stages(
    night: np.ndarray,
    reference: np.ndarray,
    *,
    params: LeakMaskParams = LeakMaskParams(),
    stability: np.ndarray | None = None,
    night_color: np.ndarray | None = None,
    reference_color: np.ndarray | None = None,
) -> LeakMaskStages:
    """`leak_mask` with every intermediate map (similarity, ramp, binary, closed, soft, cues).

    Parameters and errors as `leak_mask`; images are gray uint8 ``(H, W)`` of equal size.

    Examples
    --------
    >>> night = np.zeros((60, 80), np.uint8)
    >>> st = leak_mask_stages(night, night)
    >>> st.similarity.shape, float(st.mask.max())
    ((60, 80), 0.0)
    """
    check_gray(night, "night")
    check_gray(reference, "reference")
    if night.shape != reference.shape:
        raise ValueError(
            f"night and reference must have the same size, got {night.shape} and "
            f"{reference.shape} (align the reference onto the night frame first)"
        )
    if not isinstance(params, LeakMaskParams):
        raise ValueError(f"params must be a LeakMaskParams, got {type(params).__name__}")
    h, w = night.shape
    factor = _shrink_factor((h, w), params.work_width)
    small_n, small_r = _shrink(night, params.work_width), _shrink(reference, params.work_width)
    window = min(params.window, _largest_odd(min(small_n.shape)))
    if window < 3:
        raise ValueError(f"images too small for a leak mask: {h}x{w} (need at least 3x3)")
    sim = similarity_map(
        small_n,
        small_r,
        normalization=params.normalization,
        window=window,
        contrast_floor=params.contrast_floor,
        lcn_sigma=params.lcn_sigma,
    )
    # the colour images at the working resolution, shrunk once: the reference's guides the
    # refinement, and with the night frame's the pair feeds the colour cue
    radius = params.refine_radius_luminance if reference_color is None else params.refine_radius
    refine = radius > 0 and params.normalization == "orientation"
    small_colour = _small_colours(night_color, reference_color, (h, w), factor, refine)
    unrefined = None
    if refine:
        unrefined = sim
        guide = small_r if small_colour is None else small_colour[-1]
        # the radius is set for a full working width and follows the working image's size
        radius = max(1, round(radius * small_n.shape[1] / params.work_width))
        sim = guided_refine(sim, guide, radius=radius, eps=params.refine_eps, subsample=2)
    cues = _cue_ramps(small_n, small_r, (h, w), params, stability, small_colour)
    scale = _threshold_scale(sim, _footprint(reference, params.work_width), params)
    stages = _finish(sim, (h, w), factor, params, cues, scale)
    if unrefined is None:
        return stages
    return replace(stages, unrefined=unrefined)


def _small_colours(night_color, reference_color, shape, factor, guide) -> np.ndarray | None:
    """The colour images, validated, at the working resolution: uint8 ``(n, h, w, 3)``,
    the night frame's first when given; None without ``reference_color``, or when neither
    the refinement's guide (``guide``) nor the colour cue needs them."""
    if reference_color is None:
        if night_color is not None:
            raise ValueError("night_color needs reference_color (the aligned reference in colour)")
        return None
    given = (("night_color", night_color),) if night_color is not None else ()
    for name, img in (*given, ("reference_color", reference_color)):
        check_rgb(img, name)
        if img.shape[:2] != shape:
            raise ValueError(f"{name} must be {shape}, got {img.shape[:2]}")
    if night_color is None and not guide:
        return None
    images = (reference_color,) if night_color is None else (night_color, reference_color)
    return shrink_colour(images, factor)


def _cue_ramps(small_n, small_r, shape, params, stability, small_colour):
    """Working-resolution change ramps of the cues that apply (see `engine.leakmask._cues`)."""
    cues: dict[str, np.ndarray] = {}
    if params.luminance:
        cues["luminance"] = luminance_ramp(
            small_n,
            small_r,
            window=params.luminance_window,
            background=params.luminance_background,
            lo=params.luminance_lo,
            hi=params.luminance_hi,
            spread_factor=params.luminance_spread,
        )
    if stability is not None:
        if (
            not isinstance(stability, np.ndarray)
            or stability.shape != shape
            or stability.dtype.kind != "f"
        ):
            raise ValueError(
                f"stability must be a float (H, W) = {shape} map, got "
                f"{getattr(stability, 'dtype', type(stability).__name__)} "
                f"{getattr(stability, 'shape', '')}"
            )
        small_s = _shrink(np.asarray(stability, np.float32), params.work_width)
        cues["stability"] = stability_ramp(small_s, lo=params.stability_lo, hi=params.stability_hi)
    if small_colour is not None and len(small_colour) == 2:  # night and reference colour
        cues["colour"] = colour_ramp_small(
            small_colour, window=params.luminance_window, lo=params.colour_lo, hi=params.colour_hi
        )
    return cues


def stages_from_similarity(
    similarity: np.ndarray,
    shape: tuple[int, int],
    *,
    params: LeakMaskParams = LeakMaskParams(),
    threshold_scale: float | None = None,
) -> LeakMaskStages:
    """Threshold, close, blur and enlarge a working-resolution similarity map.

    The second half of `leak_mask_stages`, for re-thresholding without recomputing the
    similarity (a GUI slider, a parameter sweep). ``similarity`` must be the map
    `leak_mask_stages` computed for images of ``shape`` with the same ``work_width``.
    ``threshold_scale``: the frame's scale (`LeakMaskStages.threshold_scale`, for a reference
    with a black border); None computes it from ``similarity`` over the whole frame.

    Examples
    --------
    >>> st = leak_mask_stages(np.zeros((60, 80), np.uint8), np.zeros((60, 80), np.uint8))
    >>> again = stages_from_similarity(st.similarity, (60, 80), params=LeakMaskParams(hi=0.9))
    >>> again.mask.shape
    (60, 80)
    """
    h, w = (int(v) for v in shape)
    factor = _shrink_factor((h, w), params.work_width)
    expected = (h // factor, w // factor) if factor > 1 else (h, w)
    if not isinstance(similarity, np.ndarray) or similarity.shape != expected:
        got = getattr(similarity, "shape", type(similarity).__name__)
        raise ValueError(
            f"similarity must be a {expected} array for images of shape {(h, w)} "
            f"with work_width={params.work_width}, got {got}"
        )
    sim = np.asarray(similarity, np.float32)
    if threshold_scale is None:
        threshold_scale = _threshold_scale(sim, None, params)
    elif not (isinstance(threshold_scale, int | float) and 0 < threshold_scale < math.inf):
        raise ValueError(f"threshold_scale must be a number > 0, got {threshold_scale!r}")
    return _finish(sim, (h, w), factor, params, None, float(threshold_scale))


def _footprint(reference: np.ndarray, work_width: int) -> np.ndarray | None:
    """Working-resolution bool map of where a warped reference has content, or None.

    A warped day image is exactly black outside its footprint, and that outside reaches the
    frame's edge: as in `engine.colorize.reference_coverage`, black pixels count as "no
    reference" only when at least 5 % of the outermost pixels are black. A working pixel is
    covered when none of the full-size pixels it averages is black.
    """
    edges = (reference[0], reference[-1], reference[:, 0], reference[:, -1])
    black_on_edge = sum(e.size - cv2.countNonZero(np.ascontiguousarray(e)) for e in edges)
    if black_on_edge < 0.05 * sum(e.size for e in edges):
        return None
    content = cv2.compare(reference, 0, cv2.CMP_NE)  # 255 where the reference has content
    return _shrink(content, work_width) == 255


def _threshold_scale(sim: np.ndarray, footprint: np.ndarray | None, params) -> float:
    """``clip(q / adapt_reference, *adapt_range)``: q = the frame's low similarity percentile.

    Measured over the reference's footprint (outside it a black reference would count as
    structure missing everywhere), on every other pixel of each axis (the map is smooth).
    """
    if not params.adapt or params.normalization != "orientation":
        return 1.0
    values = sim[::2, ::2] if footprint is None else sim[::2, ::2][footprint[::2, ::2]]
    if values.size == 0:
        return 1.0
    k = int(params.adapt_quantile / 100.0 * (values.size - 1))
    q = float(np.partition(values.ravel(), k)[k])  # a third of np.percentile's cost
    low, high = params.adapt_range
    return min(max(q / params.adapt_reference, low), high)


def _finish(sim, shape, factor, params: LeakMaskParams, cues=None, scale=1.0) -> LeakMaskStages:
    lo, hi = params.lo * scale, min(params.hi * scale, 1.0)
    ramp = (hi - sim) * np.float32(1.0 / (hi - lo))
    np.clip(ramp, 0.0, 1.0, out=ramp)
    for cue in (cues or {}).values():
        np.maximum(ramp, cue, out=ramp)
    binary = ramp >= 0.5
    closed = binary
    if params.close_px > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (params.close_px,) * 2)
        closed = cv2.morphologyEx(
            binary.view(np.uint8), cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REFLECT
        ).view(bool)
    soft = np.where(closed, np.float32(1.0), ramp)
    if params.blur_sigma > 0:
        soft = cv2.GaussianBlur(soft, (0, 0), params.blur_sigma, borderType=cv2.BORDER_REFLECT)
    if params.tail_max > 0 and params.tail_hi > 0:
        # after the blur, so the tail (< 0.5) never pushes a pixel over the flag threshold.
        # Not scaled with the thresholds: raised on frames of one modality (fixed webcams)
        # it withheld colour from large areas of mildly changed light (chroma kept by the
        # fused, masked references 84 % -> 81 %, below 80 % on two of three cameras)
        tail = (params.tail_hi - sim) * np.float32(params.tail_max / params.tail_hi)
        np.clip(tail, 0.0, params.tail_max, out=tail)
        np.maximum(soft, tail, out=soft)
    # clipped here, not at full size: the enlargement is bilinear by a power of two, whose
    # weights (1/4, 3/4, ...) are exact and sum to exactly 1, so with inputs in [0, 1] every
    # rounded output stays in [0, 1] (a full-size clip cost 0.035 ms at 640x480)
    np.clip(soft, 0.0, 1.0, out=soft)
    mask = _enlarge(soft, shape, factor)
    return LeakMaskStages(sim, ramp, binary, closed, soft, mask, dict(cues or {}), scale)


def _shrink(gray: np.ndarray, width: int) -> np.ndarray:
    """Shrink by the power-of-two factor of `_shrink_factor`, halving repeatedly.

    A 2x INTER_AREA is OpenCV's fastest resize (a 2x2 block mean, ~0.02 ms at 640x480);
    one resize by 3 or 4 costs ten times more. The last ``h % factor`` rows and
    ``w % factor`` columns are dropped (`_enlarge` puts them back).
    """
    return _shrink_by(gray, _shrink_factor(gray.shape[:2], width))


def _shrink_by(gray: np.ndarray, factor: int) -> np.ndarray:
    """`_shrink` by a known power-of-two ``factor``."""
    h, w = gray.shape[:2]
    small = gray[: h - h % factor, : w - w % factor]
    while factor > 1:
        sh, sw = small.shape[:2]
        small = cv2.resize(small, (sw // 2, sh // 2), interpolation=cv2.INTER_AREA)
        factor //= 2
    return np.ascontiguousarray(small)


def _shrink_factor(shape: tuple[int, int], width: int) -> int:
    """Smallest power of two that brings the width to ``width`` or less (keeping >= 3 rows
    and columns)."""
    h, w = shape
    factor = 1
    while w // factor > width and min(h, w) // (2 * factor) >= 3:
        factor *= 2
    return factor


def _enlarge(soft: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """Back to full size; the rows/columns `_shrink` dropped repeat the last ones."""
    h, w = shape
    if factor == 1:
        return soft.copy()
    sh, sw = soft.shape
    out = np.empty((h, w), np.float32)
    hc, wc = sh * factor, sw * factor
    # INTER_LINEAR maps pixel centres, which is right for a block-mean shrink
    cv2.resize(soft, (wc, hc), dst=out[:hc, :wc], interpolation=cv2.INTER_LINEAR)
    if wc < w:
        out[:hc, wc:] = out[:hc, wc - 1 : wc]
    if hc < h:
        out[hc:] = out[hc - 1 : hc]
    return out


def _largest_odd(n: int) -> int:
    return n if n % 2 else n - 1
