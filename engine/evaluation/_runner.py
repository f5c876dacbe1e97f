"""``nightlab eval``: colorizers on registered pairs with known colour truth and scene changes.

For each pair (``NNNN_rgb.jpg`` truth, ``NNNN_nir.jpg`` night) a day reference is made from the
truth with :func:`engine.scene_change.degrade_reference` (fixed seed per pair), so the changed
region is known exactly ("degraded" regime), or the truth itself is the reference ("perfect"
regime: the model must then do no worse than copying the reference's chroma). Every colorizer
runs with and without a leak mask and is scored against the truth, overall and split into
unchanged / changed regions.

Registration folders (``visnir/field``, ``forest``, ``indoor``) hold an RGB image that is *not*
registered to its NIR twin, plus the affine ``NNNN_nir.npy`` that registers it: the truth is
then the RGB warped onto the NIR frame, black outside its footprint, as an aligned reference
is. Scores count only pixels inside the footprint, and the leak mask is 1 outside it (as
:func:`engine.pipeline.process_pair` makes it).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from engine._image import read_image, to_gray
from engine.atomic import atomic_write
from engine.colorize import Colorizer
from engine.evaluation._metrics import ab_error, colourfulness, lab_ab, psnr, ssim
from engine.scene_change import degrade_reference, donor_photos

__all__ = [
    "EvalPair",
    "EvalReport",
    "EvalRow",
    "TargetCheck",
    "evaluate",
    "find_pairs",
    "load_pair",
    "oracle_leak_mask",
]

MASK_SOURCES = ("computed", "oracle")
REFERENCE_REGIMES = ("degraded", "perfect")


@dataclass(frozen=True)
class EvalPair:
    """A registered pair: ``id`` is ``<folder>/<stem>`` as listed in cards' ``pairs_used``."""

    id: str
    truth: Path
    night: Path
    affine: Path | None = None
    """2x3 matrix (``.npy``) warping ``truth`` onto ``night``; None = already registered."""


@dataclass(frozen=True)
class EvalRow:
    """Scores of one colorizer on one pair (or their mean over pairs, ``pair == "mean"``)."""

    pair: str
    method: str
    leak_mask: bool
    psnr: float
    psnr_unchanged: float
    ssim: float
    ab_mae: float
    ab_err: float
    ab_err_unchanged: float
    ab_err_changed: float
    colourfulness: float
    colourfulness_truth: float


@dataclass(frozen=True)
class TargetCheck:
    """One of the issue's quality targets, measured."""

    name: str
    value: str
    met: bool


@dataclass(frozen=True)
class EvalReport:
    rows: tuple[EvalRow, ...]
    summary: tuple[EvalRow, ...]
    pairs_used: tuple[str, ...]
    pairs_excluded: tuple[str, ...]
    targets: tuple[TargetCheck, ...]
    pairs_skipped: tuple[tuple[str, str], ...] = ()
    """``(pair id, reason)`` of pairs that could not be read (corrupt file, size mismatch)."""

    def write_csv(self, path: str | Path) -> Path:
        """Per-pair rows followed by the means (``pair == "mean"``)."""
        import csv

        p = Path(path)
        names = [f.name for f in fields(EvalRow)]
        with atomic_write(p, mode="w") as f:
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            for row in (*self.rows, *self.summary):
                d = asdict(row)
                writer.writerow(
                    {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in d.items()}
                )
        return p


def find_pairs(folder: str | Path) -> list[EvalPair]:
    """Pairs ``NNNN_rgb.*`` + ``NNNN_nir.*`` in ``folder``, sorted by stem.

    Examples
    --------
    >>> [p.id for p in find_pairs("../shared/data/visnir/country")][:2]  # doctest: +SKIP
    ['country/0000', 'country/0001']
    """
    d = Path(folder)
    if not d.is_dir():
        raise ValueError(f"--pairs {d}: not a folder")
    pairs = []
    for truth in sorted(d.glob("*_rgb.*")):
        stem = truth.name[: -len("_rgb" + truth.suffix)]
        nights = sorted(d.glob(f"{stem}_nir.*"))
        nights = [
            n for n in nights if n.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff")
        ]
        if nights:
            affine = d / f"{stem}_nir.npy"
            pairs.append(
                EvalPair(f"{d.name}/{stem}", truth, nights[0], affine if affine.is_file() else None)
            )
    if not pairs:
        raise ValueError(f"--pairs {d}: no NNNN_rgb / NNNN_nir image pairs found")
    return pairs


def oracle_leak_mask(change_mask: np.ndarray, *, sigma: float = 2.0) -> np.ndarray:
    """The known change mask as a soft float32 leak mask (an upper bound for leak masks)."""
    m = change_mask.astype(np.float32)
    return np.clip(cv2.GaussianBlur(m, (0, 0), sigma) * 2.0, 0.0, 1.0) if sigma > 0 else m


def _pair_seed(seed: int, pair_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(pair_id.encode())])


def _computed_mask(night: np.ndarray, reference: np.ndarray) -> np.ndarray:
    try:
        from engine.leakmask import leak_mask
    except ImportError:
        raise ValueError(
            "engine.leakmask is not available; use the oracle mask (--mask oracle)"
        ) from None
    return np.asarray(leak_mask(night, to_gray(reference), reference_color=reference), np.float32)


def load_pair(pair: EvalPair) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(truth RGB, night gray, footprint)`` of a pair, the truth in the night frame's pixels.

    ``footprint`` is None for a registered pair, else bool ``(H, W)``: where the warped truth
    has content (pixels whose bilinear sample lies fully inside the RGB image).
    """
    truth = read_image(pair.truth, mode="rgb")
    night = read_image(pair.night, mode="gray")
    if pair.affine is None:
        if night.shape != truth.shape[:2]:
            raise ValueError(f"{pair.id}: night {night.shape} and truth {truth.shape[:2]} differ")
        return truth, night, None
    try:
        m = np.asarray(np.load(pair.affine, allow_pickle=False), np.float64)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{pair.affine}: not a readable .npy matrix ({exc})") from None
    if m.shape == (3, 3):
        m = m[:2]
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise ValueError(f"{pair.affine}: expected a finite 2x3 affine, got shape {m.shape}")
    size = (night.shape[1], night.shape[0])
    warped = cv2.warpAffine(truth, m, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    ones = np.full(truth.shape[:2], 255, np.uint8)
    inside = cv2.warpAffine(ones, m, size, flags=cv2.INTER_LINEAR, borderValue=0) == 255
    if not inside.any():
        raise ValueError(f"{pair.affine}: the warped RGB image misses the night frame")
    warped[~inside] = 0  # one clean edge: no half-black blended pixels
    return warped, night, inside


def _score(pair, method, with_mask, rgb, truth, truth_ab, changed, footprint) -> EvalRow:
    inside = np.ones(changed.shape, bool) if footprint is None else footprint
    unchanged = ~changed & inside
    changed = changed & inside
    ab = lab_ab(rgb)
    mae, err = ab_error(ab, truth_ab, region=None if footprint is None else inside)
    return EvalRow(
        pair=pair,
        method=method,
        leak_mask=with_mask,
        psnr=psnr(rgb, truth, data_range=255, region=None if footprint is None else inside),
        psnr_unchanged=psnr(rgb, truth, data_range=255, region=unchanged),
        ssim=ssim(rgb, truth, data_range=255, region=None if footprint is None else inside),
        ab_mae=mae,
        ab_err=err,
        ab_err_unchanged=ab_error(ab, truth_ab, region=unchanged)[1],
        ab_err_changed=ab_error(ab, truth_ab, region=changed)[1],
        colourfulness=colourfulness(rgb),
        colourfulness_truth=colourfulness(truth),
    )


def _means(rows: Sequence[EvalRow]) -> list[EvalRow]:
    out = []
    keys = list(dict.fromkeys((r.method, r.leak_mask) for r in rows))
    numeric = [f.name for f in fields(EvalRow)][3:]
    for method, with_mask in keys:
        sel = [r for r in rows if r.method == method and r.leak_mask == with_mask]
        vals = {}
        for name in numeric:
            v = np.array([getattr(r, name) for r in sel], np.float64)
            v = v[np.isfinite(v)]
            vals[name] = float(v.mean()) if v.size else float("nan")
        out.append(EvalRow(pair="mean", method=method, leak_mask=with_mask, **vals))
    return out


def _targets(summary: Sequence[EvalRow], baseline: str, models: Sequence[str]) -> list[TargetCheck]:
    by = {(r.method, r.leak_mask): r for r in summary}
    checks = []
    for m in models:
        for with_mask in (False, True):
            ours, base = by[(m, with_mask)], by[(baseline, with_mask)]
            checks.append(
                TargetCheck(
                    f"{m} ab error <= {baseline} in unchanged regions "
                    f"({'with' if with_mask else 'without'} leak mask)",
                    f"{ours.ab_err_unchanged:.2f} vs {base.ab_err_unchanged:.2f}",
                    round(ours.ab_err_unchanged, 2) <= round(base.ab_err_unchanged, 2),
                )
            )
    for m in (*models, baseline):
        off, on = by[(m, False)], by[(m, True)]
        if math.isfinite(off.ab_err_changed):  # NaN: nothing changed, no leak to cut
            cut = 1.0 - on.ab_err_changed / off.ab_err_changed if off.ab_err_changed else math.nan
            checks.append(
                TargetCheck(
                    f"{m}: leak mask cuts chroma error in changed regions by >= 50%",
                    f"{off.ab_err_changed:.2f} -> {on.ab_err_changed:.2f} ({cut:.0%})",
                    bool(cut >= 0.5),
                )
            )
        cost = off.psnr_unchanged - on.psnr_unchanged
        checks.append(
            TargetCheck(
                f"{m}: leak mask costs < 0.5 dB PSNR in unchanged regions",
                f"{off.psnr_unchanged:.2f} -> {on.psnr_unchanged:.2f} dB ({cost:+.2f} dB cost)",
                bool(cost < 0.5),
            )
        )
    return checks


def evaluate(
    pairs: Sequence[EvalPair],
    colorizers: Sequence[Colorizer],
    *,
    baseline: Colorizer,
    seed: int = 0,
    limit: int | None = None,
    exclude: Sequence[str] = (),
    mask: str = "computed",
    reference: str = "degraded",
    progress: Callable[[str], None] | None = None,
) -> EvalReport:
    """Score ``colorizers`` and the ``baseline`` on pairs, with and without the leak mask.

    Parameters
    ----------
    pairs : sequence of EvalPair
        From :func:`find_pairs`.
    colorizers : sequence of Colorizer
        Models to evaluate (their ``name`` labels the rows).
    baseline : Colorizer
        The classical baseline (:class:`~engine.colorize.ReferenceTransferColorizer`).
    seed : int
        Base seed; each pair's reference degradation uses ``(seed, pair id)``.
    limit : int, optional
        Use at most this many pairs (after exclusion).
    exclude : sequence of str
        Pair ids seen in training (cards' ``training.pairs_used``); skipped.
    mask : {"computed", "oracle"}
        Leak mask from :func:`engine.leakmask.leak_mask` or the known change mask, blurred.
    reference : {"degraded", "perfect"}
        The day reference: the truth seen at another time (misaligned, re-exposed, with
        pasted scene changes) or the truth itself (nothing changed).

    Returns
    -------
    EvalReport
    """
    if mask not in MASK_SOURCES:
        raise ValueError(f"mask must be one of {MASK_SOURCES}, got {mask!r}")
    if reference not in REFERENCE_REGIMES:
        raise ValueError(f"reference must be one of {REFERENCE_REGIMES}, got {reference!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    names = [c.name for c in colorizers]
    if len(set(names)) != len(names) or baseline.name in names:
        raise ValueError(f"colorizer names must be unique, got {[*names, baseline.name]}")
    excluded = [p.id for p in pairs if p.id in set(exclude)]
    use = [p for p in pairs if p.id not in set(exclude)][:limit]
    if not use:
        raise ValueError(
            f"no pairs left to evaluate ({len(excluded)} excluded as seen in training)"
        )
    donors = donor_photos()
    rows: list[EvalRow] = []
    skipped: list[tuple[str, str]] = []
    for i, pair in enumerate(use):
        if progress:
            progress(f"[{i + 1}/{len(use)}] {pair.id}")
        try:  # one unreadable pair is reported and counted, not the end of the run
            truth, night, footprint = load_pair(pair)
        except ValueError as exc:
            skipped.append((pair.id, str(exc)))
            if progress:
                progress(f"skipped {pair.id}: {exc}")
            continue
        if reference == "perfect":
            ref, changed = truth, np.zeros(truth.shape[:2], bool)
        else:
            ref, changed = degrade_reference(truth, donors, rng=_pair_seed(seed, pair.id))
            if footprint is not None:
                ref = np.where(footprint[..., None], ref, np.uint8(0))
        leak = oracle_leak_mask(changed) if mask == "oracle" else _computed_mask(night, ref)
        if footprint is not None:
            leak = np.where(footprint, leak, np.float32(1.0)).astype(np.float32)
        truth_ab = lab_ab(truth)
        for col in (*colorizers, baseline):
            for with_mask in (False, True):
                res = col.colorize(night, ref, leak_mask=leak if with_mask else None)
                rows.append(
                    _score(
                        pair.id, col.name, with_mask, res.rgb, truth, truth_ab, changed, footprint
                    )
                )
    if not rows:
        raise ValueError(f"no pair could be read ({len(skipped)} skipped; {skipped[0][1]})")
    summary = _means(rows)
    return EvalReport(
        rows=tuple(rows),
        summary=tuple(summary),
        pairs_used=tuple(p.id for p in use if p.id not in {s for s, _ in skipped}),
        pairs_excluded=tuple(excluded),
        targets=tuple(_targets(summary, baseline.name, names)),
        pairs_skipped=tuple(skipped),
    )
