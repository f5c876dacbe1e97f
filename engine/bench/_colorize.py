"""``nightlab bench`` rows for colorization: the default model on the host vs the baseline.

Target (issue 3, section 4): default-model inference with onnxruntime on 2 CPU cores plus
full-resolution recomposition <= 30 ms per 640x480 frame. The classical reference-transfer
baseline runs in the same process on the same frames as the reference figure; 1920x1080 is
shown for information.
"""

from __future__ import annotations

import statistics
from dataclasses import replace

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


def _interleaved_medians(colorizers, night, reference, mask, repeats: int) -> list[dict]:
    """Per-stage median ms of each colorizer, called in turn on the same frames."""
    for col in colorizers:
        col.colorize(night, reference, leak_mask=mask)  # warm-up
    runs: list[list[dict]] = [[] for _ in colorizers]
    for _ in range(repeats):
        for i, col in enumerate(colorizers):
            runs[i].append(col.colorize(night, reference, leak_mask=mask).timings_ms)
    return [{k: statistics.median(r[k] for r in rs) for k in rs[0]} for rs in runs]


def rows(*, repeats: int) -> list[BenchRow]:
    """Colorize total (median ms) per frame size: default model vs reference transfer, and
    the default model with the other recombination (``RecombineParams.passthrough``)."""
    from engine.colorize import RecombineParams, ReferenceTransferColorizer, load_colorizer
    from engine.models import ModelError

    default = RecombineParams()
    other = replace(default, passthrough="off" if default.passthrough != "off" else "guided")
    try:
        model = load_colorizer(threads=2)
        alt = load_colorizer(threads=2, params=other)
        error = ""
    except ModelError as exc:
        model, alt, error = None, None, str(exc)
    baseline = ReferenceTransferColorizer()
    out = []
    for width, height in SIZES:
        size = f"{width}x{height}"
        night, reference, mask = _frames(width, height)
        reps = repeats if width <= 640 else max(3, repeats // 3)
        is_target = (width, height) == (640, 480)
        target = f"<= {TARGET_MS:.0f} ms" if is_target else ""
        # interleaved: model, model with the other recombination, baseline, on the same frames
        cols = [c for c in (model, alt) if c is not None] + [baseline]
        *stages, base = _interleaved_medians(cols, night, reference, mask, reps)
        if not stages:
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
                    ours_ms=stages[0]["total"],
                    reference="reference-transfer",
                    reference_ms=base["total"],
                    target=target,
                    met=(stages[0]["total"] <= TARGET_MS) if is_target else None,
                    note=f"passthrough {default.passthrough}; " + _stage_note(stages[0]),
                )
            )
            out.append(
                BenchRow(
                    stage=f"colorize {model.name}, passthrough {other.passthrough}",
                    size=size,
                    ours_ms=stages[1]["total"],
                    reference=f"passthrough {default.passthrough}",
                    reference_ms=stages[0]["total"],
                    note=_stage_note(stages[1]),
                )
            )
        out.append(
            BenchRow(
                stage="colorize reference-transfer baseline",
                size=size,
                ours_ms=base["total"],
                note=f"passthrough {default.passthrough}; " + _stage_note(base),
            )
        )
    return out


def _stage_note(stages: dict[str, float]) -> str:
    parts = ("prep", "infer", "upsample", "recombine")
    return "ms: " + ", ".join(f"{k} {stages[k]:.1f}" for k in parts if stages[k] > 0)
