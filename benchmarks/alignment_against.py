"""``align`` now vs ``align`` at another git revision, timed alternately on the same pairs.

Usage::

    python benchmarks/alignment_against.py REV [--only visnir|webcam] [--json OUT]

Exports ``alignment/`` at ``REV`` (``git archive``) into a temporary package
``alignment_<hash>`` and calls both versions one after the other on every pair, alternating
which goes first, so that a shared, noisy machine loads both alike: compare the per-pair time
ratios, not the milliseconds. Pairs and truth are those of ``alignment_accuracy.py`` (EPFL
VIS-NIR with the published affines, trusted where the independent SIFT check does not
contradict them; the fixed webcams' hard/day pairs with their independent SIFT truth).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import alignment_accuracy as acc  # noqa: E402

from alignment import align  # noqa: E402
from engine.atomic import write_json_atomic, write_text_atomic  # noqa: E402
from engine.data import load_visnir_pair  # noqa: E402


def _old_align(rev: str, into: Path):
    """``align`` of ``alignment/`` at ``rev``, imported as a separate package."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tar = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "alignment"], check=True, capture_output=True
    ).stdout
    name = f"alignment_{sha}"
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    pkg = into / name
    (into / "alignment").rename(pkg)
    for f in pkg.glob("*.py"):
        text = f.read_text().replace("from alignment.", f"from {name}.")
        write_text_atomic(f, text.replace("from alignment import", f"from {name} import"))
    sys.path.insert(0, str(into))
    module = __import__(name)
    return module.align, sha


def _both(versions: dict, i: int, *args, **kwargs) -> dict:
    order = list(versions) if i % 2 == 0 else list(versions)[::-1]
    out = {}
    for key in order:
        cv2.setRNGSeed(12345)  # MAGSAC draws from OpenCV's generator: the same draws for both
        t0 = time.perf_counter()
        result = versions[key](*args, **kwargs)
        out[key] = (result, (time.perf_counter() - t0) * 1e3)
    return out


def _visnir(shared: Path, versions: dict, limit: int | None) -> list[dict]:
    rows, i = [], 0
    for category in acc.VISNIR:
        folder = shared / "data" / "visnir" / category
        for truth_path in sorted(folder.glob("*_nir.npy"))[:limit]:
            stem = truth_path.name[: -len("_nir.npy")]
            moving, fixed, truth = load_visnir_pair(folder, stem)
            row: dict = {"category": category, "pair": stem}
            for key, (res, ms) in _both(versions, i, moving, fixed).items():
                err = acc.corner_error(res.matrix, truth, moving.shape[:2])
                row[key] = {"ok": res.ok, "error_px": err if res.ok else float("inf"), "ms": ms}
                row[f"{key}_matrix"] = res.matrix.tolist()
            i += 1
            rows.append(row)
    return rows


def _webcam(shared: Path, versions: dict, limit: int | None) -> list[dict]:
    from engine.daynight import night_day_pairs, webcam_frames

    sift = acc._SiftTruth()
    rows, i = [], 0
    for cam in acc.WEBCAMS:
        folder = shared / "data" / "webcam" / cam
        if not folder.is_dir():
            continue
        frames = sorted(webcam_frames(folder), key=lambda f: -f.daylight)
        hubs = [f.path for f in frames[: len(frames) // 2]][:6]
        for pair in night_day_pairs(folder, days_per_night=4)[:limit]:
            day = acc._read(pair.day.path, gray=False)
            night = acc._read(pair.night.path, gray=False)
            truth, source = sift.truth(pair.day.path, pair.night.path, hubs)
            ref = truth if truth is not None else np.eye(3)
            h, w = day.shape[:2]
            corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
            row: dict = {"camera": cam, "night": pair.night.name, "truth": source}
            for mode, kwargs in (("fixed", {"fixed_camera": True}), ("scratch", {})):
                for key, (res, ms) in _both(versions, i, day, night, **kwargs).items():
                    gap = acc.apply_homography(res.matrix, corners) - acc.apply_homography(
                        ref, corners
                    )
                    row[f"{mode}_{key}"] = {
                        "ok": res.ok,
                        "error_px": acc.corner_error(res.matrix, ref, (h, w)),
                        "worst_corner_px": float(np.max(np.linalg.norm(gap, axis=1))),
                        "ms": ms,
                    }
                i += 1
            rows.append(row)
    return rows


def _ratio(new: list[float], old: list[float]) -> str:
    r = sorted(n / o for n, o in zip(new, old, strict=True))
    p10, p90 = r[len(r) // 10], r[(9 * len(r)) // 10]
    return f"{statistics.median(r):.2f}x (p10-p90 {p10:.2f}-{p90:.2f})"


def _print_visnir(rows: list[dict], untrusted: set[str], old: str) -> None:
    for label, sub in (
        ("trusted", [r for r in rows if f"{r['category']}/{r['pair']}" not in untrusted]),
        ("all", rows),
    ):
        for key in (old, "now"):
            errs = [r[key]["error_px"] for r in sub]
            print(
                f"visnir {label:7} {key:>9}: n={len(sub)} "
                f"median {statistics.median(errs):.2f} px,"
                f" < 1 px {sum(e < 1 for e in errs)}, < 2 px {sum(e < 2 for e in errs)}, "
                f"refused {sum(not r[key]['ok'] for r in sub)}"
            )
    ratio = _ratio([r["now"]["ms"] for r in rows], [r[old]["ms"] for r in rows])
    print(f"visnir time now/{old} per pair: {ratio}")
    for r in rows:
        a, b = r[old]["error_px"], r["now"]["error_px"]
        if abs(a - b) > 0.3 or max(a, b) >= 2:
            print(f"  {r['category']}/{r['pair']}: {a:.2f} -> {b:.2f} px")


def _print_webcam(rows: list[dict], old: str) -> None:
    for mode in ("fixed", "scratch"):
        for key in (old, "now"):
            cell = [r[f"{mode}_{key}"] for r in rows]
            ok = [c for c in cell if c["ok"]]
            errs = [c["error_px"] for c in ok] or [float("nan")]
            print(
                f"webcam {mode:7} {key:>9}: n={len(cell)} ok {len(ok)}, wrong "
                f"{sum(c['worst_corner_px'] > acc.WRONG_PX for c in ok)}, median "
                f"{statistics.median(errs):.2f} px, max {max(errs):.2f} px, median "
                f"{statistics.median(c['ms'] for c in cell):.0f} ms"
            )
        now_ms = [r[f"{mode}_now"]["ms"] for r in rows]
        ratio = _ratio(now_ms, [r[f"{mode}_{old}"]["ms"] for r in rows])
        print(f"webcam {mode} time now/{old} per pair: {ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="git revision to compare with, e.g. main")
    parser.add_argument("--shared", type=Path, default=acc.shared_dir())
    parser.add_argument("--only", choices=["visnir", "webcam"])
    parser.add_argument("--limit", type=int, help="first N pairs per category/camera (smoke)")
    parser.add_argument("--json", type=Path, help="write per-pair results here")
    args = parser.parse_args(argv)
    if not (args.shared / "data").is_dir():
        print(f"{args.shared}: no data/ folder (../shared is needed for this benchmark)")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        old_align, sha = _old_align(args.rev, Path(tmp))
        versions = {sha: old_align, "now": align}
        payload: dict = {"rev": sha}
        if args.only in (None, "visnir"):
            rows = _visnir(args.shared, versions, args.limit)
            checks = acc.truth_check(
                args.shared,
                [{**r, "error_px": r["now"]["error_px"], "matrix": r["now_matrix"]} for r in rows],
            )
            untrusted = {
                c["pair"]
                for c in checks
                if c["inliers"] >= acc.TRUST_INLIERS
                and c["truth_residual_px"] > acc.TRUST_RESIDUAL_PX
            }
            _print_visnir(rows, untrusted, sha)
            payload["visnir"] = rows
        if args.only in (None, "webcam"):
            rows = _webcam(args.shared, versions, args.limit)
            _print_webcam(rows, sha)
            payload["webcam"] = rows
    if args.json:
        write_json_atomic(args.json, payload, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
