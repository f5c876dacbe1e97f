"""A pair's stored runs, for review: what runs it has (`pair_runs`) and one run's stored
outputs as the review images (`load_run_views`), without loading the run's model.

A run (`engine.store.Run`, written by ``nightlab reprocess`` or the app's "Process pairs
without a run") keeps its aligned reference, leak mask and colorized frame as PNGs. The QA
panel judges those, so a night reprocessed with model B is judged as B made it, and two
runs are compared side by side or with the wipe. Every call here reads the store: a worker
call (the job runner), never the GUI thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine._image import check_gray, check_rgb

if TYPE_CHECKING:
    from engine.pair_views import PairViews
    from engine.store import Pair, Run, Store

__all__ = ["RUN_ROLES", "RunSummary", "load_run_views", "newest_run_of", "pair_runs"]

RUN_ROLES = ("aligned", "mask", "colorized", "masked")
"""Review roles a run decides (the night frame and the day reference are the pair's own)."""


@dataclass(frozen=True)
class RunSummary:
    """One stored run of a pair, as a chooser lists it.

    Examples
    --------
    >>> r = RunSummary(12, 3, "refcolor_s", "3f2a1b0c" + "0" * 56, 0.0, 0.812, 4.25,
    ...                ("aligned_reference", "colorized", "leak_mask"))
    >>> r.short_sha, r.label
    ('3f2a1b0c', 'run #12 · refcolor_s')
    >>> r.describe(utc=True)
    'run #12 · refcolor_s · 3f2a1b0c · 1970-01-01 00:00 · SSIM 0.812 · leak 4.2 %'
    """

    id: int
    pair_id: int
    model_name: str
    model_sha256: str
    created_at: float
    ssim_mean: float | None
    leak_area_pct: float | None
    outputs: tuple[str, ...]
    """The stored output roles (``aligned_reference``, ``leak_mask``, ``colorized``)."""

    @property
    def short_sha(self) -> str:
        return self.model_sha256[:8]

    @property
    def label(self) -> str:
        """Short: ``run #12 · model``."""
        return f"run #{self.id} · {self.model_name}"

    def describe(self, *, utc: bool = False) -> str:
        """The label with the model's short sha256, the date (local time, or UTC) and the
        run's metrics."""
        when = time.strftime("%Y-%m-%d %H:%M", (time.gmtime if utc else time.localtime)(
            self.created_at))  # fmt: skip
        parts = [self.label, self.short_sha, when]
        if self.ssim_mean is not None:
            parts.append(f"SSIM {self.ssim_mean:.3f}")
        if self.leak_area_pct is not None:
            parts.append(f"leak {self.leak_area_pct:.1f} %")
        if "colorized" not in self.outputs:
            parts.append("no colorized output")
        return " · ".join(parts)

    @classmethod
    def of(cls, run: Run) -> RunSummary:
        m = run.metrics or {}
        return cls(
            int(run.id),
            int(run.pair_id),
            run.model_name,
            run.model_sha256,
            float(run.created_at),
            _number(m.get("ssim_mean")),
            _number(m.get("leak_area_pct")),
            tuple(sorted(run.outputs)),
        )


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else None


def pair_runs(store: Store, pair_id: int) -> list[RunSummary]:
    """The pair's stored runs, newest first (blocking: a store read)."""
    return [RunSummary.of(r) for r in reversed(store.runs(pair_id))]


def newest_run_of(runs: list[RunSummary], model_sha256: str) -> RunSummary | None:
    """The newest of ``runs`` made with the model whose sha256 is ``model_sha256``, or None."""
    return max((r for r in runs if r.model_sha256 == model_sha256), key=lambda r: r.id,
               default=None)  # fmt: skip


def load_run_views(store: Store, pair: Pair, run_id: int) -> PairViews:
    """The review images of ``pair`` as run ``run_id`` made them: the night frame and the day
    reference from the pair, the aligned reference, leak mask and colorized frame from the
    run's stored PNGs (the masked view is made from those two), so nothing is colorized
    again and no model is loaded. Blocking (reads PNGs, fuses several day captures).

    Raises
    ------
    ValueError
        The run is not one of ``pair``'s, or its stored outputs do not fit the night frame.
    engine.store.StoreError
        A stored output file is missing.
    KeyError
        No run ``run_id``.
    """
    from engine.overlay import masked_colorized
    from engine.pair_views import DayCaptures, PairViews, load_pair_reference

    run = store.run(run_id)
    if run.pair_id != pair.id:
        raise ValueError(f"run #{run.id} is a run of pair #{run.pair_id}, not of pair #{pair.id}")
    missing = [r for r in ("aligned_reference", "leak_mask") if r not in run.outputs]
    if missing:
        raise ValueError(f"run #{run.id} stored no {' or '.join(missing)} (it did not align)")
    night, fused = load_pair_reference(store, pair)
    shape = night.shape[:2]

    def output(role: str) -> np.ndarray:
        img = store.read_image(run.outputs[role])
        if img.shape[:2] != shape:
            raise ValueError(
                f"run #{run.id}'s {role} is {img.shape[1]}x{img.shape[0]}, the night frame "
                f"{shape[1]}x{shape[0]}"
            )
        return img

    aligned = output("aligned_reference")
    check_rgb(aligned, f"run #{run.id}'s aligned reference")
    mask_png = output("leak_mask")
    check_gray(mask_png, f"run #{run.id}'s leak mask")
    mask = mask_png.astype(np.float32) / np.float32(255.0)
    colorized = masked = None
    if "colorized" in run.outputs:
        colorized = output("colorized")
        check_rgb(colorized, f"run #{run.id}'s colorized frame")
        masked = masked_colorized(colorized, night, mask)
    # a realigning run registered the pair anew: its own matrix places the stability map
    matrix = (run.metrics.get("alignment") or {}).get("matrix") or pair.matrix
    return PairViews(
        night,
        fused.image,
        np.asarray(matrix if matrix is not None else np.eye(3), float),
        aligned,
        mask,
        colorized,
        masked,
        day_stability=fused.stability,
        day_captures=DayCaptures.of(pair.day_ids, fused),
    )
