"""Stored pairs with several day captures: median of unregistered captures vs the fused reference.

Usage::

    python benchmarks/stored_pair_reference.py [--shared PATH] [--nights N] [--refs K]
    python benchmarks/stored_pair_reference.py --cost [--runs R]

Quality (default). For each night frame of each shared webcam (``../shared/data/webcam``), the
day frames of other dates are split into the earlier ones and the later ones (as
``nightlab eval --webcam`` does); from each side the ``K`` nearest become the day captures of
a stored pair, combined two ways:

``median``  what stored pairs did before: `engine.burst.median_frames` of the captures (no
            registration between them, no exposure or cast matching), leak mask without a
            stability map;
``fused``   what they do now: `engine.reference.fuse_day_captures` (registered onto the
            first capture, matched, robust median with chroma kept) and its stability map
            warped with it into the leak mask.

Each reference is registered onto the night frame as a capture does (``fixed_camera``), the
night is colorized from each side with the shipped model and its leak mask, and the two
results are compared: mean ΔE_ab between them over pixels both references cover (a leak where
a transient sits in one side's reference), the chroma they keep, and the share masked. The
same is reported for the references themselves (ΔE_ab between the two sides' references).

Cost (``--cost``): `engine.live.PairTracker.set_reference` with 1, 4 and 8 captures at 640x480
and at each webcam's own size, interleaved round by round; median ms and range.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import read_image, to_gray  # noqa: E402
from engine.data import shared_dir  # noqa: E402
from engine.evaluation import find_webcam_frames, webcam_cameras  # noqa: E402

NIGHT_HOURS = (20, 6)


def _is_night(t) -> bool:
    return t.hour >= NIGHT_HOURS[0] or t.hour < NIGHT_HOURS[1]


def _ab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 1:]


def _nearest(frames, t, k):
    return sorted(frames, key=lambda f: abs((f.time - t).total_seconds()))[:k]


def _reference(days, how):
    from engine.burst import median_frames
    from engine.reference import fuse_day_captures

    if how == "median":
        return median_frames(days), None
    fused = fuse_day_captures(days)
    return fused.image, fused.stability


def _side(days, night, how, colorizer):
    """A stored pair's reference registered onto ``night`` as a capture registers it."""
    from engine.pipeline import process_pair

    image, stability = _reference(days, how)
    res = process_pair(image, night, fixed_camera=True, stability=stability, ssim=False)
    if not res.ok:
        return None
    col = colorizer.colorize(night, res.aligned_reference, leak_mask=res.leak_mask)
    return res, np.asarray(col.ab, np.float32)


def quality(root: Path, nights: int, refs: int) -> None:
    from engine.colorize import load_colorizer

    colorizer = load_colorizer(threads=1)
    totals: dict[str, list[tuple[float, ...]]] = {"median": [], "fused": []}
    for cam in webcam_cameras(root):
        frames = find_webcam_frames(cam)
        days = [f for f in frames if not _is_night(f.time)]
        cache: dict[Path, np.ndarray] = {}

        def load(f, cache=cache):
            if f.path not in cache:
                cache[f.path] = read_image(f.path, mode="rgb")
            return cache[f.path]

        done = 0
        rows: dict[str, list[tuple[float, ...]]] = {"median": [], "fused": []}
        for nf in (f for f in frames if _is_night(f.time)):
            if done >= nights:
                break
            earlier = [d for d in days if d.time.date() < nf.time.date()]
            later = [d for d in days if d.time.date() > nf.time.date()]
            if min(len(earlier), len(later)) < refs:
                continue
            night = to_gray(load(nf))
            side_days = {
                "a": [load(f) for f in _nearest(earlier, earlier[-1].time, refs)],
                "b": [load(f) for f in _nearest(later, later[0].time, refs)],
            }
            out = {}
            for how in ("median", "fused"):
                a = _side(side_days["a"], night, how, colorizer)
                b = _side(side_days["b"], night, how, colorizer)
                if a is None or b is None:
                    break
                out[how] = (a, b)
            if len(out) < 2:
                print(f"  {cam.name}/{nf.name}: a reference did not align, skipped")
                continue
            valid = np.ones(night.shape, bool)
            for (ra, _), (rb, _) in out.values():
                valid &= ra.valid & rb.valid
            for how, ((ra, ab_a), (rb, ab_b)) in out.items():
                d = np.sqrt(np.sum((ab_a - ab_b) ** 2, axis=-1))[valid].mean()
                chroma = 0.5 * sum(
                    np.hypot(*np.moveaxis(x, -1, 0))[valid].mean() for x in (ab_a, ab_b)
                )
                ref_ab_a, ref_ab_b = _ab(ra.aligned_reference), _ab(rb.aligned_reference)
                ref_d = np.sqrt(np.sum((ref_ab_a - ref_ab_b) ** 2, axis=-1))[valid].mean()
                ref_c = 0.5 * sum(
                    np.hypot(*np.moveaxis(x, -1, 0))[valid].mean() for x in (ref_ab_a, ref_ab_b)
                )
                masked = 0.5 * (ra.leak_mask[valid].mean() + rb.leak_mask[valid].mean()) * 100
                row = (float(d), float(chroma), float(masked), float(ref_d), float(ref_c))
                rows[how].append(row)
                totals[how].append(row)
            done += 1
            m, f = rows["median"][-1], rows["fused"][-1]
            print(
                f"  {cam.name}/{nf.name}: disagreement median {m[0]:.2f} fused {f[0]:.2f}; "
                f"reference ΔE_ab median {m[3]:.2f} fused {f[3]:.2f}",
                flush=True,
            )
        _print_rows(cam.name, rows)
    _print_rows("all", totals)


def _print_rows(name: str, rows) -> None:
    if not rows["median"]:
        print(f"{name}: no night frame evaluated")
        return
    mean = {k: np.mean(np.array(v), axis=0) for k, v in rows.items()}
    m, f = mean["median"], mean["fused"]
    print(
        f"{name} ({len(rows['median'])} nights): result disagreement ΔE_ab median {m[0]:.2f} -> "
        f"fused {f[0]:.2f} ({f[0] / m[0]:.2f}x), chroma {m[1]:.2f} -> {f[1]:.2f} "
        f"({f[1] / m[1] * 100:.0f} %), masked {m[2]:.1f} -> {f[2]:.1f} %; reference "
        f"disagreement {m[3]:.2f} -> {f[3]:.2f} ({f[3] / m[3]:.2f}x), reference chroma "
        f"{m[4]:.2f} -> {f[4]:.2f}",
        flush=True,
    )


def cost(root: Path, runs: int) -> None:
    from engine.live import PairTracker

    sizes: dict[str, list[np.ndarray]] = {}
    for cam in webcam_cameras(root):
        days = [f for f in find_webcam_frames(cam) if not _is_night(f.time)][:8]
        imgs = [read_image(f.path, mode="rgb") for f in days]
        h, w = imgs[0].shape[:2]
        sizes[f"{cam.name} {w}x{h}"] = imgs
        if "640x480" not in sizes:
            sizes["640x480"] = [
                cv2.resize(i, (640, 480), interpolation=cv2.INTER_AREA) for i in imgs
            ]
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(runs):  # interleaved: every size and count once per round
        for name, imgs in sizes.items():
            for n in (1, 4, 8):
                t = time.perf_counter()
                PairTracker().set_reference(imgs[:n], fixed_camera=True)
                times.setdefault((name, n), []).append((time.perf_counter() - t) * 1e3)
    for (name, n), ms in times.items():
        print(
            f"set_reference {name} x{n}: median {statistics.median(ms):.1f} ms "
            f"(range {min(ms):.1f}-{max(ms):.1f}, {len(ms)} runs)"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=None, help="the shared data folder")
    ap.add_argument("--nights", type=int, default=6, help="night frames per camera")
    ap.add_argument("--refs", type=int, default=4, help="day captures per side")
    ap.add_argument("--cost", action="store_true", help="time set_reference instead")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    root = (args.shared or shared_dir()) / "data" / "webcam"
    if args.cost:
        cost(root, args.runs)
    else:
        quality(root, args.nights, args.refs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
