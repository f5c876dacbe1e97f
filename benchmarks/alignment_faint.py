"""How ``verify_faint`` judges what ``orientation_ascent`` climbs to: the rescue's calibration.

Usage::

    python benchmarks/alignment_faint.py [--shared PATH] [--json OUT]

On the 60 EPFL VIS-NIR registration pairs (``data/visnir/{field,forest,indoor}``), with a
fixed seed: two climbs per pair from the published truth moved 20-90 px and rotated up to
4 degrees, and one climb of the RGB frame onto *another scene's* NIR frame (7 pairs on).
A climb is *right* when it ends within 5 px of the truth, *wrong* when farther or on another
scene. Prints, for right and wrong climbs, how many ``verify`` and ``verify_faint`` accept,
and the highest agreement and significance (``peak_significance`` at 640 px) of the wrong
ones: ``verify_faint`` should accept every right climb and no wrong one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from alignment_accuracy import VISNIR, corner_error  # noqa: E402

from alignment._orientation import orientation_ascent  # noqa: E402
from alignment._prep import PreparedImage  # noqa: E402
from alignment._verify import peak_significance, verify, verify_faint  # noqa: E402
from engine.atomic import write_json_atomic  # noqa: E402
from engine.data import load_visnir_pair, shared_dir  # noqa: E402

WRONG_PX = 5.0
# Pairs whose published truth the independent SIFT check contradicts
# (alignment_accuracy.py's trust rule; README "Alignment").
UNTRUSTED = {"field/0001", "field/0009", "field/0014", "forest/0019", "forest/0022"}


def _moved(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-4, 4))
    direction = rng.uniform(0, 2 * np.pi)
    shift = np.eye(3)
    shift[:2, 2] = rng.uniform(20, 90) * np.array([np.cos(direction), np.sin(direction)])
    c, s = np.cos(angle), np.sin(angle)
    return shift @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ truth


def _judge(pm, pf, matrix) -> dict:
    faint = verify_faint(pm, pf, matrix)
    return {
        "faint_ok": faint.ok,
        "plain_ok": verify(pm, pf, matrix).ok,
        "agreement": faint.agreement,
        "sharpness": faint.sharpness,
        "significance": peak_significance(pm, pf, matrix),
    }


def run(shared: Path) -> list[dict]:
    rng = np.random.default_rng(11)
    pairs = [
        (c, p.name[:4])
        for c in VISNIR
        for p in sorted((shared / "data" / "visnir" / c).glob("*_nir.npy"))
    ]
    rows = []
    for i, (category, stem) in enumerate(pairs):
        moving, fixed, truth = load_visnir_pair(shared / "data" / "visnir" / category, stem)
        pm, pf = PreparedImage(moving), PreparedImage(fixed)
        for _ in range(2):
            climbed = orientation_ascent(pm, pf, _moved(truth, rng)).matrix
            err = corner_error(climbed, truth, moving.shape[:2])
            rows.append(
                {"pair": f"{category}/{stem}", "kind": "moved", "error_px": err}
                | {"right": err <= WRONG_PX}
                | _judge(pm, pf, climbed)
            )
        other_cat, other_stem = pairs[(i + 7) % len(pairs)]
        _, other, _ = load_visnir_pair(shared / "data" / "visnir" / other_cat, other_stem)
        po = PreparedImage(other)
        climbed = orientation_ascent(pm, po, truth).matrix
        rows.append(
            {"pair": f"{category}/{stem} on {other_cat}/{other_stem}", "kind": "other scene"}
            | {"error_px": None, "right": False}
            | _judge(pm, po, climbed)
        )
        print(".", end="", flush=True)
    print()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=shared_dir())
    parser.add_argument("--json", type=Path, help="write per-climb results here")
    args = parser.parse_args(argv)
    if not (args.shared / "data" / "visnir").is_dir():
        print(f"{args.shared / 'data' / 'visnir'}: not found", file=sys.stderr)
        return 2
    rows = run(args.shared)
    right = [r for r in rows if r["right"]]
    wrong = [r for r in rows if not r["right"]]
    for label, sub in (("right", right), ("wrong", wrong)):
        print(
            f"{label}: {len(sub)} climbs, verify accepts {sum(r['plain_ok'] for r in sub)}, "
            f"verify_faint accepts {sum(r['faint_ok'] for r in sub)}"
        )
    if wrong:
        print(
            f"wrong climbs: agreement <= {max(r['agreement'] for r in wrong):.3f}, "
            f"significance <= {max(r['significance'] for r in wrong):.1f}"
        )
    if right:
        errors = np.array([r["error_px"] for r in right])
        trusted = np.array([r["error_px"] for r in right if r["pair"] not in UNTRUSTED])
        print(
            f"right climbs: within {errors.max():.2f} px of the truth; median "
            f"{np.median(errors):.2f}, p90 {np.percentile(errors, 90):.2f} px; under 2 px "
            f"{int((errors < 2).sum())} of {errors.size} (trusted truth: {int((trusted < 2).sum())}"
            f" of {trusted.size}, median {np.median(trusted):.2f} px)"
        )
    if args.json:
        write_json_atomic(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
