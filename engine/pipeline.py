"""The day/night pair pipeline: align -> leak mask -> colorize, with per-stage timings.

One function used by ``nightlab process``, the GUI's processing worker and the experiment log,
so every front-end produces the same numbers. It is a plain, blocking call meant to run on a
worker thread; the result is a small dataclass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from engine._image import check_rgb, to_gray

if TYPE_CHECKING:
    from alignment import Alignment
    from engine.colorize import ColorizeResult
    from engine.leakmask import LeakMaskParams
    from engine.reference import FusedReference

__all__ = [
    "MAX_WORKING_PIXELS",
    "PairResult",
    "SupportsColorize",
    "WarpedReference",
    "process_fused",
    "process_pair",
    "to_working_resolution",
]

#: Largest image (in pixels) the pair pipeline works on. Peak memory grows ~140 bytes per
#: night pixel (alignment pyramids, float leak-mask and SSIM maps, guided-filter buffers):
#: an 8000x6000 pair took 6.9 GB. Larger inputs are reduced to this size first (16 MP covers
#: 4K and 12 MP camera sensors at full resolution), which bounds peak memory to about 3 GB.
MAX_WORKING_PIXELS = 16_000_000


class SupportsColorize(Protocol):
    """What `process_pair` colorizes with: `engine.colorize.Colorizer` on the host, or the
    on-camera colorizer (`engine.camera.OakCamera.colorizer`)."""

    def colorize(
        self, night: np.ndarray, reference: np.ndarray, *, leak_mask: np.ndarray | None = None
    ) -> ColorizeResult: ...


@dataclass(frozen=True, eq=False)
class WarpedReference:
    """A day reference warped onto a camera's frames by one registration.

    What `process_pair` builds from the reference and the registration alone, before the
    night frame's content matters: pass it back as ``registered=`` to reuse all of it for the
    next frame of that camera (the live view, while its registration holds). Its arrays are
    read-only, so the colorizer also keeps its own preparation of ``image`` for as long as
    the same object comes back (`engine.colorize.Colorizer`).
    """

    alignment: Alignment
    """The accepted `alignment.Alignment` (``ok``)."""
    day: np.ndarray
    """The day image it was warped from (`process_pair` checks it is the same object)."""
    image: np.ndarray
    """RGB uint8 ``(H, W, 3)``: the day image in the night frame's pixel grid."""
    valid: np.ndarray
    """bool ``(H, W)``: where the warped day image has content."""
    gray: np.ndarray
    """uint8 ``(H, W)``: ``image``'s luminance (what the leak mask and SSIM compare)."""
    stability: np.ndarray | None = None
    """float32 ``(H, W)``: a fused reference's stability map warped the same way (0 outside
    the day image), or None when the reference has none."""


def warp_reference(
    day: np.ndarray,
    registration: Alignment,
    shape: tuple[int, int],
    *,
    stability: np.ndarray | None = None,
) -> WarpedReference:
    """Warp ``day`` onto a ``shape = (H, W)`` frame by an accepted ``registration``.

    ``stability`` (float32, ``day``'s size, e.g. `engine.reference.fuse_day_captures`'s) is
    warped with it.

    Examples
    --------
    >>> import alignment
    >>> day = np.zeros((60, 80, 3), np.uint8)
    >>> reg = alignment.Alignment(np.eye(3), ok=True, score=1.0, method="ecc", motion="affine")
    >>> w = warp_reference(day, reg, (30, 40))
    >>> w.image.shape, bool(w.valid.all()), w.image.flags.writeable
    ((30, 40, 3), True, False)
    """
    import cv2

    if not registration.ok:
        raise ValueError("registered must be an accepted registration (ok=True)")
    aligned = registration.warp(day, output_shape=shape)
    # nearest-neighbour: the coverage needs no interpolation (cheaper than a second linear
    # warp; the same pixels as the linear warp thresholded at half)
    valid = (
        registration.warp(
            np.full(day.shape[:2], 255, np.uint8),
            output_shape=shape,
            interpolation=cv2.INTER_NEAREST,
        )
        > 0
    )
    gray = to_gray(aligned)
    warped_stability = None
    if stability is not None:
        _check_stability(stability, day.shape[:2])
        warped_stability = registration.warp(np.asarray(stability, np.float32), output_shape=shape)
    for a in (aligned, valid, gray, warped_stability):
        if a is not None:
            a.setflags(write=False)  # shared by every frame that reuses it
    return WarpedReference(registration, day, aligned, valid, gray, warped_stability)


def _check_stability(stability, shape: tuple[int, int]) -> None:
    if (
        not isinstance(stability, np.ndarray)
        or stability.dtype.kind != "f"
        or stability.shape != tuple(shape)
    ):
        raise ValueError(
            f"stability must be a float (H, W) = {tuple(shape)} map in the day image's grid, "
            f"got {getattr(stability, 'dtype', type(stability).__name__)} "
            f"{getattr(stability, 'shape', '')}"
        )


@dataclass(frozen=True)
class PairResult:
    """Everything ``process_pair`` produced. Images are in the night frame's pixel space."""

    alignment: Alignment
    """`alignment.Alignment` of the day image onto the night frame."""
    night: np.ndarray
    """gray uint8 ``(H, W)``."""
    aligned_reference: np.ndarray | None
    """RGB uint8 ``(H, W, 3)``: the day image warped onto the night frame (None if not aligned)."""
    valid: np.ndarray | None
    """bool ``(H, W)``: where the warped day image has content."""
    leak_mask: np.ndarray | None
    """float32 ``(H, W)`` in [0, 1]; 1 = no reference colour (changed or outside the reference)."""
    ssim_mean: float | None
    leak_area_pct: float | None
    colorized: ColorizeResult | None = None
    """`engine.colorize.ColorizeResult` when a colorizer was given."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    fused: FusedReference | None = None
    """`engine.reference.FusedReference` when several day frames were fused
    (`process_fused`)."""
    day_alignments: tuple = ()
    """`process_fused`: one `alignment.Alignment` per day frame, in input order."""
    days_used: tuple[int, ...] = ()
    """`process_fused`: indices of the day frames that went into the reference."""
    warped: WarpedReference | None = None
    """`process_pair`: the reference warped by this registration (reusable as
    ``registered=`` for the next frame of the same camera); None when not aligned."""

    @property
    def ok(self) -> bool:
        return bool(self.alignment.ok)

    def metrics(self) -> dict[str, Any]:
        """JSON-ready summary: alignment method/score/matrix, SSIM mean, leak area, stage ms."""
        a = self.alignment
        out: dict[str, Any] = {
            "alignment": {
                "ok": bool(a.ok),
                "method": a.method,
                "score": float(a.score),
                "reason": a.reason,
                "matrix": np.asarray(a.matrix, float).tolist(),
            },
            "night_size": [int(self.night.shape[1]), int(self.night.shape[0])],
            "ssim_mean": self.ssim_mean,
            "leak_area_pct": self.leak_area_pct,
            "valid_area_pct": None if self.valid is None else float(self.valid.mean() * 100),
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
        if self.day_alignments:
            out["day_frames"] = [
                {
                    "index": i,
                    "used": i in self.days_used,
                    "ok": bool(a.ok),
                    "method": a.method,
                    "score": float(a.score),
                    "reason": a.reason,
                    "matrix": np.asarray(a.matrix, float).tolist(),
                }
                for i, a in enumerate(self.day_alignments)
            ]
        if self.fused is not None:
            st = self.fused.stability[self.fused.valid]
            out["stability_mean"] = float(st.mean()) if st.size else None
        if self.colorized is not None:
            out["colorize"] = {
                "model": getattr(self.colorized, "model_name", ""),
                "timings_ms": {
                    k: round(float(v), 3)
                    for k, v in getattr(self.colorized, "timings_ms", {}).items()
                },
            }
        return out


def to_working_resolution(
    image: np.ndarray, *, max_pixels: int = MAX_WORKING_PIXELS
) -> tuple[np.ndarray, tuple[float, float]]:
    """Shrink ``image`` (area-averaging) to at most ``max_pixels``; returns it and the scale.

    The scale ``(sx, sy)`` maps original pixel coordinates to working ones (``(1.0, 1.0)``:
    unchanged, and the same array is returned).

    Examples
    --------
    >>> img, (sx, sy) = to_working_resolution(np.zeros((6000, 8000), np.uint8))
    >>> img.shape, round(sx, 3), round(sy, 3)
    ((3464, 4618), 0.577, 0.577)
    """
    import cv2

    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    h, w = image.shape[:2]
    if h * w <= max_pixels:
        return image, (1.0, 1.0)
    scale = (max_pixels / float(h * w)) ** 0.5
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, (size[0] / float(w), size[1] / float(h))


def _check_night(night) -> None:
    """A night frame is a uint8 image (its shape is checked by `to_gray`): anything else is
    refused here, before OpenCV would fail on it with its own message."""
    if not isinstance(night, np.ndarray) or night.dtype != np.uint8:
        got = night.dtype if isinstance(night, np.ndarray) else type(night).__name__
        raise ValueError(f"night must be uint8, gray (H, W) or RGB (H, W, 3), got {got}")


def process_pair(
    day: np.ndarray,
    night: np.ndarray,
    *,
    colorizer: SupportsColorize | None = None,
    method: str = "auto",
    motion: str = "homography",
    initial: np.ndarray | None = None,
    leak_params: LeakMaskParams | None = None,
    fixed_camera: bool = False,
    ssim: bool = True,
    registered: Alignment | WarpedReference | None = None,
    stability: np.ndarray | None = None,
) -> PairResult:
    """Align a day reference onto a night frame, compute the leak mask, optionally colorize.

    Parameters
    ----------
    day : ndarray
        Day reference, RGB uint8 ``(H1, W1, 3)``.
    night : ndarray
        Night frame, gray uint8 ``(H, W)`` (an RGB night frame is reduced to luminance, and
        its own colour is what leak-masked areas fall back to).
        Sizes may differ from ``day`` (different sensors).
    colorizer : object, optional
        Anything with ``colorize(night, reference, *, leak_mask=None)``, e.g.
        `engine.colorize.load_colorizer()`. None skips colorization.
    method, motion : str
        Passed to `alignment.align`.
    initial : ndarray, optional
        Previous 3x3 estimate (live re-registration: only a fast refinement is run).
    leak_params : engine.leakmask.LeakMaskParams, optional
        Leak-mask parameters (defaults when None).
    fixed_camera : bool
        Day and night come from the same, unmoved camera (see `alignment.align`).
    ssim : bool
        Compute ``ssim_mean`` (a full-frame SSIM map, 3–4 ms at 640x480). The live view
        passes False and refreshes its label a few times a second instead.
    registered : alignment.Alignment or WarpedReference, optional
        An accepted registration of this reference onto this camera's frames to use as it
        is: no alignment runs and ``timings_ms["align"]`` is 0 (the live tracker, between
        refreshes of an unmoved camera). It must be ``ok``. A `WarpedReference` (an earlier
        result's ``warped``) also skips the warp (``timings_ms["warp"]`` 0); it must come
        from this ``day`` object and a frame of this size.
    stability : ndarray, optional
        float32 ``(H1, W1)`` in [0, 1] in ``day``'s grid: a fused reference's stability map
        (`engine.reference.fuse_day_captures`). It is warped with the reference and given to
        the leak mask (where the day captures disagree, reference colour is not trusted).
        Ignored with a `WarpedReference` ``registered=``, which carries its own.

    Returns
    -------
    PairResult
        With ``alignment.ok`` False (and no mask or colour) when the pair cannot be aligned.

    Examples
    --------
    >>> import skimage.data
    >>> day = skimage.data.astronaut()
    >>> res = process_pair(day, to_gray(day))  # doctest: +SKIP
    >>> res.ok, res.leak_area_pct < 5  # doctest: +SKIP
    (True, True)
    """
    import alignment

    check_rgb(day, "day")
    _check_night(night)
    if stability is not None:
        _check_stability(stability, day.shape[:2])
    # a night camera that gives colour: masked areas take that colour (see recombine)
    night_color = night if night.ndim == 3 else None
    night = to_gray(night)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    warped = registered if isinstance(registered, WarpedReference) else None
    if warped is not None:
        if warped.day is not day:
            raise ValueError("registered was warped from another day image than day")
        if warped.image.shape[:2] != night.shape[:2]:
            raise ValueError(
                f"registered was warped for a {warped.image.shape[:2]} frame, night is "
                f"{night.shape[:2]}"
            )
        al = warped.alignment
    elif registered is not None:
        if not registered.ok:
            raise ValueError("registered must be an accepted registration (ok=True)")
        al = registered
    else:
        al = alignment.align(
            day, night, method=method, motion=motion, initial=initial, fixed_camera=fixed_camera
        )
    times["align"] = (time.perf_counter() - t0) * 1e3 if registered is None else 0.0
    if not al.ok:
        return PairResult(al, night, None, None, None, None, None, timings_ms=times)

    t = time.perf_counter()
    if warped is None:
        warped = warp_reference(day, al, night.shape[:2], stability=stability)
        times["warp"] = (time.perf_counter() - t) * 1e3
    else:
        times["warp"] = 0.0
    aligned, valid = warped.image, warped.valid

    return _after_registration(
        al,
        night,
        aligned,
        valid,
        times,
        t0,
        leak_params=leak_params,
        stability=warped.stability,
        ssim=ssim,
        colorizer=colorizer,
        night_color=night_color,
        ref_gray=warped.gray,
        warped=warped,
    )


def _after_registration(
    al: Alignment,
    night: np.ndarray,
    aligned: np.ndarray,
    valid: np.ndarray,
    times: dict[str, float],
    t0: float,
    *,
    leak_params: LeakMaskParams | None = None,
    stability: np.ndarray | None = None,
    ssim: bool = True,
    colorizer: SupportsColorize | None = None,
    night_color: np.ndarray | None = None,
    ref_gray: np.ndarray | None = None,
    **record: Any,
) -> PairResult:
    """The stages after registration, shared by the single and the fused reference: leak mask
    (1 outside the reference's footprint), SSIM mean over the footprint, colorization; and
    the pair's result (``record``: what only one of the two adds to it; ``t0``: when the
    pair's processing began, for the total time)."""
    from engine.leakmask import LeakMaskParams, leak_mask, ssim_map

    t = time.perf_counter()
    ref_gray = to_gray(aligned) if ref_gray is None else ref_gray
    params = leak_params or LeakMaskParams()
    colour = aligned if aligned.ndim == 3 else None  # guides the mask's edge refinement
    if stability is None:
        mask = leak_mask(night, ref_gray, params=params, reference_color=colour)
    else:
        mask = leak_mask(
            night, ref_gray, params=params, stability=stability, reference_color=colour
        )
    mask = np.where(valid, mask, np.float32(1.0)).astype(np.float32)
    times["leak_mask"] = (time.perf_counter() - t) * 1e3

    ssim_mean = None
    if ssim:
        t = time.perf_counter()
        smap = ssim_map(night, ref_gray, data_range=255)
        ssim_mean = float(smap[valid].mean()) if valid.any() else 0.0
        times["ssim"] = (time.perf_counter() - t) * 1e3

    colorized = None
    if colorizer is not None:
        t = time.perf_counter()
        if night_color is None:
            colorized = colorizer.colorize(night, aligned, leak_mask=mask)
        else:
            colorized = colorizer.colorize(night, aligned, leak_mask=mask, night_color=night_color)
        times["colorize"] = (time.perf_counter() - t) * 1e3
    times["total"] = (time.perf_counter() - t0) * 1e3
    return PairResult(
        alignment=al,
        night=night,
        aligned_reference=aligned,
        valid=valid,
        leak_mask=mask,
        ssim_mean=ssim_mean,
        leak_area_pct=float((mask > 0.5).mean() * 100.0),
        colorized=colorized,
        timings_ms=times,
        **record,
    )


def process_fused(
    days,
    night: np.ndarray,
    *,
    colorizer: SupportsColorize | None = None,
    registration: str = "auto",
    leak_params: LeakMaskParams | None = None,
) -> PairResult:
    """`process_pair` with several day frames: align each, fuse them, mask, colorize.

    The day frames are fused by `engine.reference.fuse_references` (robust per-pixel median,
    stability map), and the leak mask takes the stability map as a cue.

    Parameters
    ----------
    days : sequence of ndarray
        Day frames, RGB uint8 (sizes may differ from the night frame and each other).
    night : ndarray
        Night frame, gray uint8 (an RGB night frame is reduced to luminance).
    colorizer : object, optional
        As in `process_pair`.
    registration : {"auto", "fixed", "translation"}
        How each day frame is registered (`engine.reference.register_day_frame`).
    leak_params : engine.leakmask.LeakMaskParams, optional

    Returns
    -------
    PairResult
        ``fused`` holds every frame's alignment and the frames used; ``alignment`` is the
        first used frame's. When no frame aligns, ``ok`` is False and ``reason`` lists each
        frame's reason.

    Examples
    --------
    >>> import skimage.data
    >>> day = skimage.data.astronaut()[::2, ::2]
    >>> res = process_fused([day, day[:, ::-1].copy(), day], to_gray(day),
    ...                     registration="translation")
    >>> res.ok, res.fused.used
    (True, (0, 2))
    """
    import alignment
    from engine.reference import fuse_references, register_day_frame

    days = list(days)
    if not days:
        raise ValueError("need at least one day frame")
    for i, d in enumerate(days):
        check_rgb(d, f"day frame {i}")
    _check_night(night)
    night_color = night if night.ndim == 3 else None
    night = to_gray(night)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    alignments = [register_day_frame(d, night, registration=registration) for d in days]
    times["align"] = (time.perf_counter() - t0) * 1e3
    used = [i for i, a in enumerate(alignments) if a.ok]
    if not used:
        reason = "no day frame aligns: " + "; ".join(
            f"frame {i}: {a.reason}" for i, a in enumerate(alignments)
        )
        refused = alignment.Alignment(
            np.eye(3),
            ok=False,
            score=0.0,
            method="none",
            motion="homography",
            reason=reason,
            fixed_shape=night.shape[:2],
            moving_shape=days[0].shape[:2],
        )
        return PairResult(
            refused,
            night,
            None,
            None,
            None,
            None,
            None,
            timings_ms=times,
            day_alignments=tuple(alignments),
        )

    t = time.perf_counter()
    fused = fuse_references(days, night, alignments=alignments)
    times["fuse"] = (time.perf_counter() - t) * 1e3
    aligned, valid = fused.image, fused.valid

    return _after_registration(
        fused.alignments[fused.used[0]],
        night,
        aligned,
        valid,
        times,
        t0,
        leak_params=leak_params,
        stability=fused.stability,
        colorizer=colorizer,
        night_color=night_color,
        fused=fused,
        day_alignments=fused.alignments,
        days_used=fused.used,
    )
