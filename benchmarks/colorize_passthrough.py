"""Full-resolution pass-through of the reference's chroma vs the working-resolution path.

Usage::

    OMP_NUM_THREADS=1 nice python benchmarks/colorize_passthrough.py perfect
    OMP_NUM_THREADS=1 nice python benchmarks/colorize_passthrough.py degraded
    OMP_NUM_THREADS=1 nice python benchmarks/colorize_passthrough.py webcam

``perfect`` / ``degraded``: ``nightlab eval``'s 76 held-out VIS-NIR pairs, its references,
seeds and leak mask (`engine.evaluation`), the shipped model and reference transfer, each in
every recombination (``RecombineParams.passthrough`` off, direct, guided radius 1, guided
radius 2), with and without the mask: ΔE_ab over the footprint, in unchanged and changed
regions, on the night frame's edges (unchanged pixels among its strongest 10 % of gradients,
dilated 1 px), and the chroma kept (the result's mean chroma inside the footprint / the
truth's; mean, median and range over pairs). ``webcam``: the held-out real references of
``python -m training.evaluate MODEL --webcam`` (ΔE_ab, chroma kept) for the same modes.
About 15-30 minutes each on the shared 2-core machine. The README's table under
"Full-resolution colour" comes from these three runs.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.colorize import RecombineParams, ReferenceTransferColorizer, load_colorizer  # noqa: E402
from engine.data import shared_dir  # noqa: E402
from engine.evaluation import ab_error, find_pairs, lab_ab, load_pair  # noqa: E402
from engine.scene_change import degrade_reference, donor_photos  # noqa: E402

MODES = {
    "off": RecombineParams(),
    "direct": RecombineParams(passthrough="direct"),
    "guided r1": RecombineParams(passthrough="guided", passthrough_radius=1),
    "guided r2": RecombineParams(passthrough="guided", passthrough_radius=2),
}
SETS = ("country", "field", "forest", "indoor")


def _colorizers():
    cols = {}
    for mode, params in MODES.items():
        cols[("model", mode)] = load_colorizer(threads=1, params=params)
        cols[("transfer", mode)] = ReferenceTransferColorizer(params=params)
    return cols


def _visnir(regime: str, limit: int | None) -> None:
    # the eval's own helpers, so the references, seeds and masks are nightlab eval's
    from engine.evaluation._runner import _computed_mask, _pair_seed

    cols = _colorizers()
    exclude = set(cols[("model", "off")].card.pairs_used)
    root = shared_dir() / "data" / "visnir"
    pairs = [p for s in SETS for p in find_pairs(root / s) if p.id not in exclude][:limit]
    donors = donor_photos()
    rows = defaultdict(list)
    for i, pair in enumerate(pairs):
        print(f"[{i + 1}/{len(pairs)}] {pair.id}", file=sys.stderr, flush=True)
        truth, night, footprint = load_pair(pair)
        if regime == "perfect":
            ref, changed = truth, np.zeros(truth.shape[:2], bool)
        else:
            ref, changed = degrade_reference(truth, donors, rng=_pair_seed(0, pair.id))
            if footprint is not None:
                ref = np.where(footprint[..., None], ref, np.uint8(0))
        leak = _computed_mask(night, ref)
        inside = np.ones(night.shape, bool) if footprint is None else footprint
        if footprint is not None:
            leak = np.where(footprint, leak, np.float32(1.0)).astype(np.float32)
        unchanged, changed = inside & ~changed, inside & changed
        grad = cv2.magnitude(cv2.Sobel(night, cv2.CV_32F, 1, 0), cv2.Sobel(night, cv2.CV_32F, 0, 1))
        strong = (grad > np.percentile(grad[inside], 90)).astype(np.uint8)
        edges = cv2.dilate(strong, np.ones((3, 3), np.uint8)).astype(bool) & unchanged
        truth_ab = lab_ab(truth)
        truth_chroma = float(np.hypot(*truth_ab[inside].T).mean())
        for key, col in cols.items():
            for with_mask in (False, True):
                ab = lab_ab(col.colorize(night, ref, leak_mask=leak if with_mask else None).rgb)
                rows[(*key, with_mask)].append(
                    (
                        ab_error(ab, truth_ab, region=inside)[1],
                        ab_error(ab, truth_ab, region=unchanged)[1],
                        ab_error(ab, truth_ab, region=changed)[1] if changed.any() else np.nan,
                        ab_error(ab, truth_ab, region=edges)[1],
                        float(np.hypot(*ab[inside].T).mean()) / max(truth_chroma, 1e-6),
                    )
                )
    print(f"{regime} reference, {len(pairs)} pairs")
    print("colorizer  mode       mask  ΔE_ab  unch.  changed  edges  chroma kept (median, range)")
    for (name, mode, with_mask), vals in rows.items():
        v = np.array(vals)
        whole, unch, chg, edge = np.nanmean(v[:, :4], axis=0)
        kept = v[:, 4] * 100
        print(
            f"{name:<10} {mode:<10} {'yes' if with_mask else 'no ':<4} {whole:6.3f} {unch:6.3f} "
            f"{chg:7.2f} {edge:6.3f}  {kept.mean():.1f} % ({np.median(kept):.1f}, "
            f"{kept.min():.0f}-{kept.max():.0f})"
        )


def _webcam() -> None:
    from training.evaluate import webcam_day_pairs, webcam_table

    cols = []
    for (name, mode), col in _colorizers().items():
        col.name = f"{name} {mode}"
        cols.append(col)
    pairs = webcam_day_pairs()
    print(f"held-out webcam day pairs ({len(pairs)}; reference = previous day frame)")
    for name, v in webcam_table(cols, pairs).items():
        print(f"  {name:<20} ΔE_ab {v['ab_err']:.3f}  chroma kept {v['chroma_kept']:.1%}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["perfect", "degraded", "webcam"])
    p.add_argument("--limit", type=int, help="at most N VIS-NIR pairs (a quick look)")
    args = p.parse_args()
    if args.what == "webcam":
        _webcam()
    else:
        _visnir(args.what, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
