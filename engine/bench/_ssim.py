"""``nightlab bench`` rows for the SSIM map per dtype and window: uint8 / float32, box / Gaussian.

Issue 10, part 6: ``ssim_map`` >= 5x faster than scikit-image's
``structural_similarity(..., full=True)`` at 640x480 for float32 images and for the Gaussian
window (scikit-image's ``gaussian_weights=True`` default, ``win_size=11``), measured
interleaved: one scikit-image call, then ours, alternating, so both see the same machine
load. Medians and ranges (min-max over the rounds) are reported, at 640x480 (the target) and
1920x1080, with the machine's load average when the row started (the machine is shared) and
the threads ``ssim_map`` used. uint8 + box (>= 10x, issue 2) is here too, with ranges; its
``leakmask`` row stays. Same frames as there: a real photo and a changed, re-exposed copy.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from engine.bench import BenchRow

__all__ = ["rows"]

SIZES = ((640, 480), (1920, 1080))
TARGET_SIZE = (640, 480)
SPEEDUP_TARGET = 5.0
UINT8_BOX_TARGET = 10.0


def interleaved(
    ours: Callable[[], object], ref: Callable[[], object], rounds: int
) -> tuple[list[float], list[float]]:
    """ms of each call, one reference call then one of ours per round (after a warm-up)."""
    ours()
    ref()
    t_ours, t_ref = [], []
    for _ in range(max(1, rounds)):
        t0 = time.perf_counter()
        ref()
        t1 = time.perf_counter()
        ours()
        t2 = time.perf_counter()
        t_ref.append((t1 - t0) * 1e3)
        t_ours.append((t2 - t1) * 1e3)
    return t_ours, t_ref


def _cases(night: np.ndarray, reference: np.ndarray):
    """(stage, a, b, options, target speed-up) for each dtype and window."""
    n32, r32 = night.astype(np.float32) / 255, reference.astype(np.float32) / 255
    gauss = {"gaussian_weights": True, "win_size": 11}
    return (
        # also a ``leakmask`` row (issue 2); here with per-round ranges beside the others
        ("ssim_map (uint8, 7x7 box)", night, reference, {"data_range": 255}, UINT8_BOX_TARGET),
        ("ssim_map (float32, 7x7 box)", n32, r32, {"data_range": 1.0}, SPEEDUP_TARGET),
        (
            "ssim_map (uint8, Gaussian 11 taps)",
            night,
            reference,
            {"data_range": 255, **gauss},
            SPEEDUP_TARGET,
        ),
        (
            "ssim_map (float32, Gaussian 11 taps)",
            n32,
            r32,
            {"data_range": 1.0, **gauss},
            SPEEDUP_TARGET,
        ),
    )


def rows(*, repeats: int) -> list[BenchRow]:
    """float32 and Gaussian-window SSIM maps, ours vs scikit-image, interleaved."""
    from skimage.metrics import structural_similarity

    from engine.bench._leakmask import _frames
    from engine.leakmask import ssim_map, ssim_threads

    out = []
    for width, height in SIZES:
        night, reference = _frames(width, height)
        is_target = (width, height) == TARGET_SIZE
        # scikit-image needs ~0.1-0.3 s per 1080p map: fewer rounds there, still a median
        rounds = repeats if is_target else max(3, min(repeats, 7))
        for stage, a, b, kw, target in _cases(night, reference):
            load = os.getloadavg()[0]
            threads = ssim_threads(a.shape)
            t_ours, t_ref = interleaved(
                lambda a=a, b=b, kw=kw: ssim_map(a, b, **kw),
                lambda a=a, b=b, kw=kw: structural_similarity(a, b, full=True, **kw),
                rounds,
            )
            ours, ref = statistics.median(t_ours), statistics.median(t_ref)
            ratios = sorted(r / o for r, o in zip(t_ref, t_ours, strict=True) if o > 0)
            out.append(
                BenchRow(
                    stage=stage,
                    size=f"{width}x{height}",
                    ours_ms=ours,
                    reference="skimage structural_similarity(full=True)",
                    reference_ms=ref,
                    target=f">= {target:.0f}x" if is_target else "",
                    met=(ref / ours >= target) if is_target else None,
                    note=(
                        f"interleaved, {len(t_ours)} rounds; ours {min(t_ours):.1f}-"
                        f"{max(t_ours):.1f} ms, skimage {min(t_ref):.1f}-{max(t_ref):.1f} ms, "
                        f"per-round ratio {ratios[0]:.1f}-{ratios[-1]:.1f}x (median "
                        f"{statistics.median(ratios):.1f}x); ours {threads} thread(s), skimage 1; "
                        f"load {load:.1f}"
                    ),
                )
            )
    return out
