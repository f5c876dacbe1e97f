"""``nightlab bench`` rows for colorization: the default model on the host vs the baseline.

Target (issue 3, section 4): default-model inference with onnxruntime on 2 CPU cores plus
full-resolution recomposition <= 30 ms per 640x480 frame. The classical reference-transfer
baseline runs in the same process on the same frames as the reference figure; 1920x1080 is
shown for information.
"""

from __future__ import annotations

import statistics

import cv2
import numpy as np

from engine.bench import BenchRow

__all__ = ["rows"]

SIZES = ((640, 480), (1920, 1080))
TARGET_MS = 30.0


def _frames(width: int, height: int):
    from engine._image import to_gray
    from engine.evaluation import oracle_leak_mask
    from engine.scene_change import degrade_reference, donor_photos

    photos = donor_photos()
    truth = cv2.resize(photos[0], (width, height), interpolation=cv2.INTER_AREA)
    night = to_gray(truth)
    reference, changed = degrade_reference(truth, photos, rng=np.random.default_rng(0))
    return night, reference, oracle_leak_mask(changed)


def _stage_medians(colorizer, night, reference, mask, repeats: int) -> dict[str, float]:
    colorizer.colorize(night, reference, leak_mask=mask)  # warm-up
    runs = [colorizer.colorize(night, reference, leak_mask=mask).timings_ms for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def rows(*, repeats: int) -> list[BenchRow]:
    """Colorize total (median ms) per frame size: default model vs reference transfer."""
    from engine.colorize import ReferenceTransferColorizer, load_colorizer
    from engine.models import ModelError

    try:
        model = load_colorizer(threads=2)
        error = ""
    except ModelError as exc:
        model, error = None, str(exc)
    baseline = ReferenceTransferColorizer()
    out = []
    for width, height in SIZES:
        size = f"{width}x{height}"
        night, reference, mask = _frames(width, height)
        reps = repeats if width <= 640 else max(3, repeats // 3)
        is_target = (width, height) == (640, 480)
        target = f"<= {TARGET_MS:.0f} ms" if is_target else ""
        # interleave: model then baseline, on the same frames in the same run
        stages = _stage_medians(model, night, reference, mask, reps) if model else None
        base = _stage_medians(baseline, night, reference, mask, reps)
        if stages is None:
            out.append(
                BenchRow(
                    "colorize default model",
                    size,
                    float("nan"),
                    "reference-transfer",
                    base["total"],
                    target=target,
                    met=False if is_target else None,
                    note=f"model unavailable: {error}",
                )
            )
        else:
            out.append(
                BenchRow(
                    stage=f"colorize {model.name} (onnxruntime 2 thr)",
                    size=size,
                    ours_ms=stages["total"],
                    reference="reference-transfer",
                    reference_ms=base["total"],
                    target=target,
                    met=(stages["total"] <= TARGET_MS) if is_target else None,
                    note=_stage_note(stages),
                )
            )
        out.append(
            BenchRow(
                stage="colorize reference-transfer baseline",
                size=size,
                ours_ms=base["total"],
                note=_stage_note(base),
            )
        )
    return out


def _stage_note(stages: dict[str, float]) -> str:
    parts = ("prep", "infer", "upsample", "recombine")
    return "ms: " + ", ".join(f"{k} {stages[k]:.1f}" for k in parts if stages[k] > 0)
