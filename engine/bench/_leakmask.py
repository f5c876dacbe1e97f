"""``nightlab bench`` rows for the leak mask: our SSIM map vs scikit-image, and the mask cost.

Targets (issue 2, section 3): ``ssim_map`` at least 10x faster than
``skimage.metrics.structural_similarity(..., full=True)`` at 640x480 and 1920x1080 (same
images, same options, measured alternately in one run); the whole ``leak_mask`` <= 3 ms at
640x480. Frames are a real photo (scikit-image's ``astronaut``) as gray uint8, and a
changed, re-exposed copy of it as the reference.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from engine.bench import BenchRow

__all__ = ["rows"]

SIZES = ((640, 480), (1920, 1080))
SPEEDUP_TARGET = 10.0
MASK_TARGET_MS = 3.0


def _frames(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    from engine._image import to_gray
    from engine.scene_change import degrade_reference, donor_photos

    photos = donor_photos()
    truth = cv2.resize(photos[0], (width, height), interpolation=cv2.INTER_AREA)
    reference, _ = degrade_reference(truth, photos, rng=np.random.default_rng(0))
    return to_gray(truth), to_gray(reference)


def _alternating_medians(
    ours: Callable[[], object], ref: Callable[[], object], repeats_ours: int, repeats_ref: int
) -> tuple[float, float]:
    """Median ms of each, calls interleaved so both see the same machine load."""
    ours()
    ref()
    t_ours, t_ref = [], []
    for i in range(max(repeats_ours, repeats_ref)):
        if i < repeats_ref:
            t0 = time.perf_counter()
            ref()
            t_ref.append((time.perf_counter() - t0) * 1e3)
        for _ in range(2 if i < repeats_ours else 0):  # ours is short: two samples per round
            t0 = time.perf_counter()
            ours()
            t_ours.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t_ours), statistics.median(t_ref)


def rows(*, repeats: int) -> list[BenchRow]:
    """SSIM map ours vs scikit-image at 640x480 and 1920x1080; leak mask cost."""
    from skimage.metrics import structural_similarity

    from engine.bench import median_ms
    from engine.leakmask import leak_mask, ssim_map, ssim_threads, warm_kernels

    warm_kernels()  # time the compiled SSIM kernel, not the OpenCV path serving until then
    repeats = max(1, repeats)
    out = []
    for width, height in SIZES:
        size = f"{width}x{height}"
        night, reference = _frames(width, height)
        # scikit-image needs ~0.2 s per 1080p map: fewer samples there, still a median
        reps_ref = repeats if width <= 640 else max(3, min(repeats, 5))
        ours_ms, ref_ms = _alternating_medians(
            lambda n=night, r=reference: ssim_map(n, r, data_range=255),
            lambda n=night, r=reference: structural_similarity(n, r, data_range=255, full=True),
            repeats,
            reps_ref,
        )
        speedup = ref_ms / ours_ms if ours_ms > 0 else float("inf")
        workers = f"{ssim_threads(night.shape)} thread(s)"  # 2 only when a core is free
        out.append(
            BenchRow(
                stage="ssim_map (uint8, 7x7 box)",
                size=size,
                ours_ms=ours_ms,
                reference="skimage structural_similarity(full=True)",
                reference_ms=ref_ms,
                target=f">= {SPEEDUP_TARGET:.0f}x",
                met=speedup >= SPEEDUP_TARGET,
                note=f"interleaved medians; ours {workers}, skimage 1",
            )
        )
        mask_ms = median_ms(lambda n=night, r=reference: leak_mask(n, r), repeats=3 * repeats)
        is_target = (width, height) == (640, 480)
        out.append(
            BenchRow(
                stage="leak_mask (default params)",
                size=size,
                ours_ms=mask_ms,
                target=f"<= {MASK_TARGET_MS:.0f} ms" if is_target else "",
                met=(mask_ms <= MASK_TARGET_MS) if is_target else None,
            )
        )
    return out
