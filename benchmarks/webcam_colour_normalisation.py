"""Would a per-reference global colour normalisation help the webcam eval? (measured: no)

Usage::

    python benchmarks/webcam_colour_normalisation.py [--shared PATH] [--camera NAME ...]

Runs ``nightlab eval --webcam``'s measurement (`engine.evaluation.evaluate_webcam`, the
shipped model) with every fused reference's global ab moved onto a robust common target: the
median, over every day frame of the camera, of each frame's median a and b (a long-term colour
of the camera). The reference's own global ab is its median over the pixels its day frames
agree on (stability > 0.5). Prints the rows the README quotes (single, fused, fused+mask).
Compare with ``nightlab eval --webcam`` (the same code without the normalisation).

Result (README, "Measuring leaks without labels"): chamonix 0.60x/94 % -> 0.46x/87 %, mexico
0.41x/81 % -> 0.44x/78 %, stlouis 0.45x/82 % -> 0.39x/79 %: not kept.

The evaluation has no hook for this, so the script wraps `engine.reference.fuse_references`
for the duration of the run (the evaluation imports it at call time).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine.reference  # noqa: E402
from engine import read_image  # noqa: E402
from engine.colorize import load_colorizer  # noqa: E402
from engine.data import shared_dir  # noqa: E402
from engine.evaluation import evaluate_webcam, find_webcam_frames  # noqa: E402

NIGHT_HOURS = (20, 6)  # evaluate_webcam's default: 20:00-05:59 is night
STABLE = 0.5


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def camera_target(folder: Path) -> np.ndarray:
    """Median over the camera's day frames of each frame's median (a, b)."""
    start, end = NIGHT_HOURS
    days = [f for f in find_webcam_frames(folder) if end <= f.time.hour < start]
    medians = [
        np.median(_lab(read_image(f.path, mode="rgb"))[..., 1:].reshape(-1, 2), 0) for f in days
    ]
    return np.median(np.array(medians), axis=0)


def normalising(fuse, target: np.ndarray):
    """``fuse_references`` whose fused image has its global ab moved onto ``target``."""

    def wrapped(days, night, **kw):
        fused = fuse(days, night, **kw)
        lab = _lab(fused.image)
        sel = fused.valid & (fused.stability > STABLE)
        if np.count_nonzero(sel) < 100:
            sel = fused.valid
        lab[..., 1:] += target - np.median(lab[..., 1:][sel], axis=0)
        rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 + 0.5, 0, 255)
        return dataclasses.replace(fused, image=rgb.astype(np.uint8))

    return wrapped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=shared_dir())
    ap.add_argument("--camera", action="append", default=None, help="camera folder name")
    args = ap.parse_args(argv)
    root = args.shared / "data" / "webcam"
    if not root.is_dir():
        raise SystemExit(f"{root} not found (pass --shared PATH)")
    cameras = args.camera or sorted(p.name for p in root.iterdir() if p.is_dir())
    colorizer = load_colorizer()
    fuse = engine.reference.fuse_references
    try:
        for cam in cameras:
            engine.reference.fuse_references = normalising(fuse, camera_target(root / cam))
            rep = evaluate_webcam(root / cam, colorizer)
            for r in rep.summary:
                if r.camera == "all" or r.config not in ("single", "fused", "fused+mask"):
                    continue
                dis = rep.ratio(r.camera, r.config, "disagreement")
                kept = rep.ratio(r.camera, r.config, "chroma")
                print(
                    f"{r.camera:9s} {r.config:11s} disagreement {r.disagreement:5.2f} "
                    f"({dis:.2f}x)  chroma kept {kept * 100:.0f} %",
                    flush=True,
                )
    finally:
        engine.reference.fuse_references = fuse
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
