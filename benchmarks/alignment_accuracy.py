"""Accuracy of ``alignment.align`` on real cross-modal pairs from ``../shared``.

Usage::

    python benchmarks/alignment_accuracy.py [--shared PATH] [--json OUT]
                                            [--motion homography] [--method auto]

* ``data/visnir/{field,forest,indoor}``: RGB (moving) onto NIR (fixed); the truth is the
  2x3 affine in ``NNNN_nir.npy``. Error = mean distance of the four moving-image corners
  mapped by our matrix vs by the truth. A pair that does not come back ``ok`` counts as a
  miss (infinite error). Targets: >= 95% of pairs under 2 px, median under 1 px.
* ``data/daynight/*``: day ``02.png`` (moving) onto night ``01.png`` (fixed), homography.
  ``corrs.txt`` rows ``x1 y1 x2 y2`` pair a night point with a day point, so the error of a
  row is ``|H (x2, y2) - (x1, y1)|``; we report the median over the labelled points (and
  the same for the identity, as a baseline).
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

from alignment import align  # noqa: E402
from alignment._types import apply_homography  # noqa: E402
from engine._image import ImageError, read_image  # noqa: E402
from engine.atomic import write_json_atomic  # noqa: E402
from engine.data import load_visnir_pair, shared_dir  # noqa: E402

VISNIR = ("field", "forest", "indoor")


def _read(path: Path, gray: bool) -> np.ndarray:
    """RGB (or gray) uint8 image, or exit with the reader's one-line message."""
    try:
        return read_image(path, mode="gray" if gray else "rgb")
    except ImageError as exc:
        raise SystemExit(str(exc)) from None


def corner_error(matrix: np.ndarray, truth: np.ndarray, shape: tuple[int, int]) -> float:
    """Mean distance of the four image corners mapped by ``matrix`` and by ``truth``."""
    h, w = shape
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    return float(
        np.mean(
            np.linalg.norm(
                apply_homography(matrix, corners) - apply_homography(truth, corners), axis=1
            )
        )
    )


def run_visnir(shared: Path, method: str, motion: str) -> list[dict]:
    rows = []
    for category in VISNIR:
        folder = shared / "data" / "visnir" / category
        for truth_path in sorted(folder.glob("*_nir.npy")):
            stem = truth_path.name[: -len("_nir.npy")]
            try:
                moving, fixed, truth = load_visnir_pair(folder, stem)
            except ImageError as exc:
                raise SystemExit(str(exc)) from None
            t0 = time.perf_counter()
            result = align(moving, fixed, method=method, motion=motion)
            ms = (time.perf_counter() - t0) * 1e3
            err = corner_error(result.matrix, truth, moving.shape[:2])
            rows.append(
                {
                    "category": category,
                    "pair": stem,
                    "ok": result.ok,
                    "error_px": err,
                    "score": result.score,
                    "method": result.method,
                    "ms": ms,
                    "reason": result.reason,
                    "matrix": result.matrix.tolist(),
                }
            )
    return rows


def truth_check(shared: Path, rows: list[dict]) -> list[dict]:
    """How well does the ground truth itself fit? An independent full-resolution estimate.

    For each pair: SIFT on CLAHE images at full resolution, ratio test, MAGSAC++ affine fit
    with a 1 px threshold. On those inlier matches, compare the median residual of the
    truth with that of our matrix, and the corner distance of the independent fit to the
    truth. Where the truth's residual is clearly larger than ours and the independent fit
    lands as far from the truth as we do, the error is the truth's, not ours.
    """
    from alignment._prep import clahe

    out = []
    sift = cv2.SIFT_create()
    for row in rows:
        folder = shared / "data" / "visnir" / row["category"]
        stem = row["pair"]
        moving = clahe(_read(folder / f"{stem}_rgb.jpg", gray=True))
        fixed = clahe(_read(folder / f"{stem}_nir.jpg", gray=True))
        truth = np.vstack([np.load(folder / f"{stem}_nir.npy"), [0.0, 0.0, 1.0]])
        kp_m, d_m = sift.detectAndCompute(moving, None)
        kp_f, d_f = sift.detectAndCompute(fixed, None)
        pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d_m, d_f, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.85 * p[1].distance]
        src = np.float64([kp_m[g.queryIdx].pt for g in good])
        dst = np.float64([kp_f[g.trainIdx].pt for g in good])
        fit, mask = cv2.estimateAffine2D(
            src, dst, method=cv2.USAC_MAGSAC, ransacReprojThreshold=1.0
        )
        if fit is None or mask.sum() < 10:
            continue
        keep = mask.ravel() > 0
        s, d = src[keep], dst[keep]
        ours = np.array(row["matrix"])
        out.append(
            {
                "pair": f"{row['category']}/{stem}",
                "inliers": int(keep.sum()),
                "truth_residual_px": float(
                    np.median(np.linalg.norm(apply_homography(truth, s) - d, axis=1))
                ),
                "ours_residual_px": float(
                    np.median(np.linalg.norm(apply_homography(ours, s) - d, axis=1))
                ),
                "independent_vs_truth_px": corner_error(
                    np.vstack([fit, [0, 0, 1]]), truth, moving.shape[:2]
                ),
                "ours_vs_truth_px": row["error_px"],
            }
        )
    return out


def run_daynight(shared: Path, method: str) -> list[dict]:
    rows = []
    for folder in sorted((shared / "data" / "daynight").glob("*")):
        if not (folder / "corrs.txt").is_file():
            continue
        night = _read(folder / "01.png", gray=False)
        day = _read(folder / "02.png", gray=False)
        corrs = np.loadtxt(folder / "corrs.txt", ndmin=2)
        night_pts, day_pts = corrs[:, :2], corrs[:, 2:4]
        t0 = time.perf_counter()
        result = align(day, night, method=method, motion="homography")
        ms = (time.perf_counter() - t0) * 1e3
        err = np.linalg.norm(apply_homography(result.matrix, day_pts) - night_pts, axis=1)
        base = np.linalg.norm(day_pts - night_pts, axis=1)
        rows.append(
            {
                "scene": folder.name,
                "points": len(corrs),
                "ok": result.ok,
                "median_px": float(np.median(err)),
                "identity_median_px": float(np.median(base)),
                "score": result.score,
                "method": result.method,
                "ms": ms,
                "reason": result.reason,
            }
        )
    return rows


def _summary(rows: list[dict]) -> dict:
    errs = [r["error_px"] if r["ok"] else float("inf") for r in rows]
    finite = [e for e in errs if np.isfinite(e)]
    return {
        "n": len(rows),
        "ok_pct": 100.0 * sum(r["ok"] for r in rows) / len(rows),
        "median_px": statistics.median(errs),
        "under_2px_pct": 100.0 * sum(e < 2 for e in errs) / len(errs),
        "under_1px_pct": 100.0 * sum(e < 1 for e in errs) / len(errs),
        "max_px": max(errs),
        "max_ok_px": max(finite) if finite else float("nan"),
        "median_ms": statistics.median(r["ms"] for r in rows),
    }


def _print_table(title: str, header: list[str], lines: list[list[str]]) -> None:
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for x in lines:
        print("  ".join(c.rjust(w) for c, w in zip(x, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=shared_dir())
    parser.add_argument("--json", type=Path, help="write per-pair results here")
    parser.add_argument("--method", default="auto")
    parser.add_argument("--motion", default="homography", help="for the visnir pairs")
    parser.add_argument(
        "--check-truth",
        action="store_true",
        help="also fit an independent full-resolution SIFT affine to every pair (slow) and "
        "compare residuals of the truth and of our matrix on its inlier matches",
    )
    args = parser.parse_args(argv)
    if not (args.shared / "data").is_dir():
        print(f"{args.shared}: no data/ folder (../shared is needed for this benchmark)")
        return 2
    visnir = run_visnir(args.shared, args.method, args.motion)
    summaries = {c: _summary([r for r in visnir if r["category"] == c]) for c in VISNIR}
    summaries["all"] = _summary(visnir)
    lines = [
        [
            name,
            str(s["n"]),
            f"{s['ok_pct']:.0f}",
            f"{s['median_px']:.2f}",
            f"{s['under_1px_pct']:.0f}",
            f"{s['under_2px_pct']:.0f}",
            f"{s['max_px']:.2f}",
            f"{s['median_ms']:.0f}",
        ]
        for name, s in summaries.items()
    ]
    _print_table(
        f"visnir RGB -> NIR, method={args.method}, motion={args.motion} "
        "(corner error, px; a pair not ok counts as inf)",
        ["category", "n", "ok %", "median px", "% < 1 px", "% < 2 px", "max px", "median ms"],
        lines,
    )
    worst = sorted((r for r in visnir if r["ok"]), key=lambda r: -r["error_px"])[:5]
    print(
        "worst ok pairs: "
        + ", ".join(f"{r['category']}/{r['pair']} {r['error_px']:.2f}" for r in worst)
    )
    misses = [r for r in visnir if not r["ok"]]
    for r in misses:
        print(f"not ok: {r['category']}/{r['pair']}: {r['reason']}")
    daynight = run_daynight(args.shared, args.method)
    _print_table(
        "daynight: day 02.png -> night 01.png, homography (labelled points, px)",
        ["scene", "points", "ok", "median px", "identity px", "score", "method", "ms"],
        [
            [
                r["scene"],
                str(r["points"]),
                str(r["ok"]),
                f"{r['median_px']:.1f}",
                f"{r['identity_median_px']:.1f}",
                f"{r['score']:.2f}",
                r["method"],
                f"{r['ms']:.0f}",
            ]
            for r in daynight
        ],
    )
    for r in daynight:
        if not r["ok"]:
            print(f"not ok: {r['scene']}: {r['reason']}")
    checks = truth_check(args.shared, visnir) if args.check_truth else []
    if checks:
        _print_table(
            "truth check: median residual on independent full-res SIFT inliers (px)",
            ["pair", "inliers", "truth resid", "ours resid", "indep. vs truth", "ours vs truth"],
            [
                [
                    c["pair"],
                    str(c["inliers"]),
                    f"{c['truth_residual_px']:.2f}",
                    f"{c['ours_residual_px']:.2f}",
                    f"{c['independent_vs_truth_px']:.2f}",
                    f"{c['ours_vs_truth_px']:.2f}",
                ]
                for c in checks
                if c["ours_vs_truth_px"] >= 2.0 or c["independent_vs_truth_px"] >= 2.0
            ],
        )
        indep = [c["independent_vs_truth_px"] for c in checks]
        print(
            f"independent full-res fit vs truth: median {statistics.median(indep):.2f} px, "
            f"{100.0 * sum(e < 2 for e in indep) / len(indep):.0f}% under 2 px "
            f"({len(indep)} pairs with >= 10 inliers)"
        )
    if args.json:
        payload = {"visnir": visnir, "summary": summaries, "daynight": daynight, "truth": checks}
        write_json_atomic(args.json, payload, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
