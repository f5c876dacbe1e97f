"""The day/night pair pipeline: align -> leak mask -> colorize, with per-stage timings.

One function used by ``nightlab process``, the GUI's processing worker and the experiment log,
so every front-end produces the same numbers. It is a plain, blocking call meant to run on a
worker thread; the result is a small dataclass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from engine._image import check_rgb, to_gray

__all__ = ["PairResult", "process_pair"]


class _Colorizer(Protocol):
    def colorize(self, night, reference, *, leak_mask=None): ...


@dataclass(frozen=True)
class PairResult:
    """Everything ``process_pair`` produced. Images are in the night frame's pixel space."""

    alignment: Any
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
    colorized: Any = None
    """`engine.colorize.ColorizeResult` when a colorizer was given."""
    timings_ms: dict[str, float] = field(default_factory=dict)

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
        if self.colorized is not None:
            out["colorize"] = {
                "model": getattr(self.colorized, "model_name", ""),
                "timings_ms": {
                    k: round(float(v), 3)
                    for k, v in getattr(self.colorized, "timings_ms", {}).items()
                },
            }
        return out


def process_pair(
    day: np.ndarray,
    night: np.ndarray,
    *,
    colorizer: _Colorizer | None = None,
    method: str = "auto",
    motion: str = "homography",
    initial: np.ndarray | None = None,
    leak_params: Any = None,
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
    from engine.leakmask import LeakMaskParams, leak_mask, ssim_map

    check_rgb(day, "day")
    # a night camera that gives colour: masked areas take that colour (see recombine)
    night_color = night if night.ndim == 3 and night.dtype == np.uint8 else None
    night = to_gray(night)
    if night.dtype != np.uint8:
        raise ValueError(f"night must be uint8, got {night.dtype}")
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    al = alignment.align(day, night, method=method, motion=motion, initial=initial)
    times["align"] = (time.perf_counter() - t0) * 1e3
    if not al.ok:
        return PairResult(al, night, None, None, None, None, None, timings_ms=times)

    t = time.perf_counter()
    shape = night.shape[:2]
    aligned = al.warp(day, output_shape=shape)
    valid = al.warp(np.full(day.shape[:2], 255, np.uint8), output_shape=shape) > 127
    times["warp"] = (time.perf_counter() - t) * 1e3

    t = time.perf_counter()
    ref_gray = to_gray(aligned)
    mask = leak_mask(night, ref_gray, params=leak_params or LeakMaskParams())
    mask = np.where(valid, mask, np.float32(1.0)).astype(np.float32)
    times["leak_mask"] = (time.perf_counter() - t) * 1e3

    t = time.perf_counter()
    ssim = ssim_map(night, ref_gray, data_range=255)
    ssim_mean = float(ssim[valid].mean()) if valid.any() else 0.0
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
    )
